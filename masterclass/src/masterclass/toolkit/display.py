"""Drawing event displays side by side, and the readable names of the categories.

Everything here works on anything with an ``image``, a ``category`` and
``probabilities`` (an :class:`~masterclass.toolkit.events.Event`), so the events module
can draw without this module importing it. Matplotlib loads on the first drawing.

Examples
--------
>>> category_name("t", language="de"), category_name("t", language="en")
('Taus', 'taus')
>>> check_count(5)
5
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from masterclass.messages import StudentError, text
from masterclass.names import CATEGORIES


def pyplot():
    """Return ``matplotlib.pyplot``, imported on first use (it takes a second)."""
    import matplotlib.pyplot as plt

    return plt


def in_jupyter() -> bool:
    """True in a Jupyter kernel, where tables are shown as HTML."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ipython = shell.get_ipython()
    return ipython is not None and type(ipython).__name__ == "ZMQInteractiveShell"


def category_name(category: str, language: str | None = None) -> str:
    """Return the readable name of *category* in the current language (or *language*)."""
    return text(f"categories.{category}", language=language)


def check_count(count: object) -> int:
    """Return *count* if it is a whole number of at least 1; otherwise raise a StudentError."""
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 1:
        raise StudentError("positive_int", name="count", value=count)
    return int(count)


def show_events(
    events: Sequence,
    *,
    show_category: bool = False,
    show_probability: bool = False,
    titles: Sequence[str] | None = None,
) -> None:
    """Draw event displays side by side (at most five per row)."""
    plt = pyplot()
    columns = min(5, len(events))
    rows = (len(events) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, event) in enumerate(zip(axes.flat, events, strict=False)):
        ax.imshow(event.image)
        lines = []
        if titles is not None:
            lines.append(titles[i])
        elif show_category:
            lines.append(f"{event.category} ({category_name(event.category)})")
        if show_probability and event.probabilities is not None:
            lines.append("  ".join(f"{c}: {event.probabilities[c]:.2f}" for c in CATEGORIES))
        if lines:
            ax.set_title("\n".join(lines), fontsize=10)
    figure.tight_layout()
    plt.show()
