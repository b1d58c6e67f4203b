"""Trainings recorded in the pair's server and replayed when the notebook is autograded.

Autograding runs every notebook again, and the training is most of that work (about
45 s of two cores on the solution path), while the graded checks test the gaps. So in a
pair's server (``JUPYTERHUB_USER`` is set, or ``MASTERCLASS_TRAININGS_DIR`` names a
folder) every :meth:`MLModel.train <masterclass.toolkit.model.MLModel.train>` saves what
it produced, the network's weights afterwards and the per-epoch figures, next to the
notebook in :data:`masterclass.names.TRAININGS_DIR`. nbgrader's submit and the tutors'
snapshots take that folder along.

A recording is filed under a key made of everything the training depends on: the
layers, the training and validation events (original file, rotation, mirror flag,
category, in order), the weights before the training, the shuffle seed, the epochs
before and in this call, the batch size, the learning rate and the Keras version. The
grader sets ``MASTERCLASS_REPLAY=1``; a training whose key has a recording then loads
it instead of training. Same inputs, same key: predict, the learning curve and the
checks that follow see the network the pair trained. A notebook changed after its last
run, or a deleted folder, has no recording for its key, and the training runs as usual.
The optimizer's state is not recorded: a later training without a recording of its own
starts with a fresh optimizer.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from masterclass.files import write_atomic
from masterclass.names import TRAININGS_DIR

#: Recordings kept per folder (the newest); a pair's last runs of the notebook need a few.
KEEP = 8


def recording_dir() -> Path | None:
    """Where trainings are recorded, or None where nobody will replay them."""
    if os.environ.get("MASTERCLASS_TRAININGS", "1") == "0":
        return None
    explicit = os.environ.get("MASTERCLASS_TRAININGS_DIR")
    if explicit:
        return Path(explicit)
    if os.environ.get("JUPYTERHUB_USER") and not replaying():
        return Path.cwd() / TRAININGS_DIR
    return None


def replaying() -> bool:
    """True while a grader runs the notebook (``MASTERCLASS_REPLAY=1``)."""
    return os.environ.get("MASTERCLASS_REPLAY", "0") == "1"


def training_key(
    layers: Sequence[tuple[str, dict]],
    training: Sequence,
    validation: Sequence | None,
    weights: Sequence[np.ndarray],
    **settings: object,
) -> str:
    """A digest of everything a training's outcome depends on (see the module's text)."""
    digest = hashlib.sha256()
    digest.update(repr(list(layers)).encode())
    for events in (training, validation or ()):
        digest.update(b"|events|")
        for event in events:
            digest.update(
                f"{event.filename}/{event.angle!r}/{event.mirrored}/{event.category};".encode()
            )
    for array in weights:
        digest.update(b"|w|")
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32]


def save(key: str, weights: Sequence[np.ndarray], figures: dict) -> None:
    """Record a training's outcome; silently nothing where recording is off or fails."""
    folder = recording_dir()
    if folder is None:
        return
    with contextlib.suppress(OSError, ValueError, TypeError):
        buffer = io.BytesIO()
        arrays = {f"w{i}": np.asarray(w) for i, w in enumerate(weights)}
        np.savez_compressed(buffer, figures=np.array(json.dumps(figures)), **arrays)
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / f"{key}.npz", buffer.getvalue(), 0o644)
        recordings = sorted(folder.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in recordings[KEEP:]:
            old.unlink(missing_ok=True)


def load(key: str) -> tuple[list[np.ndarray], dict] | None:
    """The recorded weights and figures for *key* when replaying, else None."""
    if not replaying():
        return None
    path = Path(os.environ.get("MASTERCLASS_TRAININGS_DIR") or Path.cwd() / TRAININGS_DIR)
    try:
        with np.load(path / f"{key}.npz", allow_pickle=False) as data:
            count = sum(1 for name in data.files if name.startswith("w"))
            weights = [data[f"w{i}"] for i in range(count)]
            figures = json.loads(str(data["figures"]))
    except (OSError, ValueError, KeyError):
        return None
    return weights, figures
