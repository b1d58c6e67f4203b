"""``class cards``: print the login cards again from the one-time logins file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from masterclass.organiser import classfiles
from masterclass.organiser.app import class_app, console, errors
from masterclass.organiser.errors import ExitCode, OrganiserError
from masterclass.organiser.settings import Settings
from masterclass.organiser.state import load_roster, open_state


@class_app.command("cards")
def cards_command(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Where to write the PDF. Default: the class directory."),
    ] = None,
    only: Annotated[
        str | None,
        typer.Option("--only", help="Comma-separated usernames, e.g. pair-03,pair-07."),
    ] = None,
) -> None:
    """Print the login cards again: one A4 PDF (cards, tutor sheet, organiser summary).

    `create` already wrote the PDF. This renders it again from the one-time logins
    file in the class directory, e.g. for a lost card. After `purge` (or on another
    machine) the passphrases are gone, by design: they are not in the hub.

    Examples:

    ```
    masterclass class cards
    masterclass class cards --only pair-03 --out /tmp/pair-03.pdf
    ```
    """
    from masterclass.organiser import cards

    settings: Settings = ctx.obj
    with errors():
        roster, _ = load_roster(open_state(settings))
        saved = classfiles.read_logins(settings)
        if saved is None:
            raise OrganiserError(
                f"No passphrases of {roster.name!r} on this machine "
                f"({settings.class_dir / classfiles.LOGINS_FILE}): they exist only on the "
                "printed cards.",
                ExitCode.CLASS,
            )
        if saved["class"] != roster.name:
            raise OrganiserError(
                f"The logins in {settings.class_dir} belong to {saved['class']!r}, but the "
                f"hub's class is {roster.name!r}.",
                ExitCode.CLASS,
            )
        wanted = None
        if only:
            wanted = {u.strip() for u in only.split(",") if u.strip()}
            unknown = sorted(wanted - set(saved["logins"]))
            if unknown:
                raise OrganiserError(f"Unknown username(s): {', '.join(unknown)}", ExitCode.USAGE)
        path = classfiles.write_cards(settings, saved, out, wanted)
    pages = cards.pages_of(Path(path).read_bytes())
    console.print(f"Login cards ({pages} pages, A4): [bold]{path}[/]")
