"""The board's store: one JSON file per pair and notebook in the results volume, and its reader.

Layout (``MASTERCLASS_RESULTS_DIR``, the ``<prefix>-results`` volume, in the hub)::

    <root>/results/<pair>+<notebook>.json  the pair's latest checked result of that notebook
    <root>/rounds/<pair>.json              the pair's human-against-machine rounds
    <root>/board.json                      the tutor switch (names shown, frozen snapshot) and
                                           the pairs' anonymous labels
    <root>/cookie_secret                   the service's cookie key (survives restarts)

Why files and not SQLite: a pair's post replaces exactly one small file, written to a
temporary sibling, flushed and renamed (:func:`masterclass.files.write_atomic`), so a
crash or a full disk leaves the old result or the new one and never touches another
pair's; there is one writer (the service), the organiser's reader runs in another
process at any time without locks, and purging is deleting a folder's files. A class
is 10 to 40 pairs, so reading every file is instant.

The organiser side reads it with::

    docker exec <prefix>-hub python -m masterclass.board.store dump     # JSON on stdout
    docker exec <prefix>-hub python -m masterclass.board.store purge    # deletes everything

``dump`` prints exactly what the projector shows when it is not frozen (:func:`dump`):
each pair's result and the derived row, the class's summary, the game's tally.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import secrets
import sys
from pathlib import Path

from masterclass.board.physics import derive_row, game_tally, summarize, summed_confusion
from masterclass.board.schema import NOTEBOOK, check_result, check_round
from masterclass.files import write_atomic
from masterclass.names import is_pair

#: Where the store lives in the hub container (the results volume).
DEFAULT_ROOT = "/srv/masterclass/results"
#: Rounds kept per pair (the newest); a pair plays a few.
MAX_ROUNDS = 50
#: Label pool for anonymous rows: A..Z, then AA..ZZ.
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class Store:
    """The results volume; every method that writes takes the *verified* pair name."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        for part in ("results", "rounds"):
            (self.root / part).mkdir(parents=True, exist_ok=True)

    # -- writing -------------------------------------------------------------

    def put_result(self, pair: str, result: dict) -> dict:
        """Store *pair*'s checked *result* (replacing its last one of the same notebook)."""
        clean = check_result(result)
        notebook = clean.pop("notebook", "worksheet")
        if not is_pair(pair) or not NOTEBOOK.match(notebook):
            raise ValueError(f"not a pair's result: {pair!r}, {notebook!r}")
        record = {"pair": pair, "notebook": notebook, "received": now(), "result": clean}
        write_atomic(self._result_path(pair, notebook), json.dumps(record, sort_keys=True))
        self.label(pair)
        return record

    def put_round(self, pair: str, game_round: dict) -> dict:
        """Add *pair*'s checked game round (the same round id replaces the earlier post)."""
        clean = check_round(game_round)
        if not is_pair(pair):
            raise ValueError(f"not a pair: {pair!r}")
        path = self.root / "rounds" / f"{pair}.json"
        kept = [
            r for r in (_read(path) or {}).get("rounds", []) if r.get("round") != clean["round"]
        ]
        clean["received"] = now()
        rounds = [*kept, clean][-MAX_ROUNDS:]
        write_atomic(path, json.dumps({"pair": pair, "rounds": rounds}, sort_keys=True))
        return clean

    def set_switch(self, *, names: bool | None = None, frozen: bool | None = None) -> dict:
        """The tutor switch: show or hide names; freeze the board as it is now, or reveal."""
        board = self.board()
        if names is not None:
            board["names"] = names
        if frozen is True and not board.get("frozen"):
            board["frozen"] = {"at": now(), "results": self.results(), "rounds": self.rounds()}
        elif frozen is False:
            board["frozen"] = None
        self._write_board(board)
        return board

    def label(self, pair: str) -> str:
        """*pair*'s anonymous label (a letter, drawn at random on its first post, then fixed)."""
        board = self.board()
        labels = board.setdefault("labels", {})
        if pair not in labels:
            pool = [*_LETTERS, *(a + b for a in _LETTERS for b in _LETTERS)]
            taken = set(labels.values())
            free = [x for x in pool if x not in taken]
            # Single letters first (random among those left), two letters only after Z.
            labels[pair] = secrets.choice([x for x in free if len(x) == 1] or free)
            self._write_board(board)
        return labels[pair]

    def cookie_secret(self) -> bytes:
        """The service's cookie key: made once (mode 600), so logins survive restarts."""
        path = self.root / "cookie_secret"
        with contextlib.suppress(OSError):
            secret = bytes.fromhex(path.read_text().strip())
            if len(secret) >= 32:
                return secret
        secret = secrets.token_bytes(32)
        write_atomic(path, secret.hex())
        return secret

    def purge(self) -> int:
        """Delete every result, round and setting (the cookie key too); return the files removed."""
        removed = 0
        for path in [
            *(self.root / "results").glob("*"),
            *(self.root / "rounds").glob("*"),
            self.root / "board.json",
            self.root / "cookie_secret",
        ]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        return removed

    # -- reading -------------------------------------------------------------

    def results(self) -> list[dict]:
        """Every stored result record, oldest first."""
        records = [_read(p) for p in sorted((self.root / "results").glob("*.json"))]
        return sorted((r for r in records if r), key=lambda r: r.get("received", ""))

    def rounds(self) -> list[dict]:
        """Every stored game round, each with its ``pair``, oldest first."""
        out = []
        for path in sorted((self.root / "rounds").glob("*.json")):
            data = _read(path) or {}
            out += [{**r, "pair": data.get("pair")} for r in data.get("rounds", [])]
        return sorted(out, key=lambda r: r.get("received", ""))

    def board(self) -> dict:
        """The switch settings: ``names`` (shown), ``frozen`` (snapshot or None), ``labels``."""
        board = _read(self.root / "board.json") or {}
        board.setdefault("names", True)
        board.setdefault("frozen", None)
        board.setdefault("labels", {})
        return board

    def signature(self) -> tuple:
        """Changes whenever any file of the store changes (also by another process)."""
        entries = []
        for path in [
            *(self.root / "results").glob("*.json"),
            *(self.root / "rounds").glob("*.json"),
            self.root / "board.json",
        ]:
            with contextlib.suppress(FileNotFoundError):
                stat = path.stat()
                entries.append((path.name, stat.st_mtime_ns, stat.st_size))
        return tuple(sorted(entries))

    def _result_path(self, pair: str, notebook: str) -> Path:
        return self.root / "results" / f"{pair}+{notebook}.json"

    def _write_board(self, board: dict) -> None:
        write_atomic(self.root / "board.json", json.dumps(board, sort_keys=True))


def latest_per_pair(records: list[dict]) -> dict[str, dict]:
    """Each pair's newest result over all its notebooks (the one the board shows)."""
    latest: dict[str, dict] = {}
    for record in sorted(records, key=lambda r: r.get("received", "")):
        latest[record["pair"]] = record
    return dict(sorted(latest.items()))


def class_view(records: list[dict], rounds: list[dict]) -> dict:
    """What the board shows for these records and rounds: rows, summary, game tally."""
    latest = latest_per_pair(records)
    pairs = {
        pair: {
            "notebook": record["notebook"],
            "received": record["received"],
            "result": record["result"],
            "row": derive_row(record["result"]),
        }
        for pair, record in latest.items()
    }
    summary = summarize([p["row"] for p in pairs.values()])
    summary["confusion"] = summed_confusion([p["result"] for p in pairs.values()])
    return {"pairs": pairs, "summary": summary, "game": game_tally(rounds)}


def dump(root: str | os.PathLike = DEFAULT_ROOT) -> dict:
    """The board's current content, unfrozen: what ``class export`` writes out."""
    store = Store(root)
    return class_view(store.results(), store.rounds())


#: Columns of :func:`export_rows`, in order (``class export`` writes them as CSV).
EXPORT_COLUMNS = (
    "pair",
    "notebook",
    "received",
    "test_accuracy",
    "epochs",
    "factor_q",
    "factor_e",
    "factor_m",
    "factor_t",
    "test_events",
    *(
        f"{kind}_{c}"
        for kind in ("measured", "error", "corrected", "corrected_error")
        for c in "qemt"
    ),
)


def export_rows(view: dict) -> list[dict]:
    """One flat row per pair of a :func:`dump` (for a CSV file next to the grades)."""
    rows = []
    for pair, entry in view["pairs"].items():
        row = entry["row"]
        flat = {
            "pair": pair,
            "notebook": entry["notebook"],
            "received": entry["received"],
            "test_accuracy": row["accuracy"],
            "epochs": row["epochs"],
            "test_events": row["events"],
        }
        for i, c in enumerate("qemt"):
            flat[f"factor_{c}"] = row["factors"][i] if row["factors"] else None
            for kind, key in (
                ("measured", "fractions"),
                ("error", "errors"),
                ("corrected", "corrected"),
                ("corrected_error", "corrected_errors"),
            ):
                flat[f"{kind}_{c}"] = (row[key] or {}).get(c)
        rows.append({column: flat.get(column) for column in EXPORT_COLUMNS})
    return rows


def main(argv: list[str] | None = None) -> int:
    """``dump`` (JSON, or ``--csv``) or ``purge`` the store; the organiser CLI runs these."""
    parser = argparse.ArgumentParser(
        prog="python -m masterclass.board.store", description=__doc__.splitlines()[0]
    )
    parser.add_argument("action", choices=["dump", "purge"])
    parser.add_argument(
        "--root",
        default=os.environ.get("MASTERCLASS_RESULTS_DIR", DEFAULT_ROOT),
        help=f"the store (default: $MASTERCLASS_RESULTS_DIR or {DEFAULT_ROOT})",
    )
    parser.add_argument("--csv", action="store_true", help="dump one CSV row per pair instead")
    args = parser.parse_args(argv)
    if args.action == "purge":
        print(json.dumps({"removed": Store(args.root).purge()}))
        return 0
    view = dump(args.root)
    if args.csv:
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        writer.writerows(export_rows(view))
    else:
        json.dump(view, sys.stdout, indent=1, sort_keys=True)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
