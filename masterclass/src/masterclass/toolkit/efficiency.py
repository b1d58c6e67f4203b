"""Efficiency: how the network sorts each true category, and counts corrected with it.

A real experiment never knows the true category of the events it measures. It learns
how its selection behaves from events whose category it does know (at OPAL: simulated
events) and undoes that behaviour on the measurement. Here the validation events play
that part: the network never learned from them, and their true categories are known.

:func:`show_efficiency` turns the validation set's confusion matrix into row
percentages: of 100 true ``e``, how many the network calls ``q``, ``e``, ``m`` and
``t``. The diagonal is each category's efficiency. :meth:`Efficiency.correct` then asks
which true counts would have produced the counts the network measured, which undoes
the mix-ups in both directions: leptons the network missed, and quarks it took for
leptons.

Examples
--------
A "network" that sorts one electron in two as a quark, and everything else right:

>>> import numpy as np
>>> efficiency = Efficiency(np.array([[90, 0, 0, 0], [1, 1, 0, 0], [0, 0, 4, 0], [0, 0, 0, 4]]))
>>> efficiency
Efficiency(q=100.0 %, e=50.0 %, m=100.0 %, t=100.0 %)
>>> {c: round(n, 1) for c, n in efficiency.correct({"q": 91, "e": 1, "m": 4, "t": 4}).items()}
{'q': 90.0, 'e': 2.0, 'm': 4.0, 't': 4.0}
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import numpy as np

from masterclass.messages import StudentError, text
from masterclass.names import CATEGORIES
from masterclass.toolkit.display import category_name, in_jupyter
from masterclass.toolkit.events import Event
from masterclass.toolkit.plots import confusion_matrix
from masterclass.toolkit.results import record

#: Beyond this condition number the correction would blow up the counts' noise.
MAX_CONDITION = 1e4


class Efficiency:
    """How the network sorts each true category: the row percentages of a confusion matrix.

    ``efficiency["t"]`` is the share of true taus the network recognised as taus (None
    when the matrix holds no taus). ``efficiency.shares`` is the whole table: row = true
    category, column = predicted category, each row adding up to 1.

    Parameters
    ----------
    counts : array of int, shape (4, 4)
        A confusion matrix: row = true category, column = predicted (q, e, m, t).
    """

    def __init__(self, counts: np.ndarray) -> None:
        self.counts = np.asarray(counts, dtype=np.int64)
        totals = self.counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.shares = np.where(totals > 0, self.counts / np.maximum(totals, 1), np.nan)

    def __getitem__(self, category: str) -> float | None:
        i = CATEGORIES.index(category)
        value = self.shares[i, i]
        return None if np.isnan(value) else float(value)

    def as_dict(self) -> dict[str, float | None]:
        """The efficiency of every category (None where the validation held none)."""
        return {category: self[category] for category in CATEGORIES}

    def correct(self, counts: Mapping[str, float]) -> dict[str, float]:
        """Return the true counts that would have produced the measured *counts*.

        Solves ``measured = shares.T @ true``: every true category spreads its events over
        the predicted columns as its row says. Counts below zero (a fluctuation of small
        numbers) are set to zero.
        """
        for category in CATEGORIES:
            if self[category] is None:
                raise StudentError("efficiency_unknown", category=category)
        if np.linalg.cond(self.shares) > MAX_CONDITION:
            raise StudentError("efficiency_singular")
        measured = np.array([float(counts[category]) for category in CATEGORIES])
        true = np.linalg.solve(self.shares.T, measured)
        return {category: max(0.0, float(n)) for category, n in zip(CATEGORIES, true, strict=True)}

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Return the header and rows of the table as text cells."""
        header = [text("efficiency.true_vs_predicted"), *CATEGORIES, text("efficiency.events")]
        rows = []
        for i, category in enumerate(CATEGORIES):
            cells = ["–" if np.isnan(share) else f"{100 * share:.1f} %" for share in self.shares[i]]
            total = int(self.counts[i].sum())
            rows.append([f"{category} ({category_name(category)})", *cells, str(total)])
        return header, rows

    def to_text(self) -> str:
        """Return the table as aligned plain text, with the efficiencies below."""
        header, rows = self.table()
        widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
        lines = [
            "  ".join(
                cell.rjust(width) if j else cell.ljust(width)
                for j, (cell, width) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
            for line in [header, *rows]
        ]
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join([*lines, self._summary()])

    def to_html(self) -> str:
        """Return the table as an HTML fragment for Jupyter; the diagonal in bold."""
        header, rows = self.table()
        head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
        body = "".join(
            "<tr>"
            + "".join(
                f"<td><b>{html.escape(cell)}</b></td>"
                if j == i + 1
                else f"<td>{html.escape(cell)}</td>"
                for j, cell in enumerate(row)
            )
            + "</tr>"
            for i, row in enumerate(rows)
        )
        return (
            '<table class="masterclass-efficiency" style="text-align:right">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<p>{html.escape(self._summary())}</p>"
        )

    def _summary(self) -> str:
        values = ", ".join(
            f"{c} {'–' if e is None else f'{100 * e:.1f} %'}" for c, e in self.as_dict().items()
        )
        return text("efficiency.summary", values=values)

    def __repr__(self) -> str:
        values = ", ".join(
            f"{c}={'–' if e is None else f'{100 * e:.1f} %'}" for c, e in self.as_dict().items()
        )
        return f"Efficiency({values})"


def show_efficiency(true_list: Sequence[Event], predicted_list: Sequence[Event]) -> Efficiency:
    """Show how the network sorts each true category, as row percentages, and return them.

    Use the validation events: the network did not learn from them, and you know their
    true categories. The diagonal is each category's efficiency.

    Parameters
    ----------
    true_list : list of Event
        Events with their true categories, for example ``events_validation``.
    predicted_list : list of Event
        The same events as the network sorted them (from ``model.predict``).

    Returns
    -------
    Efficiency
        The table; ``efficiency["e"]`` is the share of electrons recognised as electrons.

    Examples
    --------
    >>> from masterclass import *
    >>> events = load_events()
    >>> always_q = [e.with_prediction("q", dict(q=1.0, e=0.0, m=0.0, t=0.0)) for e in events]
    >>> efficiency = show_efficiency(events, always_q)  # doctest: +NORMALIZE_WHITESPACE
    echt ↓ / vorhergesagt →        q      e      m      t  Ereignisse
    -----------------------  -------  -----  -----  -----  ----------
    q (Quarks)               100.0 %  0.0 %  0.0 %  0.0 %         539
    e (Elektronen)           100.0 %  0.0 %  0.0 %  0.0 %          23
    m (Myonen)               100.0 %  0.0 %  0.0 %  0.0 %          32
    t (Taus)                 100.0 %  0.0 %  0.0 %  0.0 %          28
    Effizienz (die Diagonale): q 100.0 %, e 0.0 %, m 0.0 %, t 0.0 %
    >>> efficiency["e"]
    0.0
    """
    efficiency = Efficiency(confusion_matrix(true_list, predicted_list))
    record(
        validation_confusion=efficiency.counts.tolist(),
        efficiencies=efficiency.as_dict(),
    )
    if in_jupyter():
        from IPython.display import HTML, display

        display(HTML(efficiency.to_html()))
    else:
        print(efficiency.to_text())
    return efficiency
