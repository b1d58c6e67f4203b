"""Docker-safe names for pairs' containers and volumes that stay readable.

DockerSpawner escapes every ``-`` in a username (``pair-01`` becomes ``pair-2d01``).
Roster usernames are already safe, so they are kept as they are; any other name
(an account made through the admin API) is escaped and marked with an ``x-`` prefix,
which no roster name has, so two accounts can never share a container or a volume.
"""

from __future__ import annotations

import re
import string

from escapism import escape

_ROSTER_NAME = re.compile(r"^(pair|tutor|organiser)-\d{2,3}$")
_SAFE = set(string.ascii_lowercase + string.digits)


def docker_safe_name(username: str) -> str:
    """``pair-01`` → ``pair-01``; ``Alice B`` → ``x--41lice-20-42`` (escaped)."""
    if _ROSTER_NAME.match(username):
        return username
    return "x-" + escape(username, safe=_SAFE, escape_char="-")
