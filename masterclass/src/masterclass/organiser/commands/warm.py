"""``class warm``: images present and, with ``--start``, every pair's server running."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from masterclass.organiser import docker as engine
from masterclass.organiser import nodejobs, swarm
from masterclass.organiser.api import HubAPI, server_state
from masterclass.organiser.app import class_app, console, errors
from masterclass.organiser.errors import ExitCode, OrganiserError, StackError, short
from masterclass.organiser.settings import Settings
from masterclass.organiser.state import load_roster, open_state
from masterclass.organiser.state import pairs as roster_pairs


def _pull(client, image: str) -> None:
    """Pull *image* with a progress bar over the bytes of all its layers."""
    repository, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
    layers: dict[str, tuple[int, int]] = {}
    with Progress(
        TextColumn(f"Pulling {image}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("pull", total=None)
        for event in client.api.pull(repository, tag=tag or None, stream=True, decode=True):
            if "error" in event:
                raise RuntimeError(event["error"])
            detail = event.get("progressDetail") or {}
            if event.get("id") and detail.get("total"):
                layers[event["id"]] = (detail.get("current", 0), detail["total"])
                done = sum(c for c, _ in layers.values())
                total = sum(t for _, t in layers.values())
                progress.update(task, completed=done, total=total)


def ensure_image(client, image: str, pull: bool) -> str:
    """Make sure *image* is present; pull it when asked or missing. Returns what happened."""
    present = True
    try:
        client.images.get(image)
    except Exception:
        present = False
    if present and not pull:
        return "present"
    try:
        _pull(client, image)
        return "pulled"
    except Exception as e:
        if present:
            return f"present (no registry reachable to update it: {short(e)[:80]})"
        raise StackError(
            f"The image {image} is missing and cannot be pulled ({short(e)[:120]}). "
            "Build it with `make images`.",
            "image",
        ) from None


def start_servers(api: HubAPI, users: list[str], timeout: float, progress=None) -> dict:
    """Start the servers of *users* through the hub and wait until all are ready.

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

    def ask(user: str) -> int:
        return api.request("POST", f"/users/{user}/server", ok=(201, 202, 400, 429)).status_code

    while time.monotonic() < deadline:
        # All at once: the hub answers a start only when the server is up or after its
        # slow-spawn timeout (10 s), so one request after the other took 10 s per pair.
        todo = [u for u in waiting if u not in asked]
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(todo)))) as pool:
            for user, status in zip(todo, pool.map(ask, todo), strict=True):
                if status != 429:
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
    `--pull`, and only when a registry answers; a bar shows the download). With `--start`
    it starts the pairs' servers through the hub's REST API and waits until each answers,
    so that a class logging in within a minute meets running containers. Reports how long
    it took. Started servers are stopped again by the idle culler after
    MASTERCLASS_CULL_TIMEOUT.

    Examples:

    ```
    masterclass class warm
    masterclass class warm --start
    masterclass class warm --start --only pair-01,pair-02 --timeout 300
    ```
    """
    settings: Settings = ctx.obj
    began = time.monotonic()
    with errors():
        client = engine.docker_client()
        for image in (settings.student_image, settings.hub_image, settings.proxy_image):
            try:
                what = ensure_image(client, image, pull)
            except StackError as e:
                raise OrganiserError(str(e), ExitCode.NOGO) from e
            console.print(f"{image}: {what}")
        if swarm.active(client):
            # The pairs' servers run on the pair nodes: each must hold the current image.
            nodejobs.warm_nodes(client, settings, console)
        if not start:
            console.print(f"Images ready in {time.monotonic() - began:.1f} s.")
            return
        state = open_state(settings, client)
        roster, _ = load_roster(state)
        pairs = roster_pairs(roster)
        if only:
            wanted = [u.strip() for u in only.split(",") if u.strip()]
            unknown = [u for u in wanted if u not in pairs]
            if unknown:
                raise OrganiserError(
                    f"Not pairs of {roster.name!r}: {', '.join(unknown)}", ExitCode.USAGE
                )
            pairs = wanted
        api = HubAPI.connect(settings, state)
        with Progress(
            TextColumn("Starting servers"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("start", total=len(pairs))
            ready = start_servers(api, pairs, timeout, lambda: progress.advance(task))
        times = [t for t in ready.values() if t is not None]
        late = sorted(u for u, t in ready.items() if t is None)
        total = time.monotonic() - began
        if times:
            console.print(
                f"{len(times)} of {len(pairs)} servers ready in {total:.1f} s (per server: "
                f"median {statistics.median(times):.1f} s, slowest {max(times):.1f} s)."
            )
        if swarm.active(client):
            per_node = ", ".join(f"{h}: {n}" for h, n in swarm.spread(api).items())
            console.print(f"Running pairs per node: {per_node or 'none'}.")
        if late:
            raise OrganiserError(
                f"Not ready after {timeout:.0f} s: {', '.join(late)}. See `docker logs "
                f"{settings.hub_container}`.",
                ExitCode.NOGO,
            )
