"""The measured figures of one pair that size a class: what the hub reserves, what check counts.

The one definition of these numbers. The organiser's preflight (``class check``) sizes a
server with them, and the Swarm spawner reserves them for every pair's server, so that
the scheduler spreads pairs by what they really use instead of by the 8 GB limit, which
only stops a runaway notebook.

Examples
--------
>>> pair_reservation_bytes()
1300000000
"""

from __future__ import annotations

#: Peak resident memory of one pair running the worksheet's training (GB), from the
#: student toolkit benchmark: docs/toolkit.md ("Batch size and memory", `make bench`).
#: The lead keeps the final figure there; change it here when that figure changes.
PAIR_PEAK_GB = 1.3


def pair_reservation_bytes() -> int:
    """The memory a pair's server is sized with, in bytes (the measured peak)."""
    return round(PAIR_PEAK_GB * 1e9)
