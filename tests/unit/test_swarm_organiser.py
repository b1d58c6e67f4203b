"""The organiser CLI's view of a swarm (masterclass.organiser.swarm), without an engine.

The node jobs themselves run on the swarm lab (tests/integration/test_swarm.py); here the
rules: what a node carries, what check says about nodes that are down, where each pair's
home is, and what a job's output means.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import sys
import tarfile
from types import SimpleNamespace

import pytest

from masterclass.organiser import nodejobs, preflight, swarm
from masterclass.organiser.errors import StackError


def node(hostname, memory_gb=32, cpus=8, state="ready", availability="active", pairs=True):
    return swarm.Node.from_attrs(
        {
            "ID": f"id-{hostname}",
            "Description": {
                "Hostname": hostname,
                "Resources": {"NanoCPUs": int(cpus * 1e9), "MemoryBytes": int(memory_gb * 1e9)},
                "Engine": {"Labels": {"masterclass.no-new-privileges": "true"}},
            },
            "Spec": {
                "Role": "worker",
                "Availability": availability,
                "Labels": {"masterclass.pairs": "true" if pairs else "false"},
            },
            "Status": {"State": state, "Addr": "10.0.0.5"},
        }
    )


def test_a_node_carries_what_its_cpu_and_memory_allow():
    assert swarm.node_capacity(node("a", memory_gb=32, cpus=8)) == (16, "CPU")
    assert swarm.node_capacity(node("b", memory_gb=8, cpus=8)) == (5, "memory")


def test_check_sums_the_pair_nodes_and_names_the_smallest():
    rows = swarm.capacity_rows(
        [node("manager", pairs=False), node("w1"), node("w2", memory_gb=8)], pairs=20
    )
    assert [r.check for r in rows] == ["node w1", "node w2", "swarm capacity"]
    total = rows[-1]
    assert total.status == preflight.GO
    assert "carries 21 pairs" in total.reason and "w2's memory" in total.reason


def test_a_node_down_with_homes_on_it_is_a_no_go():
    rows = swarm.capacity_rows(
        [node("w1"), node("w2", state="down"), node("w3", availability="drain")],
        pairs=10,
        homes={"pair-01": "w2", "pair-02": "w1"},
    )
    by = {r.check: r for r in rows}
    assert by["node w2"].status == preflight.NOGO
    assert "down" in by["node w2"].reason and "pair-01" in by["node w2"].reason
    assert by["node w3"].status == preflight.WARN and "drain" in by["node w3"].reason
    assert "carries 16 pairs" in by["swarm capacity"].reason


def test_no_pair_node_at_all_is_a_no_go():
    rows = swarm.capacity_rows([node("manager", pairs=False)], pairs=3)
    assert rows[-1].status == preflight.NOGO


def test_each_pairs_node_comes_from_the_hubs_spawner_state():
    models = {
        "pair-01": {"servers": {"": {"state": {"node_id": "x", "node": "w1"}}}},
        "pair-02": {"servers": {}},
        "tutor-01": {},
    }
    assert swarm.pair_nodes(models) == {"pair-01": "w1"}


def test_node_conditions():
    assert node("a").condition == "ready" and node("a").takes_pairs
    assert node("a", state="down").condition == "down"
    assert node("a", availability="drain").condition == "drain"
    assert not node("a", pairs=False).takes_pairs


class FakeService:
    """A node job's service: its task states and its log."""

    def __init__(self, states, log: bytes) -> None:
        self.states, self.log, self.removed = states, log, False

    def tasks(self):
        return [{"Status": {"State": s, "Err": e}} for s, e in self.states]

    def logs(self, **kw):
        return [self.log]

    def remove(self):
        self.removed = True


def fake_client(service):
    return SimpleNamespace(services=SimpleNamespace(create=lambda *a, **kw: service))


SETTINGS = SimpleNamespace(prefix="mc", student_image="masterclass/student:latest")


def test_a_job_answers_through_its_log_and_is_removed():
    service = FakeService([("complete", "")], b'noise\nANSWER ["mc-home-pair-01"]\n')
    assert nodejobs.homes_on(fake_client(service), SETTINGS, node("w1")) == ["mc-home-pair-01"]
    assert service.removed


def test_a_job_a_node_cannot_run_says_why():
    service = FakeService([("rejected", "No such image: masterclass/student:latest")], b"")
    with pytest.raises(StackError, match="No such image"):
        nodejobs.run_job(fake_client(service), SETTINGS, node("w1"), "homes", "x")
    assert service.removed
    # ...which for the image check means: the image is missing there.
    assert nodejobs.image_ids(fake_client(service), SETTINGS, node("w1"), ["img"]) == {"img": None}


def snapshot_log(members: dict[str, bytes], extra=None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
        if extra is not None:
            tar.addfile(extra)
    data = base64.b64encode(buffer.getvalue()).decode()
    lines = [f"B64 {data[i : i + 100]}" for i in range(0, len(data), 100)]
    answer = json.dumps({"bytes": len(buffer.getvalue())})
    return ("\n".join([*lines, f"ANSWER {answer}"]) + "\n").encode()


def test_a_stopped_pairs_folder_is_unpacked_with_its_times(tmp_path):
    settings = SimpleNamespace(**vars(SETTINGS), volume_name=lambda u: f"mc-home-{u}")
    log = snapshot_log({"pair-03/tiny/tiny.ipynb": b"{}"})
    service = FakeService([("complete", "")], log)
    nodejobs.snapshot_stopped(
        fake_client(service), settings, node("w1"), ["pair-03"], ["tiny"], tmp_path, 10**6
    )
    copied = tmp_path / "pair-03" / "tiny" / "tiny.ipynb"
    assert copied.read_bytes() == b"{}" and copied.stat().st_mtime == 1_700_000_000


def test_a_snapshot_with_a_link_is_refused(tmp_path):
    settings = SimpleNamespace(**vars(SETTINGS), volume_name=lambda u: f"mc-home-{u}")
    link = tarfile.TarInfo("pair-03/tiny/evil")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    service = FakeService([("complete", "")], snapshot_log({}, extra=link))
    with pytest.raises(StackError, match="evil"):
        nodejobs.snapshot_stopped(
            fake_client(service), settings, node("w1"), ["pair-03"], ["tiny"], tmp_path, 10
        )
    assert not (tmp_path / "pair-03").exists()


def test_the_node_job_needs_only_the_standard_library():
    """It runs as ``python3 -c`` in the student image, outside the masterclass package."""
    tree = ast.parse(nodejobs.JOB)
    imported = {
        alias.name.split(".")[0]
        for stmt in ast.walk(tree)
        if isinstance(stmt, ast.Import | ast.ImportFrom)
        for alias in (stmt.names if isinstance(stmt, ast.Import) else [ast.alias(stmt.module)])
    }
    assert imported and imported <= sys.stdlib_module_names, imported
    assert {"homes", "remove", "images", "snapshot"} <= set(
        f.name for f in tree.body if isinstance(f, ast.FunctionDef)
    )
