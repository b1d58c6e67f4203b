"""Fixtures shared by every test: where the real OPAL events come from, and a prepared store.

The raw pair (``centered-masked-rotated1.zip`` and ``events_list.csv``) is looked for in
this order, so that a fresh clone on an internet-connected machine passes too:

1. ``MASTERCLASS_DATA_DIR``, if it holds the raw pair;
2. ``../shared/opal-events`` next to the repository (the development machines);
3. a download from the pinned upstream URLs into the cache (``MASTERCLASS_CACHE_DIR``,
   default ``~/.cache/masterclass``, under ``raw/``), reused by later runs.

The pair is prepared once per session into a pytest temporary directory, and for the
whole session ``MASTERCLASS_DATA_DIR`` points at that store, so ``load_events()`` reads
it. ``MASTERCLASS_CACHE_DIR`` points at a session temporary directory too, so no test
writes into the user's real cache.
"""

from __future__ import annotations

import os
import time

# Tests draw plots without a screen.
os.environ.setdefault("MPLBACKEND", "Agg")
from pathlib import Path

import pytest

from masterclass import data

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_EVENTS = REPO_ROOT.parent / "shared" / "opal-events"


@pytest.fixture(scope="session")
def opal_raw_dir() -> Path:
    """Directory holding the real raw pair (read-only: never write into it)."""
    env = os.environ.get("MASTERCLASS_DATA_DIR")
    if env and data.is_raw_pair(env):
        return Path(env)
    if data.is_raw_pair(SHARED_EVENTS):
        return SHARED_EVENTS
    # The user's real cache, not the session one: a download is worth keeping.
    return data.fetch(data.cache_dir() / "raw", progress=True)


@pytest.fixture(scope="session")
def event_store(opal_raw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> data.EventStore:
    """The 622 real events, prepared once per session into a temporary directory."""
    store_dir = tmp_path_factory.mktemp("opal") / "store"
    return data.open_store(data.prepare(opal_raw_dir, store_dir))


@pytest.fixture(scope="session", autouse=True)
def _masterclass_env(event_store: data.EventStore, tmp_path_factory: pytest.TempPathFactory):
    """Point the package at the session's store and a throwaway cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MASTERCLASS_DATA_DIR", str(event_store.path))
        mp.setenv("MASTERCLASS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


# -- the suite's budget: each tier's time, printed at the end of every run ---------------

#: The whole ``.ci/run`` (lint, images, every tier) stays under this on 2 cores; CI stops
#: a run at 90 minutes (tests/README.md).
BUDGET_MINUTES = 45
#: The tiers as the markers define them (``make test-fast`` runs only the first).
TIERS = {
    "unit": "unit (no marker)",
    "integration": "integration (docker, not slow)",
    "slow": "slow (marked slow)",
    "swarm": "swarm lab (marked swarm)",
}


def tier(keywords) -> str:
    """A test's tier from its markers: ``swarm``, then ``slow``, count before ``docker``."""
    if "swarm" in keywords:
        return "swarm"
    if "slow" in keywords:
        return "slow"
    return "integration" if "docker" in keywords else "unit"


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60):3d} min {seconds % 60:4.1f} s"


class TierClock:
    """Sums each tier's setup, call and teardown time and prints the sums at the end.

    A module's stack starts in the setup of its first test, so it counts in that test's
    tier; the rest (collection, reporting) is shown on its own line.
    """

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.seconds = dict.fromkeys(TIERS, 0.0)
        self.tests: dict[str, set[str]] = {name: set() for name in TIERS}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        name = tier(report.keywords)
        self.seconds[name] += report.duration
        self.tests[name].add(report.nodeid)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        total = time.monotonic() - self.start
        out = terminalreporter
        out.section("time per tier")
        for name, label in TIERS.items():
            n = len(self.tests[name])
            count = f"{n:>4} test" + ("s" if n != 1 else " ")
            out.line(f"{label:<32}{count:>10}  {minutes(self.seconds[name])}")
        rest = total - sum(self.seconds.values())
        out.line(f"{'collection and reporting':<32}{'':>10}  {minutes(rest)}")
        out.line(f"{'pytest in all':<32}{'':>10}  {minutes(total)}")
        out.line(
            f"budget: the whole .ci/run (lint, images, all tiers) under {BUDGET_MINUTES} min "
            "on 2 cores; CI stops at 90 min",
            red=total > BUDGET_MINUTES * 60,
        )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(TierClock(), "masterclass-tier-clock")
