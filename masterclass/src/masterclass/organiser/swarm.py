"""The class hub on a Docker Swarm, as the organiser CLI sees it through the manager's engine.

On a swarm the pairs' servers are services on worker nodes, and each pair's home is a
local volume on the node that ran its server first (docs/scale-out.md). The CLI runs on
the manager: this module lists the nodes and what they can carry (``check``), finds the
node and the memory of each pair (``status``, ``warm``). What the CLI does *on* the other
nodes (their homes, their images, a stopped pair's work) is :mod:`nodejobs`.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

from masterclass.names import roster_containers
from masterclass.organiser import preflight
from masterclass.sizing import PAIR_PEAK_GB

#: Node label of the nodes that run pairs (the swarm role sets it; the hub's
#: MASTERCLASS_PAIR_NODE_LABEL names the same label).
PAIR_LABEL = "masterclass.pairs"
#: Memory a node keeps for its engine and system (GB), as preflight keeps for a server.
NODE_RESERVED_GB = 1.0


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
