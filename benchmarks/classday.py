"""Class-day rehearsal: N pairs log in within a burst window, start, run a cell, then work at once.

What a class does at 13:30, measured on the real stack (in the spirit of hubtraf: logins
spread uniformly over a start window, each session logs in, starts a server, starts a
kernel and runs code):

1. pair *i* opens the login page at ``i * window / N`` seconds, submits the real form
   (with its _xsrf) and follows the hub's redirects, which start its server;
2. time-to-ready: from submitting the form until the pair's own server answers
   ``/api/status`` through the proxy; then the pair opens the worksheet page (``/lab``);
3. kernel start: from asking for a kernel until ``5 * 4`` came back as ``20``;
4. all pairs at once: the worksheet's first steps (load, split, augment).

Reported: login success rate, time-to-ready p50/p95/max, kernel start p50/max, HTTP
status counts (every response of every pair: 429 and 5xx), the hub container's CPU
(average over the burst, cores) and its peak resident memory, sampled each second.

By default it starts its own stack (tests/integration/hub_fixtures.Stack: own prefix,
port and volumes; removed at the end) and a class of N pairs. ``--cold`` drops the
machine's page cache before the burst (as after a reboot: images are read from disk;
needs root). The images are "warm" otherwise (read once already, in the page cache).
``--prestart`` starts every pair's server before the burst (what ``masterclass class warm
--start`` does before the class arrives), so a login only has to reach a running server.

``--backend swarm`` runs the same rehearsal on the swarm lab (hub/swarm_lab.py: a manager
and two workers as Docker-in-Docker nodes on this machine, started and removed by the
benchmark); ``--backend both`` runs the single host and then the lab in one run, so the
two are compared under the same load of the machine.

``--docker-threads 1 4`` alternates the single host's ``MASTERCLASS_DOCKER_THREADS`` (the
threads that call the engine for the pairs' servers) run by run, on a fresh stack each.

Usage:
    .venv/bin/python benchmarks/classday.py [--pairs 15] [--window 30] [--runs 1]
        [--cold] [--prestart] [--no-work] [--backend host|swarm|both] [--json out.json]
        [--docker-threads N [N ...]]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the stack, browser and kernel client of the integration tests (hub_fixtures imports
# tests/kernel_client.py, the one reader of kernel messages)
sys.path[:0] = [str(ROOT / "tests" / "integration"), str(ROOT / "tests")]

import httpx  # noqa: E402
import psutil  # noqa: E402
from hub_fixtures import Browser, Kernel, Stack, wait_until  # noqa: E402

sys.path.insert(0, str(ROOT / "hub"))
from swarm_lab import Lab  # noqa: E402

FIRST_STEPS = """
from masterclass import *
ev = load_events()
tv, test = split_events_random(ev, fraction_first_block=0.3)
aug = augment_events(tv, [3, 60, 60, 60])
print("AUGMENTED", len(aug))
"""


@dataclass
class Pair:
    user: str
    login_status: int | None = None
    ready_s: float | None = None
    kernel_s: float | None = None
    work_s: float | None = None
    start_cpu_s: float | None = None
    container_started_s: float | None = None
    error: str | None = None
    statuses: Counter = field(default_factory=Counter)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: p95 of 15 values is the 15th)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


class HubSampler(threading.Thread):
    """Samples the hub container's processes (hub, proxy, culler) every second."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.stop = threading.Event()
        self.peak_rss = 0
        self.cpu_start = self.cpu_now()
        self.t_start = time.monotonic()
        self.cpu_end = self.cpu_start
        self.t_end = self.t_start

    def processes(self) -> list[psutil.Process]:
        return [self.root, *self.root.children(recursive=True)]

    def cpu_now(self) -> float:
        total = 0.0
        for p in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = p.cpu_times()
                total += times.user + times.system
        return total

    def run(self) -> None:
        while not self.stop.wait(1.0):
            rss = 0
            for p in self.processes():
                with contextlib.suppress(psutil.NoSuchProcess):
                    rss += p.memory_info().rss
            self.peak_rss = max(self.peak_rss, rss)
            self.cpu_end, self.t_end = self.cpu_now(), time.monotonic()

    def result(self) -> dict:
        self.stop.set()
        self.join()
        seconds = max(self.t_end - self.t_start, 1e-9)
        return {
            "hub_cpu_cores_avg": round((self.cpu_end - self.cpu_start) / seconds, 2),
            "hub_cpu_seconds": round(self.cpu_end - self.cpu_start, 1),
            "hub_peak_rss_mb": round(self.peak_rss / 2**20),
        }


def count_statuses(browser: Browser, pair: Pair) -> None:
    browser.http.event_hooks["response"].append(lambda r: pair.statuses.update([r.status_code]))


def one_pair(stack: Stack, pair: Pair, password: str, delay: float, t0: float, timeout: float):
    """Log in at ``t0 + delay``, wait for the server, open /lab, run 5 * 4; returns a Kernel."""
    time.sleep(max(0.0, t0 + delay - time.monotonic()))
    browser = Browser(stack)
    count_statuses(browser, pair)
    try:
        form = browser.http.get("/hub/login", params={"username": pair.user})
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text).group(1)
        start, wall = time.monotonic(), time.time()
        # the real form; following its redirects starts the server (/hub/spawn)
        response = browser.http.post(
            "/hub/login", data={"_xsrf": xsrf, "username": pair.user, "password": password}
        )
        pair.login_status = response.history[0].status_code if response.history else None
        if pair.login_status not in (302, 303):
            pair.error = f"login answered {response.status_code}"
            return None
        browser.user = pair.user
        browser.wait_ready(pair.user, timeout=timeout)
        pair.ready_s = time.monotonic() - start
        pair.start_cpu_s = container_cpu_seconds(stack, pair.user)
        started = stack.inspect(stack.container(pair.user))["State"]["StartedAt"]
        started = datetime.fromisoformat(started[:26].rstrip("Z") + "+00:00").timestamp()
        pair.container_started_s = started - wall
        lab = browser.http.get(f"/user/{pair.user}/lab")
        if lab.status_code != 200:
            pair.error = f"/lab answered {lab.status_code}"
            return None
        start = time.monotonic()
        kernel = Kernel(stack, pair.user, browser.token())
        kernel.api.event_hooks["response"].append(lambda r: pair.statuses.update([r.status_code]))
        shown = kernel.execute("5 * 4", timeout)
        if shown["result"] != "20":
            pair.error = f"5 * 4 gave {shown}"
            return None
        pair.kernel_s = time.monotonic() - start
        return kernel
    except Exception as e:  # every failure is a figure, not a crash of the benchmark
        pair.error = f"{type(e).__name__}: {str(e)[:200]}"
        return None


def work(pair: Pair, kernel: Kernel, timeout: float) -> None:
    start = time.monotonic()
    try:
        out = kernel.execute(FIRST_STEPS, timeout)
        if out["errors"] or "AUGMENTED" not in out["stdout"]:
            pair.error = f"first steps failed: {out}"
            return
        pair.work_s = time.monotonic() - start
    except Exception as e:
        pair.error = f"first steps: {type(e).__name__}: {str(e)[:200]}"
    finally:
        kernel.close()


def cgroup(stack, controller: str, info: dict) -> str:
    """A container's cgroup v1 folder on this machine (nested in its node on the swarm lab)."""
    node = info.get("_node_id")
    inner = f"docker/{node}/docker/{info['Id']}" if node else f"docker/{info['Id']}"
    return f"/sys/fs/cgroup/{controller}/{inner}"


def host_pid(stack) -> int:
    """The host PID of the hub container's first process (nested in the manager on the lab)."""
    hub = getattr(stack, "hub_id", None)
    if hub is None:
        pid = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Pid}}", stack.hub],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return int(pid)
    inside = set()
    for process in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if hub in Path(f"/proc/{process.pid}/cgroup").read_text():
                inside.add(process.pid)
    roots = [p for p in inside if psutil.Process(p).ppid() not in inside]
    return min(roots)


class LabStack:
    """The swarm lab behind the few things the rehearsal asks of a stack (tests' Stack)."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.url = lab.url
        self.hub = f"{lab.prefix}-hub"
        self.hub_id = self.manager("inspect", "-f", "{{.Id}}", self.hub).strip()

    def manager(self, *args: str) -> str:
        return self.lab.node_docker(self.lab.manager, *args).stdout

    def explain(self) -> str:
        return self.lab.explain()

    def hub_exec(self, *command: str) -> str:
        return self.manager("exec", self.hub, *command)

    def container(self, user: str) -> str:
        return user

    def inspect(self, user: str) -> dict | None:
        """The pair's task container, from the worker it runs on (with that node's id)."""
        service = f"{self.lab.prefix}-{user}"
        nodes = self.manager("service", "ps", "--filter", "desired-state=running",
                             "--format", "{{.Node}}", service).split()  # fmt: skip
        if not nodes:
            return None
        node = nodes[0]
        found = self.lab.node_docker(
            node, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service}"
        ).stdout.split()
        if not found:
            return None
        info = json.loads(self.lab.node_docker(node, "inspect", found[0]).stdout)[0]
        info["_node"] = node
        info["_node_id"] = subprocess.run(
            ["docker", "inspect", "-f", "{{.Id}}", node], capture_output=True, text=True
        ).stdout.strip()
        return info


def container_cpu_seconds(stack: Stack, user: str) -> float | None:
    """CPU seconds a pair's container used so far (cgroup v1 cpuacct or v2 cpu.stat)."""
    info = stack.inspect(stack.container(user))
    if not info:
        return None
    with contextlib.suppress(OSError):
        path = f"{cgroup(stack, 'cpuacct', info)}/cpuacct.usage"
        return int(Path(path).read_text()) / 1e9
    with contextlib.suppress(OSError, StopIteration):
        stat = Path(f"/sys/fs/cgroup/system.slice/docker-{info['Id']}.scope/cpu.stat")
        line = next(x for x in stat.read_text().splitlines() if x.startswith("usage_usec"))
        return int(line.split()[1]) / 1e6
    return None


def pair_memory_peaks(stack: Stack, users: list[str]) -> list[float]:
    """Peak memory (MB) of each pair's container so far, from its cgroup (v1 or v2)."""
    peaks = []
    for user in users:
        info = stack.inspect(stack.container(user))
        if not info:
            continue
        for path in (
            f"{cgroup(stack, 'memory', info)}/memory.max_usage_in_bytes",
            f"/sys/fs/cgroup/system.slice/docker-{info['Id']}.scope/memory.peak",
        ):
            with contextlib.suppress(OSError):
                peaks.append(int(Path(path).read_text()) / 2**20)
                break
    return peaks


def drop_page_cache() -> None:
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def prestart(stack: Stack, users: list[str], timeout: float) -> float:
    """Start every pair's server before the class arrives (as `class warm --start`); seconds."""
    code = (
        "import json; from masterclass.roster import Roster; "
        "print(json.dumps(Roster.load('/srv/jupyterhub/state/roster.json').add_organisers(1)))"
    )
    ((organiser, password),) = json.loads(stack.hub_exec("python", "-c", code)).items()
    admin = Browser(stack)
    admin.login(organiser, password)
    api = httpx.Client(
        base_url=f"{stack.url}/hub/api",
        headers={"Authorization": f"token {admin.token()}"},
        timeout=60,
    )
    start = time.monotonic()
    # the hub knows a roster account only after its first login: create them first
    created = api.post("/users", json={"usernames": users})
    if created.status_code not in (201, 409):
        raise RuntimeError(f"creating the users failed: {created.status_code} {created.text}")
    # All at once, as `class warm --start` does (the hub answers each start only after
    # its slow-spawn timeout of 10 s).
    with ThreadPoolExecutor(max_workers=min(16, len(users))) as pool:
        answers = list(pool.map(lambda user: api.post(f"/users/{user}/server"), users))
    for user, started in zip(users, answers, strict=True):
        if started.status_code not in (201, 202):
            raise RuntimeError(f"starting {user} failed: {started.status_code} {started.text}")

    def all_ready() -> bool:
        models = {u["name"]: u for u in api.get("/users").json()}
        return all(models[u]["servers"].get("", {}).get("ready") for u in users)

    wait_until(all_ready, timeout, "every pair's server", stack.explain, interval=2)
    return time.monotonic() - start


def rehearse(stack: Stack, logins: dict[str, str], args) -> dict:
    pairs = [Pair(user) for user in logins]
    prestart_s = prestart(stack, list(logins), args.timeout * 3) if args.prestart else None
    spread = args.window / len(pairs)
    load_before = os.getloadavg()[0]
    if args.cold:
        drop_page_cache()
    sampler = HubSampler(host_pid(stack))
    sampler.start()
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(pairs)) as pool:
        kernels = list(
            pool.map(
                lambda ip: one_pair(
                    stack, ip[1], logins[ip[1].user], ip[0] * spread, t0, args.timeout
                ),
                enumerate(pairs),
            )
        )
    burst_s = time.monotonic() - t0
    hub = sampler.result()
    work_all_s = None
    if not args.no_work:
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(pairs)) as pool:
            list(
                pool.map(
                    lambda pk: work(pk[0], pk[1], args.timeout * 3),
                    [(p, k) for p, k in zip(pairs, kernels, strict=True) if k is not None],
                )
            )
        work_all_s = time.monotonic() - start
    else:
        for kernel in kernels:
            if kernel is not None:
                kernel.close()

    peaks = pair_memory_peaks(stack, [p.user for p in pairs])
    ready = [p.ready_s for p in pairs if p.ready_s is not None]
    kernel_s = [p.kernel_s for p in pairs if p.kernel_s is not None]
    work_s = [p.work_s for p in pairs if p.work_s is not None]
    start_cpu = [p.start_cpu_s for p in pairs if p.start_cpu_s is not None]
    to_container = [p.container_started_s for p in pairs if p.container_started_s is not None]
    statuses = sum((p.statuses for p in pairs), Counter())
    ok = [p for p in pairs if p.error is None and p.kernel_s is not None]
    return {
        "pairs": len(pairs),
        "window_s": args.window,
        "cold": args.cold,
        "prestarted_s": round(prestart_s, 1) if prestart_s else None,
        "success": len(ok),
        "success_rate": round(len(ok) / len(pairs), 3),
        "ready_p50_s": round(statistics.median(ready), 1) if ready else None,
        "ready_p95_s": round(percentile(ready, 95), 1) if ready else None,
        "ready_max_s": round(max(ready), 1) if ready else None,
        "kernel_p50_s": round(statistics.median(kernel_s), 1) if kernel_s else None,
        "kernel_max_s": round(max(kernel_s), 1) if kernel_s else None,
        "burst_s": round(burst_s, 1),
        "work_p50_s": round(statistics.median(work_s), 1) if work_s else None,
        "work_max_s": round(max(work_s), 1) if work_s else None,
        "work_all_s": round(work_all_s, 1) if work_all_s else None,
        "http_429": statuses[429],
        "http_5xx": sum(n for code, n in statuses.items() if code >= 500),
        "http_statuses": dict(sorted(statuses.items())),
        **hub,
        "container_started_p50_s": round(statistics.median(to_container), 1)
        if to_container
        else None,
        "pair_start_cpu_s_p50": round(statistics.median(start_cpu), 1) if start_cpu else None,
        "host_load_1min_before": round(load_before, 1),
        "host_load_1min_after": round(os.getloadavg()[0], 1),
        "pair_peak_mb_p50": round(statistics.median(peaks)) if peaks else None,
        "pair_peak_mb_max": round(max(peaks)) if peaks else None,
        "errors": {p.user: p.error for p in pairs if p.error},
        "per_pair": [{k: v for k, v in asdict(p).items() if k != "statuses"} for p in pairs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--window", type=float, default=30.0, help="burst window, seconds")
    parser.add_argument("--runs", type=int, default=1, help="fresh stack per run")
    parser.add_argument("--timeout", type=float, default=300.0, help="per step, seconds")
    parser.add_argument("--cold", action="store_true", help="drop the page cache first (root)")
    parser.add_argument(
        "--prestart", action="store_true", help="start all servers before the logins (warm)"
    )
    parser.add_argument("--no-work", action="store_true", help="skip load/split/augment")
    parser.add_argument("--json", type=Path, help="append each run's figures to this file")
    parser.add_argument(
        "--settle",
        type=float,
        default=0,
        help="before the burst, wait up to this many seconds for the load to drop",
    )
    parser.add_argument(
        "--docker-threads",
        type=int,
        nargs="+",
        metavar="N",
        help="on the single host, alternate the hub's MASTERCLASS_DOCKER_THREADS over these",
    )
    parser.add_argument(
        "--backend",
        choices=["host", "swarm", "both"],
        default="host",
        help="the single host, the swarm lab (two workers), or both in one run",
    )
    args = parser.parse_args()

    backends = ["host", "swarm"] if args.backend == "both" else [args.backend]
    if args.docker_threads:
        backends = [f"host:{n}" for n in args.docker_threads]
    results = []
    for run in range(args.runs):
        for backend in backends:
            result = one_run(backend, args)
            result["run"] = run + 1
            result["cores"] = os.cpu_count()
            results.append(result)
            summary = {k: v for k, v in result.items() if k != "per_pair"}
            print(json.dumps(summary, indent=1), flush=True)
            if args.json:
                with args.json.open("a") as f:
                    f.write(json.dumps(result) + "\n")

    for backend in backends:
        mine = [r for r in results if r["backend"] == backend]
        if len(mine) > 1:
            keys = ["success_rate", "ready_p50_s", "ready_p95_s", "ready_max_s", "kernel_p50_s"]
            keys += ["work_p50_s", "work_max_s", "http_429", "http_5xx", "hub_cpu_cores_avg"]
            keys += ["hub_peak_rss_mb"]
            medians = {
                k: statistics.median(r[k] for r in mine if r[k] is not None)
                for k in keys
                if any(r[k] is not None for r in mine)
            }
            print(f"MEDIANS {backend} over {len(mine)} runs: {json.dumps(medians)}")


def settle(limit: float) -> None:
    """Wait (at most *limit* s) until the 1-minute load is below the cores plus one.

    Setting up a stack (the lab's image loads above all) leaves the machine busy for a
    while; both backends start their burst from a machine that has calmed down.
    """
    deadline = time.monotonic() + limit
    while os.getloadavg()[0] > (os.cpu_count() or 1) + 1 and time.monotonic() < deadline:
        time.sleep(5)


def one_run(backend: str, args) -> dict:
    """One rehearsal on a fresh stack of *backend*; its figures."""
    if backend.startswith("host"):
        # "host:4": the single host with MASTERCLASS_DOCKER_THREADS=4 (--docker-threads).
        threads = backend.partition(":")[2]
        stack = Stack(**({"MASTERCLASS_DOCKER_THREADS": threads} if threads else {}))
        up, down = stack.up, stack.down
    else:
        lab = Lab(
            name=f"mcbench-{os.getpid()}",
            port=None,
            env={
                "MASTERCLASS_PREFIX": "mcbench",
                "MASTERCLASS_CONCURRENT_SPAWNS": "100",
                "ANSIBLE_PLAYBOOK": str(Path(sys.executable).parent / "ansible-playbook"),
            },
            # As the single host's Stack: no demo class, nothing released.
            demo=False,
        )
        stack = None

        def up():
            nonlocal stack
            lab.up()
            stack = LabStack(lab)

        down = lab.down
    try:
        up()
        code = (
            "import json; from masterclass.roster import create_class; "
            "from pathlib import Path; "
            "Path('/srv/jupyterhub/state/roster.json').unlink(missing_ok=True); "
            f"_, logins = create_class('/srv/jupyterhub/state/roster.json', "
            f"name='Rehearsal', pairs={args.pairs}, tutors=0); "
            "print(json.dumps(logins))"
        )
        logins = json.loads(stack.hub_exec("python", "-c", code))
        logins = {u: p for u, p in logins.items() if u.startswith("pair-")}
        settle(args.settle)
        result = rehearse(stack, logins, args)
        if backend == "swarm":
            result["pairs_per_node"] = dict(
                sorted(Counter(stack.inspect(u)["_node"] for u in logins).items())
            )
    finally:
        down()
    result["backend"] = backend
    return result


if __name__ == "__main__":
    main()
