"""The placeholder at the worksheet's path while the worksheet is not released yet.

A pair lands on ``/lab/tree/<worksheet>`` (``MASTERCLASS_WORKSHEET``). Before the
release there is no notebook there, and JupyterLab would greet the pair with "Cannot
open". The pair's server (:mod:`masterclass.grading.autofetch`) writes this placeholder
instead: a read-only notebook with one text cell that says, in the class language,
that the worksheet is on its way and what to do then (reload the page).

Its metadata carries a digest of its cells. Only a placeholder that is still exactly
as written counts as one: a fetch replaces it (:mod:`masterclass.grading.client`), and
a folder that holds nothing else counts as not fetched yet. Anything a pair changed is
their own work and is never replaced.

Examples
--------
>>> nb = notebook(language="en")
>>> nb["cells"][0]["source"].splitlines()[0]
'# The worksheet is on its way'
>>> nb["metadata"][MARK] == digest(nb["cells"])
True
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import tempfile
from pathlib import Path

from masterclass.messages import text

#: The notebook metadata key that marks a placeholder; its value is the digest of the cells.
MARK = "masterclass_placeholder"
#: Larger files are never placeholders (and are not read to find out).
MAX_BYTES = 64 * 1024
#: The kernel the worksheet uses: with it named, JupyterLab asks no "Select Kernel" question.
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def language_info() -> dict:
    """What the kernel reports about its language, as JupyterLab writes it into the metadata.

    With the same values already there, opening the placeholder changes nothing: no
    unsaved-changes mark, so reloading the page (the notice's one action) asks nothing.
    """
    try:
        from ipykernel.ipkernel import IPythonKernel
    except ImportError:  # no kernel here (a test): the part JupyterLab shows
        return {"name": "python", "version": platform.python_version()}
    return dict(IPythonKernel.language_info)


def digest(cells: list) -> str:
    """A digest of the cells' types and sources (what a pair could change)."""
    content = [(cell.get("cell_type"), "".join(cell.get("source", ""))) for cell in cells]
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()


def notebook(language: str | None = None) -> dict:
    """The placeholder notebook in *language* (default: the class language)."""
    notice = (
        f"# {text('worksheet.waiting_title', language=language)}\n\n"
        f"{text('worksheet.waiting', language=language)}"
    )
    cells = [{"cell_type": "markdown", "id": "masterclass-placeholder", "metadata": {}}]
    cells[0]["source"] = notice
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": KERNELSPEC,
            "language_info": language_info(),
            MARK: digest(cells),
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write(path: Path, language: str | None = None) -> bool:
    """Put the placeholder at *path* unless something is there; True if it was written."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(notebook(language), f, ensure_ascii=False, indent=1)
            f.write("\n")
        # Read-only: JupyterLab does not autosave it, so it never races the fetch.
        os.chmod(tmp, 0o444)
        os.link(tmp, path)  # fails if the fetch was quicker: never replace a real file
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return True


def is_placeholder(path: Path) -> bool:
    """True if *path* is a placeholder notebook exactly as :func:`write` left it."""
    path = Path(path)
    try:
        if path.suffix != ".ipynb" or not path.is_file() or path.stat().st_size > MAX_BYTES:
            return False
        nb = json.loads(path.read_text(encoding="utf-8"))
        return nb["metadata"][MARK] == digest(nb["cells"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def has_work(folder: Path) -> bool:
    """True if *folder* holds any file that is not hidden and not a placeholder."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and not is_placeholder(path):
            return True
    return False


def checkpoint(path: Path) -> Path:
    """Where the Jupyter server keeps the checkpoint of *path* (``.ipynb_checkpoints``)."""
    path = Path(path)
    return path.parent / ".ipynb_checkpoints" / f"{path.stem}-checkpoint{path.suffix}"
