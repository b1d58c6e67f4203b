"""Writing files so that a crash or a full disk never leaves half a file behind.

The one atomic writer of the package: the roster, the hub's secrets, the organiser's
logins and cards, and the worksheet's results all go through :func:`write_atomic`.

Examples
--------
>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "secret.txt"
>>> write_private(path, "quark-tiger-lemon-47\\n")
>>> oct(path.stat().st_mode & 0o777), path.read_text()
('0o600', 'quark-tiger-lemon-47\\n')
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: str | os.PathLike, data: str | bytes, mode: int = 0o600) -> Path:
    """Write *data* to *path* through a temporary sibling and a rename, with *mode*.

    Readers see the old file or the new one, never a part: the data is flushed to disk
    before the rename. On any error (a full disk too) the temporary file is removed and
    the old file stays as it was. Returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def write_private(path: str | os.PathLike, text: str) -> None:
    """Write *text* atomically, readable by the owner only (mode 600)."""
    write_atomic(path, text, 0o600)
