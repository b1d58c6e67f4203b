"""``class create``: the pair and tutor accounts of a class, and their login cards."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from masterclass.files import write_private
from masterclass.names import MAX_PAIRS
from masterclass.organiser import classfiles
from masterclass.organiser.app import Lang, class_app, console, errors
from masterclass.organiser.errors import ExitCode, OrganiserError
from masterclass.organiser.settings import Settings
from masterclass.organiser.state import (
    DEMO_LOGINS_FILE,
    ROSTER_FILE,
    json_dump,
    open_state,
    roster_from_text,
)

MAX_TUTORS = 50
DEFAULT_LANG = Lang("de")
_BAD_NAME = re.compile(r"[/\\\x00-\x1f\x7f]")


def validate_name(name: str) -> str:
    """A class name: printable, at most 80 characters, no path characters."""
    name = name.strip()
    if not name:
        raise typer.BadParameter("the class needs a name, e.g. 'Gymnasium X, 2026-03-12'")
    if _BAD_NAME.search(name) or name in {".", ".."}:
        raise typer.BadParameter(
            f"{name!r} contains a path or control character (/ or \\); "
            "use letters, digits, spaces, commas and dashes"
        )
    if len(name) > 80:
        raise typer.BadParameter(f"at most 80 characters, not {len(name)}")
    return name


@class_app.command("create")
def create_command(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="The class: school and date, e.g. 'Gymnasium X, 2026-03-12' (printed on "
            "every card).",
        ),
    ] = None,
    pairs: Annotated[
        int | None,
        typer.Option("--pairs", min=1, max=MAX_PAIRS, help=f"Number of pairs (1–{MAX_PAIRS})."),
    ] = None,
    tutors: Annotated[
        int, typer.Option("--tutors", min=0, max=MAX_TUTORS, help="Number of tutor logins.")
    ] = 1,
    organisers: Annotated[
        int,
        typer.Option(
            "--organisers",
            min=0,
            max=MAX_TUTORS,
            help="Number of organiser logins (hub admins; their cards are on the summary page).",
        ),
    ] = 0,
    lang: Annotated[
        Lang,
        typer.Option("--lang", envvar="MASTERCLASS_LANG", help="Language of the cards."),
    ] = DEFAULT_LANG,
    add_pairs: Annotated[
        int | None,
        typer.Option(
            "--add-pairs",
            min=1,
            max=MAX_PAIRS,
            help="Add this many pairs to the existing class (existing passphrases stay).",
        ),
    ] = None,
    rounds: Annotated[int | None, typer.Option("--rounds", hidden=True)] = None,
) -> None:
    """Create the class: pair and tutor accounts, and their login cards (PDF).

    The roster in the hub keeps only bcrypt hashes. The plaintext passphrases go onto
    the cards (`cards.pdf`) and into `logins.json` next to them (mode 600), so that
    `masterclass class cards` can print them again; `purge` deletes both. The hub
    picks the new accounts up at once, no restart needed.

    An existing class is never overwritten and no passphrase is ever reset: run again
    with `--add-pairs K` for latecomers, or `purge` the old class first (the demo class
    of `make up` too).

    Examples:

    ```
    masterclass class create --name "Gymnasium X, 2026-03-12" --pairs 12 --tutors 2
    masterclass class create --name "Outreach day, 2026-05-04" --pairs 8 --lang en
    masterclass class create --add-pairs 2
    ```
    """
    settings: Settings = ctx.obj
    if add_pairs is not None:
        if name is not None or pairs is not None:
            raise typer.BadParameter("use --add-pairs alone (the class exists already)")
        with errors():
            _add_pairs(settings, add_pairs)
        return
    if name is None or pairs is None:
        raise typer.BadParameter("a new class needs --name and --pairs")
    with errors():
        _create(settings, validate_name(name), pairs, tutors, organisers, lang.value, rounds)


def _create(
    settings: Settings, name: str, pairs: int, tutors: int, organisers: int, lang: str, rounds
) -> None:
    from masterclass.organiser import cards
    from masterclass.roster import DEFAULT_ROUNDS, create_class

    state = open_state(settings)
    existing = state.read(ROSTER_FILE)
    if existing is not None:
        roster, _ = roster_from_text(existing)
        demo = state.read(DEMO_LOGINS_FILE) is not None
        hint = (
            "It is the demo class of `make up`: remove it with `masterclass class purge --force`. "
            if demo
            else ""
        )
        raise OrganiserError(
            f"The hub already has the class {roster.name!r}; nothing was changed. {hint}"
            "Add pairs with `masterclass class create --add-pairs K`, or purge it first.",
            ExitCode.CLASS,
        )
    with tempfile.TemporaryDirectory() as tmp:
        roster, logins = create_class(
            Path(tmp) / ROSTER_FILE,
            name,
            pairs,
            tutors,
            organisers,
            lang=lang,
            rounds=rounds or DEFAULT_ROUNDS,
        )
        roster_text = roster.path.read_text(encoding="utf-8")
    created = json.loads(roster_text)["created"]
    saved = {
        "class": name,
        "lang": lang,
        "url": settings.public_url,
        "created": created,
        "logins": logins,
    }
    # Render first: if the PDF fails, the hub has not changed either.
    pdf = cards.render(name, settings.public_url, logins, lang, created)
    state.write(ROSTER_FILE, roster_text)
    folder = classfiles.class_dir(settings)
    write_private(folder / classfiles.LOGINS_FILE, json_dump(saved))
    out = cards.write(folder / classfiles.CARDS_FILE, pdf)
    classfiles.audit(
        settings, "create", name, pairs=pairs, tutors=tutors, organisers=organisers, lang=lang
    )
    extra = f" and {organisers} organisers" if organisers else ""
    console.print(
        f"Created the class [bold]{name}[/] with {pairs} pairs, {tutors} tutors{extra} "
        f"on {state.describe()}."
    )
    console.print(f"Login cards ({cards.pages_of(pdf)} pages, A4): [bold]{out}[/]")
    console.print(
        "The passphrases are only on the cards and in "
        f"{folder / classfiles.LOGINS_FILE} (mode 600) until `masterclass class purge`."
    )


def _add_pairs(settings: Settings, count: int) -> None:
    from masterclass.organiser import cards
    from masterclass.roster import Roster

    state = open_state(settings)
    roster_text = state.read(ROSTER_FILE)
    if roster_text is None:
        raise OrganiserError(
            "There is no class to add pairs to; create one with --name and --pairs.",
            ExitCode.CLASS,
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ROSTER_FILE
        path.write_text(roster_text, encoding="utf-8")
        roster = Roster.load(path)
        new = roster.add_pairs(count)
        new_text = path.read_text(encoding="utf-8")
    data = json.loads(new_text)
    saved = classfiles.read_logins(settings)
    if saved is None or saved.get("class") != roster.name:
        saved = {
            "class": roster.name,
            "lang": data.get("lang", settings.lang),
            "url": settings.public_url,
            "created": data.get("created"),
            "logins": {},
        }
    saved["logins"].update(new)
    pdf = cards.render(saved["class"], saved["url"], new, saved["lang"], saved["created"])
    state.write(ROSTER_FILE, new_text)
    folder = classfiles.class_dir(settings)
    write_private(folder / classfiles.LOGINS_FILE, json_dump(saved))
    first, last = min(new), max(new)
    out = cards.write(folder / f"cards-{first}-{last}.pdf", pdf)
    classfiles.write_cards(settings, saved)
    classfiles.audit(settings, "add-pairs", roster.name, pairs=sorted(new))
    console.print(f"Added {count} pairs ({first} … {last}) to [bold]{roster.name}[/].")
    console.print(f"Their cards: [bold]{out}[/] (all cards: {folder / classfiles.CARDS_FILE})")
