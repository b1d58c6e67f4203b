"""The hub's proxy in a container of its own, the hub in its network namespace.

`make up` and the Ansible role start the stack through hub/start.sh. When Compose makes
the proxy's container anew (here: the organiser changed MASTERCLASS_PORT in .env), the
hub must follow it into the new network namespace; Compose v1 alone may leave the hub
in the old one, where nothing reaches it.
"""

from __future__ import annotations

import time

import httpx
import pytest
from hub_fixtures import (
    STRANDED,
    Browser,
    Kernel,
    Stack,
    free_port,
    organiser_cli,
    wait_until,
)

pytestmark = pytest.mark.docker


def network_mode(stack: Stack) -> str:
    return stack.inspect(stack.hub)["HostConfig"]["NetworkMode"]


def namespace(stack: Stack, container: str) -> str:
    return stack.docker("exec", container, "readlink", "/proc/self/ns/net").stdout.strip()


def proxy_id(stack: Stack) -> str:
    return stack.inspect(f"{stack.prefix}-proxy")["Id"]


def test_a_new_or_restarted_proxy_container_takes_the_hub_along(request, docker_engine, hub_image):
    stack = Stack()
    with stack.running(request):
        assert network_mode(stack) == f"container:{proxy_id(stack)}"
        first = proxy_id(stack)
        # Compose v1 alone: a new port recreates the proxy and strands the hub.
        stack.port = free_port()
        stack.url = f"http://127.0.0.1:{stack.port}"
        stack.env["MASTERCLASS_PORT"] = str(stack.port)
        stack.compose("up", "-d", "--no-deps", "proxy")
        assert proxy_id(stack) != first
        assert network_mode(stack) != f"container:{proxy_id(stack)}"
        # hub/start.sh sees it and recreates the hub in the new namespace.
        started = stack.start_script()
        assert started.returncode == 0, started.stderr
        assert "recreating the hub" in started.stderr
        assert network_mode(stack) == f"container:{proxy_id(stack)}"
        wait_until(stack.healthy, 120, "the hub to answer on the new port", stack.explain)
        login = httpx.get(f"{stack.url}/hub/login", timeout=10)
        assert login.status_code == 200 and "password" in login.text
        # A second run changes nothing.
        again = stack.start_script()
        assert again.returncode == 0 and "recreating the hub" not in again.stderr
        # A restarted proxy container keeps its id but not its network namespace.
        stack.docker("restart", f"{stack.prefix}-proxy")
        assert namespace(stack, stack.hub) != namespace(stack, f"{stack.prefix}-proxy")
        restarted = stack.start_script()
        assert restarted.returncode == 0, restarted.stderr
        assert "was restarted: recreating the hub" in restarted.stderr
        assert namespace(stack, stack.hub) == namespace(stack, f"{stack.prefix}-proxy")
        wait_until(stack.healthy, 120, "the hub after the proxy's restart", stack.explain)


def test_a_hub_that_docker_started_before_its_proxy_is_named_and_started(
    request, docker_engine, hub_image, tmp_path
):
    """After a reboot or an engine restart, Docker starts the containers that have a restart
    policy side by side, not in order (moby/moby#50326). The hub joins the proxy's network
    namespace; when Docker tries the hub first, the hub stays exited: "cannot join network of
    a non running container". The organiser's CLI says so and what to run, and hub/start.sh
    (`make up`, the Ansible unit) starts it with the class as it was."""
    stack = Stack()
    with stack.running(request):
        logins = stack.demo_logins()
        proxy = f"{stack.prefix}-proxy"
        # Docker's order after a restart, in slow motion: the hub first, then the proxy.
        stack.docker("stop", stack.hub, proxy)
        tried = stack.docker("start", stack.hub, check=False)
        assert tried.returncode != 0 and STRANDED in tried.stderr
        stack.docker("start", proxy)
        assert stack.hub_stranded()
        assert stack.inspect(stack.hub)["State"]["ExitCode"] == 128
        assert stack.inspect(proxy)["State"]["Running"]
        # The proxy answers; the hub behind it does not.
        health = wait_until(
            lambda: httpx.get(f"{stack.url}/hub/health", timeout=5), 60, "the proxy to answer"
        )
        assert health.status_code != 200

        status = organiser_cli(stack, tmp_path, "status", "--once")
        said = " ".join((status.stdout + status.stderr).split())
        assert status.returncode == 4, said
        assert f"The hub container {stack.hub} is exited, not running" in said
        assert STRANDED in said
        assert "make up" in said and "hub/start.sh" in said

        started = stack.start_script()
        assert started.returncode == 0, started.stderr
        wait_until(stack.healthy, 120, "the hub after hub/start.sh", stack.explain)
        assert namespace(stack, stack.hub) == namespace(stack, proxy)
        # The same class: the roster's logins work, and the CLI sees the hub again.
        assert Browser(stack).login("pair-01", logins["pair-01"]).status_code == 302
        assert organiser_cli(stack, tmp_path, "status", "--once").returncode == 0


def test_a_crashed_proxy_comes_back_with_the_pairs_routes(request, docker_engine, hub_image):
    """The proxy's process dies: its container starts it again, the hub restores the routes."""
    stack = Stack()
    with stack.running(request):
        logins = stack.demo_logins()
        browser = Browser(stack)
        assert browser.login("pair-01", logins["pair-01"]).status_code == 302
        browser.start_server()
        proxy = f"{stack.prefix}-proxy"
        namespace_before = namespace(stack, stack.hub)
        # As nobody, the proxy's user (root has no CAP_KILL there); no pkill in the image.
        kill = "for d in /proc/[0-9]*; do [ $(cat $d/comm) = node ] && kill -KILL ${d#/proc/}; done"
        stack.docker("exec", "--user", "nobody", proxy, "sh", "-c", kill + "; true")
        started = time.monotonic()
        # The hub's activity check (every 30 s) puts the routes back: the pair's server ...
        wait_until(
            lambda: browser.server_api("pair-01", "GET", "/status").status_code == 200,
            90,
            "pair-01's route after the proxy's restart",
            stack.explain,
            interval=1,
        )
        back = time.monotonic() - started
        print(f"FIGURE proxy killed: pair-01 through it again after {back:.1f} s")
        # ... and the hub's own.
        assert stack.healthy()
        assert "starting it again" in stack.docker("logs", proxy).stderr
        # Same container, same namespace: the hub was not cut off.
        assert namespace(stack, stack.hub) == namespace_before


def test_a_pairs_open_kernel_connection_outlives_a_hub_restart(request, docker_engine, hub_image):
    """The hub restarts (a new configuration, an upgrade); the proxy and its sockets stay."""
    stack = Stack()
    with stack.running(request):
        logins = stack.demo_logins()
        browser = Browser(stack)
        assert browser.login("pair-01", logins["pair-01"]).status_code == 302
        browser.start_server()
        kernel = Kernel(stack, "pair-01", browser.token())
        try:
            assert kernel.execute("answer = 6 * 7")["status"] == "ok"
            proxy_started = stack.inspect(f"{stack.prefix}-proxy")["State"]["StartedAt"]
            stack.docker("restart", stack.hub)
            # The same websocket, not reconnected: the proxy never closed it.
            out = kernel.execute("print(answer)")
            assert out["status"] == "ok" and out["stdout"].strip() == "42", out
            assert stack.inspect(f"{stack.prefix}-proxy")["State"]["StartedAt"] == proxy_started
        finally:
            kernel.close()
        wait_until(stack.healthy, 120, "the hub after its restart", stack.explain)
