"""Directory helpers and the progress bar that fetching and preparing share."""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from pathlib import Path

from masterclass.data.errors import DataError


def check_writable(directory: Path, target: Path) -> None:
    """Refuse to write `target` below `directory` if that is marked read-only, even as root.

    Root ignores permission bits, so a plain write would succeed inside a read-only
    data share (such as ``../shared/opal-events``); the bits state the owner's intent.
    """
    existing = next((p for p in (directory, *directory.parents) if p.exists()), None)
    if existing is None:
        return
    if not existing.is_dir():
        raise DataError(f"{target}: {existing} is not a directory.")
    if stat.S_IMODE(existing.stat().st_mode) & 0o222 == 0 or not os.access(existing, os.W_OK):
        raise DataError(
            f"{target}: {existing} is read-only; choose a directory you may write to "
            "(e.g. under ~/.cache/masterclass or ./data)."
        )


def make_dirs(directory: Path) -> list[Path]:
    """Create `directory` with its parents; return the ones created, deepest first."""
    created = []
    for parent in (directory, *directory.parents):
        if parent.exists():
            break
        created.append(parent)
    directory.mkdir(parents=True, exist_ok=True)
    return created


def remove_empty(created: list[Path]) -> None:
    """Undo :func:`make_dirs` after a failure, as far as the directories are empty."""
    for directory in created:
        try:
            directory.rmdir()
        except OSError:
            break


@contextmanager
def progress_bar(enabled: bool, description: str, total: int | None):
    """Yield an ``advance(n=1)`` callable, backed by a rich progress bar if enabled."""
    if not enabled:
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    is_bytes = description.startswith(("Downloading", "Copying"))
    columns = [DownloadColumn(), TransferSpeedColumn()] if is_bytes else [MofNCompleteColumn()]
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        *columns,
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)
