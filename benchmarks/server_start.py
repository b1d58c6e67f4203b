"""Server start: what one pair's server start costs, in CPU-seconds and wall time, and where.

A start is what the hub does after a pair logs in: DockerSpawner creates the pair's
container, the start hook (images/student/start-singleuser.sh) runs, and
``jupyterhub-singleuser`` starts JupyterLab with its server extensions. The benchmark
starts its own stack (tests/integration/hub_fixtures.Stack) per image, logs one pair in,
and then, ``--starts`` times:

1. starts the pair's server through the hub's REST API (``POST /users/<pair>/server``);
2. **wall**: seconds until the hub reports the server ready (polled every 0.1 s);
3. **CPU**: CPU-seconds the container used until then (its cgroup: v1 ``cpuacct.usage``
   or v2 ``cpu.stat``), and again when it has settled (3 s later: what the server does
   right after it answers, such as the autofetch extension's first round);
4. stops the server (the container is removed, ``DockerSpawner.remove``), so every
   start is a fresh container on the same home volume, as on a class day.

With several ``--image`` values, one stack per image runs at the same time and the
starts alternate between them (A, B, A, B, ...), so both see the same machine load; the
medians and their ratio against the first image are printed. The 1-minute load average
is recorded before every start.

``--profile`` then starts each image once more outside the hub, with the
environment the hub gave the pair's container, and reports where the time goes:
``python -X importtime`` of the start hook and of the server (the top imports by
cumulative time), and, if ``py-spy`` is installed on the host (PATH, or next to this
Python), a sampled profile of both processes (top functions by own samples; the
container gets ``SYS_PTRACE`` for py-spy only).

Usage:
    .venv/bin/python benchmarks/server_start.py [--starts 10] [--image IMG]...
        [--profile] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "integration"), str(ROOT / "tests"), str(ROOT / "benchmarks")]

import httpx  # noqa: E402
from classday import container_cpu_seconds  # noqa: E402
from hub_fixtures import Browser, Stack, wait_until  # noqa: E402

#: Seconds after "ready" at which the settled CPU is read.
SETTLE = 3.0


class Subject:
    """One image on its own stack, with one pair logged in."""

    def __init__(self, image: str) -> None:
        self.image = image
        # Homes on the engine's volumes (no loop-mounted quota file system): the mount is
        # the hub's work, not the pair's container's, and is measured elsewhere.
        self.stack = Stack(MASTERCLASS_STUDENT_IMAGE=image, MASTERCLASS_HOME_QUOTA="0")
        self.user = ""
        self.api: httpx.Client | None = None
        self.starts: list[dict] = []

    def up(self) -> None:
        self.stack.up()
        logins = self.stack.demo_logins()
        self.user, password = next((u, p) for u, p in logins.items() if u.startswith("pair-"))
        browser = Browser(self.stack)
        response = browser.login(self.user, password)
        if response.status_code not in (302, 303):
            raise RuntimeError(f"login of {self.user} answered {response.status_code}")
        self.api = httpx.Client(
            base_url=f"{self.stack.url}/hub/api",
            headers={"Authorization": f"token {browser.token()}"},
            timeout=60,
        )

    def server(self) -> dict:
        return self.api.get(f"/users/{self.user}").json()["servers"].get("", {})

    def start(self, timeout: float) -> dict:
        load = os.getloadavg()[0]
        t0 = time.monotonic()
        response = self.api.post(f"/users/{self.user}/server")
        if response.status_code not in (201, 202):
            raise RuntimeError(
                f"start answered {response.status_code}: {response.text[:300]}\n"
                + self.stack.explain()
            )
        deadline = t0 + timeout
        while not self.server().get("ready"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"not ready after {timeout} s\n{self.stack.explain()}")
            time.sleep(0.1)
        wall = time.monotonic() - t0
        cpu = container_cpu_seconds(self.stack, self.user)
        time.sleep(SETTLE)
        settled = container_cpu_seconds(self.stack, self.user)
        figures = {"wall_s": wall, "cpu_s": cpu, "cpu_settled_s": settled, "load": load}
        self.starts.append(figures)
        return figures

    def stop(self, timeout: float) -> None:
        self.api.delete(f"/users/{self.user}/server")
        name = self.stack.container(self.user)
        wait_until(
            lambda: self.stack.inspect(name) is None and not self.server(),
            timeout,
            f"{name} to be removed",
            self.stack.explain,
            interval=0.5,
        )

    def container_env(self, timeout: float) -> tuple[dict, str, list[str]]:
        """The environment, network and command the hub gives the pair's container."""
        self.start(timeout)
        info = self.stack.inspect(self.stack.container(self.user))
        self.stop(timeout)
        env = dict(item.split("=", 1) for item in info["Config"]["Env"])
        network = next(iter(info["NetworkSettings"]["Networks"]))
        return env, network, info["Config"]["Cmd"]


def median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def summary(subject: Subject) -> dict:
    starts = subject.starts
    return {
        "image": subject.image,
        "starts": len(starts),
        "cpu_s_median": median([s["cpu_s"] for s in starts]),
        "cpu_s_min_max": [
            round(min(s["cpu_s"] for s in starts), 2),
            round(max(s["cpu_s"] for s in starts), 2),
        ],
        "cpu_settled_s_median": median([s["cpu_settled_s"] for s in starts]),
        "wall_s_median": median([s["wall_s"] for s in starts]),
        "wall_s_min_max": [
            round(min(s["wall_s"] for s in starts), 2),
            round(max(s["wall_s"] for s in starts), 2),
        ],
        "load_median": median([s["load"] for s in starts]),
    }


# --- the profile --------------------------------------------------------------------------

IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def top_imports(stderr: str, n: int) -> list[tuple[str, float]]:
    """Top-level-ish imports by cumulative microseconds from ``-X importtime`` output."""
    rows = []
    for line in stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if match and len(match.group(3)) <= 2:  # the module and its direct imports
            rows.append((match.group(4).strip(), int(match.group(2)) / 1e6))
    total = Counter()
    for name, seconds in rows:
        total[name] = max(total[name], seconds)
    return [(name, round(s, 2)) for name, s in total.most_common(n)]


RATE = 200  # py-spy samples per second


def top_functions(raw: Path, n: int) -> dict:
    """py-spy's ``--format raw`` output: seconds sampled, top functions and packages.

    Functions by own samples, packages (the first folder of a frame's file) by inclusive
    samples (each sample counted once per package on its stack); both as shares of all.
    """
    own, inclusive = Counter(), Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if f]
        if not frames:
            continue
        own[frames[-1]] += int(count)
        packages = {m.group(1) for f in frames if (m := re.search(r"\(([^/<>:]+)[/.]", f))}
        for package in packages:
            inclusive[package] += int(count)
        total += int(count)

    def shares(counter: Counter) -> list[tuple[str, float]]:
        return [(k, round(c / max(total, 1), 3)) for k, c in counter.most_common(n)]

    return {
        "sampled_s": round(total / RATE, 2),
        "functions": shares(own),
        "packages": shares(inclusive),
    }


def py_spy() -> str | None:
    found = shutil.which("py-spy")
    beside = Path(sys.executable).with_name("py-spy")
    return found or (str(beside) if beside.exists() else None)


def profile(subject: Subject, timeout: float, top: int) -> dict:
    """The start once more, outside the hub, with the pair's environment: where time goes."""
    env, network, cmd = subject.container_env(timeout)
    spy = py_spy()
    out = Path(tempfile.mkdtemp(prefix="server-start-"))
    out.chmod(0o777)
    home = "/home/jovyan"
    name = f"{subject.stack.prefix}-profile"
    args = cmd[1:] if cmd and cmd[0] == "start-singleuser" else cmd
    start_script = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "cat", subject.image, "/usr/local/bin/" + cmd[0]],
        capture_output=True,
        text=True,
    ).stdout
    # The image's start hook ran a fetch of its own before the server (until issue 18).
    hook = "python3 -m masterclass.grading.client autofetch $HOME"
    if "client autofetch" not in start_script:
        hook = "true"
    server = "jupyterhub-singleuser " + " ".join(f"'{a}'" for a in args)
    if spy:
        record = f"/opt/py-spy record --rate {RATE} --format raw --nonblocking"
        script = (
            f"{record} -o /out/hook.txt -- {hook} || true; "
            f"export JUPYTER_CONFIG_PATH=/opt/masterclass/jupyter/${{MASTERCLASS_LANG:-de}}; "
            f"exec {record} --duration 30 -o /out/server.txt -- {server}"
        )
    else:
        script = (
            f"PYTHONPROFILEIMPORTTIME=1 {hook} 2>/out/hook-imports.txt || true; "
            f"export JUPYTER_CONFIG_PATH=/opt/masterclass/jupyter/${{MASTERCLASS_LANG:-de}}; "
            f"PYTHONPROFILEIMPORTTIME=1 exec {server} 2>/out/server-imports.txt"
        )
    docker = ["docker", "run", "-d", "--name", name, "--network", network, "--user", "1000:1000"]
    docker += ["-v", f"{out}:/out", "--tmpfs", f"{home}:uid=1000,gid=1000"]
    for key, value in env.items():
        docker += ["-e", f"{key}={value}"]
    if spy:
        docker += ["--cap-add", "SYS_PTRACE", "-v", f"{spy}:/opt/py-spy:ro"]
    docker += ["--entrypoint", "sh", subject.image, "-c", script]
    subprocess.run(docker, check=True, capture_output=True, text=True)
    try:
        # The server has started when it logs where it listens.
        def listening() -> bool:
            logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True)
            return "Jupyter Server" in logs.stdout + logs.stderr and "running at" in (
                logs.stdout + logs.stderr
            )

        wait_until(listening, timeout, "the profiled server", lambda: "", interval=0.5)
        if spy:
            time.sleep(32)  # py-spy --duration 30 writes its profile
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    result = {"tool": "py-spy" if spy else "python -X importtime"}
    for part in ("hook", "server"):
        if spy and (out / f"{part}.txt").exists():
            result[part] = top_functions(out / f"{part}.txt", top)
        elif (out / f"{part}-imports.txt").exists():
            result[part] = top_imports((out / f"{part}-imports.txt").read_text(), top)
    # The imports in any case: they are most of a start.
    if spy:
        result["imports"] = importtime(subject.image, env, network, args, timeout, top)
    shutil.rmtree(out, ignore_errors=True)
    return result


def importtime(image: str, env: dict, network: str, args: list[str], timeout: float, top: int):
    """``-X importtime`` of the server's start (until it listens), top imports."""
    out = Path(tempfile.mkdtemp(prefix="server-imports-"))
    out.chmod(0o777)
    name = f"server-start-imports-{os.getpid()}"
    server = "jupyterhub-singleuser " + " ".join(f"'{a}'" for a in args)
    script = (
        "export JUPYTER_CONFIG_PATH=/opt/masterclass/jupyter/${MASTERCLASS_LANG:-de}; "
        f"PYTHONPROFILEIMPORTTIME=1 exec {server} 2>/out/imports.txt"
    )
    docker = ["docker", "run", "-d", "--name", name, "--network", network, "--user", "1000:1000"]
    docker += ["-v", f"{out}:/out", "--tmpfs", "/home/jovyan:uid=1000,gid=1000"]
    for key, value in env.items():
        docker += ["-e", f"{key}={value}"]
    docker += ["--entrypoint", "sh", image, "-c", script]
    subprocess.run(docker, check=True, capture_output=True, text=True)
    try:
        wait_until(
            lambda: "running at" in (out / "imports.txt").read_text(),
            timeout,
            "the server under -X importtime",
            lambda: "",
            interval=0.5,
        )
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    result = top_imports((out / "imports.txt").read_text(), top)
    shutil.rmtree(out, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=10, help="starts per image")
    parser.add_argument(
        "--image",
        action="append",
        help="student image (repeat to compare; the first is the reference)",
    )
    parser.add_argument("--timeout", type=float, default=180.0, help="per start, seconds")
    parser.add_argument("--profile", action="store_true", help="profile one more start")
    parser.add_argument("--top", type=int, default=15, help="profile entries shown")
    parser.add_argument("--json", type=Path, help="append the figures to this file")
    args = parser.parse_args()
    images = args.image or ["masterclass/student:latest"]

    subjects = [Subject(image) for image in images]
    try:
        for subject in subjects:
            subject.up()
        for i in range(args.starts):
            for subject in subjects:
                figures = subject.start(args.timeout)
                subject.stop(args.timeout)
                print(
                    f"start {i + 1:2d} {subject.image}: wall {figures['wall_s']:.2f} s, "
                    f"CPU {figures['cpu_s']:.2f} s (settled {figures['cpu_settled_s']:.2f} s), "
                    f"load {figures['load']:.1f}",
                    flush=True,
                )
        result = {"cores": os.cpu_count(), "images": [summary(s) for s in subjects]}
        reference = result["images"][0]
        for other in result["images"][1:]:
            other["ratio_cpu"] = round(other["cpu_s_median"] / reference["cpu_s_median"], 2)
            other["ratio_wall"] = round(other["wall_s_median"] / reference["wall_s_median"], 2)
        if args.profile:
            result["profile"] = {s.image: profile(s, args.timeout, args.top) for s in subjects}
    finally:
        for subject in subjects:
            subject.stack.down()
    result["per_start"] = {s.image: s.starts for s in subjects}
    print(json.dumps({k: v for k, v in result.items() if k != "per_start"}, indent=1))
    if args.json:
        with args.json.open("a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
