"""Helpers for the class-hub integration tests: a compose stack, a browser-like client, kernels.

The stack runs with its own prefix (``mctest-<id>``, so conftest's prefix cleanup
also catches it), a compose project of that name and a free port. It is torn down at
the end with every volume it created: the hub's, and the pairs' homes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import kernel_client
import websocket

ROOT = Path(__file__).parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_spawn_net() -> str:
    """Three octets for a stack's spawn network (``MASTERCLASS_SPAWN_NET``), unused on this engine.

    Test stacks run side by side, so each gets its own /24 from 198.19.0.0/16 (the half of
    the benchmarking range that ``make up``'s default, 198.18.213, is not in).
    """
    import ipaddress
    import random

    listed = subprocess.run(
        ["docker", "network", "ls", "-q"], capture_output=True, text=True, check=True
    ).stdout.split()
    used = set()
    if listed:
        inspected = subprocess.run(
            ["docker", "network", "inspect", *listed], capture_output=True, text=True
        )
        for network in json.loads(inspected.stdout or "[]"):
            for config in (network.get("IPAM") or {}).get("Config") or []:
                if config.get("Subnet"):
                    used.add(ipaddress.ip_network(config["Subnet"], strict=False))
    firewalled = firewalled_nets()
    for third in random.sample(range(256), 256):
        candidate = ipaddress.ip_network(f"198.19.{third}.0/24")
        if f"198.19.{third}" in firewalled:
            continue  # chains left by a stack that was not torn down: they drop pair to pair
        if not any(candidate.overlaps(u) for u in used):
            return f"198.19.{third}"
    raise RuntimeError("no free /24 left in 198.19.0.0/16 for a test stack's spawn network")


def firewalled_nets() -> set[str]:
    """The spawn networks (three octets) that hub/firewall.sh has chains for on this machine."""
    if not shutil.which("iptables"):
        return set()
    listed = subprocess.run(["iptables", "-S"], capture_output=True, text=True)
    return {
        m.group(1).replace("-", ".")
        for m in re.finditer(r"^-N MC-(\d+-\d+-\d+)-NET$", listed.stdout, re.M)
    }


def remove_firewall(net: str) -> None:
    """Take hub/firewall.sh's chains for ``net`` away (nothing happens if there are none)."""
    if net in firewalled_nets():
        subprocess.run(
            [str(ROOT / "hub" / "firewall.sh"), "--remove", net], capture_output=True, check=False
        )


def wait_until(check, timeout: float, what: str, explain=lambda: "", interval: float = 1.0):
    """Call ``check()`` until it returns something truthy; at the deadline, raise with the logs.

    The report names the last answer (a falsy value or the exception ``check()`` raised:
    an ``assert`` inside it says what was seen) and how many tries there were.
    """
    deadline = time.monotonic() + timeout
    last, tries = None, 0
    while True:
        tries += 1
        try:
            result = check()
        except Exception as e:  # the last error is part of the report
            last, result = e, None
        else:
            last = result
        if result:
            return result
        if time.monotonic() + interval > deadline:
            break
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout:.0f}s and {tries} tries waiting for {what} "
        f"(last: {last!r})\n{explain()}"
    )


#: Docker's reason for a hub it started before the proxy, whose network namespace it joins.
STRANDED = "cannot join network of a non running container"


class Stack:
    """One Masterclass Hub stack started with docker-compose.yml."""

    def __init__(self, **env: str) -> None:
        self.prefix = f"mctest-{uuid.uuid4().hex[:6]}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "COMPOSE_PROJECT_NAME": self.prefix,
            "MASTERCLASS_PREFIX": self.prefix,
            "MASTERCLASS_PORT": str(self.port),
            "MASTERCLASS_PUBLIC_URL": self.url,
            "MASTERCLASS_SPAWN_NET": free_spawn_net(),
            **env,
        }
        self.hub = f"{self.prefix}-hub"

    def compose(self, *args: str, timeout: float = 300, check: bool = True):
        return subprocess.run(
            ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def docker(self, *args: str, timeout: float = 120, check: bool = True):
        return subprocess.run(
            ["docker", *args], capture_output=True, text=True, timeout=timeout, check=check
        )

    def hub_exec(self, *command: str) -> str:
        return self.docker("exec", self.hub, *command).stdout

    def up(self) -> None:
        self.compose("up", "-d")
        wait_until(self.healthy, 180, "the hub to answer /hub/health", self.explain)

    def healthy(self) -> bool:
        return httpx.get(f"{self.url}/hub/health", timeout=5).status_code == 200

    def start_script(self) -> subprocess.CompletedProcess:
        """hub/start.sh for this stack: what `make up` and the Ansible unit run."""
        return subprocess.run(
            ["hub/start.sh"],
            cwd=ROOT,
            env={**self.env, "COMPOSE_FILE": str(ROOT / "docker-compose.yml")},
            capture_output=True,
            text=True,
            timeout=300,
        )

    def hub_stranded(self) -> bool:
        """The hub exited because Docker started it before the proxy (moby/moby#50326)."""
        state = (self.inspect(self.hub) or {}).get("State") or {}
        return not state.get("Running", True) and STRANDED in (state.get("Error") or "")

    def demo_logins(self) -> dict[str, str]:
        self.hub_exec("python", "-m", "masterclass.roster", "demo", "/srv/jupyterhub/state")
        return json.loads(self.hub_exec("cat", "/srv/jupyterhub/state/demo-logins.json"))

    def add_pair(self) -> tuple[str, str]:
        code = (
            "import json; from masterclass.roster import Roster; "
            "print(json.dumps(Roster.load('/srv/jupyterhub/state/roster.json').add_pairs(1)))"
        )
        ((user, password),) = json.loads(self.hub_exec("python", "-c", code)).items()
        return user, password

    def container(self, user: str) -> str:
        return f"{self.prefix}-{user}"

    def inspect(self, name: str) -> dict | None:
        out = self.docker("inspect", name, check=False)
        return json.loads(out.stdout)[0] if out.returncode == 0 else None

    def pair_containers(self) -> list[str]:
        out = self.docker(
            "ps", "-a", "--filter", f"name=^/{self.prefix}-", "--format", "{{.Names}}"
        )
        return [n for n in out.stdout.split() if n != self.hub]

    def explain(self) -> str:
        parts = [self.compose("ps", check=False).stdout]
        for name in [self.hub, *self.pair_containers()]:
            info = self.inspect(name)
            logs = self.docker("logs", "--tail", "60", name, check=False)
            state = info["State"] if info else "gone"
            parts.append(f"===== {name}: {state}\n{logs.stdout}{logs.stderr}")
        return "\n".join(parts)

    @contextlib.contextmanager
    def running(self, request):
        """Up for the block; described if any test of the session failed; always torn down."""
        try:
            self.up()
            yield self
            if request.session.testsfailed:
                print(self.explain())
        finally:
            self.down()

    def down(self) -> None:
        pairs = self.pair_containers()
        if pairs:
            self.docker("rm", "-f", *pairs, check=False)
        self.compose("down", "-v", "--remove-orphans", check=False)
        volumes = self.docker("volume", "ls", "-q", "--filter", f"name=^{self.prefix}-").stdout
        if volumes.split():
            self.docker("volume", "rm", "-f", *volumes.split(), check=False)
        self.remove_homes()
        # A stack that hub/up.sh started has its firewall: a later stack that draws the same
        # spawn network would find its pairs unable to reach each other (test_security).
        remove_firewall(self.env["MASTERCLASS_SPAWN_NET"])

    def remove_homes(self) -> None:
        """The pairs' home file systems on this machine (masterclass.hub.disk), if any."""
        import docker

        from masterclass.hub.disk import HOMES_DIR, remove_all_homes

        homes = self.env.get("MASTERCLASS_HOMES_DIR") or HOMES_DIR.format(prefix=self.prefix)
        if not Path(homes).exists():
            return
        image = self.env.get("MASTERCLASS_HUB_IMAGE", "masterclass/hub:latest")
        remove_all_homes(docker.from_env(), image=image, prefix=self.prefix, homes_dir=homes)


def organiser_cli(stack: Stack, class_dir: Path, *args: str, token: str | None = None):
    """``masterclass class …`` in a fresh process, against this stack (its prefix, port, URL)."""
    env = {
        **stack.env,
        "MASTERCLASS_API_URL": f"{stack.url}/hub/api",
        "MASTERCLASS_CLASS_DIR": str(class_dir),
        "COLUMNS": "400",
    }
    env.pop("MASTERCLASS_CLASS_STATE", None)
    if token:
        env["MASTERCLASS_API_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-c", "from masterclass.cli import main; main()", "class", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


#: A login line that `make up` prints: username, passphrase, login link.
LOGIN_LINE = re.compile(r"^\s+((?:pair|tutor)-\d+)\s+(\S+)\s+(\S+/hub/login\?username=\S+)$")


class MadeUp(Stack):
    """A stack started by hub/up.sh, as `make up` does (so with its firewall, which
    Stack.down takes away); keeps what up.sh printed."""

    output = ""

    def up(self) -> None:
        self.output = self.make_up()

    def make_up(self) -> str:
        run = subprocess.run(
            ["bash", str(ROOT / "hub" / "up.sh")],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert run.returncode == 0, (
            f"make up failed (exit {run.returncode}):\n{run.stdout}\n{run.stderr}\n{self.explain()}"
        )
        return run.stdout

    def printed_logins(self) -> dict[str, str]:
        return parse_logins(self.output)


def parse_logins(output: str) -> dict[str, str]:
    """``{username: passphrase}`` from the demo logins `make up` prints."""
    return {m.group(1): m.group(2) for line in output.splitlines() if (m := LOGIN_LINE.match(line))}


class Browser:
    """A pupil's browser: a cookie jar, the real login form, and the pair's servers."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.http = httpx.Client(base_url=stack.url, follow_redirects=True, timeout=60)
        self.user: str | None = None

    def login(self, user: str, password: str) -> httpx.Response:
        form = self.http.get("/hub/login", params={"username": user})
        assert form.status_code == 200, form.text[:500]
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text).group(1)
        response = self.http.post(
            "/hub/login",
            data={"_xsrf": xsrf, "username": user, "password": password},
            follow_redirects=False,
        )
        if response.status_code in (302, 303):
            self.user = user
        return response

    def xsrf_headers(self, cookie_path: str) -> dict[str, str]:
        """The X-XSRFToken header JupyterLab sends: the _xsrf cookie of that path."""
        token = next(
            (c.value for c in self.http.cookies.jar if c.name == "_xsrf" and c.path == cookie_path),
            None,
        )
        return {"X-XSRFToken": token} if token else {}

    def hub_api(self, method: str, path: str, **kw) -> httpx.Response:
        headers = {**self.xsrf_headers("/hub/"), **kw.pop("headers", {})}
        return self.http.request(method, f"/hub/api{path}", headers=headers, **kw)

    def server_api(self, user: str, method: str, path: str, **kw) -> httpx.Response:
        """A request to ``user``'s Jupyter server API, as JupyterLab makes it from the page.

        The page load (``/user/<user>/lab``) runs the OAuth dance with the hub and sets
        the server's _xsrf cookie; the API call then carries it as a header.
        """
        page = self.http.get(f"/user/{user}/lab")
        if page.status_code == 200 and "/hub/api/oauth2/authorize" in str(page.url):
            # Opening someone else's server: JupyterHub asks "Authorize access?"; click it.
            xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
            scopes = re.findall(r'type="hidden" name="scopes" value="([^"]+)"', page.text)
            page = self.http.post(str(page.url), data={"_xsrf": xsrf, "scopes": scopes})
        if page.status_code != 200:
            return page
        headers = {**self.xsrf_headers(f"/user/{user}/"), **kw.pop("headers", {})}
        return self.http.request(method, f"/user/{user}/api{path}", headers=headers, **kw)

    def start_server(self, timeout: float = 300) -> None:
        """Start the own server (as after login) and wait until it answers."""
        self.hub_api("POST", f"/users/{self.user}/server")
        self.wait_ready(self.user, timeout)

    def wait_ready(self, user: str, timeout: float = 300) -> None:
        def ready():
            r = self.server_api(user, "GET", "/status")
            return r.status_code == 200 and "started" in r.json()

        wait_until(ready, timeout, f"the server of {user}", self.stack.explain, interval=2)

    def token(self) -> str:
        r = self.hub_api("POST", f"/users/{self.user}/tokens", json={"note": "integration test"})
        assert r.status_code in (200, 201), r.text
        return r.json()["token"]


class Kernel:
    """A kernel in a pair's server, driven over the Jupyter kernel websocket."""

    def __init__(self, stack: Stack, user: str, token: str, kernel_id: str | None = None) -> None:
        self.stack, self.user, self.token = stack, user, token
        self.api = httpx.Client(
            base_url=f"{stack.url}/user/{user}/api",
            headers={"Authorization": f"token {token}"},
            timeout=60,
        )
        if kernel_id is None:
            r = self.api.post("/kernels", json={"name": "python3"})
            assert r.status_code == 201, r.text
            kernel_id = r.json()["id"]
        self.id = kernel_id
        self.ws = self.connect()

    def connect(self) -> websocket.WebSocket:
        url = (
            self.stack.url.replace("http", "ws")
            + f"/user/{self.user}/api/kernels/{self.id}/channels"
        )
        return websocket.create_connection(
            url, header=[f"Authorization: token {self.token}"], timeout=30
        )

    def submit(self, code: str) -> str:
        """Send ``code`` without waiting (a long training); returns the request's msg_id."""
        return kernel_client.submit(self.ws, code, self.user)

    def execute(self, code: str, timeout: float = 120) -> dict:
        """Run ``code``; return {"stdout", "stderr", "result", "errors", "status", ...}.

        Returns once both the reply and the kernel's idle status for this request arrived
        (or the kernel restarted: ``restarting``); raises with what arrived at the deadline.
        """
        return kernel_client.execute(self.ws, code, timeout, self.user, self.stack.explain)

    def close(self) -> None:
        self.ws.close()
