"""Where grading keeps its files: the exchange and course folders, their volumes, inbound names.

The one definition of nbgrader's layout in this project. The exchange service, the
grader container, the formgrader, the organiser CLI and the hub config import it.

In every container that grades, the two volumes of a stack are mounted at the same
places::

    /srv/nbgrader/exchange    <prefix>-exchange: releases, submissions, feedback
    /srv/nbgrader/course      <prefix>-course: nbgrader's course directory and gradebook

The exchange keeps nbgrader's own layout (so that nbgrader's ``collect`` works on it)::

    <course>/outbound/<assignment>/...                        the released student version
    <course>/inbound/<user>+<assignment>+<timestamp>+<random>/ one submission each
    <course>/feedback/<user>/<assignment>/*.html               feedback for that user

Examples
--------
>>> name = inbound_name("pair-03", "z-boson", "2026-03-12 10:15:00.000000 UTC", "ab12")
>>> name
'pair-03+z-boson+2026-03-12 10:15:00.000000 UTC+ab12'
>>> parse_inbound(name)
Inbound(user='pair-03', assignment='z-boson', timestamp='2026-03-12 10:15:00.000000 UTC')
>>> parse_inbound(".incoming-1234") is None
True
>>> course_volume("masterclass"), exchange_volume("masterclass")
('masterclass-course', 'masterclass-exchange')
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import NamedTuple

from masterclass.names import stack_name

#: The exchange volume's mount point in the hub, grader and formgrader containers.
EXCHANGE_DIR = PurePosixPath("/srv/nbgrader/exchange")
#: The course volume's mount point in the grader and formgrader containers.
COURSE_DIR = PurePosixPath("/srv/nbgrader/course")
#: Where the grader container finds the class language's sources and config (read-only).
GRADER_SOURCE = PurePosixPath("/srv/grading/source")
GRADER_CONFIG = PurePosixPath("/srv/grading/config.py")
#: Working copies of pairs that never submitted (read-only in the grader container).
GRADER_SNAPSHOTS = PurePosixPath("/srv/grading/snapshots")
#: Where export writes grades.csv and summary.md inside the course volume.
EXPORTS_DIR = COURSE_DIR / "exports"

#: Names nbgrader uses as folder names: no slashes, no "+" (its separator), no dot first.
SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
#: nbgrader's separator in inbound folder names.
SEPARATOR = "+"


class LayoutError(ValueError):
    """A name that cannot be used in the exchange (the message says which and why)."""


class Inbound(NamedTuple):
    """One submission's folder name, taken apart."""

    user: str
    assignment: str
    timestamp: str


def check_name(name: str, what: str = "assignment") -> str:
    """*name* if it is usable as a folder name in the exchange, else :class:`LayoutError`."""
    if not isinstance(name, str) or not SAFE_NAME.match(name):
        raise LayoutError(
            f"{name!r} is not a usable {what} name (letters, digits, _ . -; no '+', "
            "no '/', not starting with a dot)"
        )
    return name


def inbound_name(user: str, assignment: str, timestamp: str, nonce: str) -> str:
    """The inbound folder of one submission: ``<user>+<assignment>+<timestamp>+<nonce>``."""
    check_name(user, "user")
    check_name(assignment)
    return SEPARATOR.join((user, assignment, timestamp, nonce))


def parse_inbound(name: str) -> Inbound | None:
    """The parts of an inbound folder name; None for anything else (staging folders too)."""
    parts = name.split(SEPARATOR)
    if len(parts) < 3 or not SAFE_NAME.match(parts[0]) or not SAFE_NAME.match(parts[1]):
        return None
    return Inbound(parts[0], parts[1], parts[2])


def inbound_glob(user: str | None = None, assignment: str | None = None) -> str:
    """A glob for inbound folders of *user* and/or *assignment* (anchored on the separator)."""
    return SEPARATOR.join((user or "*", assignment or "*", "*"))


def course_volume(prefix: str) -> str:
    """The course volume of a stack (nbgrader's course directory and gradebook)."""
    return stack_name(prefix, "course")


def exchange_volume(prefix: str) -> str:
    """The exchange volume of a stack (releases, submissions, feedback)."""
    return stack_name(prefix, "exchange")
