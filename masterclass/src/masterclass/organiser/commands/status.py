"""``class status``: a live table of the class, one row per pair."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.live import Live
from rich.table import Table

from masterclass.organiser import docker as engine
from masterclass.organiser import swarm
from masterclass.organiser.api import HubAPI, server_state
from masterclass.organiser.app import class_app, console, errors
from masterclass.organiser.exchange import list_exchange
from masterclass.organiser.settings import Settings, parse_size
from masterclass.organiser.state import load_roster, open_state
from masterclass.organiser.state import pairs as roster_pairs


def ago(iso: str | None, now: datetime | None = None) -> str:
    """How long ago an ISO 8601 time was, in words a tutor reads at a glance.

    >>> ago("2026-03-12T10:00:00Z", datetime(2026, 3, 12, 10, 20, tzinfo=UTC))
    '20 min ago'
    """
    if not iso:
        return "never"
    then = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    seconds = ((now or datetime.now(UTC)) - then).total_seconds()
    if seconds < 90:
        return f"{max(seconds, 0):.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def memory(client, settings: Settings, users: list[str]) -> dict[str, tuple[int, int]]:
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


#: A bounded home whose file system is not mounted now: after a reboot, until the pair's
#: server starts again (the hub mounts it before every start; nothing is lost).
UNMOUNTED = "not mounted (its next start mounts it)"


def homes(client, settings: Settings, users: list[str]) -> dict[str, str]:
    """username → its home's use (``0.3 / 2.1 GB``), :data:`UNMOUNTED`, ``unbounded`` or
    ``—`` (none yet)."""
    from masterclass.hub.disk import bound_folder, home_usage

    out = {}
    for user in users:
        try:
            attrs = client.volumes.get(settings.volume_name(user)).attrs if client else None
        except Exception:
            attrs = None
        usage = home_usage(attrs) if attrs else None
        if attrs is None:
            out[user] = "—"
        elif usage is None:
            out[user] = UNMOUNTED if bound_folder(attrs) else "unbounded"
        else:
            full = usage[0] / usage[1] if usage[1] else 0
            text = f"{usage[0] / 1e9:.1f} / {usage[1] / 1e9:.1f} GB"
            out[user] = f"[bold red]{text}[/]" if full > 0.9 else text
    return out


def host_disk(settings: Settings) -> str:
    """Free space where the homes live, for the table's caption."""
    from masterclass.hub.disk import host_free

    return f"{host_free(settings.homes_dir) / 1e9:.1f} GB free on this machine for the homes"


def status_table(settings: Settings, api: HubAPI, client, pairs: list[str], title: str) -> Table:
    """The class's table: one row per pair."""
    models = api.users()
    # On a swarm: the node of each pair, and memory from each pair's own metrics.
    view = swarm.class_view(client, api, settings, models, pairs) if swarm.active(client) else None
    used_memory = view.memory if view else memory(client, settings, pairs)
    submitted = list_exchange(settings, client).submissions
    limit = parse_size(settings.mem_limit)
    disk = homes(client, settings, pairs)
    caption = "; ".join(c for c in (view.caption if view else "", host_disk(settings)) if c)
    table = Table(title=title, caption=caption)
    columns = ("pair", "logged in", "server", "node", "memory", "disk", "last activity")
    columns += ("submitted",)
    for column in columns if view else [c for c in columns if c != "node"]:
        table.add_column(column)
    for user in pairs:
        model = models.get(user)
        state = server_state(model)
        used = used_memory.get(user)
        mem = "—" if used is None else f"{used[0] / 1e9:.1f} / {(used[1] or limit) / 1e9:.1f} GB"
        style = {"running": "green", "starting": "yellow", "stopping": "yellow"}.get(state, "")
        table.add_row(
            user,
            # Groups are set only by a real login (RosterAuthenticator), not by `warm`.
            "yes" if model and model.get("groups") else "no",
            f"[{style}]{state}[/]" if style else state,
            *([view.nodes[user]] if view else []),
            mem,
            disk[user],
            ago(model.get("last_activity") if model else None),
            # Submissions in the exchange (each press of Submit counts once).
            f"yes ({submitted[user]}×)" if user in submitted else "no",
        )
    return table


@class_app.command("status")
def status_command(
    ctx: typer.Context,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Print the table once and exit (also the default when the output is not a "
            "terminal: a pipe, a file, cron).",
        ),
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=1, help="Seconds between updates.")
    ] = 5,
) -> None:
    """A live table of the class, one row per pair (Ctrl-C to leave).

    Columns: logged in (the pair has logged in at least once), server (running,
    starting, stopped), memory used against the container limit (as `docker stats`
    counts it), disk: the home's use against its bound (MASTERCLASS_HOME_QUOTA; red above
    90 %), last activity, and submitted (how often the pair pressed Submit in
    JupyterLab's assignment list).

    Examples:

    ```
    masterclass class status
    masterclass class status --once
    ```
    """
    settings: Settings = ctx.obj
    with errors():
        state = open_state(settings)
        roster, _ = load_roster(state)
        api = HubAPI.connect(settings, state)
        client = engine.docker_client()
        pairs = roster_pairs(roster)
        # A live table needs a terminal; into a pipe or a file it would never end.
        if once or not console.is_terminal:
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
