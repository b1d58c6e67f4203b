"""How things are named: usernames, their containers and volumes, and login links.

The one definition of every naming rule. The roster, the hub config, the organiser
CLI, grading and the results board import it; nothing else spells a pattern out.

Usernames are pseudonymous and numbered per role (``pair-01``, ``tutor-01``,
``organiser-01``). Docker names of a stack start with its prefix
(``MASTERCLASS_PREFIX``, default ``masterclass``).

Examples
--------
>>> username("pair", 7)
'pair-07'
>>> parse_username("tutor-12")
('tutor', 12)
>>> is_pair("pair-03"), is_pair("tutor-01"), is_pair("pair-3")
(True, False, False)
>>> container_name("masterclass", "pair-03")
'masterclass-pair-03'
>>> home_volume("masterclass", "pair-03")
'masterclass-home-pair-03'
>>> login_url("https://hub.example.org/", "pair-03")
'https://hub.example.org/hub/login?username=pair-03'
"""

from __future__ import annotations

import re
import string

#: Account roles, in the order cards and tables list them.
ROLES = ("pair", "tutor", "organiser")
#: Role of an account → the JupyterHub group it belongs to.
GROUPS = {"pair": "pairs", "tutor": "tutors", "organiser": "organisers"}
#: A roster username inside a longer pattern (role, dash, two or three digits).
USERNAME_PART = r"(pair|tutor|organiser)-(\d{2,3})"
#: Every username the roster hands out.
USERNAME = re.compile(f"^{USERNAME_PART}$")
#: The Z decay channels' category letters, in the order the model's outputs use:
#: hadrons, electrons, muons, taus.
CATEGORIES = ("q", "e", "m", "t")
#: Largest class: pairs per roster (usernames have at most three digits).
MAX_PAIRS = 200
#: The pairs' usernames only.
PAIR = re.compile(r"^pair-\d{2,3}$")

#: The file a pair's worksheet records its results in, next to the notebook; the grader
#: reads it from each collected folder.
RESULTS_FILE = "masterclass-results.json"
#: The folder next to the notebook where a pair's server records each training, so that
#: autograde can replay it instead of training again (masterclass.toolkit.replay).
TRAININGS_DIR = "masterclass-trainings"

_SAFE = frozenset(string.ascii_lowercase + string.digits)


def username(role: str, number: int, width: int = 2) -> str:
    """The username of account *number* of *role*, with *width* digits (2 or 3)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    return f"{role}-{number:0{width}d}"


def parse_username(name: str) -> tuple[str, int] | None:
    """``(role, number)`` of a roster username, None for any other name."""
    match = USERNAME.match(name)
    return (match.group(1), int(match.group(2))) if match else None


def is_roster_user(name: str) -> bool:
    """Whether *name* is one the roster hands out (only those are ever deleted by the CLI)."""
    return USERNAME.match(name) is not None


def is_pair(name: str) -> bool:
    """Whether *name* is a pair's username."""
    return PAIR.match(name) is not None


def docker_safe_name(name: str) -> str:
    """A username as it appears in Docker names: roster names as they are, others escaped.

    DockerSpawner would escape every ``-`` (``pair-01`` → ``pair-2d01``). Roster names
    are already safe and stay readable; any other name (an account made through the
    admin API) is escaped and marked with ``x-``, which no roster name starts with, so
    two accounts never share a container or a volume.

    >>> docker_safe_name("pair-01"), docker_safe_name("Alice B")
    ('pair-01', 'x--41lice-20-42')
    """
    if is_roster_user(name):
        return name
    from escapism import escape  # comes with JupyterHub and DockerSpawner

    return "x-" + escape(name, safe=_SAFE, escape_char="-")


def stack_name(prefix: str, part: str) -> str:
    """A container, volume or network of the stack: ``<prefix>-<part>`` (``masterclass-hub``)."""
    return f"{prefix}-{part}"


def container_name(prefix: str, name: str) -> str:
    """A user's server container, as the hub's DockerSpawner names it."""
    return stack_name(prefix, docker_safe_name(name))


#: The home volume pattern as DockerSpawner expands it (``{username}`` is escaped by it).
HOME_VOLUME = "{prefix}-home-{{username}}"


def home_volume(prefix: str, name: str) -> str:
    """A user's home volume (it outlives the container)."""
    return HOME_VOLUME.format(prefix=prefix).format(username=docker_safe_name(name))


def roster_containers(prefix: str) -> re.Pattern:
    """Matches the server containers of roster users of the stack *prefix*."""
    return re.compile(rf"^{re.escape(prefix)}-{USERNAME_PART}$")


def roster_homes(prefix: str) -> re.Pattern:
    """Matches the home volumes of roster users of the stack *prefix*."""
    return re.compile(rf"^{re.escape(prefix)}-home-{USERNAME_PART}$")


def login_url(public_url: str, name: str) -> str:
    """The hub's login page with the username filled in (what a card's QR code opens)."""
    return f"{public_url.rstrip('/')}/hub/login?username={name}"
