"""The results board's store as the organiser sees it: read for the export, emptied by purge.

The store lives in the ``<prefix>-results`` volume of the hub container; these helpers
run its reader there (``python -m masterclass.board.store``), the way the exchange is
listed, so the CLI needs no mount and reads exactly what the board shows.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

from masterclass.board.store import EXPORT_COLUMNS, export_rows
from masterclass.organiser.docker import exec_text, running_container
from masterclass.organiser.errors import ExitCode, OrganiserError

if TYPE_CHECKING:
    from masterclass.organiser.settings import Settings

#: The reader in the hub container.
STORE = ["python", "-m", "masterclass.board.store"]


def read_board(settings: Settings, client) -> dict | None:
    """The board's content (the unfrozen view, as ``dump`` prints it); None without a hub."""
    hub = running_container(settings.prefix, client, "hub")
    if hub is None:
        return None
    code, out = exec_text(hub, [*STORE, "dump"])
    if code != 0:
        raise OrganiserError(f"The results board could not be read: {out[-300:]}", ExitCode.NOGO)
    return json.loads(out)


def write_board(view: dict, folder: Path) -> list[Path]:
    """``results-board.json`` (everything) and ``results-board.csv`` (a row per pair)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    whole = folder / "results-board.json"
    whole.write_text(json.dumps(view, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(export_rows(view))
    rows = folder / "results-board.csv"
    rows.write_text(text.getvalue(), encoding="utf-8")
    return [whole, rows]


def board_pairs(settings: Settings, client) -> int:
    """How many pairs have results on the board (for purge's plan); 0 without a hub."""
    view = read_board(settings, client)
    return len(view["pairs"]) if view else 0


def purge_board(settings: Settings, client) -> int:
    """Delete every result, round and setting of the board; the files removed (0 without a hub).

    The service notices within a second and empties every open board.
    """
    hub = running_container(settings.prefix, client, "hub")
    if hub is None:
        return 0
    code, out = exec_text(hub, [*STORE, "purge"])
    if code != 0:
        raise OrganiserError(f"The results board could not be emptied: {out[-300:]}", ExitCode.NOGO)
    return int(json.loads(out)["removed"])
