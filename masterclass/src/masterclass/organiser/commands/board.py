"""``class board``: where the class results board is (docs/board.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from masterclass.board import board_url
from masterclass.organiser.app import class_app
from masterclass.organiser.settings import Settings


@class_app.command("board")
def board_command(
    ctx: typer.Context,
    pair: Annotated[
        bool, typer.Option("--pair", help="Print the pairs' view instead of the projector's.")
    ] = False,
) -> None:
    """Print the URL of the class results board, for the projector.

    Open it on the computer at the projector and log in as a tutor or organiser: every
    pair's result appears there as soon as the pair runs the worksheet's accuracy cell.
    Pairs open the same board as `<url>/services/results/` and see their own row; the
    projector view answers them with 403. The URL is built from MASTERCLASS_PUBLIC_URL.

    Examples:

    ```
    masterclass class board
    xdg-open "$(masterclass class board)"
    masterclass class board --pair
    ```
    """
    settings: Settings = ctx.obj
    typer.echo(board_url(settings.public_url, "pair" if pair else "projector"))
