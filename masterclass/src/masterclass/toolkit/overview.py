"""The overview table: events per category in each list, next to the Standard Model.

The Standard Model predicts how often a Z boson decays into each pair of
particles. A detector cannot see neutrinos, so the measurable ("visible")
branching ratios are the partial widths renormalised over the visible channels.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from masterclass.messages import StudentError, text
from masterclass.names import CATEGORIES
from masterclass.standard_model import visible_branching_ratios
from masterclass.toolkit.display import category_name, in_jupyter
from masterclass.toolkit.efficiency import Efficiency
from masterclass.toolkit.events import Event, check_eventlist, count_by_category
from masterclass.toolkit.results import record


class Overview:
    """A table of how many events of each category are in each list.

    Examples
    --------
    >>> from masterclass import *
    >>> overview = Overview()
    >>> overview.add_entry("Alle Events", load_events())
    >>> overview.show()
    Kategorie       Alle Events   Standardmodell (PDG)
    --------------  ------------  --------------------
    q (Quarks)      539 (86.7 %)  87.4 %
    e (Elektronen)  23 (3.7 %)    4.2 %
    m (Myonen)      32 (5.1 %)    4.2 %
    t (Taus)        28 (4.5 %)    4.2 %
    Summe           622           100.0 %
    """

    def __init__(self) -> None:
        self._entries: list[tuple[str, dict[str, float]]] = []

    def add_entry(
        self,
        name: str,
        eventlist: Sequence[Event],
        overwrite: bool = False,
        efficiency: Efficiency | None = None,
    ) -> None:
        """Add a column *name* that counts the events of *eventlist* per category.

        Parameters
        ----------
        name : str
            The column heading, for example ``"Roh"`` or ``"Vorhersage"``.
        eventlist : list of Event
            The events to count.
        overwrite : bool
            Replace an existing column of the same name instead of refusing.
        efficiency : Efficiency, optional
            From :func:`~masterclass.toolkit.efficiency.show_efficiency`: count the
            network's prediction *eventlist* corrected for its mix-ups, that is, the true
            counts that would have given these predicted counts.

        Examples
        --------
        >>> from masterclass import *
        >>> events = load_events()
        >>> always_q = [e.with_prediction("q", dict(q=1.0, e=0.0, m=0.0, t=0.0)) for e in events]
        >>> overview = Overview()
        >>> overview.add_entry("Netz", always_q)
        >>> overview.entries
        [('Netz', {'q': 622, 'e': 0, 'm': 0, 't': 0})]
        """
        if not isinstance(name, str) or not name.strip():
            raise StudentError("entry_name")
        events = check_eventlist(eventlist)
        counts: dict[str, float] = count_by_category(events)
        predicted = all(event.probabilities is not None for event in events)
        total = len(events)
        if efficiency is not None:
            if not isinstance(efficiency, Efficiency):
                raise StudentError("not_an_efficiency", kind=type(efficiency).__name__)
            if not predicted:
                raise StudentError("correct_needs_prediction")
            counts = efficiency.correct(counts)
            corrected = sum(counts.values())
            record(
                corrected_counts=counts,
                corrected_ratios={c: counts[c] / corrected if corrected else 0.0 for c in counts},
            )
        elif predicted:
            record(
                measured_counts=counts,
                measured_ratios={c: counts[c] / total for c in CATEGORIES},
                measured_events=total,
            )
        for position, (existing, _) in enumerate(self._entries):
            if existing == name:
                if not overwrite:
                    raise StudentError("entry_exists", name=name)
                self._entries[position] = (name, counts)
                return
        self._entries.append((name, counts))

    def delete_entry(self, index: int) -> None:
        """Remove the column at position *index* (counting from 0)."""
        if (
            isinstance(index, bool)
            or not isinstance(index, int)
            or not -len(self._entries) <= index < len(self._entries)
        ):
            raise StudentError("entry_index", value=index, count=len(self._entries))
        del self._entries[index]

    @property
    def entries(self) -> list[tuple[str, dict[str, float]]]:
        """The columns as ``(name, counts per category)``, in order."""
        return [(name, dict(counts)) for name, counts in self._entries]

    def table(self, show_theory: bool = True) -> tuple[list[str], list[list[str]]]:
        """Return the header and rows of the table as text cells."""
        theory = text("overview.standard_model")
        header = [text("overview.category")]
        header += [name for name, _ in self._entries]
        if show_theory:
            header.append(theory)
        ratios = visible_branching_ratios()
        rows = []
        for category in CATEGORIES:
            row = [f"{category} ({category_name(category)})"]
            for _, counts in self._entries:
                total = sum(counts.values())
                share = counts[category] / total if total else 0.0
                row.append(f"{_count(counts[category])} ({100 * share:.1f} %)")
            if show_theory:
                row.append(f"{100 * ratios[category]:.1f} %")
            rows.append(row)
        total_row = [text("overview.total")]
        total_row += [_count(sum(counts.values())) for _, counts in self._entries]
        if show_theory:
            total_row.append("100.0 %")
        rows.append(total_row)
        return header, rows

    def to_text(self, show_theory: bool = True) -> str:
        """Return the table as aligned plain text."""
        header, rows = self.table(show_theory)
        widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            for line in [header, *rows]
        ]
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join(lines)

    def to_html(self, show_theory: bool = True) -> str:
        """Return the table as an HTML fragment for Jupyter."""
        header, rows = self.table(show_theory)
        head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
            for row in rows
        )
        return (
            '<table class="masterclass-overview" style="text-align:right">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return self.to_text()

    def show(self, show_theory: bool = True) -> None:
        """Show the table: as HTML in Jupyter, as plain text elsewhere.

        Parameters
        ----------
        show_theory : bool
            Add the Standard Model's visible branching ratios as a last column.
        """
        if not self._entries and not show_theory:
            raise StudentError("empty_list", name="overview")
        if in_jupyter():
            from IPython.display import HTML, display

            display(HTML(self.to_html(show_theory)))
        else:
            print(self.to_text(show_theory))


def _count(value: float) -> str:
    """A count as the table shows it: whole numbers as they are, corrected ones to 0.1."""
    return str(value) if isinstance(value, int) else f"{value:.1f}"
