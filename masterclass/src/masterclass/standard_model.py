"""The Standard Model's prediction for the Z decays a detector can see (PDG values).

The one place for these numbers: the toolkit's overview table and the class results
board both import them. No NumPy here, so the hub image can use it too.

A detector cannot see neutrinos, so the measurable ("visible") branching ratios are
the branching ratios renormalised over the visible channels.

Examples
--------
>>> {c: round(100 * r, 1) for c, r in visible_branching_ratios().items()}
{'q': 87.4, 'e': 4.2, 'm': 4.2, 't': 4.2}
"""

from __future__ import annotations

from masterclass.names import CATEGORIES

PARTIAL_WIDTHS_PERCENT = {
    "e": 3.3632,
    "m": 3.3662,
    "t": 3.3696,
    "invisible": 20.000,
    "q": 69.911,
}
"""Z branching ratios in percent (PDG): e⁺e⁻, μ⁺μ⁻, τ⁺τ⁻, neutrinos, hadrons."""


def visible_branching_ratios() -> dict[str, float]:
    """Return the Standard Model's share of each visible channel (fractions that sum to 1)."""
    visible = {channel: PARTIAL_WIDTHS_PERCENT[channel] for channel in CATEGORIES}
    total = sum(visible.values())
    return {channel: width / total for channel, width in visible.items()}
