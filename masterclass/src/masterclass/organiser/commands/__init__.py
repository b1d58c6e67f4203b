"""The ``class`` commands, one module each; importing this package registers them all."""

from masterclass.organiser.app import class_app
from masterclass.organiser.commands import (
    board,
    cards,
    check,
    create,
    grading,
    purge,
    status,
    unlock,
    warm,
)

__all__ = [
    "board",
    "cards",
    "check",
    "class_app",
    "create",
    "grading",
    "purge",
    "status",
    "unlock",
    "warm",
]
