"""Secrets that the hub keeps in its state volume, created once with mode 600."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from masterclass.files import write_private


def read_or_create_secret(path: str | os.PathLike, nbytes: int = 32) -> str:
    """Return the hex secret stored at ``path``, creating it (mode 600) on first use.

    The hub's proxy token lives here, so that it survives a restart of the hub
    container together with the database and the cookie secret.
    """
    path = Path(path)
    if not path.exists():
        write_private(path, secrets.token_hex(nbytes) + "\n")
    os.chmod(path, 0o600)
    return path.read_text(encoding="ascii").strip()
