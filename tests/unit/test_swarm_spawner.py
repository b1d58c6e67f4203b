"""The Swarm spawner (masterclass.hub.swarm) against the real hub config, with a fake Docker API.

What a service spec holds is checked here, without an engine; tests/integration/
test_swarm.py checks the same limits from inside pairs on a real three-node swarm.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from unittest import mock

import pytest
from docker.errors import APIError
from tornado import web
from traitlets.config import Config

from masterclass.hub import swarm
from masterclass.sizing import pair_reservation_bytes

CONFIG = Path(__file__).parents[2] / "hub" / "jupyterhub_config.py"


def hub_config(tmp_path, **env) -> Config:
    """hub/jupyterhub_config.py as the hub loads it, with the swarm backend."""
    settings = {
        "MASTERCLASS_NETWORK": "mc-spawn",
        "MASTERCLASS_STATE_DIR": str(tmp_path),
        "MASTERCLASS_PREFIX": "mc",
        "MASTERCLASS_BACKEND": "swarm",
        **env,
    }
    namespace = {"c": Config(), "load_subconfig": lambda path: None, "__file__": str(CONFIG)}
    saved = dict(os.environ)
    try:
        os.environ.update(settings)
        exec(compile(CONFIG.read_text(), str(CONFIG), "exec"), namespace)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return namespace["c"]


class FakeDocker:
    """The Docker API calls the spawner makes, answered from a small in-memory swarm."""

    def __init__(self, nodes: dict[str, dict], task_node: str = "n1") -> None:
        self.nodes = nodes
        self.task_node = task_node
        self.calls: list[tuple[str, dict]] = []
        self.task_state = "running"

    async def __call__(self, method, *args, **kwargs):
        self.calls.append((method, kwargs))
        if method == "create_service":
            return {"ID": "svc1"}
        if method == "tasks":
            return [self.task()]
        if method == "inspect_service":
            return {"ID": "svc1", "Spec": {"Name": "mc-pair-01"}}
        if method == "inspect_node":
            (node_id,) = args
            if node_id not in self.nodes:
                raise APIError("no such node", response=mock.Mock(status_code=404))
            return self.nodes[node_id]
        if method == "remove_service":
            return None
        raise AssertionError(f"unexpected Docker call {method}")

    def task(self) -> dict:
        return {
            "NodeID": self.task_node,
            "Status": {"State": self.task_state, "Err": "No such image: masterclass/student"},
            "NetworksAttachments": [
                {"Network": {"Spec": {"Name": "mc-spawn"}}, "Addresses": ["10.0.2.7/24"]}
            ],
        }


def node(hostname: str, state: str = "ready", availability: str = "active") -> dict:
    return {
        "ID": hostname,
        "Description": {"Hostname": hostname},
        "Status": {"State": state},
        "Spec": {"Availability": availability},
    }


@pytest.fixture
def spawner(tmp_path):
    c = hub_config(tmp_path)
    assert c.JupyterHub.spawner_class == "masterclass.hub.swarm.SwarmSpawner"
    user = mock.Mock()
    user.name = "pair-01"
    user.id = 1
    user.url = "/user/pair-01/"
    spawner = swarm.SwarmSpawner(config=c, user=user)
    spawner.docker = FakeDocker({"n1": node("worker-1"), "n2": node("worker-2", "down")})
    spawner.get_command = mock.AsyncMock(return_value=["jupyterhub-singleuser"])
    spawner.get_env = mock.Mock(return_value={"JUPYTERHUB_API_TOKEN": "x"})
    return spawner


def service_spec(spawner) -> dict:
    ((_, kwargs),) = [call for call in spawner.docker.calls if call[0] == "create_service"]
    return kwargs


def test_the_backend_setting_chooses_the_swarm_spawner(tmp_path):
    assert hub_config(tmp_path).JupyterHub.spawner_class == "masterclass.hub.swarm.SwarmSpawner"
    docker = hub_config(tmp_path, MASTERCLASS_BACKEND="docker").JupyterHub.spawner_class
    assert docker == "masterclass.hub.spawner.PairSpawner"
    with pytest.raises(ValueError, match="MASTERCLASS_BACKEND"):
        hub_config(tmp_path, MASTERCLASS_BACKEND="kubernetes")


def test_every_limit_of_the_single_host_is_carried_into_the_service(spawner):
    asyncio.run(spawner.create_object())
    spec = service_spec(spawner)
    task = spec["task_template"]
    container = task["ContainerSpec"]
    assert container["User"] == "1000:1000"
    assert container["CapabilityDrop"] == ["ALL"]
    limits, reservations = task["Resources"]["Limits"], task["Resources"]["Reservations"]
    assert limits == {"MemoryBytes": 8 * 1024**3, "NanoCPUs": 2_000_000_000, "Pids": 1024}
    # Spread by the measured peak, not by the 8G limit.
    assert reservations == {"MemoryBytes": pair_reservation_bytes()}
    constraints = task["Placement"]["Constraints"]
    assert constraints == [
        "node.labels.masterclass.pairs == true",
        "engine.labels.masterclass.swap == off",
        "engine.labels.masterclass.no-new-privileges == true",
    ]
    assert task["RestartPolicy"]["Condition"] == "none"
    assert task["Networks"] == [{"Target": "mc-spawn"}]
    assert spec["endpoint_spec"] == {"Mode": "dnsrr"}
    assert spec["name"] == "mc-pair-01"
    # The home is a named volume on the node (upstream would make it a refused bind mount).
    # The image is read-only: besides the home, a pair writes only a small /tmp.
    assert container["ReadOnly"] is True
    assert sorted(container["Mounts"], key=lambda m: m["Target"]) == [
        {
            "Target": "/home/jovyan",
            "Source": "mc-home-pair-01",
            "Type": "volume",
            "ReadOnly": False,
        },
        {
            "Target": "/tmp",
            "Source": None,
            "Type": "tmpfs",
            "ReadOnly": False,
            "TmpfsOptions": {"SizeBytes": 256 * 1024**2},
        },
    ]
    # The server's log stays small on the node too.
    assert task["LogDriver"] == {
        "Name": "json-file",
        "Options": {"max-size": "10m", "max-file": "2"},
    }


def test_settings_a_service_cannot_hold_are_refused_not_dropped():
    with pytest.raises(ValueError, match=r"extra_host_config\['memswap_limit'\]"):
        swarm.carry_limits({"memswap_limit": "16G"}, {}, 8 * 1024**3)
    with pytest.raises(ValueError, match=r"security_opt"):
        swarm.carry_limits({"security_opt": ["seccomp=unconfined"]}, {}, None)
    with pytest.raises(ValueError, match=r"extra_create_kwargs\['hostname'\]"):
        swarm.carry_limits({}, {"user": "1000", "hostname": "x"}, None)


def test_the_node_is_kept_in_the_state_across_a_stop(spawner):
    asyncio.run(spawner.start_object())
    assert (spawner.node_id, spawner.node_name) == ("n1", "worker-1")
    spawner.object_id = "svc1"
    state = spawner.get_state()
    assert state["node_id"] == "n1" and state["node"] == "worker-1"
    spawner.object_id = ""  # the service is gone
    spawner.clear_state()  # what the hub does after stopping a server
    assert spawner.get_state() == {"node_id": "n1", "node": "worker-1"}
    fresh = swarm.SwarmSpawner(config=spawner.config, user=spawner.user)
    fresh.load_state(spawner.get_state())
    assert fresh.node_id == "n1"


def test_a_pinned_pair_returns_to_its_node(spawner):
    spawner.load_state({"node_id": "n1", "node": "worker-1"})
    asyncio.run(spawner.create_object())
    constraints = service_spec(spawner)["task_template"]["Placement"]["Constraints"]
    assert constraints[-1] == "node.id == n1"


def test_a_pair_whose_node_is_down_is_told_at_once(spawner):
    spawner.load_state({"node_id": "n2", "node": "worker-2"})
    with pytest.raises(web.HTTPError) as refused:
        asyncio.run(spawner.start())
    assert refused.value.status_code == 503
    assert "worker-2" in refused.value.log_message
    assert not [c for c in spawner.docker.calls if c[0] == "create_service"]


def test_a_node_removed_from_the_swarm_releases_the_pin(spawner):
    spawner.load_state({"node_id": "gone", "node": "worker-9"})
    asyncio.run(spawner.start())
    constraints = service_spec(spawner)["task_template"]["Placement"]["Constraints"]
    assert not any(c.startswith("node.id") for c in constraints)
    assert spawner.node_id == "n1"


def test_a_task_that_cannot_run_fails_the_start_with_its_reason(spawner):
    spawner.docker.task_state = "rejected"
    with pytest.raises(RuntimeError, match="No such image"):
        asyncio.run(spawner.start_object())


def test_poll_sees_a_server_on_a_node_that_went_down(spawner):
    spawner.object_id = "svc1"
    assert asyncio.run(spawner.poll()) is None
    spawner.docker.task_node = "n2"
    assert "down" in asyncio.run(spawner.poll())


def test_the_proxy_gets_the_task_address_not_a_dns_name(spawner):
    assert asyncio.run(spawner.get_ip_and_port()) == ("10.0.2.7", 8888)


def test_the_read_only_image_small_tmp_and_capped_log_can_be_carried():
    carried = swarm.carry_limits(
        {
            "read_only": True,
            "tmpfs": {"/tmp": "rw,nosuid,nodev,size=256m"},
            "log_config": {"type": "json-file", "config": {"max-size": "10m", "max-file": "2"}},
        },
        {},
        None,
    )
    assert carried.container == {"read_only": True}
    assert carried.mounts == [
        {"Target": "/tmp", "Source": None, "Type": "tmpfs", "ReadOnly": False,
         "TmpfsOptions": {"SizeBytes": 256 * 1024**2}}
    ]  # fmt: skip
    assert carried.log_driver == {
        "Name": "json-file",
        "Options": {"max-size": "10m", "max-file": "2"},
    }


def test_a_started_container_counts_before_its_health_check_passes(spawner):
    # The student image's first health check comes after 30 s; on one host a started
    # container counts, and the hub's own HTTP check follows.
    spawner.docker.task_state = "starting"
    asyncio.run(spawner.start_object())
    assert spawner.node_id == "n1"
