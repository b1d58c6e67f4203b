"""``class unlock``: let a locked login in again now, instead of after the lockout."""

from __future__ import annotations

from typing import Annotated

import typer

from masterclass.hub.addresses import normal
from masterclass.hub.lockout import UNLOCKS_FILE, request_unlock
from masterclass.names import is_roster_user
from masterclass.organiser import classfiles
from masterclass.organiser.app import class_app, console, errors
from masterclass.organiser.errors import ExitCode, OrganiserError
from masterclass.organiser.settings import Settings
from masterclass.organiser.state import ROSTER_FILE, open_state, roster_from_text


@class_app.command("unlock")
def unlock_command(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(help="A username of the class (pair-05) or a client address."),
    ],
) -> None:
    """Lift a login lock at once: of a username from every address, or of one address.

    After 5 wrong passphrases for one username from one address within 5 minutes (or 30
    from one address, for any usernames), the hub refuses those logins for a minute
    ("Zu viele falsche Versuche"), even with the right passphrase. `unlock pair-05`
    forgets the failures of pair-05 from every address; `unlock 192.0.2.7` those of an
    address (a school behind one address). The hub applies it at the next login attempt
    and logs "Unlocked logins of …"; the audit log records it too. The hub's log names
    who was locked and from where ("Locked logins of …").

    Examples:

    ```
    masterclass class unlock pair-05
    masterclass class unlock tutor-01
    ```
    """
    settings: Settings = ctx.obj
    address = normal(target)
    with errors():
        state = open_state(settings)
        roster_text = state.read(ROSTER_FILE)
        roster = roster_from_text(roster_text)[0] if roster_text is not None else None
        if address is None:
            if not is_roster_user(target):
                raise OrganiserError(
                    f"{target!r} is neither a username (pair-05, tutor-01) nor an address.",
                    ExitCode.USAGE,
                )
            if roster is None or target not in roster:
                raise OrganiserError(f"{target} is not in the class on this hub.", ExitCode.USAGE)
        name = address or target
        state.write(UNLOCKS_FILE, request_unlock(state.read(UNLOCKS_FILE), name))
    classfiles.audit(settings, "unlock", roster.name if roster else None, target=name)
    console.print(
        f"Unlocked {name}: its next login is checked again at once "
        "(the hub logs it as 'Unlocked logins of …')."
    )
