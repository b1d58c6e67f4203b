"""Unlock requests for locked logins: written by ``masterclass class unlock``, honoured by the hub.

The login throttle lives in the hub's memory (masterclass.hub.authenticator). The
organiser CLI reaches it through one file in the hub state, ``login-unlocks.json``
(mode 600): for every username or client address, the time of its latest unlock
request. The authenticator reads the file when it changed, at the next login attempt,
forgets the failures of every name or address whose request is newer than the last one
it applied, and logs that. Standard library only: the light organiser CLI imports it.

Examples
--------
>>> text = request_unlock(None, "pair-05", now=1000.0)
>>> text = request_unlock(text, "192.0.2.7", now=1001.0)
>>> parse(text)
{'pair-05': 1000.0, '192.0.2.7': 1001.0}
>>> applied = {}
>>> due(parse(text), applied)
['pair-05', '192.0.2.7']
>>> due(parse(text), applied)
[]
"""

from __future__ import annotations

import json
import time

#: The unlock requests in the hub state (beside the roster).
UNLOCKS_FILE = "login-unlocks.json"


def parse(text: str | None) -> dict[str, float]:
    """Target → time of its latest unlock request; {} for a missing or broken file."""
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)}


def request_unlock(text: str | None, target: str, now: float | None = None) -> str:
    """The file's new text with an unlock request for *target* (a username or an address)."""
    requests = parse(text)
    requests[target] = time.time() if now is None else now
    return json.dumps(requests, indent=2) + "\n"


def due(requests: dict[str, float], applied: dict[str, float]) -> list[str]:
    """Targets whose request is newer than the one last applied; marks them applied."""
    fresh = [t for t, at in requests.items() if at > applied.get(t, float("-inf"))]
    for target in fresh:
        applied[target] = requests[target]
    return fresh
