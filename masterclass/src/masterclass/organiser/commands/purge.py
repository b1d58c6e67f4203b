"""``class purge``: delete the pupils' data, after showing what and asking first."""

from __future__ import annotations

import contextlib
import json
import time
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from masterclass.grading.layout import COURSE_DIR, EXCHANGE_DIR, course_volume
from masterclass.hub import disk
from masterclass.names import is_pair, is_roster_user, roster_containers, roster_homes
from masterclass.organiser import classfiles, nodejobs, swarm
from masterclass.organiser import docker as engine
from masterclass.organiser.api import HubAPI
from masterclass.organiser.app import class_app, console, errors
from masterclass.organiser.board import board_pairs, purge_board
from masterclass.organiser.errors import ExitCode, OrganiserError
from masterclass.organiser.exchange import list_exchange
from masterclass.organiser.settings import Settings
from masterclass.organiser.state import (
    DEMO_LOGINS_FILE,
    EXPORT_MARKER,
    ROSTER_FILE,
    ContainerState,
    open_state,
    roster_from_text,
)

#: JupyterHub's cookie secret in the hub state; the hub makes a new one when it starts.
COOKIE_SECRET = "jupyterhub_cookie_secret"
#: What the formgrader writes into the course directory by itself at start (not pupils' work).
_COURSE_OWN = ("nbgrader_config.py", "language_config.py")
#: What purge deletes, in the order of its table.
_THINGS = (
    "hub_users",
    "containers",
    "volumes",
    "services",
    "node_homes",
    "exchange_files",
    "course_files",
    "board_results",
    "state_files",
    "local_files",
)


def _parse_time(iso: str | None) -> datetime | None:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")) if iso else None


def _course_files(formgrader) -> list[str]:
    """Pupils' work in the course: everything but the sources and the formgrader's config."""
    code, out = engine.exec_text(
        formgrader, ["find", str(COURSE_DIR), "-mindepth", "1", "-type", "f", "-printf", "%P\\0"]
    )
    if code != 0:
        raise OrganiserError(f"The course could not be listed: {out[:200]}")
    names = [n for n in out.split("\0") if n]
    return [n for n in names if n not in _COURSE_OWN and not n.startswith("source/")]


def _empty(container, folder: str, what: str) -> None:
    """Delete everything inside *folder* of a running *container* (the folder stays)."""
    code, out = engine.exec_text(container, ["find", folder, "-mindepth", "1", "-delete"])
    if code != 0:
        raise OrganiserError(f"The {what} could not be emptied: {out[:200]}")


def purge_plan(settings: Settings, state, api: HubAPI, client) -> dict:
    """What a purge would delete, found from the roster, the hub and Docker (all by prefix)."""
    text = state.read(ROSTER_FILE)
    roster = roster_from_text(text)[0] if text is not None else None
    models = api.users()
    users = {a.name for a in roster.users()} if roster else set()
    users |= {name for name in models if is_roster_user(name)}
    users.discard(getattr(api, "me", None))
    container_re = roster_containers(settings.prefix)
    home_re = roster_homes(settings.prefix)
    containers = sorted(
        c.name for c in client.containers.list(all=True) if container_re.match(c.name)
    )
    # Homes hold the pairs' work; the course volume holds their collected notebooks and grades.
    volumes = sorted(
        v.name
        for v in client.volumes.list()
        if home_re.match(v.name) or v.name == course_volume(settings.prefix)
    )
    # The tutors' formgrader keeps the course volume mounted: it is emptied in place.
    course_files = []
    formgrader = engine.running_container(settings.prefix, client, "formgrader")
    if formgrader is not None and course_volume(settings.prefix) in volumes:
        volumes.remove(course_volume(settings.prefix))
        course_files = _course_files(formgrader)
    state_files = [
        f for f in (ROSTER_FILE, DEMO_LOGINS_FILE, EXPORT_MARKER) if state.read(f) is not None
    ]
    # On a swarm: the pairs' services, and their homes on the other nodes.
    on_nodes = nodejobs.purge_plan(settings, client) if swarm.active(client) else None
    activity = [
        _parse_time(models[u].get("last_activity")) for u in users if is_pair(u) and u in models
    ]
    activity = [t for t in activity if t is not None]
    return {
        "class": roster.name if roster else None,
        # Submissions are pupils' work: every file in the exchange is deleted.
        "exchange_files": len(list_exchange(settings, client).files),
        "course_files": len(course_files),
        # The results board's store (the pairs' measurements, the game's rounds).
        "board_results": board_pairs(settings, client),
        "hub_users": sorted(u for u in users if u in models),
        "containers": containers,
        "volumes": volumes,
        "services": on_nodes.services if on_nodes else [],
        "node_homes": on_nodes.listed_homes if on_nodes else [],
        "swarm": on_nodes,
        "state_files": state_files,
        "local_files": classfiles.local_files(settings),
        "last_activity": max(activity) if activity else None,
    }


def _plan_table(plan: dict, where: str) -> Table:
    table = Table(title=f"purge {plan['class'] or '(no roster)'}: this will be deleted")
    table.add_column("what")
    table.add_column("")
    table.add_row("hub accounts", ", ".join(plan["hub_users"]) or "—")
    table.add_row("containers", ", ".join(plan["containers"]) or "—")
    table.add_row("volumes", ", ".join(plan["volumes"]) or "—")
    if plan.get("swarm"):
        table.add_row("services (swarm)", ", ".join(plan["services"]) or "—")
        table.add_row("homes on the nodes", ", ".join(plan["node_homes"]) or "—")
        if plan["swarm"].unreachable:
            table.add_row("nodes not ready (homes kept)", ", ".join(plan["swarm"].unreachable))
    table.add_row("exchange (submissions)", f"{plan['exchange_files']} files")
    if plan["course_files"]:
        table.add_row("course (collected notebooks, grades)", f"{plan['course_files']} files")
    if plan.get("board_results"):
        table.add_row("results board", f"{plan['board_results']} pairs")
    table.add_row(f"hub state ({where})", ", ".join(plan["state_files"]) or "—")
    table.add_row("this machine", ", ".join(str(p) for p in plan["local_files"]) or "—")
    return table


def _wait(check, timeout: float, interval: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return bool(check())


def _delete_user(api: HubAPI, user: str, timeout: float) -> None:
    """Delete *user* through the hub, waiting while its server is still stopping."""
    deadline = time.monotonic() + timeout
    while True:
        r = api.request("DELETE", f"/users/{user}", ok=(204, 404, 400))
        stopping = r.status_code == 400 and "stopping" in r.text
        if r.status_code == 400 and not stopping:
            raise OrganiserError(f"The hub refused to delete {user}: {r.text[:200]}", ExitCode.HUB)
        if not stopping:
            return
        if time.monotonic() > deadline:
            raise OrganiserError(f"The server of {user} did not stop in time.", ExitCode.HUB)
        time.sleep(1)


def _remove_volume(client, name: str, timeout: float, image: str, prefix: str) -> None:
    try:
        # A bounded home (masterclass.hub.disk) binds a file system of its own on the host.
        folder = (client.volumes.get(name).attrs.get("Options") or {}).get("device")
    except Exception:
        folder = None

    def gone() -> bool:
        try:
            client.volumes.get(name).remove(force=True)
        except Exception as e:
            return "not found" in str(e).lower() or "no such volume" in str(e).lower()
        return True

    if not _wait(gone, timeout):
        raise OrganiserError(f"The volume {name} could not be removed (still in use?).")
    if folder:
        disk.on_host(client, image, f"{prefix}-home-remove", "remove", f"{folder}.img", folder)


def carry_out(settings: Settings, state, api: HubAPI, client, plan: dict, timeout: float) -> None:
    """Delete everything in *plan* (accounts first, so the hub stops their servers)."""
    for user in plan["hub_users"]:
        _delete_user(api, user, timeout)
    for name in plan["containers"]:
        with contextlib.suppress(Exception):
            client.containers.get(name).remove(force=True)
    for name in plan["volumes"]:
        _remove_volume(client, name, timeout, settings.hub_image, settings.prefix)
    if plan.get("swarm"):
        for left in nodejobs.purge(settings, client, plan["swarm"], timeout):
            console.print(f"[yellow]Not deleted:[/] {left}; run purge again when it is free.")
    if plan["exchange_files"]:
        hub = engine.running_container(settings.prefix, client, "hub")
        if hub is not None:
            _empty(hub, str(EXCHANGE_DIR), "exchange")
    if plan["course_files"]:
        formgrader = engine.running_container(settings.prefix, client, "formgrader")
        if formgrader is not None:
            _empty(formgrader, str(COURSE_DIR), "course")
            formgrader.restart()  # it writes its config again for the next class
    if plan.get("board_results"):
        purge_board(settings, client)  # every open board empties itself within a second
    for name in plan["state_files"]:
        state.remove(name)
    for path in plan["local_files"]:
        path.unlink(missing_ok=True)
    _new_cookie_secret(settings, state, api, client, timeout)


def _new_cookie_secret(settings: Settings, state, api: HubAPI, client, timeout: float) -> None:
    """Every login cookie of the class dies: the hub restarts with a new cookie secret.

    Deleting the accounts already ends their sessions; this also ends those of accounts
    the purge keeps (the organiser whose token runs it) and of any copied cookie.
    """
    state.remove(COOKIE_SECRET)
    hub = engine.running_container(settings.prefix, client, "hub")
    if hub is None or not isinstance(state, ContainerState):
        console.print("Restart the hub now: its new cookie secret ends every login of the class.")
        return
    hub.restart(timeout=30)

    def answers() -> bool:
        try:
            return api.http.get("/").status_code == 200
        except Exception:
            return False

    if not _wait(answers, timeout):
        raise OrganiserError("The hub did not answer again after its restart.", ExitCode.HUB)


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
    the one-time logins file and cards PDF of this machine; then restarts the hub with a
    new cookie secret, so that no login cookie of the class works any more (a restart
    takes 15-30 s). Writes one line to the audit log. Running it again does nothing and
    exits with 0.

    Examples:

    ```
    masterclass class purge
    masterclass class purge --yes --force     # e.g. the demo class of `make up`
    ```
    """
    settings: Settings = ctx.obj
    with errors():
        state = open_state(settings)
        api = HubAPI.connect(settings, state)
        client = engine.docker_client()
        plan = purge_plan(settings, state, api, client)
        if not any(plan[k] for k in _THINGS):
            console.print("Nothing to purge: no class, accounts, containers or volumes left.")
            return
        marker = state.read(EXPORT_MARKER)
        exported = _parse_time(json.loads(marker).get("time")) if marker else None
        needs_export = plan["last_activity"] is not None and (
            exported is None or exported < plan["last_activity"]
        )
        console.print(_plan_table(plan, state.describe()))
        if needs_export and not force:
            since = plan["last_activity"].isoformat(timespec="minutes")
            raise OrganiserError(
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
                raise OrganiserError("Not confirmed; nothing was deleted.", ExitCode.REFUSED)
        carry_out(settings, state, api, client, plan, timeout)
    classfiles.audit(
        settings,
        "purge",
        plan["class"],
        forced=bool(force and needs_export),
        accounts=plan["hub_users"],
        containers=len(plan["containers"]),
        volumes=len(plan["volumes"]) + len(plan["node_homes"]),
    )
    console.print(
        f"Purged {plan['class'] or 'the leftovers'}: {len(plan['hub_users'])} accounts, "
        f"{len(plan['containers']) + len(plan['services'])} containers and services, "
        f"{len(plan['volumes']) + len(plan['node_homes'])} volumes, "
        f"{len(plan['state_files'])} hub files, {len(plan['local_files'])} local files. "
        f"Audit log: {settings.class_dir / classfiles.AUDIT_FILE}"
    )
