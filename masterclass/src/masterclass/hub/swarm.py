"""The pairs' servers as one-task Docker Swarm services, with every limit of the single host.

dockerspawner's ``SwarmSpawner`` runs each server as a Swarm service, but on its own it
drops what a class server relies on (docs/scale-out.md): ``extra_host_config`` is ignored
(pids limit, ``cap_drop``, ``no-new-privileges`` silently lost), ``extra_create_kwargs``
goes to the service (``user`` fails there), and every volume becomes a bind mount, so
named home volumes are refused (dockerspawner #536, #263, #248). This subclass:

- carries the single host's limits over from the same settings (:func:`carry_limits`):
  ``user`` and ``cap_drop`` into the container spec, ``pids_limit`` into the resource
  limits; what a service spec of Engine 20.10 cannot hold (``no-new-privileges``, the
  swap cap) becomes a placement constraint on an engine label that the swarm role writes
  only together with the daemon setting that enforces it, and anything else is refused;
- mounts named volumes as volumes: a pair's home is a local volume on its node;
- keeps the node that first ran a pair's server in the spawner state and pins every
  later start to it (the home is there), failing at once with a clear reason when that
  node is down or drained instead of waiting for the start timeout;
- reserves the measured peak of a pair (:mod:`masterclass.sizing`) through
  ``mem_guarantee`` (set by the hub config), so the scheduler spreads pairs by what they
  really use, and places them only on nodes labelled for pairs;
- uses DNS round robin endpoints (no virtual IP: the kernel has no IP_VS) and no
  published ports, and never restarts a stopped server by itself (as on one host, the
  pair presses Start).

Examples
--------
>>> carry = carry_limits(
...     {"memswap_limit": "8G", "pids_limit": 1024, "security_opt": ["no-new-privileges"],
...      "cap_drop": ["ALL"]},
...     {"user": "1000:1000"},
...     mem_limit=8 * 1024**3,
... )
>>> carry.container, carry.pids
({'user': '1000:1000', 'cap_drop': ['ALL']}, 1024)
>>> carry.constraints
['engine.labels.masterclass.swap == off', 'engine.labels.masterclass.no-new-privileges == true']
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pprint import pformat

from docker.types import (
    ContainerSpec,
    EndpointSpec,
    Mount,
    Placement,
    Resources,
    RestartPolicy,
    TaskTemplate,
)
from dockerspawner import SwarmSpawner as UpstreamSwarmSpawner
from jupyterhub.traitlets import ByteSpecification
from tornado import web
from traitlets import Bool, Unicode

from masterclass.hub.spawner import ConcurrentDockerCalls

#: Engine label (daemon.json ``labels``) of a node whose engine runs every container with
#: ``no-new-privileges`` (daemon.json ``"no-new-privileges": true``).
NO_NEW_PRIVILEGES_LABEL = "masterclass.no-new-privileges"
#: Engine label of a node without swap: Swarm on Engine 20.10 cannot cap a service's swap
#: (Docker then allows swap up to the memory limit again), so pairs run only where there
#: is none, as Kubernetes' kubelet requires.
NO_SWAP_LABEL = "masterclass.swap"
#: Task states on the way to running.
_STARTING = {"new", "pending", "assigned", "accepted", "preparing", "ready"}
#: Task states that end a task for good.
_FAILED = {"failed", "rejected", "shutdown", "complete", "orphaned", "remove"}


@dataclass
class Carried:
    """The single host's limits as a Swarm service holds them."""

    container: dict = field(default_factory=dict)
    pids: int | None = None
    constraints: list[str] = field(default_factory=list)
    mounts: list = field(default_factory=list)
    log_driver: dict | None = None


def _tmpfs(target: str, options: str) -> Mount:
    """A tmpfs mount of a service (Swarm mounts it nosuid and nodev, as asked on one host)."""
    size = next((o.split("=", 1)[1] for o in options.split(",") if o.startswith("size=")), None)
    return Mount(target, None, type="tmpfs", tmpfs_size=_bytes(size.upper()) if size else None)


def _bytes(value) -> int:
    """A Docker memory size (``8G``, ``512M``, bytes) in bytes, as DockerSpawner reads it."""
    return ByteSpecification().validate(None, value)


def carry_limits(host_config: dict, create_kwargs: dict, mem_limit: int | None) -> Carried:
    """DockerSpawner's ``extra_host_config`` and ``extra_create_kwargs`` as service settings.

    Raises ValueError naming every setting a service cannot hold, so that no limit is
    dropped without a word (upstream's SwarmSpawner ignores them).

    >>> try:
    ...     carry_limits({"privileged": True, "pids_limit": 10}, {"hostname": "x"}, None)
    ... except ValueError as e:
    ...     print(str(e).split(": ")[1])
    extra_create_kwargs['hostname'], extra_host_config['privileged']
    """
    carried = Carried()
    refused = []
    for key, value in create_kwargs.items():
        if key == "user":
            carried.container["user"] = value
        else:
            refused.append(f"extra_create_kwargs[{key!r}]")
    for key, value in host_config.items():
        if key == "pids_limit":
            carried.pids = int(value)
        elif key in ("cap_drop", "cap_add"):
            carried.container[key] = list(value)
        elif key == "read_only":
            carried.container["read_only"] = bool(value)
        elif key == "tmpfs":
            carried.mounts += [_tmpfs(target, options) for target, options in value.items()]
        elif key == "log_config":
            carried.log_driver = {"Name": value["type"], "Options": value.get("config") or {}}
        elif key == "memswap_limit" and mem_limit and _bytes(value) == mem_limit:
            carried.constraints.append(f"engine.labels.{NO_SWAP_LABEL} == off")
        elif key == "security_opt" and all(
            opt in ("no-new-privileges", "no-new-privileges:true") for opt in value
        ):
            carried.constraints.append(f"engine.labels.{NO_NEW_PRIVILEGES_LABEL} == true")
        else:
            refused.append(f"extra_host_config[{key!r}]")
    if refused:
        raise ValueError(
            "a Swarm service cannot hold these settings of a pair's container: "
            + ", ".join(sorted(refused))
        )
    return carried


def node_summary(node: dict) -> dict:
    """Hostname, state (ready, down, ...) and availability (active, drain, pause) of a node."""
    return {
        "id": node.get("ID", ""),
        "hostname": (node.get("Description") or {}).get("Hostname", node.get("ID", "")[:12]),
        "state": (node.get("Status") or {}).get("State", "unknown"),
        "availability": (node.get("Spec") or {}).get("Availability", "active"),
    }


class SwarmSpawner(ConcurrentDockerCalls, UpstreamSwarmSpawner):
    """A pair's server as a one-task Swarm service on a pair node, pinned to its home's node."""

    pair_node_label = Unicode(
        "masterclass.pairs",
        config=True,
        help="""Node label that marks the nodes pairs' servers may run on (value "true").

        The swarm role labels the workers with it; the manager keeps the hub, the
        exchange and the formgrader. Empty: any node.
        """,
    )

    remove = Bool(
        True,
        config=True,
        help="""A stopped server's service is removed (the home volume stays).

        Upstream's SwarmSpawner fixes this as a plain attribute; as a trait, the hub
        config's DockerSpawner.remove applies here too, without a warning.
        """,
    )

    node_id = Unicode(
        "",
        help="""The node that holds this pair's home (kept in the spawner state).""",
    )
    node_name = Unicode("", help="""That node's hostname, for messages and the organiser.""")

    # --- state: the node outlives the service --------------------------------------------

    def load_state(self, state):
        super().load_state(state)
        self.node_id = state.get("node_id", "")
        self.node_name = state.get("node", "")

    def get_state(self):
        state = super().get_state()
        if self.node_id:
            state["node_id"] = self.node_id
            state["node"] = self.node_name
        return state

    def clear_state(self):
        # A stopped server forgets its service, never its node: the home stays there.
        node_id, node_name = self.node_id, self.node_name
        super().clear_state()
        self.node_id, self.node_name = node_id, node_name

    # --- the service ----------------------------------------------------------------------

    @property
    def mounts(self):
        """Named volumes (the home) as volumes on the node; absolute paths as bind mounts."""
        mounts = []
        for source, volume in self.volume_binds.items():
            named = not source.startswith("/")
            mounts.append(
                Mount(
                    target=volume["bind"],
                    source=source,
                    type="volume" if named else "bind",
                    read_only=volume["mode"] == "ro",
                    driver_config=self.mount_driver_config if named else None,
                )
            )
        return mounts

    def placement_constraints(self, carried: Carried) -> list[str]:
        constraints = list(carried.constraints)
        if self.pair_node_label:
            constraints.insert(0, f"node.labels.{self.pair_node_label} == true")
        if self.node_id:
            constraints.append(f"node.id == {self.node_id}")
        return constraints

    async def create_object(self):
        """Create the service: limits carried over, home volume, pinned or spread, dnsrr."""
        carried = carry_limits(self.extra_host_config, self.extra_create_kwargs, self.mem_limit)
        container_spec = ContainerSpec(
            image=self.image,
            env=self.get_env(),
            args=(await self.get_command()),
            mounts=[*self.mounts, *carried.mounts],
            **{**carried.container, **self.extra_container_spec},
        )
        resources = Resources(
            mem_limit=self.mem_limit,
            mem_reservation=self.mem_guarantee,
            cpu_limit=int(self.cpu_limit * 1e9) if self.cpu_limit else None,
            cpu_reservation=int(self.cpu_guarantee * 1e9) if self.cpu_guarantee else None,
            **self.extra_resources_spec,
        )
        if carried.pids:
            # Engine API 1.41 (Docker 20.10) holds a pids limit; docker-py has no argument.
            resources.setdefault("Limits", {})["Pids"] = carried.pids
        placement = Placement(
            **{"constraints": self.placement_constraints(carried), **self.extra_placement_spec}
        )
        task = TaskTemplate(
            container_spec=container_spec,
            resources=resources,
            networks=[self.network_name] if self.network_name else [],
            placement=placement,
            # A server that exits stays stopped, as on one host: the hub sees it and the
            # pair presses Start (which brings it back to its home's node).
            restart_policy=RestartPolicy(condition="none"),
            log_driver=carried.log_driver,
            **self.extra_task_spec,
        )
        # DNS round robin: the kernel has no IP_VS for virtual IPs; nothing is published.
        endpoint = EndpointSpec(mode="dnsrr", **self.extra_endpoint_spec)
        service = await self.docker(
            "create_service", task_template=task, endpoint_spec=endpoint, name=self.service_name
        )
        while not await self.docker("tasks", filters={"service": self.service_name}):
            await asyncio.sleep(0.5)
        return service

    async def node(self, node_id: str) -> dict | None:
        """A node's summary, or None when the swarm does not know it (removed)."""
        from docker.errors import APIError

        try:
            return node_summary(await self.docker("inspect_node", node_id))
        except APIError as e:
            if e.response is not None and e.response.status_code == 404:
                return None
            raise

    async def start(self):
        if self.node_id:
            node = await self.node(self.node_id)
            if node is None:
                # The organiser removed the node from the swarm (docs/scale-out.md): its
                # homes are gone with it, so the pair starts afresh wherever there is room.
                self.log.warning(
                    "%s: node %s (%s) is no longer in the swarm; starting with a new home",
                    self._log_name,
                    self.node_name,
                    self.node_id,
                )
                self.node_id = self.node_name = ""
            elif node["state"] != "ready" or node["availability"] != "active":
                raise web.HTTPError(
                    503,
                    f"The machine that keeps your files ({node['hostname']}) is "
                    f"{node['state'] if node['state'] != 'ready' else node['availability']}. "
                    "Your files are safe there; ask a tutor. / Der Rechner mit euren "
                    f"Dateien ({node['hostname']}) ist gerade nicht erreichbar. Eure "
                    "Dateien sind dort sicher; fragt eine Betreuerin oder einen Betreuer.",
                )
        return await super().start()

    async def start_object(self):
        """Wait until the task runs; remember its node; fail at once when it cannot run."""
        delay = 0.5
        while True:
            task = await self.get_task()
            if not task:
                raise RuntimeError(f"Service {self.service_name} has no task")
            status = task["Status"]
            state = status["State"].lower()
            # "starting": the container runs, its health check has not passed yet (the
            # student image's first check comes after 30 s); the hub's own HTTP check
            # follows, as on one host, where a started container counts.
            if state in ("starting", "running"):
                break
            if state in _FAILED:
                raise RuntimeError(
                    f"The server of {self.user.name} could not start on "
                    f"{task.get('NodeID', 'any node')[:12]}: {status.get('Err') or state}"
                )
            if state not in _STARTING:
                raise RuntimeError(f"Service {self.service_name}: {pformat(status)}")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 5)
        node = await self.node(task["NodeID"])
        self.node_id = task["NodeID"]
        self.node_name = node["hostname"] if node else task["NodeID"][:12]
        self.log.info("%s runs on node %s", self._log_name, self.node_name)

    async def get_ip_and_port(self):
        """The task's own address on the spawn network, not its service name.

        A name would go through Docker's DNS, which can still answer with a task that
        ended on a node that went away (until the swarm's gossip catches up); the proxy
        would then send the pair to nowhere.
        """
        task = await self.get_task()
        for attachment in (task or {}).get("NetworksAttachments") or []:
            if attachment["Network"]["Spec"]["Name"] == self.network_name:
                return attachment["Addresses"][0].split("/")[0], self.port
        return await super().get_ip_and_port()

    async def poll(self):
        """None while the task runs on a node that is up; else why it stopped."""
        task = await self.get_task()
        if not task:
            return 0
        status = task["Status"]
        if status["State"] not in {"running", "starting", "pending", "preparing", "assigned"}:
            return pformat(status)
        if task.get("NodeID"):
            node = await self.node(task["NodeID"])
            if node is None or node["state"] != "ready":
                # A node that is down reports nothing: its last word was "running".
                state = node["state"] if node else "removed"
                return f"node {self.node_name or task['NodeID'][:12]} is {state}"
        return None
