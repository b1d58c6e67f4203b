"""The class hub on a Docker Swarm, as the organiser CLI sees it through the manager's engine.

On a swarm the pairs' servers are services on worker nodes, and each pair's home is a
local volume on the node that ran its server first (docs/scale-out.md). The CLI runs on
the manager and reaches the workers only through the swarm: this module lists the nodes
and what they can carry, finds the node of each pair, and runs **node jobs**: one-shot
Swarm jobs of the student image, placed on one node, with that node's Docker socket and,
where needed, pairs' homes mounted read-only. They list and delete the homes there,
report which images the node holds, and copy a stopped pair's working folder out of its
home for ``collect``. A job's answer comes back through the service's log.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import re
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from masterclass.names import roster_containers, roster_homes, stack_name
from masterclass.organiser import preflight
from masterclass.organiser.errors import StackError
from masterclass.sizing import PAIR_PEAK_GB

#: Node label of the nodes that run pairs (the swarm role sets it; the hub's
#: MASTERCLASS_PAIR_NODE_LABEL names the same label).
PAIR_LABEL = "masterclass.pairs"
#: Memory a node keeps for its engine and system (GB), as preflight keeps for a server.
NODE_RESERVED_GB = 1.0

# What a node job runs (python3 of the student image, stdlib only): the node's engine
# through its socket. The last line of its output is "ANSWER <json>"; a snapshot writes
# its tar.gz as base64 lines "B64 <chunk>" before it.
JOB = r"""
import base64, http.client, io, json, os, re, socket, sys, tarfile
from urllib.parse import quote

class Engine(http.client.HTTPConnection):
    def __init__(self):
        super().__init__("localhost", timeout=120)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect("/var/run/docker.sock")

def call(method, path):
    engine = Engine()
    engine.request(method, path)
    response = engine.getresponse()
    return response.status, response.read()

action, *args = sys.argv[1:]
if action == "homes":
    pattern = re.compile(args[0])
    volumes = json.loads(call("GET", "/volumes")[1]).get("Volumes") or []
    answer = sorted(v["Name"] for v in volumes if pattern.match(v["Name"]))
elif action == "remove":
    # A finished task's container keeps its volumes in use until the node reaps it: ended
    # containers of this stack's swarm tasks (node jobs, pairs' servers) are removed first.
    prefix, names = args[0], args[1:]
    answer = {}
    for name in names:
        status = call("DELETE", "/volumes/" + name)[0]
        if status == 409:
            query = json.dumps({"volume": [name], "status": ["exited", "created", "dead"]})
            found = json.loads(call("GET", "/containers/json?all=1&filters=" + quote(query))[1])
            for container in found:
                task = (container.get("Labels") or {}).get("com.docker.swarm.service.name", "")
                if task.startswith(prefix + "-"):
                    call("DELETE", "/containers/" + container["Id"])
            status = call("DELETE", "/volumes/" + name)[0]
        answer[name] = status
elif action == "images":
    answer = {}
    for name in args:
        status, body = call("GET", "/images/" + name + "/json")
        answer[name] = json.loads(body)["Id"] if status == 200 else None
elif action == "snapshot":
    limit, assignments = int(args[0]), args[1:]

    def keep(info):
        name = os.path.basename(info.name)
        if name.startswith(".") or (info.isfile() and info.size > limit):
            return None
        return info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for user in sorted(os.listdir("/homes")):
            for assignment in assignments:
                folder = os.path.join("/homes", user, assignment)
                if os.path.isdir(folder):
                    tar.add(folder, arcname=user + "/" + assignment, filter=keep)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    for start in range(0, len(data), 4000):
        print("B64", data[start:start + 4000])
    answer = {"bytes": len(buffer.getvalue())}
print("ANSWER", json.dumps(answer), flush=True)
"""


@dataclass
class Node:
    """A swarm node as ``docker node inspect`` describes it."""

    id: str
    hostname: str
    role: str
    state: str
    availability: str
    address: str = ""
    cpus: float = 0.0
    memory: int = 0
    labels: dict = field(default_factory=dict)
    engine_labels: dict = field(default_factory=dict)

    @classmethod
    def from_attrs(cls, attrs: dict) -> Node:
        description = attrs.get("Description") or {}
        resources = description.get("Resources") or {}
        spec = attrs.get("Spec") or {}
        status = attrs.get("Status") or {}
        return cls(
            id=attrs["ID"],
            hostname=description.get("Hostname", attrs["ID"][:12]),
            role=spec.get("Role", "worker"),
            state=status.get("State", "unknown"),
            availability=spec.get("Availability", "active"),
            address=status.get("Addr", ""),
            cpus=resources.get("NanoCPUs", 0) / 1e9,
            memory=resources.get("MemoryBytes", 0),
            labels=spec.get("Labels") or {},
            engine_labels=(description.get("Engine") or {}).get("Labels") or {},
        )

    @property
    def up(self) -> bool:
        return self.state == "ready"

    @property
    def runs_pairs(self) -> bool:
        return self.labels.get(PAIR_LABEL) == "true"

    @property
    def takes_pairs(self) -> bool:
        """Up, active, labelled for pairs: the scheduler may place a new pair here."""
        return self.up and self.availability == "active" and self.runs_pairs

    @property
    def condition(self) -> str:
        """``ready``, or what keeps pairs away: ``down``, ``drain``, ``pause``."""
        return (
            self.state
            if not self.up
            else self.availability
            if self.availability != "active"
            else "ready"
        )


def active(client) -> bool:
    """Whether the engine the CLI talks to is the manager of an active swarm."""
    try:
        swarm = client.info().get("Swarm") or {}
    except Exception:
        return False
    return swarm.get("LocalNodeState") == "active" and bool(swarm.get("ControlAvailable"))


def nodes(client) -> list[Node]:
    """Every node of the swarm, managers first, then by hostname."""
    found = [Node.from_attrs(n.attrs) for n in client.nodes.list()]
    return sorted(found, key=lambda n: (n.role != "manager", n.hostname))


# --- capacity (class check) -------------------------------------------------------------


def node_capacity(node: Node) -> tuple[int, str]:
    """Training pairs a node carries at their measured peak, and what limits it."""
    limits = {
        "memory": max(0, math.floor((node.memory / 1e9 - NODE_RESERVED_GB) / PAIR_PEAK_GB)),
        "CPU": preflight.pairs_by_cpu(round(node.cpus)),
    }
    bound = min(limits, key=limits.get)
    return limits[bound], bound


def capacity_rows(found: list[Node], pairs: int, homes: dict[str, str] | None = None) -> list:
    """One preflight row per pair node and one for the whole swarm.

    *homes* maps a pair to the hostname of the node that holds its home (a pair on a node
    that is down cannot start until the node returns).
    """
    Row = preflight.Row
    rows, total, smallest = [], 0, None
    stranded: dict[str, list[str]] = {}
    for user, hostname in (homes or {}).items():
        stranded.setdefault(hostname, []).append(user)
    for node in found:
        if not node.runs_pairs:
            continue
        carry, bound = node_capacity(node)
        there = sorted(stranded.get(node.hostname, []))
        facts = (
            f"{node.memory / 1e9:.1f} GB, {node.cpus:g} cores: {carry} pairs (limited by {bound})"
        )
        if node.condition != "ready":
            who = f"; homes of {', '.join(there)} are there" if there else ""
            status = preflight.NOGO if there else preflight.WARN
            rows.append(
                Row(f"node {node.hostname}", status, f"{node.condition}: no pairs start here{who}")
            )
            continue
        rows.append(Row(f"node {node.hostname}", preflight.GO, facts))
        total += carry
        if smallest is None or carry < smallest[0]:
            smallest = (carry, node.hostname, bound)
    if smallest is None:
        rows.append(
            Row(
                "swarm",
                preflight.NOGO,
                "no node up and labelled for pairs (masterclass.pairs=true)",
            )
        )
        return rows
    limit = f"limited by {smallest[1]}'s {smallest[2]}" if smallest else ""
    rows.append(
        Row(
            "swarm capacity",
            preflight.GO if total >= pairs else preflight.NOGO,
            f"this swarm carries {total} pairs ({limit}); the class has {pairs}",
        )
    )
    return rows


# --- the pairs' nodes and services --------------------------------------------------------


def pair_nodes(models: dict) -> dict[str, str]:
    """Pair → hostname of the node that holds its home, from the hub's spawner state.

    The hub API shows the state of stopped servers too when asked with
    ``include_stopped_servers`` (:meth:`HubAPI.users` does).
    """
    found = {}
    for user, model in models.items():
        server = (model.get("servers") or {}).get("") or {}
        node = (server.get("state") or {}).get("node")
        if node:
            found[user] = node
    return found


def pair_services(client, prefix: str) -> list:
    """The services of roster users' servers (a stopped server whose node went down keeps one)."""
    pattern = roster_containers(prefix)
    return [s for s in client.services.list() if pattern.match(s.name)]


def remove_services(services, timeout: float = 60) -> None:
    for service in services:
        with contextlib.suppress(Exception):
            service.remove()


# --- node jobs -----------------------------------------------------------------------------


def run_job(client, settings, node: Node, action: str, *args: str, mounts=(), timeout=180) -> tuple:
    """Run the node job *action* on *node*; ``(answer, lines)`` from its output.

    Raises StackError when the job cannot run there (the node's task is rejected, e.g.
    without the student image) or says nothing in time.
    """
    from docker.types import Mount, RestartPolicy, ServiceMode

    name = stack_name(settings.prefix, f"job-{action}-{uuid.uuid4().hex[:8]}")
    service = client.services.create(
        settings.student_image,
        command=["python3", "-c", JOB, action, *args],
        name=name,
        mode=ServiceMode("replicated-job"),
        constraints=[f"node.id == {node.id}"],
        user="0:0",
        mounts=[Mount("/var/run/docker.sock", "/var/run/docker.sock", type="bind"), *mounts],
        restart_policy=RestartPolicy(condition="none"),
        labels={"org.masterclass.node-job": action},
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            tasks = service.tasks()
            states = [(t["Status"]["State"], t["Status"].get("Err", "")) for t in tasks]
            if any(s == "complete" for s, _ in states):
                break
            failed = [err or s for s, err in states if s in ("failed", "rejected", "shutdown")]
            if failed:
                raise StackError(f"a job on {node.hostname} could not run: {failed[0]}", "swarm")
            if time.monotonic() > deadline:
                raise StackError(
                    f"a job on {node.hostname} did not finish in {timeout:.0f} s", "swarm"
                )
            time.sleep(0.5)
        lines = b"".join(service.logs(stdout=True, stderr=False)).decode("utf-8", "replace")
        lines = lines.splitlines()
    finally:
        with contextlib.suppress(Exception):
            service.remove()
    answers = [line for line in lines if line.startswith("ANSWER ")]
    if not answers:
        raise StackError(f"a job on {node.hostname} answered nothing: {lines[-5:]}", "swarm")
    return json.loads(answers[-1].removeprefix("ANSWER ")), lines


def homes_on(client, settings, node: Node) -> list[str]:
    """The roster users' home volumes on *node*."""
    answer, _ = run_job(client, settings, node, "homes", roster_homes(settings.prefix).pattern)
    return answer


def remove_homes(client, settings, node: Node, names: list[str]) -> dict[str, int]:
    """Delete home volumes on *node*: name → HTTP status (204 deleted, 404 gone, 409 in use)."""
    if not names:
        return {}
    answer, _ = run_job(client, settings, node, "remove", settings.prefix, *names)
    return {name: int(status) for name, status in answer.items()}


def image_ids(client, settings, node: Node, images: list[str]) -> dict[str, str | None]:
    """The id of each image on *node* (None: missing there).

    The job runs in the student image: a node without it rejects the job, and then
    nothing else can be asked there either.
    """
    try:
        answer, _ = run_job(client, settings, node, "images", *images, timeout=60)
    except StackError as e:
        if "No such image" in str(e):
            return dict.fromkeys(images)
        raise
    return answer


def snapshot_stopped(
    client, settings, node: Node, users: list[str], assignments, folder: Path, limit: int
) -> int:
    """Copy the working folders of stopped *users* (homes on *node*) into *folder*/<user>/.

    Read-only mounts of their homes on their own node; file times are kept, so the
    grader dates the copy by the newest file, as it does for a home volume. Returns the
    number of bytes copied.
    """
    from docker.types import Mount

    mounts = [
        Mount(f"/homes/{user}", settings.volume_name(user), type="volume", read_only=True)
        for user in users
    ]
    answer, lines = run_job(
        client, settings, node, "snapshot", str(limit), *assignments, mounts=mounts
    )
    data = "".join(line[4:] for line in lines if line.startswith("B64 "))
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(data)), mode="r:gz") as tar:
        # Only plain files and folders with plain names (Debian's Python 3.11.2 has no
        # extraction filters); times are kept, modes made readable for the grader.
        for member in tar.getmembers():
            plain = re.fullmatch(r"[A-Za-z0-9._/ -]+", member.name) and ".." not in member.name
            if not plain or not (member.isfile() or member.isdir()):
                raise StackError(f"a snapshot from {node.hostname} holds {member.name!r}", "swarm")
            member.mode = 0o755 if member.isdir() else 0o644
        tar.extractall(folder)
    return int(answer.get("bytes", 0))


# --- memory through the proxy (class status) -----------------------------------------------


def pair_memory(api, base: str, users: list[str]) -> dict[str, tuple[int, int]]:
    """username → (bytes used, limit) from each running pair's own metrics.

    jupyter-resource-usage in the pair's server counts its processes' memory; the CLI asks
    it through the hub's proxy with its own token (role masterclass-cli-collect), so it
    works wherever the pair's server runs. Pairs that do not answer are left out.
    """
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    def one(user):
        try:
            r = httpx.get(
                f"{base}/user/{user}/api/metrics/v1", headers=api.http.headers, timeout=10
            )
            body = r.json() if r.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            body = {}
        limit = ((body.get("limits") or {}).get("memory") or {}).get("rss", 0)
        return user, (int(body["rss"]), int(limit or 0)) if "rss" in body else None

    with ThreadPoolExecutor(max_workers=8) as pool:
        return {u: m for u, m in pool.map(one, users) if m is not None}


@dataclass
class ClassView:
    """What ``class status`` adds on a swarm: each pair's node, memory, the nodes that are down."""

    memory: dict[str, tuple[int, int]]
    nodes: dict[str, str]
    caption: str | None


def class_view(client, api, settings, models: dict, pairs: list[str]) -> ClassView:
    """Each pair's node (marked when it is not ready) and memory, and a line on nodes down."""
    from masterclass.organiser.api import server_state

    running = [u for u in pairs if server_state(models.get(u)) == "running"]
    homes = pair_nodes(api.users(include_stopped=True))
    conditions = {n.hostname: n.condition for n in nodes(client)}
    shown = {}
    for user in pairs:
        host = homes.get(user)
        condition = conditions.get(host, "removed") if host else None
        shown[user] = (
            "—" if host is None else host if condition == "ready" else f"{host} ({condition})"
        )
    troubled = sorted(h for h, c in conditions.items() if c != "ready")
    caption = None
    if troubled:
        stranded = sorted(u for u, h in homes.items() if h in troubled and u in pairs)
        caption = (
            f"Not ready: {', '.join(f'{h} ({conditions[h]})' for h in troubled)}. "
            f"Pairs whose homes are there cannot start until it is back: "
            f"{', '.join(stranded) or 'none'} (docs/scale-out.md)."
        )
    return ClassView(pair_memory(api, settings.server_base, running), shown, caption)


def preflight_rows(settings, client, count: int) -> list:
    """``class check`` on a swarm: each pair node's capacity, the total, nodes not ready.

    The pairs' homes per node come from the hub (when it answers): a node that is down
    with homes on it is a no-go, because those pairs cannot start.
    """
    from masterclass.organiser.api import HubAPI
    from masterclass.organiser.errors import OrganiserError
    from masterclass.organiser.state import open_state

    homes = {}
    with contextlib.suppress(OrganiserError):
        api = HubAPI.connect(settings, open_state(settings, client))
        homes = pair_nodes(api.users(include_stopped=True))
    return capacity_rows(nodes(client), count, homes)


# --- purge -----------------------------------------------------------------------------------


@dataclass
class PurgePlan:
    """What a purge deletes on a swarm besides the manager's own containers and volumes."""

    services: list[str]
    homes: dict[str, list[str]]
    unreachable: list[str]

    @property
    def listed_homes(self) -> list[str]:
        return [f"{host}:{name}" for host, names in sorted(self.homes.items()) for name in names]


def _other_nodes(client) -> list[Node]:
    """Every node but the manager the CLI talks to (its volumes are the CLI's own)."""
    me = (client.info().get("Swarm") or {}).get("NodeID")
    return [n for n in nodes(client) if n.id != me]


def purge_plan(settings, client) -> PurgePlan:
    """The pairs' services, and the pairs' homes on every other node that is up."""
    homes, unreachable = {}, []
    for node in _other_nodes(client):
        if not node.up:
            unreachable.append(node.hostname)
            continue
        found = homes_on(client, settings, node)
        if found:
            homes[node.hostname] = found
    return PurgePlan(
        sorted(s.name for s in pair_services(client, settings.prefix)), homes, unreachable
    )


def purge(settings, client, plan: PurgePlan, timeout: float) -> list[str]:
    """Remove the services, wait for their tasks to end, delete the homes on their nodes.

    Returns what could not be deleted (a home still in use, a node gone meanwhile).
    """
    remove_services(s for s in pair_services(client, settings.prefix) if s.name in plan.services)
    deadline = time.monotonic() + timeout
    by_name = {n.hostname: n for n in _other_nodes(client)}
    left = []
    for host, names in sorted(plan.homes.items()):
        node = by_name.get(host)
        if node is None or not node.up:
            left += [f"{host}:{name} (node {node.condition if node else 'gone'})" for name in names]
            continue
        while True:
            # A task's container may still hold its home for a moment after the service went.
            statuses = remove_homes(client, settings, node, names)
            names = [name for name, status in statuses.items() if status == 409]
            if not names or time.monotonic() > deadline:
                break
            time.sleep(2)
        left += [f"{host}:{name} (in use)" for name in names]
    return left


# --- collect ---------------------------------------------------------------------------------


def snapshot_stopped_pairs(settings, api, client, users, assignments, folder, limit, warn) -> None:
    """Working folders of stopped pairs, each read on the node that holds its home.

    *warn* is told about pairs whose node is not ready (their work stays there until it
    returns) and pairs that never had a server (nothing to copy).
    """
    homes = pair_nodes(api.users(include_stopped=True))
    by_host: dict[str, list[str]] = {}
    for user in users:
        if user in homes:
            by_host.setdefault(homes[user], []).append(user)
    found = {n.hostname: n for n in nodes(client)}
    for host, group in sorted(by_host.items()):
        node = found.get(host)
        if node is None or not node.up:
            state = node.condition if node else "no longer in the swarm"
            warn(f"{', '.join(group)}: home on {host}, which is {state}; no copy of the work")
            continue
        snapshot_stopped(client, settings, node, group, assignments, folder, limit)


# --- warm ------------------------------------------------------------------------------------


def warm_nodes(client, settings, console) -> dict[str, str]:
    """Check that every pair node holds the manager's student image; a bar over the nodes.

    Returns hostname → ``current``, ``outdated``, ``missing`` or the node's condition
    (``down``, ``drain``, ...). Raises OrganiserError when a node that takes pairs lacks
    the current image: a pair placed there could not start (the spawner never pulls).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from masterclass.organiser.errors import ExitCode, OrganiserError

    want = client.images.get(settings.student_image).id
    pair_hosts = [n for n in nodes(client) if n.runs_pairs]
    found: dict[str, str] = {}
    with Progress(
        TextColumn("Checking the nodes' images"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("nodes", total=len(pair_hosts))
        for node in pair_hosts:
            if node.condition != "ready":
                found[node.hostname] = node.condition
            else:
                have = image_ids(client, settings, node, [settings.student_image])
                have = have.get(settings.student_image)
                found[node.hostname] = (
                    "current" if have == want else "missing" if have is None else "outdated"
                )
            progress.console.print(
                f"  {node.hostname}: {settings.student_image} {found[node.hostname]}"
            )
            progress.advance(task)
    stale = {h: s for h, s in found.items() if s in ("missing", "outdated")}
    if stale:
        addresses = {n.hostname: n.address for n in pair_hosts}
        how = "; ".join(
            f"{host}: docker save {settings.student_image} | ssh {addresses[host]} docker load"
            for host in sorted(stale)
        )
        raise OrganiserError(
            f"The student image is {', '.join(f'{s} on {h}' for h, s in sorted(stale.items()))}. "
            f"Load it there (no registry: the spawner never pulls): {how}; or run "
            "ansible/swarm.yml with swarm_offline_bundle (docs/scale-out.md).",
            ExitCode.NOGO,
        )
    return found


def spread(api) -> dict[str, int]:
    """Running pairs per node (where the scheduler put them)."""
    from masterclass.organiser.api import server_state

    models = api.users()
    homes = pair_nodes(models)
    counts: dict[str, int] = {}
    for user, host in homes.items():
        if server_state(models.get(user)) == "running":
            counts[host] = counts.get(host, 0) + 1
    return dict(sorted(counts.items()))
