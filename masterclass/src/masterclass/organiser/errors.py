"""What can go wrong on the organiser side, and the exit code each failure ends with."""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    """Exit codes of every ``masterclass class`` command."""

    OK = 0
    #: ``check`` found a no-go; ``warm`` could not get every image or server ready.
    NOGO = 1
    #: Wrong usage or bad input (click's convention): nothing was changed.
    USAGE = 2
    #: No class exists (create one first), or one exists already (``create``).
    CLASS = 3
    #: The hub cannot be reached, is not running, or refuses the CLI's API token.
    HUB = 4
    #: No Docker engine answers.
    DOCKER = 5
    #: ``purge`` refused: no export since the pairs' last activity, or not confirmed.
    REFUSED = 6


EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 a no-go (check) or not everything ready (warm); 2 wrong usage "
    "or bad input; 3 no class yet, or a class exists already; 4 the hub cannot be reached "
    "or refuses the token; 5 no Docker engine; 6 purge refused (no export, or not confirmed)."
)


class OrganiserError(Exception):
    """A command cannot go on; the message says why and what to do, ``code`` how it exits."""

    def __init__(self, message: str, code: ExitCode = ExitCode.NOGO) -> None:
        super().__init__(message)
        self.code = code


class StackError(OrganiserError):
    """The stack cannot do what was asked: no engine, no hub, or unreadable hub state.

    ``kind`` says which part failed (``"docker"``, ``"hub"``, ``"state"``, ``"image"``)
    and chooses the exit code.
    """

    _CODES: ClassVar[dict[str, ExitCode]] = {
        "docker": ExitCode.DOCKER,
        "hub": ExitCode.HUB,
        "state": ExitCode.HUB,
    }

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message, self._CODES.get(kind, ExitCode.NOGO))
        self.kind = kind


def short(error: BaseException) -> str:
    """The first line of an error, at most 200 characters (for one-line messages)."""
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:200]
