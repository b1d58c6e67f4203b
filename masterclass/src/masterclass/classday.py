"""``masterclass class …``: the organiser's class day, from the login cards to deleting the data.

Where things live:

- the **roster** (bcrypt hashes only) and the hub's other state: in the hub's state
  volume, reached through the running hub container (:mod:`masterclass.hubstack`);
- the **organiser's files** on this machine, in the class directory
  (``$MASTERCLASS_CLASS_DIR``, default ``~/.local/share/masterclass/<prefix>``, mode 700):
  ``cards.pdf`` and ``logins.json`` (the plaintext passphrases, mode 600, kept only so
  that ``cards`` can print again; ``purge`` deletes both) and ``audit.log`` (append-only).

This module must not import TensorFlow: it runs on the hub and on bare servers.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import shutil
import socket
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from masterclass import preflight
from masterclass.hubstack import (
    DEMO_LOGINS_FILE,
    EXCHANGE_DIR,
    EXPORT_MARKER,
    ROSTER_FILE,
    ROSTER_USER,
    HubAPI,
    Settings,
    StackError,
    docker_client,
    json_dump,
    list_exchange,
    open_state,
    parse_size,
    running_container,
    running_hub,
    server_state,
)

# The roster (bcrypt) and the cards (reportlab, segno) come with the [hub] extra; they are
# imported when a command runs, so that `masterclass data` works without that extra.
if TYPE_CHECKING:
    from masterclass.roster import Roster


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

LOGINS_FILE = "logins.json"
CARDS_FILE = "cards.pdf"
AUDIT_FILE = "audit.log"
MAX_TUTORS = 50
#: Largest class (the same as masterclass.roster.MAX_PAIRS; a unit test keeps them equal).
MAX_PAIRS = 200


class Lang(StrEnum):
    """Languages of the cards (the keys of masterclass.cards.TEXT)."""

    de = "de"
    en = "en"


_BAD_NAME = re.compile(r"[/\\\x00-\x1f\x7f]")

console = Console()
err_console = Console(stderr=True)

class_app = typer.Typer(
    help=(
        "The class day: create the accounts and print the cards, check the server, warm "
        "the containers, watch the pairs, and delete the pupils' data afterwards.\n\n"
        "Run these on the server, in the checkout where `make up` runs (the `.env` there "
        "is read). A typical day:\n\n"
        "```\n"
        'masterclass class create --name "Gymnasium X, 2026-03-12" --pairs 12 --tutors 2\n'
        "masterclass class check              # the evening before: go / no-go\n"
        "masterclass class warm --start       # in the morning: every pair's server running\n"
        "masterclass class status             # during the day (Ctrl-C to leave)\n"
        "masterclass class purge              # at the end, after the export\n"
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
            help="Directory for the cards, the one-time logins file and the audit log. "
            "Default: ~/.local/share/masterclass/PREFIX (MASTERCLASS_PREFIX).",
            file_okay=False,
        ),
    ] = None,
) -> None:
    settings = Settings.from_env()
    if state is not None:
        settings.state_dir = state
    if class_dir is not None:
        settings.class_dir = class_dir
    ctx.obj = settings


# --------------------------------------------------------------------------- helpers


def fail(message: str, code: ExitCode) -> typer.Exit:
    """Print ``message`` as an error and return the Exit to raise."""
    err_console.print(f"[bold red]Error:[/] {message}", highlight=False)
    return typer.Exit(int(code))


_KIND_CODES = {"docker": ExitCode.DOCKER, "hub": ExitCode.HUB, "state": ExitCode.HUB}


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Stack and roster errors become a message and their exit code, without a traceback."""
    from masterclass.roster import RosterError

    try:
        yield
    except StackError as e:
        raise fail(str(e), _KIND_CODES.get(e.kind, ExitCode.NOGO)) from e
    except RosterError as e:
        raise fail(str(e), ExitCode.CLASS) from e


def _state(settings: Settings):
    return open_state(settings)


def _load_roster(state) -> tuple[Roster, dict]:
    """The class roster from the hub state; exit 3 if there is no class."""
    text = state.read(ROSTER_FILE)
    if text is None:
        raise fail(
            f"There is no class on this hub yet ({state.describe()}). "
            'Create one: masterclass class create --name "School, date" --pairs 12',
            ExitCode.CLASS,
        )
    return _roster_from_text(text)


def _roster_from_text(text: str) -> tuple[Roster, dict]:
    from masterclass.roster import Roster

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ROSTER_FILE
        path.write_text(text, encoding="utf-8")
        roster = Roster.load(path)
    return roster, json.loads(text)


def _pairs(roster: Roster) -> list[str]:
    return [a.name for a in roster.users() if a.role == "pair"]


def _class_dir(settings: Settings) -> Path:
    path = settings.class_dir
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _audit(settings: Settings, action: str, class_name: str | None, **details) -> None:
    """Append one JSON line to the audit log (mode 600, opened append-only)."""
    line = json.dumps(
        {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "action": action,
            "class": class_name,
            "by": getpass.getuser(),
            "host": socket.gethostname(),
            "prefix": settings.prefix,
            **details,
        },
        sort_keys=True,
    )
    fd = os.open(_class_dir(settings) / AUDIT_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(line + "\n")


def _read_logins(settings: Settings) -> dict | None:
    try:
        return json.loads((settings.class_dir / LOGINS_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def _write_cards(settings: Settings, saved: dict, out: Path | None = None, only=None) -> Path:
    from masterclass import cards

    logins = saved["logins"]
    if only:
        logins = {u: p for u, p in logins.items() if u in only}
    pdf = cards.render(saved["class"], saved["url"], logins, saved["lang"], saved["created"])
    return cards.write(out or _class_dir(settings) / CARDS_FILE, pdf)


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


def _ago(iso: str | None) -> str:
    if not iso:
        return "never"
    then = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    seconds = (datetime.now(UTC) - then).total_seconds()
    if seconds < 90:
        return f"{max(seconds, 0):.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


# --------------------------------------------------------------------------- create


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
    lang: Annotated[
        Lang,
        typer.Option("--lang", envvar="MASTERCLASS_LANG", help="Language of the cards."),
    ] = Lang.de,
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
        _add_pairs(settings, add_pairs)
        return
    if name is None or pairs is None:
        raise typer.BadParameter("a new class needs --name and --pairs")
    name = validate_name(name)
    lang = lang.value
    from masterclass import cards
    from masterclass.roster import DEFAULT_ROUNDS, create_class, write_private

    with _errors():
        state = _state(settings)
        if state.read(ROSTER_FILE) is not None:
            roster, _ = _roster_from_text(state.read(ROSTER_FILE))
            demo = state.read(DEMO_LOGINS_FILE) is not None
            hint = (
                "It is the demo class of `make up`: remove it with "
                "`masterclass class purge --force`. "
                if demo
                else ""
            )
            raise fail(
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
    class_dir = _class_dir(settings)
    write_private(class_dir / LOGINS_FILE, json_dump(saved))
    out = cards.write(class_dir / CARDS_FILE, pdf)
    _audit(settings, "create", name, pairs=pairs, tutors=tutors, lang=lang)
    console.print(
        f"Created the class [bold]{name}[/] with {pairs} pairs and {tutors} tutors "
        f"on {state.describe()}."
    )
    console.print(f"Login cards ({cards.page_count(pairs)} pages, A4): [bold]{out}[/]")
    console.print(
        "The passphrases are only on the cards and in "
        f"{class_dir / LOGINS_FILE} (mode 600) until `masterclass class purge`."
    )


def _add_pairs(settings: Settings, count: int) -> None:
    from masterclass import cards
    from masterclass.roster import Roster, write_private

    with _errors():
        state = _state(settings)
        roster_text = state.read(ROSTER_FILE)
        if roster_text is None:
            raise fail(
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
        saved = _read_logins(settings)
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
    class_dir = _class_dir(settings)
    write_private(class_dir / LOGINS_FILE, json_dump(saved))
    first, last = min(new), max(new)
    out = cards.write(class_dir / f"cards-{first}-{last}.pdf", pdf)
    _write_cards(settings, saved)
    _audit(settings, "add-pairs", roster.name, pairs=sorted(new))
    console.print(f"Added {count} pairs ({first} … {last}) to [bold]{roster.name}[/].")
    console.print(f"Their cards: [bold]{out}[/] (all cards: {class_dir / CARDS_FILE})")


# --------------------------------------------------------------------------- cards


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
    from masterclass import cards

    settings: Settings = ctx.obj
    with _errors():
        roster, _ = _load_roster(_state(settings))
    saved = _read_logins(settings)
    if saved is None:
        raise fail(
            f"No passphrases of {roster.name!r} on this machine "
            f"({settings.class_dir / LOGINS_FILE}): they exist only on the printed cards.",
            ExitCode.CLASS,
        )
    if saved["class"] != roster.name:
        raise fail(
            f"The logins in {settings.class_dir} belong to {saved['class']!r}, but the hub's "
            f"class is {roster.name!r}.",
            ExitCode.CLASS,
        )
    wanted = None
    if only:
        wanted = {u.strip() for u in only.split(",") if u.strip()}
        unknown = sorted(wanted - set(saved["logins"]))
        if unknown:
            raise fail(f"Unknown username(s): {', '.join(unknown)}", ExitCode.USAGE)
    path = _write_cards(settings, saved, out, wanted)
    count = len([u for u in (wanted or saved["logins"]) if u.startswith("pair-")])
    console.print(f"Login cards ({cards.page_count(count)} pages, A4): [bold]{path}[/]")


# --------------------------------------------------------------------------- check

_STYLE = {preflight.GO: "green", preflight.WARN: "yellow", preflight.NOGO: "bold red"}


def preflight_rows(settings: Settings, pairs: int | None) -> list[preflight.Row]:
    """Every preflight row for this stack (nothing is changed)."""
    from masterclass.roster import RosterError

    Row = preflight.Row
    rows: list[preflight.Row] = []
    client = None
    docker_root = "/"
    try:
        client = docker_client()
        info = client.info()
        docker_root = info.get("DockerRootDir") or "/"
        rows.append(Row("Docker engine", preflight.GO, f"version {info.get('ServerVersion')}"))
    except StackError as e:
        rows.append(Row("Docker engine", preflight.NOGO, str(e)))
    for label, image in (
        ("student image", settings.student_image),
        ("hub image", settings.hub_image),
    ):
        if client is None:
            rows.append(Row(label, preflight.NOGO, f"{image}: no Docker engine to ask"))
            continue
        try:
            size = client.images.get(image).attrs.get("Size", 0)
            rows.append(Row(label, preflight.GO, f"{image} present ({size / 1e9:.1f} GB)"))
        except Exception:
            rows.append(
                Row(label, preflight.NOGO, f"{image} missing: run `make images` or class warm")
            )
    roster = None
    if client is not None or settings.state_dir is not None:
        try:
            state = open_state(settings, client)
            text = state.read(ROSTER_FILE)
            if text is None:
                rows.append(Row("class", preflight.NOGO, "no class yet: masterclass class create"))
            else:
                roster, _ = _roster_from_text(text)
                counts = roster.groups()
                rows.append(
                    Row(
                        "class",
                        preflight.GO,
                        f"{roster.name!r}: {len(counts['pairs'])} pairs, "
                        f"{len(counts['tutors'])} tutors",
                    )
                )
            token_ok = settings.token or (state.read("cli-api-token") or "").strip()
            rows.append(
                Row("class CLI token", preflight.GO, "present")
                if token_ok
                else Row(
                    "class CLI token",
                    preflight.WARN,
                    "missing: warm --start, status and purge need the masterclass-cli "
                    "service (docs/organisers.md)",
                )
            )
        except (StackError, RosterError) as e:
            rows.append(Row("class", preflight.NOGO, str(e)))
    if pairs is None:
        pairs = len(_pairs(roster)) if roster else 0
    available = preflight.meminfo().get("MemAvailable", 0)
    cores = preflight.cpu_cores()
    disk_path = docker_root if Path(docker_root).exists() else "/"
    rows.append(preflight.memory_row(pairs, available))
    rows.append(preflight.cpu_row(pairs, cores))
    rows.append(preflight.disk_row(pairs, disk_path))
    free = shutil.disk_usage(disk_path).free
    rows.append(preflight.capacity_row(pairs, available, cores, free))
    rows.append(preflight.tls_row(settings.public_url))
    rows.append(preflight.hub_row(settings.public_url))
    return rows


@class_app.command("check")
def check_command(
    ctx: typer.Context,
    pairs: Annotated[
        int | None,
        typer.Option(
            "--pairs",
            min=1,
            max=MAX_PAIRS,
            help="Check for this many pairs instead of the class's number.",
        ),
    ] = None,
) -> None:
    """Preflight: can this server carry the class? A go / no-go table with a reason per row.

    Checks that the Docker engine answers and both images are present; memory, CPU and
    disk against the number of pairs, and how many pairs this server can really carry
    (sized with the measured peak of a training pair, 1.3 GB, not the 8 GB limit); the
    TLS certificate and its days left when the URL is https; and that the hub answers
    through MASTERCLASS_PUBLIC_URL, the address on the cards. Changes nothing.

    Exits with 1 if any row is a no-go ("warn" rows do not fail).

    Examples:

    ```
    masterclass class check
    masterclass class check --pairs 25      # before creating a class of 25
    ```
    """
    settings: Settings = ctx.obj
    rows = preflight_rows(settings, pairs)
    table = Table(title=f"Preflight for {settings.public_url}")
    table.add_column("check")
    table.add_column("go?")
    table.add_column("reason")
    for row in rows:
        table.add_row(row.check, f"[{_STYLE[row.status]}]{row.status}[/]", row.reason)
    console.print(table)
    nogo = [r.check for r in rows if r.status == preflight.NOGO]
    if nogo:
        err_console.print(f"[bold red]No-go:[/] {', '.join(nogo)}")
        raise typer.Exit(int(ExitCode.NOGO))
    console.print("[green]Go.[/]")


# --------------------------------------------------------------------------- warm


def _ensure_image(client, image: str, pull: bool) -> str:
    """Make sure ``image`` is present; pull it when asked or missing. Returns what happened."""
    present = True
    try:
        client.images.get(image)
    except Exception:
        present = False
    if present and not pull:
        return "present"
    try:
        client.images.pull(image)
        return "pulled"
    except Exception as e:
        if present:
            return f"present (no registry reachable to update it: {str(e).splitlines()[0][:80]})"
        raise StackError(
            f"The image {image} is missing and cannot be pulled ({str(e).splitlines()[0][:120]}). "
            "Build it with `make images`.",
            "image",
        ) from None


def start_servers(api: HubAPI, users: list[str], timeout: float, progress=None) -> dict:
    """Start the servers of ``users`` through the hub and wait until all are ready.

    Returns username → seconds from the request to a ready server (None: not ready by the
    deadline). The hub's concurrent-spawn limit answers 429; those are asked again.
    """
    start = time.monotonic()
    deadline = start + timeout
    ready: dict[str, float | None] = {u: None for u in users}
    waiting = list(users)
    for user in users:
        api.create_user(user)
    asked: set[str] = set()
    while time.monotonic() < deadline:
        for user in [u for u in waiting if u not in asked]:
            r = api.request("POST", f"/users/{user}/server", ok=(201, 202, 400, 429))
            if r.status_code != 429:
                asked.add(user)
        models = api.users()
        for user in list(waiting):
            if user in asked and server_state(models.get(user)) == "running":
                ready[user] = time.monotonic() - start
                waiting.remove(user)
                if progress is not None:
                    progress()
        if not waiting:
            break
        time.sleep(1)
    return ready


@class_app.command("warm")
def warm_command(
    ctx: typer.Context,
    start: Annotated[
        bool, typer.Option("--start", help="Also start every pair's server ahead of time.")
    ] = False,
    only: Annotated[
        str | None,
        typer.Option("--only", help="With --start: only these pairs (pair-01,pair-02)."),
    ] = None,
    pull: Annotated[
        bool,
        typer.Option("--pull", help="Try to update the images from their registry first."),
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for all servers.")
    ] = 600,
) -> None:
    """Get ready for the login burst: images present, and (with --start) servers running.

    Verifies that the student and hub images are present (pulled only if missing or with
    `--pull`, and only when a registry answers). With `--start` it starts the pairs'
    servers through the hub's REST API and waits until each answers, so that a class
    logging in within a minute meets running containers. Reports how long it took.
    Started servers are stopped again by the idle culler after MASTERCLASS_CULL_TIMEOUT.

    Examples:

    ```
    masterclass class warm
    masterclass class warm --start
    masterclass class warm --start --only pair-01,pair-02 --timeout 300
    ```
    """
    settings: Settings = ctx.obj
    began = time.monotonic()
    with _errors():
        client = docker_client()
        for image in (settings.student_image, settings.hub_image):
            try:
                what = _ensure_image(client, image, pull)
            except StackError as e:
                raise fail(str(e), ExitCode.NOGO) from e
            console.print(f"{image}: {what}")
        if not start:
            console.print(f"Images ready in {time.monotonic() - began:.1f} s.")
            return
        state = _state(settings)
        roster, _ = _load_roster(state)
        pairs = _pairs(roster)
        if only:
            wanted = [u.strip() for u in only.split(",") if u.strip()]
            unknown = [u for u in wanted if u not in pairs]
            if unknown:
                raise fail(f"Not pairs of {roster.name!r}: {', '.join(unknown)}", ExitCode.USAGE)
            pairs = wanted
        api = HubAPI.connect(settings, state)
        with Progress(
            TextColumn("Starting servers"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("start", total=len(pairs))
            ready = start_servers(api, pairs, timeout, lambda: progress.advance(task))
    times = [t for t in ready.values() if t is not None]
    late = sorted(u for u, t in ready.items() if t is None)
    total = time.monotonic() - began
    if times:
        console.print(
            f"{len(times)} of {len(pairs)} servers ready in {total:.1f} s "
            f"(per server: median {statistics.median(times):.1f} s, slowest {max(times):.1f} s)."
        )
    if late:
        raise fail(
            f"Not ready after {timeout:.0f} s: {', '.join(late)}. See `docker logs "
            f"{settings.hub_container}`.",
            ExitCode.NOGO,
        )


# --------------------------------------------------------------------------- status


def _memory(client, settings: Settings, users: list[str]) -> dict[str, tuple[int, int]]:
    """username → (bytes used, limit) of the running containers, as `docker stats` counts."""
    from concurrent.futures import ThreadPoolExecutor

    if client is None:
        return {}
    names = {settings.container_name(u): u for u in users}
    running = [c for c in client.containers.list() if c.name in names]

    def one(container):
        stats = container.stats(stream=False, one_shot=True)
        mem = stats.get("memory_stats") or {}
        detail = mem.get("stats") or {}
        cache = detail.get("total_inactive_file", detail.get("inactive_file", 0))
        return names[container.name], (max(0, mem.get("usage", 0) - cache), mem.get("limit", 0))

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(pool.map(one, running))


def status_table(settings: Settings, api: HubAPI, client, pairs: list[str], title: str) -> Table:
    models = api.users()
    memory = _memory(client, settings, pairs)
    submitted = list_exchange(settings, client).submissions
    limit = parse_size(settings.mem_limit)
    table = Table(title=title)
    for column in ("pair", "logged in", "server", "memory", "last activity", "submitted"):
        table.add_column(column)
    for user in pairs:
        model = models.get(user)
        state = server_state(model)
        used = memory.get(user)
        mem = "—" if used is None else f"{used[0] / 1e9:.1f} / {(used[1] or limit) / 1e9:.1f} GB"
        style = {"running": "green", "starting": "yellow", "stopping": "yellow"}.get(state, "")
        table.add_row(
            user,
            # Groups are set only by a real login (RosterAuthenticator), not by `warm`.
            "yes" if model and model.get("groups") else "no",
            f"[{style}]{state}[/]" if style else state,
            mem,
            _ago(model.get("last_activity") if model else None),
            # Submissions in the exchange (each press of Submit counts once).
            f"yes ({submitted[user]}×)" if user in submitted else "no",
        )
    return table


@class_app.command("status")
def status_command(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Print the table once and exit.")] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=1, help="Seconds between updates.")
    ] = 5,
) -> None:
    """A live table of the class, one row per pair (Ctrl-C to leave).

    Columns: logged in (the pair has logged in at least once), server (running,
    starting, stopped), memory used against the container limit (as `docker stats`
    counts it), last activity, and submitted (how often the pair pressed Submit in
    JupyterLab's assignment list).

    Examples:

    ```
    masterclass class status
    masterclass class status --once
    ```
    """
    settings: Settings = ctx.obj
    with _errors():
        state = _state(settings)
        roster, _ = _load_roster(state)
        api = HubAPI.connect(settings, state)
        client = docker_client()
        pairs = _pairs(roster)
        if once:
            console.print(status_table(settings, api, client, pairs, roster.name))
            return
        with Live(console=console, auto_refresh=False) as live:
            try:
                while True:
                    stamp = datetime.now().strftime("%H:%M:%S")
                    title = f"{roster.name} ({stamp}, every {interval:.0f} s; Ctrl-C to leave)"
                    live.update(status_table(settings, api, client, pairs, title), refresh=True)
                    time.sleep(interval)
            except KeyboardInterrupt:
                pass


# --------------------------------------------------------------------------- purge


def _parse_time(iso: str | None) -> datetime | None:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")) if iso else None


def purge_plan(settings: Settings, state, api: HubAPI, client) -> dict:
    """What a purge would delete, found from the roster, the hub and Docker (all by prefix)."""
    text = state.read(ROSTER_FILE)
    roster = _roster_from_text(text)[0] if text is not None else None
    models = api.users()
    users = {a.name for a in roster.users()} if roster else set()
    users |= {name for name in models if ROSTER_USER.match(name)}
    users.discard(getattr(api, "me", None))
    container_re = re.compile(rf"^{re.escape(settings.prefix)}-(pair|tutor|organiser)-\d{{2,3}}$")
    # Homes hold the pairs' work; the course volume holds their collected notebooks and grades.
    volume_re = re.compile(
        rf"^{re.escape(settings.prefix)}-(home-(pair|tutor|organiser)-\d{{2,3}}|course)$"
    )
    containers = sorted(
        c.name for c in client.containers.list(all=True) if container_re.match(c.name)
    )
    volumes = sorted(v.name for v in client.volumes.list() if volume_re.match(v.name))
    # The tutors' formgrader keeps the course volume mounted: it is emptied in place.
    course_files = []
    formgrader = running_container(settings, client, "formgrader")
    if formgrader is not None and f"{settings.prefix}-course" in volumes:
        volumes.remove(f"{settings.prefix}-course")
        course_files = _course_files(formgrader)
    state_files = [
        f for f in (ROSTER_FILE, DEMO_LOGINS_FILE, EXPORT_MARKER) if state.read(f) is not None
    ]
    local_files = [
        p
        for p in (settings.class_dir / LOGINS_FILE, *settings.class_dir.glob("cards*.pdf"))
        if p.exists()
    ]
    activity = [
        _parse_time(models[u].get("last_activity"))
        for u in users
        if u.startswith("pair-") and u in models
    ]
    activity = [t for t in activity if t is not None]
    return {
        "class": roster.name if roster else None,
        # Submissions are pupils' work: every file in the exchange is deleted.
        "exchange_files": len(list_exchange(settings, client).files),
        "course_files": len(course_files),
        "hub_users": sorted(u for u in users if u in models),
        "containers": containers,
        "volumes": volumes,
        "state_files": state_files,
        "local_files": local_files,
        "last_activity": max(activity) if activity else None,
    }


#: The course directory (the ``<prefix>-course`` volume) in the formgrader's container.
COURSE_DIR = "/srv/nbgrader/course"
#: What the formgrader writes there by itself at start (not pupils' work).
_COURSE_OWN = ("nbgrader_config.py", "language_config.py")


def _course_files(formgrader) -> list[str]:
    """Pupils' work in the course: everything but the sources and the formgrader's config."""
    code, out = formgrader.exec_run(
        ["find", COURSE_DIR, "-mindepth", "1", "-type", "f", "-printf", "%P\\0"]
    )
    if code != 0:
        raise fail(f"The course could not be listed: {out.decode()[:200]}", ExitCode.NOGO)
    names = [n for n in out.decode("utf-8", "replace").split("\0") if n]
    return [n for n in names if n not in _COURSE_OWN and not n.startswith("source/")]


def _empty(container, folder: str, what: str) -> None:
    """Delete everything inside *folder* of a running *container* (the folder stays)."""
    code, out = container.exec_run(["find", folder, "-mindepth", "1", "-delete"])
    if code != 0:
        raise fail(f"The {what} could not be emptied: {out.decode()[:200]}", ExitCode.NOGO)


def _clear_course(settings: Settings, client) -> None:
    """Empty the course volume the formgrader uses, then restart it for the next class."""
    formgrader = running_container(settings, client, "formgrader")
    if formgrader is not None:
        _empty(formgrader, COURSE_DIR, "course")
        formgrader.restart()


def _clear_exchange(settings: Settings, client) -> None:
    """Delete everything in the exchange; the next class releases its worksheet again."""
    hub = running_hub(settings, client)
    if hub is not None:
        _empty(hub, EXCHANGE_DIR, "exchange")


def _wait(check, timeout: float, interval: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return bool(check())


@class_app.command("purge")
def purge_command(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Purge even without an export of the pairs' work.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for servers to stop.")
    ] = 120,
) -> None:
    """Delete the pupils' data: accounts, servers, containers, volumes, submissions, passphrases.

    Shows what will be deleted and asks first (`--yes` for scripts). Refuses when the
    pairs were active after the last export (`masterclass class export`), unless
    `--force`. Deletes the accounts through the hub (which stops
    their servers), any container and home volume left, the roster (every hash) and
    the one-time logins file and cards PDF of this machine. Writes one line to the
    audit log. Running it again does nothing and exits with 0.

    Examples:

    ```
    masterclass class purge
    masterclass class purge --yes --force     # e.g. the demo class of `make up`
    ```
    """
    settings: Settings = ctx.obj
    with _errors():
        state = _state(settings)
        api = HubAPI.connect(settings, state)
        client = docker_client()
        plan = purge_plan(settings, state, api, client)
        things = (
            "hub_users",
            "containers",
            "volumes",
            "exchange_files",
            "course_files",
            "state_files",
            "local_files",
        )
        if not any(plan[k] for k in things):
            console.print("Nothing to purge: no class, accounts, containers or volumes left.")
            return
        marker = state.read(EXPORT_MARKER)
        exported = _parse_time(json.loads(marker).get("time")) if marker else None
        needs_export = plan["last_activity"] is not None and (
            exported is None or exported < plan["last_activity"]
        )
        table = Table(title=f"purge {plan['class'] or '(no roster)'}: this will be deleted")
        table.add_column("what")
        table.add_column("")
        table.add_row("hub accounts", ", ".join(plan["hub_users"]) or "—")
        table.add_row("containers", ", ".join(plan["containers"]) or "—")
        table.add_row("volumes", ", ".join(plan["volumes"]) or "—")
        table.add_row("exchange (submissions)", f"{plan['exchange_files']} files")
        if plan["course_files"]:
            table.add_row("course (collected notebooks, grades)", f"{plan['course_files']} files")
        table.add_row(f"hub state ({state.describe()})", ", ".join(plan["state_files"]) or "—")
        table.add_row("this machine", ", ".join(str(p) for p in plan["local_files"]) or "—")
        console.print(table)
        if needs_export and not force:
            since = plan["last_activity"].isoformat(timespec="minutes")
            raise fail(
                f"No export since the pairs' last activity ({since}); nothing was deleted. "
                "Export the results first, or run with --force to delete without.",
                ExitCode.REFUSED,
            )
        if not yes:
            try:
                confirmed = typer.confirm("Delete all of this for good?", default=False)
            except typer.Abort:
                confirmed = False
            if not confirmed:
                raise fail("Not confirmed; nothing was deleted.", ExitCode.REFUSED)
        for user in plan["hub_users"]:
            deadline = time.monotonic() + timeout
            while True:
                r = api.request("DELETE", f"/users/{user}", ok=(204, 404, 400))
                stopping = r.status_code == 400 and "stopping" in r.text
                if r.status_code == 400 and not stopping:
                    raise fail(f"The hub refused to delete {user}: {r.text[:200]}", ExitCode.HUB)
                if not stopping:
                    break
                if time.monotonic() > deadline:
                    raise fail(f"The server of {user} did not stop in time.", ExitCode.HUB)
                time.sleep(1)
        for name in plan["containers"]:
            with contextlib.suppress(Exception):
                client.containers.get(name).remove(force=True)
        for name in plan["volumes"]:

            def gone(name=name) -> bool:
                try:
                    client.volumes.get(name).remove(force=True)
                except Exception as e:
                    return "not found" in str(e).lower() or "no such volume" in str(e).lower()
                return True

            if not _wait(gone, timeout):
                raise fail(
                    f"The volume {name} could not be removed (still in use?).", ExitCode.NOGO
                )
        if plan["exchange_files"]:
            _clear_exchange(settings, client)
        if plan["course_files"]:
            _clear_course(settings, client)
        for name in plan["state_files"]:
            state.remove(name)
        for path in plan["local_files"]:
            path.unlink(missing_ok=True)
    _audit(
        settings,
        "purge",
        plan["class"],
        forced=bool(force and needs_export),
        accounts=plan["hub_users"],
        containers=len(plan["containers"]),
        volumes=len(plan["volumes"]),
    )
    console.print(
        f"Purged {plan['class'] or 'the leftovers'}: {len(plan['hub_users'])} accounts, "
        f"{len(plan['containers'])} containers, {len(plan['volumes'])} volumes, "
        f"{len(plan['state_files'])} hub files, {len(plan['local_files'])} local files. "
        f"Audit log: {settings.class_dir / AUDIT_FILE}"
    )
