"""Fault drills on the real stack, each with a measured figure; nothing may be lost.

- the hub restarts while a pair trains: containers and kernels survive, no new login,
  the hub answers again within 60 s, the training finishes;
- a pair's container is killed: the hub notices, the pair restarts it from the hub page;
- a kernel allocates past the memory limit: only that kernel dies, the neighbours carry
  on, the pair reads why in its cell;
- the Docker daemon restarts (last, with its own stack): the stack comes back (by the
  restart policies, or by hub/start.sh when Docker started the hub before its proxy), the
  data is intact. Whether containers survive depends on dockerd's ``live-restore``; the
  drill records what happened (docs/operations.md explains the choice).

After every drill the pairs' homes and their submitted notebooks are byte-identical to
before (sha256 of every file, read from the home volumes and the nbgrader exchange volume
by a throw-away container, so a dead container does not hide a loss). The submissions
come from the real path: `masterclass class release` of test_grading's small assignment
before the servers start, then each pair submits through its assignment list.
Figures are printed as ``FIGURE …`` lines (``pytest -s`` shows them).
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from hub_fixtures import Browser, Kernel, Stack, wait_until
from test_grading_stack import COURSE, cli, placeholder

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).parents[2]
MEM_LIMIT = "3G"
PAIRS = ("pair-01", "pair-02", "pair-03")

# A short real training (small augmentation, 2 epochs): long enough to restart the hub
# in the middle of it. Progress markers go to a hidden folder, outside the compared files.
TRAINING = """
import json, pathlib
from masterclass import *
pathlib.Path(".drill").mkdir(exist_ok=True)
set_random_seeds(1)
ev = load_events()
tv, test = split_events_random(ev, fraction_first_block=0.3)
aug = augment_events(tv, [1, 10, 10, 10])
train, val = split_events_random(aug, fraction_first_block=0.8)
m = MLModel()
m.load_structure_default()
m.load_training_eventlist(train)
m.load_validation_eventlist(val)
pathlib.Path(".drill/training-started").write_text("1")
m.train(count_epochs=4)  # long enough to outlast a slow hub restart
accuracy = calculate_prediction_accuracy(test, m.predict(test))
pathlib.Path(".drill/training-done").write_text(json.dumps({"accuracy": accuracy}))
"""


def figure(text: str) -> None:
    print(f"FIGURE {text}")


def output(kernel: Kernel, code: str, timeout: float = 120) -> str:
    """Run ``code`` and return its printed output once the kernel is idle again."""
    out = kernel.execute(code, timeout)
    assert out["status"] == "ok" and not out["errors"], f"{code!r} failed: {out}"
    return out["stdout"].strip()


def write_home_files(stack: Stack, user: str) -> None:
    """A worksheet, results and binary data in a pair's home, as after an afternoon's work."""
    code = (
        "import json, os; os.makedirs('/home/jovyan/results', exist_ok=True); "
        "nb = {'cells': [{'cell_type': 'code', 'execution_count': 1, 'id': 'a', "
        "'metadata': {}, 'outputs': [], 'source': 'ev = load_events()'}], "
        "'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}; "
        "open('/home/jovyan/worksheet.ipynb', 'w').write(json.dumps(nb, indent=1)); "
        "open('/home/jovyan/results/ratios.json', 'w').write(json.dumps({'q': 0.87})); "
        "open('/home/jovyan/results/weights.bin', 'wb').write(os.urandom(3 * 2**20))"
    )
    stack.docker("exec", stack.container(user), "python3", "-c", code)


def volume_digests(stack: Stack, volume: str, image: str, user: str = "1000:1000") -> dict:
    """sha256 of every visible file in a volume (hidden files excluded)."""
    out = stack.docker(
        "run",
        "--rm",
        "--name",
        f"{stack.prefix}-digest-{uuid.uuid4().hex[:6]}",
        "--network",
        "none",
        "--user",
        user,
        "-v",
        f"{volume}:/h:ro",
        "--entrypoint",
        "sh",
        image,
        "-c",
        "cd /h && find . -type f ! -path '*/.*' -print0 | sort -z | xargs -0 -r sha256sum",
        timeout=120,
    )
    return {line.split(None, 1)[1]: line.split()[0] for line in out.stdout.splitlines()}


def home_digests(stack: Stack, user: str, image: str) -> dict[str, str]:
    """sha256 of every visible file in ``user``'s home volume."""
    return volume_digests(stack, f"{stack.prefix}-home-{user}", image)


def all_data(stack: Stack, image: str) -> dict[str, dict[str, str]]:
    """Every pair's home and the exchange (submissions; read as root, as the hub owns it)."""
    data = {user: home_digests(stack, user, image) for user in PAIRS}
    data["exchange"] = volume_digests(stack, f"{stack.prefix}-exchange", image, user="0:0")
    return data


def lost_or_changed(before: dict, after: dict) -> dict:
    """Files of ``before`` that are missing or different in ``after`` (new files are fine:
    the training writes its results next to the notebook)."""
    return {
        volume: changed
        for volume, files in before.items()
        if (changed := {n: d for n, d in files.items() if after.get(volume, {}).get(n) != d})
    }


def server_ready(browser: Browser, user: str) -> bool:
    r = browser.server_api(user, "GET", "/status")
    return r.status_code == 200


def hub_sees_server(browser: Browser, user: str) -> bool:
    """Whether the hub's own model of ``user`` has a running server."""
    model = browser.hub_api("GET", f"/users/{user}").json()
    return bool(model.get("servers", {}).get("", {}).get("ready"))


# -- drills on one stack: hub restart, killed container, memory limit ---------------------


@pytest.fixture(scope="class")
def stack(hub_image, student_image, request):
    """The stack of TestDrills' three drills, with a memory limit of MEM_LIMIT."""
    with Stack(MASTERCLASS_MEM_LIMIT=MEM_LIMIT).running(request) as s:
        yield s


@pytest.fixture(scope="class")
def released(stack, tmp_path_factory):
    """The small assignment released before any server starts (autofetch at start)."""
    root = tmp_path_factory.mktemp("course")
    for lang in ("de", "en"):
        placeholder(root / lang / "source")
        (root / lang / "nbgrader_config.py").write_text("c = get_config()\n")
    course = root / "course.toml"
    course.write_text(
        f'course_id = "{COURSE}"\nassignments = ["tiny"]\n'
        f'source = "{root}/{{lang}}/source"\n'
        f'nbgrader_config = "{root}/{{lang}}/nbgrader_config.py"\n'
    )
    assert "Released tiny" in cli(stack, course, "release").stdout


@pytest.fixture(scope="class")
def browsers(stack, released):
    logins = stack.demo_logins()
    browsers = {}
    for user in PAIRS:
        browser = Browser(stack)
        assert browser.login(user, logins[user]).status_code == 302
        browser.start_server()
        write_home_files(stack, user)
        submitted = httpx.post(
            f"{stack.url}/user/{user}/assignments/submit",
            data={"course_id": COURSE, "assignment_id": "tiny"},
            headers={"Authorization": f"token {browser.token()}"},
            timeout=120,
        )
        assert submitted.status_code == 200 and submitted.json()["success"], submitted.text
        browsers[user] = browser
    return browsers


@pytest.fixture(scope="class")
def homes(stack, browsers, student_image):
    before = all_data(stack, student_image)
    assert all(len(files) >= 3 for files in before.values()), before
    submitted = [name for name in before["exchange"] if name.endswith("tiny.ipynb")]
    assert len(submitted) >= len(PAIRS), before["exchange"]
    return before


class TestDrills:
    def test_hub_restart_during_training(self, stack, browsers, homes, student_image):
        browser = browsers["pair-01"]
        kernel = Kernel(stack, "pair-01", browser.token())
        container = stack.inspect(stack.container("pair-01"))["Id"]
        kernel.submit(TRAINING)
        marker = ["test", "-e", "/home/jovyan/.drill/training-started"]
        wait_until(
            lambda: (
                stack.docker("exec", stack.container("pair-01"), *marker, check=False).returncode
                == 0
            ),
            600,
            "the training to start",
            stack.explain,
            interval=2,
        )

        start = time.monotonic()
        stack.docker("restart", stack.hub)
        wait_until(stack.healthy, 60, "the hub after its restart", stack.explain, interval=0.5)
        hub_back = time.monotonic() - start
        # the same cookie reaches the same server: no new login
        wait_until(lambda: server_ready(browser, "pair-01"), 60, "pair-01 through the proxy")
        pair_back = time.monotonic() - start
        figure(
            f"hub restart during training: hub answers after {hub_back:.1f} s, "
            f"pair-01's server through the proxy after {pair_back:.1f} s"
        )
        assert hub_back <= 60
        assert browser.hub_api("GET", "/user").json()["name"] == "pair-01"

        after = stack.inspect(stack.container("pair-01"))
        assert after["Id"] == container and after["State"]["Running"]
        state = kernel.api.get(f"/kernels/{kernel.id}").json()
        assert state["execution_state"] == "busy", state  # still training
        for user in ("pair-02", "pair-03"):
            assert stack.inspect(stack.container(user))["State"]["Running"]
            assert server_ready(browsers[user], user)

        # the training goes on and finishes in the same kernel
        again = Kernel(stack, "pair-01", kernel.token, kernel_id=kernel.id)
        try:
            accuracy = output(again, "print(round(accuracy, 3))", timeout=900)
        finally:
            again.close()
        figure(f"training across the hub restart finished, accuracy {accuracy}")
        assert 0 <= float(accuracy) <= 1
        assert not lost_or_changed(homes, all_data(stack, student_image))

    def test_killed_container_restarts_from_the_hub_page(
        self, stack, browsers, homes, student_image
    ):
        browser = browsers["pair-02"]
        start = time.monotonic()
        stack.docker("kill", stack.container("pair-02"))
        # the pair's next request finds no server; the hub's poll notices it
        wait_until(
            lambda: not hub_sees_server(browser, "pair-02"),
            120,
            "the hub to notice the dead container",
            stack.explain,
            interval=1,
        )
        noticed = time.monotonic() - start
        assert browser.hub_api("GET", "/user").json()["name"] == "pair-02"  # still logged in
        home = browser.http.get("/hub/home")
        assert home.status_code == 200 and "/hub/spawn/pair-02" in home.text, home.text[:500]
        restart = time.monotonic()
        browser.http.get("/hub/spawn/pair-02")  # the home page's start button
        wait_until(
            lambda: server_ready(browser, "pair-02"),
            300,
            "pair-02's new server",
            stack.explain,
            interval=1,
        )
        ready = time.monotonic() - restart
        figure(
            f"killed container: hub noticed after {noticed:.1f} s, "
            f"restarted from the hub page in {ready:.1f} s"
        )
        assert stack.inspect(stack.container("pair-02"))["State"]["Running"]
        assert not lost_or_changed(homes, all_data(stack, student_image))

    def test_kernel_past_the_memory_limit_only_that_kernel_dies(
        self, stack, browsers, homes, student_image
    ):
        hog = Kernel(stack, "pair-03", browsers["pair-03"].token())
        neighbour = Kernel(stack, "pair-02", browsers["pair-02"].token())
        survivor = Kernel(stack, "pair-01", browsers["pair-01"].token())
        try:
            output(neighbour, "import time\nticks = []")
            neighbour.submit(
                "for _ in range(20):\n    ticks.append(sum(range(10**6)))\n    time.sleep(0.5)"
            )
            pair01_kernels = {k["id"] for k in survivor.api.get("/kernels").json()}
            start = time.monotonic()
            out = hog.execute("hog = b'x' * (4 * 1024**3)", timeout=300)
            seconds = time.monotonic() - start
            figure(
                f"memory limit {MEM_LIMIT}: kernel killed and message shown after {seconds:.1f} s"
            )
            assert out["restarting"], out
            (error,) = out["errors"]
            assert error["ename"] == "MemoryError"
            assert "3 GB" in error["evalue"] and "augment_events" in error["evalue"]

            # the pair's server and container are still the same, a new kernel runs
            assert stack.inspect(stack.container("pair-03"))["State"]["Running"]
            browsers["pair-03"].wait_ready("pair-03", timeout=60)
            # the neighbours: their loops and kernels carried on
            assert output(neighbour, "print(len(ticks))") == "20"
            assert {k["id"] for k in survivor.api.get("/kernels").json()} == pair01_kernels
            assert output(survivor, "print(6 * 7)") == "42"
        finally:
            for kernel in (hog, neighbour, survivor):
                kernel.close()
        fresh = Kernel(stack, "pair-03", hog.token)
        try:
            assert output(fresh, "print(6 * 7)") == "42"
        finally:
            fresh.close()
        assert not lost_or_changed(homes, all_data(stack, student_image))


# -- the Docker daemon restart: last, on its own stack ----------------------------------


def engine_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


def ensure_engine() -> None:
    """Start dockerd the way CI does (.ci/ensure-docker: setsid dockerd, log appended)."""
    subprocess.run(
        [str(ROOT / ".ci" / "ensure-docker")], check=True, timeout=180, capture_output=True
    )


def foreign_containers(prefix: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "--format", "{{.Names}}"], capture_output=True, text=True, check=True
    )
    return [n for n in out.stdout.split() if not n.startswith(f"{prefix}-")]


@pytest.fixture(scope="class")
def daemon_stack(hub_image, student_image, request):
    """The daemon restart's own stack; the engine is started again if it is left down."""
    s = Stack()
    try:
        s.up()
        yield s
        if request.session.testsfailed:
            print(s.explain())
    finally:
        if not engine_answers():
            ensure_engine()
        s.down()


class TestDockerDaemonRestart:
    def test_docker_daemon_restart(self, daemon_stack, student_image):
        stack = daemon_stack
        if os.geteuid() != 0:
            pytest.skip("restarting dockerd needs root")
        others = foreign_containers(stack.prefix)
        if others and os.environ.get("MASTERCLASS_DRILL_DOCKERD") != "force":
            pytest.skip(f"postponed: other containers run on this engine ({others[:5]})")
        pid_file = Path("/var/run/docker.pid")
        if not pid_file.exists():
            pytest.skip("dockerd was not started by .ci/ensure-docker (no /var/run/docker.pid)")

        logins = stack.demo_logins()
        browser = Browser(stack)
        assert browser.login("pair-01", logins["pair-01"]).status_code == 302
        browser.start_server()
        write_home_files(stack, "pair-01")
        before = {"pair-01": home_digests(stack, "pair-01", student_image)}
        pair_started = stack.inspect(stack.container("pair-01"))["State"]["StartedAt"]
        live_restore = subprocess.run(
            ["docker", "info", "-f", "{{.LiveRestoreEnabled}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

        pid = int(pid_file.read_text())
        start = time.monotonic()
        try:
            os.kill(pid, 15)
            wait_until(lambda: not Path(f"/proc/{pid}").exists(), 90, "dockerd to stop")
            stopped = time.monotonic() - start
            ensure_engine()
        finally:
            if not engine_answers():
                ensure_engine()
        engine_back = time.monotonic() - start

        # Docker starts the containers with a restart policy side by side, not in order
        # (moby/moby#50326). When it tries the hub before the proxy, whose network namespace
        # the hub joins, the hub stays exited; then `make up` (hub/start.sh, also the
        # Ansible unit's start) brings it back, as docs/operations.md says. Both happen here.
        def hub_back_or_stranded():
            if stack.hub_stranded():
                return "stranded"
            return stack.healthy() and "by itself"

        hub_came = wait_until(
            hub_back_or_stranded, 120, "the hub after the daemon restart", stack.explain
        )
        if hub_came == "stranded":
            started = stack.start_script()
            assert started.returncode == 0, started.stderr
            wait_until(stack.healthy, 120, "the hub after hub/start.sh", stack.explain)
            hub_came = "after hub/start.sh (Docker had started it before the proxy)"
        hub_back = time.monotonic() - start

        pair = stack.inspect(stack.container("pair-01"))
        survived = bool(
            pair and pair["State"]["Running"] and pair["State"]["StartedAt"] == pair_started
        )
        # the pair needs no new login; its server is either still there or restarts
        assert browser.hub_api("GET", "/user").json()["name"] == "pair-01"
        if not survived:
            wait_until(
                lambda: not hub_sees_server(browser, "pair-01"),
                120,
                "the hub to notice the stopped server",
                stack.explain,
            )
            browser.http.get("/hub/spawn/pair-01")
        wait_until(
            lambda: server_ready(browser, "pair-01"),
            300,
            "pair-01's server",
            stack.explain,
            interval=1,
        )
        ready = time.monotonic() - start
        figure(
            f"dockerd restart (live-restore={live_restore}): dockerd stopped after "
            f"{stopped:.1f} s, engine back after {engine_back:.1f} s, hub after "
            f"{hub_back:.1f} s ({hub_came}), pair server ready after {ready:.1f} s; "
            f"pair container survived: {survived}"
        )
        assert not lost_or_changed(
            before, {"pair-01": home_digests(stack, "pair-01", student_image)}
        )
        # the hub state too: the roster still knows every login
        assert Browser(stack).login("pair-02", logins["pair-02"]).status_code == 302
        assert httpx.get(f"{stack.url}/hub/health").status_code == 200
