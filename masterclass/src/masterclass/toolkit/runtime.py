"""Process-wide settings: random seeds and the CPU quota that sizes TensorFlow's threads.

A pair's container usually gets fewer CPUs than the host has (``--cpus 2`` on a
32-core server). TensorFlow sizes its thread pools from the host's core count,
which makes it oversubscribe the quota and run slower; here the pools follow
the cgroup quota instead.
"""

from __future__ import annotations

import math
import os
import random
import sys
from pathlib import Path

import numpy as np

from masterclass.messages import StudentError

_rng = np.random.default_rng()
_seed: int | None = None


def rng() -> np.random.Generator:
    """Return the generator that every random step of the toolkit draws from."""
    return _rng


def current_seed() -> int | None:
    """Return the seed set by :func:`set_random_seeds`, or None."""
    return _seed


def set_random_seeds(seed: int) -> None:
    """Make the splits, augmentation and training reproducible.

    Call it once at the top of the notebook. Running the notebook again from
    the top with the same seed gives the same lists, the same network and the
    same predictions.

    Parameters
    ----------
    seed : int
        Any whole number, for example 42.

    Examples
    --------
    >>> from masterclass import *
    >>> set_random_seeds(42)
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise StudentError("positive_int", name="seed", value=seed)
    global _rng, _seed
    _seed = int(seed)
    _rng = np.random.default_rng(_seed)
    random.seed(_seed)
    np.random.seed(_seed % 2**32)
    if "keras" in sys.modules:  # otherwise the model seeds Keras when it is first imported
        sys.modules["keras"].utils.set_random_seed(_seed)


def cpu_quota(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """Return how many CPUs this process may really use (at least 1).

    Reads the cgroup v2 ``cpu.max`` or the cgroup v1 CFS quota, and falls back
    to the CPUs in this process's affinity mask.

    Parameters
    ----------
    cgroup_root : Path
        Where the cgroup filesystem is mounted (a parameter for the tests).
    """
    available = len(os.sched_getaffinity(0))
    quota = _quota_v2(cgroup_root / "cpu.max") or _quota_v1(
        cgroup_root / "cpu" / "cpu.cfs_quota_us", cgroup_root / "cpu" / "cpu.cfs_period_us"
    )
    if quota is None:
        quota = _quota_v1(cgroup_root / "cpu.cfs_quota_us", cgroup_root / "cpu.cfs_period_us")
    if quota is None:
        return max(1, available)
    return max(1, min(available, math.ceil(quota)))


def _quota_v2(path: Path) -> float | None:
    try:
        limit, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if limit == "max":
        return None
    return int(limit) / int(period)


def _quota_v1(quota_path: Path, period_path: Path) -> float | None:
    try:
        quota = int(quota_path.read_text().strip())
        period = int(period_path.read_text().strip())
    except (OSError, ValueError):
        return None
    if quota <= 0 or period <= 0:
        return None
    return quota / period


def configure_tensorflow_threads() -> int:
    """Size TensorFlow's thread pools from the CPU quota; return the thread count.

    Must run before TensorFlow executes its first operation; later calls are
    ignored by TensorFlow, which is harmless.
    """
    import tensorflow as tf

    threads = cpu_quota()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    except RuntimeError:
        pass  # TensorFlow was already initialised; its pools cannot change any more.
    return threads
