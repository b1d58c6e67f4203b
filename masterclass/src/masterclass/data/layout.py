"""The layout of a prepared event store: its two files, their format, the category letters.

A store is a directory with

- ``events.npy``: ``uint8`` array of shape ``(N, 200, 200, 3)`` in C order;
- ``events.json``: ``{"format": 1, "sources": {...}, "events": [{"filename", "category"}, ...]}``,
  in the same order as the array, which is the order of the CSV rows.

Examples
--------
>>> print(index_json({"format": 1, "events": [{"filename": "a.png", "category": "q"}]}))
{
 "format": 1,
 "events": [
  {"filename": "a.png", "category": "q"}
 ]
}
<BLANKLINE>
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from masterclass.data.errors import DataError

#: Shape of one event display.
IMAGE_SHAPE = (200, 200, 3)

#: Version of the store layout written by :func:`prepare`.
STORE_FORMAT = 1

STORE_ARRAY = "events.npy"
STORE_INDEX = "events.json"


def is_store(path: str | os.PathLike[str]) -> bool:
    """Tell whether a directory looks like a prepared store (both store files present)."""
    path = Path(path)
    return (path / STORE_ARRAY).is_file() and (path / STORE_INDEX).is_file()


def read_index(path: Path) -> dict:
    """Return the parsed ``events.json`` of the store *path*, or raise a DataError."""
    index_file = path / STORE_INDEX
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{index_file}: cannot read the store index ({exc}).") from exc
    if not isinstance(index, dict) or index.get("format") != STORE_FORMAT:
        raise DataError(
            f"{index_file}: not a format-{STORE_FORMAT} store index; prepare it again with "
            "`masterclass data prepare`."
        )
    return index


def store_sources(path: Path) -> dict | None:
    """Return the sources record of the store *path*, or None if it has no readable index."""
    try:
        return read_index(path).get("sources")
    except DataError:
        return None


def index_json(index: dict) -> str:
    """Serialise the store index with one event per line: small, diffable, plain JSON."""
    head = {k: v for k, v in index.items() if k != "events"}
    lines = [json.dumps(e, ensure_ascii=False) for e in index["events"]]
    body = json.dumps(head, indent=1, ensure_ascii=False)[:-2]  # drop the closing "\n}"
    return body + ',\n "events": [\n  ' + ",\n  ".join(lines) + "\n ]\n}\n"
