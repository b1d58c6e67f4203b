"""The ``class`` command group: its options, its console, and one way of failing.

Every command module in :mod:`masterclass.organiser.commands` adds itself to
:data:`class_app`, takes its :class:`~masterclass.organiser.settings.Settings` from
``ctx.obj`` (so ``--state`` and ``--class-dir`` reach every command), and runs its work
inside :func:`errors`, the one mapping from errors to messages and exit codes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from masterclass.messages import LANGUAGES
from masterclass.organiser.errors import EXIT_CODES_HELP, ExitCode, OrganiserError
from masterclass.organiser.settings import Settings

console = Console()
err_console = Console(stderr=True)


#: Class languages: those of the message catalogue (a new language needs no change here).
Lang = StrEnum("Lang", [(lang, lang) for lang in LANGUAGES])


class_app = typer.Typer(
    help=(
        "The class day: create the accounts and print the cards, check the server, warm "
        "the containers, watch the pairs, hand out and collect the worksheets, and delete "
        "the pupils' data afterwards.\n\n"
        "Run these on the server, in the checkout where `make up` runs (the `.env` there "
        "is read). A typical day:\n\n"
        "```\n"
        'masterclass class create --name "Gymnasium X, 2026-03-12" --pairs 12 --tutors 2\n'
        "masterclass class check              # the evening before: go / no-go\n"
        "masterclass class release            # hand out the worksheets\n"
        "masterclass class warm --start       # in the morning: every pair's server running\n"
        "masterclass class status             # during the day (Ctrl-C to leave)\n"
        "masterclass class collect            # at the end: collect and autograde\n"
        "masterclass class export             # grades.csv and summary.md\n"
        "masterclass class purge              # after the export\n"
        "```\n\n" + EXIT_CODES_HELP
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@class_app.callback()
def _options(
    ctx: typer.Context,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            envvar="MASTERCLASS_CLASS_STATE",
            help="Use the hub state (roster.json) in this local directory instead of the "
            "running hub container's state volume.",
            file_okay=False,
        ),
    ] = None,
    class_dir: Annotated[
        Path | None,
        typer.Option(
            "--class-dir",
            envvar="MASTERCLASS_CLASS_DIR",
            help="Directory for the cards, the one-time logins file, the audit log and the "
            "exports. Default: ~/.local/share/masterclass/PREFIX (MASTERCLASS_PREFIX).",
            file_okay=False,
        ),
    ] = None,
) -> None:
    with errors():
        settings = Settings.from_env()
    if state is not None:
        settings.state_dir = state
    if class_dir is not None:
        settings.class_dir = class_dir
    ctx.obj = settings


def fail(message: str, code: ExitCode) -> typer.Exit:
    """Print *message* as an error and return the Exit to raise."""
    err_console.print(f"[bold red]Error:[/] {message}", highlight=False)
    return typer.Exit(int(code))


@contextlib.contextmanager
def errors() -> Iterator[None]:
    """Every known failure becomes its message and exit code, without a traceback."""
    from masterclass.grading.course import CourseError
    from masterclass.grading.grader import GradingError
    from masterclass.grading.layout import LayoutError
    from masterclass.roster import RosterError

    try:
        yield
    except OrganiserError as e:
        raise fail(str(e), e.code) from e
    except RosterError as e:
        raise fail(str(e), ExitCode.CLASS) from e
    except (CourseError, GradingError, LayoutError) as e:
        raise fail(str(e), ExitCode.USAGE) from e
