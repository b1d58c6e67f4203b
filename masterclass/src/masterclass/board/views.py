"""What each viewer of the board is sent: the projector's view and a pair's view.

Both are built from the same :func:`masterclass.board.store.class_view`, so the
projector, the pairs' pages and the organiser's export never disagree. The views differ
only in who is named:

- **projector** (tutors and organisers): every pair's name, and the tutor switch's
  state (``names``: whether the projector shows them; ``frozen``);
- **pair**: its own row with its name and ``own: true``; every other row only with its
  anonymous label. No other pair's name is anywhere in what a pair receives.

While the board is frozen, every view shows the snapshot taken when it was frozen; new
posts are stored (nothing is lost) and counted as ``held_back`` on the projector.
"""

from __future__ import annotations

from masterclass.board.store import class_view, latest_per_pair


def shown(results: list[dict], rounds: list[dict], board: dict) -> tuple[dict, int]:
    """The class view every viewer is shown now (frozen or live), and the posts held back."""
    frozen = board.get("frozen")
    if not frozen:
        return class_view(results, rounds), 0
    shown = latest_per_pair(frozen.get("results", []))
    now = latest_per_pair(results)
    held_back = sum(
        1
        for pair, record in now.items()
        if shown.get(pair, {}).get("received") != record["received"]
    )
    return class_view(frozen.get("results", []), frozen.get("rounds", [])), held_back


def projector_view(state: tuple[dict, int], board: dict) -> dict:
    """The projector's view of a :func:`shown` *state*: all names, the switch's state."""
    view, held_back = state
    labels = board.get("labels", {})
    rows = [
        {
            "id": labels.get(pair, "?"),
            "name": pair,
            "own": False,
            "received": entry["received"],
            **entry["row"],
        }
        for pair, entry in view["pairs"].items()
    ]
    return {
        "kind": "projector",
        "names": bool(board.get("names", True)),
        "frozen": (board.get("frozen") or {}).get("at"),
        "held_back": held_back,
        "rows": rows,
        "summary": view["summary"],
        "game": view["game"],
    }


def pair_view(state: tuple[dict, int], board: dict, pair: str) -> dict:
    """*pair*'s view of a :func:`shown` *state*: its own row named, the others by label only."""
    view, _ = state
    labels = board.get("labels", {})
    rows = []
    for name, entry in view["pairs"].items():
        own = name == pair
        rows.append(
            {
                "id": labels.get(name, "?"),
                "name": name if own else None,
                "own": own,
                "received": entry["received"],
                **entry["row"],
            }
        )
    rows.sort(key=lambda row: (not row["own"], len(row["id"]), row["id"]))
    return {
        "kind": "pair",
        "names": False,
        "frozen": (board.get("frozen") or {}).get("at"),
        "held_back": 0,
        "rows": rows,
        "summary": view["summary"],
        "game": view["game"],
    }
