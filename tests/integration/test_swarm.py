"""The class hub on a Docker Swarm: a manager and two workers of the swarm lab, end to end.

The lab (hub/swarm_lab.py) starts three Docker-in-Docker nodes on this machine, loads the
images, provisions them with ansible/swarm.yml (the swarm role, through Ansible's docker
connection) and deploys the class on the manager with docker-compose.swarm.yml. Then, over
HTTP as pupils and with the organiser CLI on the manager (from the hub image, as the
Ansible role installs it):

- six pairs log in; their servers land on both workers, at least two on each, none on
  the manager, and every limit of the single host holds inside a pair on each worker;
- every pair runs a cell, five submit through the exchange (which crosses the nodes over
  HTTP); the sixth only edits and its server is stopped; collect and export give six rows,
  the sixth "not submitted" from its home on its worker;
- a pair on worker 1 stops and starts again: back on worker 1, its home byte-identical;
- worker 2 is stopped during the class: the hub notices, status and check show it down,
  a pair there is told at once why it cannot start, the others carry on; when it returns
  its pairs start on it again with their homes;
- warm checks the student image on every node and starts the stopped pair on its node;
- purge leaves no pair volume and no pair service on any node;
- the lab's teardown leaves no container, network or volume.

Figures are printed as ``FIGURE …`` lines (``pytest -s`` shows them).
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import nbformat
import pytest
from hub_fixtures import Browser, Kernel, wait_until

sys.path.insert(0, str(Path(__file__).parents[2] / "hub"))
from swarm_lab import Lab

pytestmark = [pytest.mark.docker, pytest.mark.swarm]

PREFIX = "mcswarm"
MEM_LIMIT = "3G"
COURSE = "masterclass"


def figure(text: str) -> None:
    print(f"FIGURE {text}")


def tiny_course() -> dict[str, str]:
    """A one-gap assignment in both languages: grading it takes seconds, not minutes."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    meta = {"schema_version": 3, "locked": False}
    nb.cells = [
        nbformat.v4.new_code_cell(
            "answer = (\n### BEGIN SOLUTION\n42\n### END SOLUTION\n)",
            metadata={"nbgrader": {**meta, "grade": False, "solution": True, "grade_id": "gap"}},
        ),
        nbformat.v4.new_code_cell(
            "assert answer == 42",
            metadata={
                "nbgrader": {
                    **meta,
                    "locked": True,
                    "grade": True,
                    "solution": False,
                    "points": 1,
                    "grade_id": "check",
                }
            },
        ),
    ]
    files = {
        "hub/course/course.toml": (
            f'course_id = "{COURSE}"\nassignments = ["tiny"]\n'
            'source = "hub/course/{lang}/source"\n'
            'nbgrader_config = "hub/course/{lang}/nbgrader_config.py"\n'
        )
    }
    for lang in ("de", "en"):
        files[f"hub/course/{lang}/source/tiny/tiny.ipynb"] = nbformat.writes(nb)
        files[f"hub/course/{lang}/nbgrader_config.py"] = (
            "c = get_config()\nc.ClearSolutions.code_stub = {'python': '...  # fill in'}\n"
            "c.Execute.timeout = 120\n"
        )
    return files


@pytest.fixture(scope="module")
def lab(hub_image, student_image):
    """The lab, up for the module; its teardown must leave nothing behind."""
    lab = Lab(
        name=f"mctest-{uuid.uuid4().hex[:6]}-swarm",
        port=None,
        env={
            "MASTERCLASS_PREFIX": PREFIX,
            "MASTERCLASS_LANG": "en",
            "MASTERCLASS_MEM_LIMIT": MEM_LIMIT,
            "MASTERCLASS_WORKSHEET": "tiny/tiny.ipynb",
            "STUDENT_IMAGE": student_image,
            "HUB_IMAGE": hub_image,
            "ANSIBLE_PLAYBOOK": str(Path(sys.executable).parent / "ansible-playbook"),
        },
        files=tiny_course(),
    )
    started = time.monotonic()
    try:
        lab.up()
        figure(
            f"swarm lab up (build, images, Ansible, class) in {time.monotonic() - started:.0f} s"
        )
        yield lab
    finally:
        started = time.monotonic()
        lab.down()
        figure(f"swarm lab down in {time.monotonic() - started:.0f} s")
        assert lab.leftovers() == [], f"the lab left behind: {lab.leftovers()}"


def manager(lab: Lab, *args: str, check: bool = True) -> str:
    return lab.node_docker(lab.manager, *args, check=check).stdout


def hub_exec(lab: Lab, *command: str) -> str:
    return manager(lab, "exec", f"{PREFIX}-hub", *command)


def node_of(lab: Lab, user: str) -> str:
    """The node that runs the pair's server, as the swarm says."""
    out = manager(
        lab, "service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}}",
        f"{PREFIX}-{user}",
    )  # fmt: skip
    return out.split()[0]


def admin(lab: Lab) -> httpx.Client:
    """The hub's REST API with the organiser CLI's token."""
    token = hub_exec(lab, "cat", "/srv/jupyterhub/state/cli-api-token").strip()
    return httpx.Client(
        base_url=f"{lab.url}/hub/api", headers={"Authorization": f"token {token}"}, timeout=30
    )


def server_running(lab: Lab, user: str) -> bool:
    model = admin(lab).get(f"/users/{user}").json()
    server = (model.get("servers") or {}).get("")
    return bool(server and server.get("ready"))


class Pair:
    """A logged-in pair with a running server, like JupyterLab in a pupil's browser."""

    def __init__(self, lab: Lab, user: str, password: str) -> None:
        self.lab, self.user = lab, user
        self.browser = Browser(lab)
        assert self.browser.login(user, password).status_code == 302
        started = time.monotonic()
        self.browser.start_server(timeout=400)
        self.ready_after = time.monotonic() - started
        self.token = self.browser.token()
        self.http = httpx.Client(
            base_url=f"{lab.url}/user/{user}",
            headers={"Authorization": f"token {self.token}"},
            timeout=120,
        )

    def run(self, code: str, timeout: float = 120) -> dict:
        kernel = Kernel(self.lab, self.user, self.token)
        try:
            return kernel.execute(code, timeout)
        finally:
            kernel.close()

    def notebook(self) -> dict:
        r = self.http.get("/api/contents/tiny/tiny.ipynb")
        assert r.status_code == 200, r.text
        return r.json()["content"]

    def fill_gap(self, value: str) -> None:
        nb = self.notebook()
        nb["cells"][0]["source"] = f"answer = (\n{value}\n)"
        r = self.http.put("/api/contents/tiny/tiny.ipynb", json={"type": "notebook", "content": nb})
        assert r.status_code == 200, r.text

    def submit(self) -> None:
        r = self.http.post(
            "/assignments/submit", data={"course_id": COURSE, "assignment_id": "tiny"}
        )
        assert r.status_code == 200 and r.json()["success"], r.text

    def stop(self) -> None:
        r = self.browser.hub_api("DELETE", f"/users/{self.user}/server")
        assert r.status_code in (202, 204), r.text
        wait_until(lambda: not server_running(self.lab, self.user), 120, f"{self.user} stopped")

    def start(self) -> httpx.Response:
        return self.browser.hub_api("POST", f"/users/{self.user}/server")


@pytest.fixture(scope="module")
def pairs(lab) -> dict[str, Pair]:
    """Six pairs: the demo class's three and three more, logging in at the same time."""
    logins = json.loads(hub_exec(lab, "cat", "/srv/jupyterhub/state/demo-logins.json"))
    code = (
        "import json; from masterclass.roster import Roster; "
        "print(json.dumps(Roster.load('/srv/jupyterhub/state/roster.json').add_pairs(3)))"
    )
    logins.update(json.loads(hub_exec(lab, "python", "-c", code)))
    users = sorted(u for u in logins if u.startswith("pair-"))
    assert len(users) == 6, users
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=6) as pool:
        made = dict(zip(users, pool.map(lambda u: Pair(lab, u, logins[u]), users), strict=True))
    times = sorted(p.ready_after for p in made.values())
    figure(
        f"six pairs logged in and ready in {time.monotonic() - started:.0f} s "
        f"(per pair {times[0]:.0f}–{times[-1]:.0f} s)"
    )
    return made


@pytest.fixture(scope="module")
def placement(lab, pairs) -> dict[str, str]:
    return {user: node_of(lab, user) for user in pairs}


def on(placement: dict[str, str], node: str) -> list[str]:
    return sorted(u for u, n in placement.items() if n == node)


def test_the_swarm_role_provisioned_every_node(lab):
    listed = manager(lab, "node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}")
    assert sorted(listed.splitlines()) == sorted(
        [f"{lab.manager} Ready Leader"] + [f"{w} Ready " for w in lab.workers]
    )
    for node in lab.nodes:
        labels = json.loads(
            manager(lab, "node", "inspect", "-f", "{{json .Spec.Labels}}", node) or "{}"
        )
        assert labels.get("masterclass.pairs") == ("false" if node == lab.manager else "true")
        daemon = json.loads(lab.in_node(node, "cat", "/etc/docker/daemon.json").stdout)
        assert daemon["no-new-privileges"] is True and daemon["live-restore"] is False
        assert "masterclass.swap=off" in daemon["labels"]
        info = lab.node_docker(node, "info", "-f", "{{json .Labels}}").stdout
        assert "masterclass.no-new-privileges=true" in info
        rules = lab.in_node(node, "iptables", "-S", "MASTERCLASS-SWARM").stdout
        assert f"-s {lab.address(lab.manager)}/32 -p udp -m udp --dport 4789 -j ACCEPT" in rules
    # Only the swarm's nodes reach the swarm's ports: this machine is no node.
    worker = lab.address(lab.workers[0])
    probe = f"import socket; s = socket.socket(); s.settimeout(3); s.connect(('{worker}', 7946))"
    peer = lab.in_node(lab.manager, "python3", "-c", probe, check=False)
    assert peer.returncode == 0, peer.stderr
    import socket

    with pytest.raises(OSError), socket.create_connection((worker, 7946), timeout=3):
        pass


def test_six_pairs_land_on_both_workers(lab, pairs, placement):
    figure(f"placement: {placement}")
    assert lab.manager not in placement.values()
    for worker in lab.workers:
        assert len(on(placement, worker)) >= 2, placement
    # The hub keeps each pair's node in its spawner state (sticky placement).
    models = admin(lab).get("/users", params={"include_stopped_servers": 1}).json()
    state = {m["name"]: m["servers"][""]["state"]["node"] for m in models if m["name"] in pairs}
    assert state == placement


PROBE = r"""
import json, os, re
status = open("/proc/self/status").read()
def field(name):
    return re.search(name + r":\s*(\S+)", status).group(1)
def read(path):
    return open(path).read().strip()
try:
    os.setuid(0)
    setuid = "allowed"
except PermissionError:
    setuid = "refused"
meminfo = open("/proc/meminfo").read()
cpu = "/sys/fs/cgroup/cpu/cpu."
print(json.dumps({
    "uid": os.getuid(), "gid": os.getgid(), "setuid": setuid,
    "no_new_privs": field("NoNewPrivs"), "cap_eff": field("CapEff"), "cap_bnd": field("CapBnd"),
    "pids": read("/sys/fs/cgroup/pids/pids.max"),
    "memory": int(read("/sys/fs/cgroup/memory/memory.limit_in_bytes")),
    "memory_swap": int(read("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")),
    "swap_total": int(re.search(r"SwapTotal:\s*(\d+)", meminfo).group(1)),
    "cpu": int(read(cpu + "cfs_quota_us")) / int(read(cpu + "cfs_period_us")),
    "home": [m.split()[4] for m in open("/proc/self/mountinfo") if m.split()[4] == "/home/jovyan"],
    "mounts": {
        m.split()[4]: (m.split()[5].split(",")[0], m.split(" - ")[1].split()[0])
        for m in open("/proc/self/mountinfo") if m.split()[4] in ("/", "/tmp")
    },
}))
"""


def test_every_limit_holds_inside_a_pair_on_each_worker(lab, pairs, placement):
    limit = 3 * 1024**3
    for worker in lab.workers:
        user = on(placement, worker)[0]
        result = pairs[user].run(PROBE)
        assert result["status"] == "ok", result
        seen = json.loads(result["stdout"].strip().splitlines()[-1])
        figure(f"limits inside {user} on {worker}: {seen}")
        assert (seen["uid"], seen["gid"], seen["setuid"]) == (1000, 1000, "refused")
        assert seen["no_new_privs"] == "1"
        assert int(seen["cap_eff"], 16) == 0 and int(seen["cap_bnd"], 16) == 0
        assert seen["pids"] == "1024"
        assert seen["memory"] == limit
        # Swarm cannot cap swap (Docker allows twice the memory); the node has none at all,
        # so the pair can swap nothing: the single host's cap holds.
        assert seen["memory_swap"] >= limit and seen["swap_total"] == 0
        assert seen["cpu"] == 2.0
        assert seen["home"] == ["/home/jovyan"]
        # The image is read-only; a pair writes only its home and a small tmpfs /tmp.
        assert seen["mounts"]["/"][0] == "ro", seen["mounts"]
        assert seen["mounts"]["/tmp"] == ["rw", "tmpfs"], seen["mounts"]
        volumes = lab.node_docker(worker, "volume", "ls", "-q").stdout.split()
        assert f"{PREFIX}-home-{user}" in volumes


@pytest.fixture(scope="module")
def worked(lab, pairs, placement):
    """Every pair runs a cell; five submit; the sixth only edits and is stopped."""
    users = sorted(pairs)
    for user in users:
        result = pairs[user].run("print(6 * 7)")
        assert result["status"] == "ok" and result["stdout"].strip() == "42", result
    for user in users[:-1]:
        pairs[user].fill_gap("42")
        pairs[user].submit()
    last = pairs[users[-1]]
    last.fill_gap("41")  # wrong, and never submitted
    last.stop()
    return users[-1]


def test_collect_and_export_give_six_rows(lab, pairs, placement, worked):
    started = time.monotonic()
    collect = lab.cli("class", "collect", check=False)
    figure(f"collect of six pairs on two workers in {time.monotonic() - started:.0f} s")
    assert collect.returncode == 0, collect.stdout + collect.stderr + lab.explain()
    assert f"{worked}: not submitted" in collect.stdout
    for user in set(pairs) - {worked}:
        assert f"{user}: submitted" in collect.stdout
    export = lab.cli("class", "export", check=False)
    assert export.returncode == 0, export.stdout + export.stderr
    text = lab.in_node(lab.manager, "cat", "/root/class/grades.csv").stdout
    rows = {row["pair"]: row for row in csv.DictReader(io.StringIO(text))}
    assert sorted(rows) == sorted(pairs)
    # The stopped pair's work came from its home on its worker: its wrong answer is graded.
    assert rows[worked]["status"] == "not submitted" and float(rows[worked]["score"]) == 0.0
    assert all(float(rows[u]["score"]) == 1.0 for u in set(pairs) - {worked})


def home_digest(lab: Lab, node: str, user: str) -> str:
    """sha256 of every file in the pair's home (hidden ones aside), read on its node."""
    listing = "cd /h && find . -type f ! -path './.*' -exec sha256sum {} + | sort -k2"
    return lab.node_docker(
        node, "run", "--rm", "-v", f"{PREFIX}-home-{user}:/h:ro", "--entrypoint", "sh",
        lab.student_image, "-c", listing,
    ).stdout  # fmt: skip


def test_a_pair_on_worker_1_returns_to_worker_1_with_its_home(lab, pairs, placement, worked):
    worker = lab.workers[0]
    user = next(u for u in on(placement, worker) if u != worked)
    pair = pairs[user]
    assert pair.run("open('kept.bin', 'wb').write(bytes(range(256)) * 4096)")["status"] == "ok"
    before = home_digest(lab, worker, user)
    assert "./kept.bin" in before and "./tiny/tiny.ipynb" in before
    pair.stop()
    started = time.monotonic()
    assert pair.start().status_code in (201, 202)
    pair.browser.wait_ready(user, 300)
    figure(f"{user} restarted in {time.monotonic() - started:.0f} s")
    assert node_of(lab, user) == worker
    assert home_digest(lab, worker, user) == before


def test_worker_2_goes_down_during_the_class_and_comes_back(lab, pairs, placement, worked):
    worker = lab.workers[1]
    there = [u for u in on(placement, worker) if u != worked]
    elsewhere = [u for u in on(placement, lab.workers[0]) if u != worked]
    marker = "print(open('kept.bin', 'wb').write(b'node 2 ' * 1000))"
    for user in there:
        assert pairs[user].run(marker)["status"] == "ok"
    digests = {user: home_digest(lab, worker, user) for user in there}

    stopped = time.monotonic()
    lab.stop_node(worker)

    def noticed():
        return not any(server_running(lab, u) for u in there)

    wait_until(noticed, 180, f"the hub to notice that {worker} is down", lab.explain, 2)
    figure(f"the hub noticed {worker} down after {time.monotonic() - stopped:.0f} s")

    status = lab.cli("class", "status", "--once", check=False)
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"{worker} (down)" in status.stdout, status.stdout
    check = lab.cli("class", "check", check=False)
    row = next(line for line in check.stdout.splitlines() if f"node {worker}" in line)
    assert "down" in row, check.stdout

    # A pair whose home is there is told at once; the others carry on.
    refused = pairs[there[0]].start()
    assert refused.status_code == 503 and worker in refused.text, refused.text
    for user in elsewhere:
        assert pairs[user].run("print(6 * 7)")["stdout"].strip() == "42"

    returned = time.monotonic()
    lab.start_node(worker)
    wait_until(
        lambda: (
            manager(lab, "node", "inspect", "-f", "{{.Status.State}}", worker).strip() == "ready"
        ),
        120,
        f"{worker} ready again",
        lab.explain,
    )
    for user in there:
        assert pairs[user].start().status_code in (201, 202)
    for user in there:
        pairs[user].browser.wait_ready(user, 400)
        assert node_of(lab, user) == worker
        assert home_digest(lab, worker, user) == digests[user]
    figure(f"{worker} back, its pairs running on it again in {time.monotonic() - returned:.0f} s")


def test_warm_checks_every_nodes_image_and_starts_the_stopped_pair(lab, pairs, worked, placement):
    warm = lab.cli("class", "warm", "--start", "--only", worked, check=False)
    assert warm.returncode == 0, warm.stdout + warm.stderr + lab.explain()
    for worker in lab.workers:
        assert f"{worker}: {lab.student_image} current" in warm.stdout, warm.stdout
    assert "Running pairs per node:" in warm.stdout
    # The stopped pair went back to the node that holds its home.
    assert node_of(lab, worked) == placement[worked]


def test_purge_leaves_no_pair_volume_or_service_on_any_node(lab, pairs):
    purge = lab.cli("class", "purge", "--yes", "--force", check=False)
    assert purge.returncode == 0, purge.stdout + purge.stderr + lab.explain()
    assert "Not deleted" not in purge.stdout, purge.stdout
    services = manager(lab, "service", "ls", "--format", "{{.Name}}").split()
    assert [s for s in services if re.match(rf"{PREFIX}-(pair|job)", s)] == []
    for node in lab.nodes:
        volumes = lab.node_docker(node, "volume", "ls", "-q").stdout.split()
        assert [v for v in volumes if v.startswith(f"{PREFIX}-home-")] == [], (node, volumes)
