"""The class results board: every pair's measurement live on the projector (docs/board.md).

- :mod:`~masterclass.board.schema`: what a pair may post, checked field by field;
- :mod:`~masterclass.board.physics`: binomial errors, efficiency correction, median and spread;
- :mod:`~masterclass.board.store`: one JSON file per pair in the results volume, and the
  organiser's reader (``python -m masterclass.board.store dump|purge``);
- :mod:`~masterclass.board.views`: what each viewer (projector, pair) is shown;
- :mod:`~masterclass.board.service`: the hub-managed service at ``/services/results/``;
- :mod:`~masterclass.board.client`: the pair's side, posting from ``results.record``.

Nothing here imports NumPy or TensorFlow: the service runs in the hub image.
"""

from __future__ import annotations

#: The service's name: the hub's proxy serves it at ``/services/results/``.
SERVICE = "results"
#: Its two views below that prefix.
VIEWS = ("projector", "pair")


def board_url(public_url: str, view: str = "projector") -> str:
    """The URL of one of the board's views (what ``masterclass class board`` prints).

    >>> board_url("https://hub.example.org/")
    'https://hub.example.org/services/results/projector'
    >>> board_url("http://localhost:8000", "pair")
    'http://localhost:8000/services/results/pair'
    """
    if view not in VIEWS:
        raise ValueError(f"no board view {view!r}; one of {', '.join(VIEWS)}")
    return f"{public_url.rstrip('/')}/services/{SERVICE}/{view}"
