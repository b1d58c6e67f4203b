"""The ``masterclass`` command: the event data (``data …``) and the class day (``class …``).

The root :data:`app` is a typer application with two groups: ``data`` (defined here)
and ``class`` (:mod:`masterclass.organiser.commands`, one module per command, with its
own exit codes listed in ``masterclass class --help``).

Exit codes of ``data``: 0 success, 1 a data problem (:class:`masterclass.data.DataError`,
message on stderr), 2 wrong usage (click's convention).

This module must not import TensorFlow: it runs on the hub and on bare servers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from masterclass import __version__, data
from masterclass.organiser.commands import class_app

EXIT_DATA_ERROR = 1

app = typer.Typer(
    name="masterclass",
    help=(
        "Masterclass Hub: organiser tools for the OPAL machine-learning masterclass.\n\n"
        "Run `masterclass COMMAND --help` for the details and examples of each command."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_show_locals=False,
)

data_app = typer.Typer(
    help=(
        "Get and check the OPAL event displays the students classify.\n\n"
        "Typical setup of a server:\n\n"
        "```\n"
        "masterclass data fetch --dest /srv/masterclass/raw\n"
        "masterclass data prepare /srv/masterclass/raw --out /srv/masterclass/events\n"
        "export MASTERCLASS_DATA_DIR=/srv/masterclass/events\n"
        "masterclass data info\n"
        "```"
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(data_app, name="data")
app.add_typer(class_app, name="class")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"masterclass {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Masterclass Hub: organiser tools for the OPAL machine-learning masterclass."""


@contextmanager
def _data_errors() -> Iterator[None]:
    """Turn a DataError into its message on stderr and exit code 1, without a traceback."""
    try:
        yield
    except data.DataError as exc:
        typer.secho(f"Error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(EXIT_DATA_ERROR) from exc


@data_app.command("fetch")
def fetch_command(
    dest: Annotated[
        Path,
        typer.Option(
            "--dest",
            envvar="MASTERCLASS_DATA_DIR",
            help="Directory to put the two files in (created if missing).",
            file_okay=False,
        ),
    ],
    source: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Where to get the files instead of the pinned GitHub URLs: a base URL "
            "(a mirror), a local directory holding both files, or one local file.",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Download the raw event data and verify its sha256 sums.

    Fetches `centered-masked-rotated1.zip` (622 event displays) and `events_list.csv`
    (their categories) from fixed commits of the upstream repository
    NTW-Muenster/opal-mc-ml. An interrupted download resumes when you run the command
    again; a file is only kept when its sha256 matches the pinned one. Files already
    present and correct are not fetched again.

    Examples:

    ```
    masterclass data fetch --dest data/raw
    masterclass data fetch --dest data/raw --from /media/usb/opal-events
    masterclass data fetch --dest data/raw --from https://mirror.example.org
    ```
    """
    with _data_errors():
        path = data.fetch(dest, source=source, progress=not quiet)
    typer.echo(f"Fetched and verified {data.ARCHIVE.name} and {data.CSV.name} in {path}")


@data_app.command("prepare")
def prepare_command(
    source: Annotated[
        Path,
        typer.Argument(
            help="Directory holding centered-masked-rotated1.zip and events_list.csv.",
            file_okay=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="The store directory to create (events.npy and events.json).",
            file_okay=False,
        ),
    ],
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Also require the pinned upstream sha256 sums (off: any data of the "
            "right shape is accepted).",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even if OUT is already up to date.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Turn the raw event data into the compact store that `load_events()` reads.

    Checks every image (200×200 RGB PNG), every category (q, e, m, t) and that the CSV
    and the archive list the same events, then writes `events.npy` (all images, uint8)
    and `events.json` (names and categories, in CSV order). It is written atomically: on
    an error nothing is left in OUT. Point `MASTERCLASS_DATA_DIR` at OUT afterwards.

    Examples:

    ```
    masterclass data prepare data/raw --out data/store
    masterclass data prepare data/raw --out /opt/masterclass/events --verify
    ```
    """
    with _data_errors():
        path = data.prepare(source, out, progress=not quiet, verify=verify, force=force)
        store = data.open_store(path)
    typer.echo(f"Event store ready: {len(store)} events in {path}")
    typer.echo(f"  export MASTERCLASS_DATA_DIR={path.resolve()}")


@data_app.command("info")
def info_command(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="A store or raw-pair directory. Default: where load_events() reads.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Show where `load_events()` reads the events from, and how many of each category.

    Without PATH it looks where the students' notebooks look: `MASTERCLASS_DATA_DIR`,
    else the store baked into the image (`/opt/masterclass/events`). A raw pair is
    prepared into the cache on first use, as `load_events()` would.

    Examples:

    ```
    masterclass data info
    MASTERCLASS_DATA_DIR=data/store masterclass data info
    masterclass data info data/raw
    ```
    """
    with _data_errors():
        if path is None:
            where = data.locate_data_dir()
            origin = (
                "MASTERCLASS_DATA_DIR"
                if os.environ.get("MASTERCLASS_DATA_DIR")
                else "the baked-in default"
            )
        else:
            where, origin = path, "the command line"
        kind = "prepared store" if data.is_store(where) else "raw pair"
        store = data.open_store(where, progress=True)
    typer.echo(f"Data directory: {where} (from {origin}, {kind})")
    if store.path != where:
        typer.echo(f"Prepared store: {store.path}")
    typer.echo(f"Events:         {len(store)}")
    for category, count in store.counts().items():
        typer.echo(f"  {category}: {count:5d}")
    sources = _read_sources(store.path)
    pinned = all(sources.get(key, {}).get("sha256") == f.sha256 for key, f in _SOURCE_KEYS)
    typer.echo(f"Sources:        {'pinned upstream files' if pinned else 'other data'}")


_SOURCE_KEYS = (("archive", data.ARCHIVE), ("csv", data.CSV))


def _read_sources(store_path: Path) -> dict:
    import json

    index = json.loads((store_path / "events.json").read_text(encoding="utf-8"))
    return index.get("sources") or {}


def main() -> None:
    """Run the ``masterclass`` command (the console-script entry point)."""
    app(prog_name="masterclass")
