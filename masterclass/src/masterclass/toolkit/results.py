"""Results a pair's worksheet produced, written to a small JSON file next to the notebook.

The tutors' export wants each pair's test accuracy, measured branching ratios,
epochs and augmentation factors without the students doing anything extra. The
worksheet helpers record them here as a side effect; the file lies in the
assignment folder, so nbgrader's submit and the tutors' collection pick it up.

Recording happens only where it is wanted: in a server spawned by the hub
(``JUPYTERHUB_USER`` is set) or when ``MASTERCLASS_RESULTS_FILE`` names a file.
``MASTERCLASS_RESULTS=0`` switches it off. A failure to write never disturbs the
pair's work.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

from masterclass.board.client import post_results
from masterclass.files import write_atomic
from masterclass.names import RESULTS_FILE


def results_path() -> Path | None:
    """Return where results are recorded, or None when recording is off."""
    if os.environ.get("MASTERCLASS_RESULTS", "1") == "0":
        return None
    explicit = os.environ.get("MASTERCLASS_RESULTS_FILE")
    if explicit:
        return Path(explicit)
    if os.environ.get("JUPYTERHUB_USER"):
        return Path.cwd() / RESULTS_FILE
    return None


def read_results(path: str | os.PathLike[str]) -> dict:
    """Return the recorded results in *path* (an empty dict if the file is missing or broken)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record(**values: object) -> None:
    """Merge *values* into the results file, atomically; silently do nothing on failure."""
    path = results_path()
    if path is None:
        return
    with contextlib.suppress(OSError, TypeError, ValueError):
        current = read_results(path)
        current.update(values)
        current["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        write_atomic(path, json.dumps(current, indent=2, sort_keys=True), 0o600)
        # A measurement goes to the class results board too (in the background, silently).
        post_results(current, values, path.parent.name)
