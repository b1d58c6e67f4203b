"""``class check``: can this server carry the class? A go / no-go table with a reason per row."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from masterclass.names import MAX_PAIRS
from masterclass.organiser import docker as engine
from masterclass.organiser import preflight, swarm
from masterclass.organiser.app import class_app, console, err_console, errors
from masterclass.organiser.errors import ExitCode, OrganiserError, StackError
from masterclass.organiser.settings import Settings, parse_size
from masterclass.organiser.state import ROSTER_FILE, TOKEN_FILE, open_state, pairs, roster_from_text

_STYLE = {preflight.GO: "green", preflight.WARN: "yellow", preflight.NOGO: "bold red"}


def home_rows(settings: Settings, client, count: int, users: list[str]) -> list[preflight.Row]:
    """The homes' bound against the free disk, and each existing home's use."""
    from masterclass.hub.disk import host_free
    from masterclass.organiser.commands.status import UNMOUNTED, homes

    quota = 0 if settings.home_quota == "0" else parse_size(settings.home_quota)
    rows = [preflight.homes_row(count, quota, host_free(settings.homes_dir), settings.homes_dir)]
    used = {u: v for u, v in homes(client, settings, users).items() if v != "—"}
    if used:
        unbounded = [u for u, v in used.items() if v == "unbounded"]
        # After a reboot the homes' file systems are not mounted until each pair's next
        # start: bounded all the same, so no warning.
        unmounted = [u for u, v in used.items() if v == UNMOUNTED]
        mounted = [f"{u} {v}" for u, v in used.items() if v not in ("unbounded", UNMOUNTED)]
        parts = [", ".join(mounted)] if mounted else []
        if unmounted:
            parts.append(f"{UNMOUNTED}: {', '.join(unmounted)}")
        if unbounded:
            parts.append(f"no bound (made before it): {', '.join(unbounded)}")
        status = preflight.WARN if unbounded else preflight.GO
        rows.append(preflight.Row("disk per pair", status, "; ".join(parts)))
    return rows


def preflight_rows(settings: Settings, count: int | None) -> list[preflight.Row]:
    """Every preflight row for this stack (nothing is changed)."""
    from masterclass.roster import RosterError

    Row = preflight.Row
    rows: list[preflight.Row] = []
    client = None
    docker_root = "/"
    try:
        client = engine.docker_client()
        info = client.info()
        docker_root = info.get("DockerRootDir") or "/"
        rows.append(Row("Docker engine", preflight.GO, f"version {info.get('ServerVersion')}"))
    except StackError as e:
        rows.append(Row("Docker engine", preflight.NOGO, str(e)))
    for label, image in (
        ("student image", settings.student_image),
        ("hub image", settings.hub_image),
        ("proxy image", settings.proxy_image),
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
                roster, _ = roster_from_text(text)
                counts = roster.groups()
                rows.append(
                    Row(
                        "class",
                        preflight.GO,
                        f"{roster.name!r}: {len(counts['pairs'])} pairs, "
                        f"{len(counts['tutors'])} tutors",
                    )
                )
            token_ok = settings.token or (state.read(TOKEN_FILE) or "").strip()
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
        except (OrganiserError, RosterError) as e:
            rows.append(Row("class", preflight.NOGO, str(e)))
    if count is None:
        count = len(pairs(roster)) if roster else 0
    available = preflight.meminfo().get("MemAvailable", 0)
    cores = preflight.cpu_cores()
    disk_path = docker_root if Path(docker_root).exists() else "/"
    rows.append(preflight.memory_row(count, available))
    total = preflight.meminfo().get("MemTotal", 0)
    rows.append(preflight.overcommit_row(count, parse_size(settings.mem_limit), total))
    rows.append(preflight.cpu_row(count, cores))
    rows.append(preflight.disk_row(count, disk_path))
    rows.extend(home_rows(settings, client, count, pairs(roster) if roster else []))
    free = shutil.disk_usage(disk_path).free
    rows.append(preflight.capacity_row(count, available, cores, free))
    if client is not None and swarm.active(client):
        # On a swarm the pairs run on the worker nodes: their capacity, and nodes not ready.
        rows.extend(swarm.preflight_rows(settings, client, count))
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
    (sized with the measured peak of a training pair, 1.3 GB, not the 8 GB limit); how
    far the containers' memory limits overcommit the machine and why that is safe; the
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
    with errors():
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
