"""How long N pairs wait after logging in: cold (no server running) against warm (`class warm`).

Starts its own stack (tests/integration/hub_fixtures.Stack: own prefix, port and volumes,
removed at the end), creates a class of N pairs with `masterclass class create`, then

- **cold**: every pair logs in at the same moment and starts its server; the time until
  the last server answers is the login burst a class meets without warming;
- **warm**: the servers are stopped, `masterclass class warm --start` starts them (timed),
  then every pair logs in again; the time until each reaches a running server is what a
  class meets after warming.

Usage: .venv/bin/python benchmarks/warm.py [N]   (default 3; needs the built images)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the integration tests' stack and browser (hub_fixtures imports tests/kernel_client.py)
sys.path[:0] = [str(ROOT / "tests" / "integration"), str(ROOT / "tests")]

import httpx  # noqa: E402
from hub_fixtures import Browser, Stack, wait_until  # noqa: E402


def cli(stack: Stack, class_dir: Path, *args: str, token: str | None = None) -> str:
    env = {
        **os.environ,
        "MASTERCLASS_PREFIX": stack.prefix,
        "MASTERCLASS_PORT": str(stack.port),
        "MASTERCLASS_PUBLIC_URL": stack.url,
        "MASTERCLASS_CLASS_DIR": str(class_dir),
        **({"MASTERCLASS_API_TOKEN": token} if token else {}),
    }
    result = subprocess.run(
        [sys.executable, "-c", "from masterclass.cli import main; main()", "class", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        raise RuntimeError(f"class {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def login_and_wait(stack: Stack, user: str, password: str) -> float:
    """Seconds from submitting the login form to the pair's own server answering."""
    browser = Browser(stack)
    start = time.monotonic()
    assert browser.login(user, password).status_code in (302, 303)
    browser.start_server(timeout=600)
    return time.monotonic() - start


def burst(stack: Stack, logins: dict[str, str]) -> list[float]:
    with ThreadPoolExecutor(max_workers=len(logins)) as pool:
        return list(pool.map(lambda item: login_and_wait(stack, *item), logins.items()))


def main(pairs: int) -> None:
    stack = Stack()
    try:
        stack.up()
        class_dir = Path(tempfile.mkdtemp()) / "class"
        cli(stack, class_dir, "create", "--name", "Benchmark", "--pairs", str(pairs))
        logins = json.loads((class_dir / "logins.json").read_text())["logins"]
        logins = {u: p for u, p in logins.items() if u.startswith("pair-")}
        code = (
            "import json; from masterclass.roster import Roster; "
            "print(json.dumps(Roster.load('/srv/jupyterhub/state/roster.json').add_organisers(1)))"
        )
        ((organiser, password),) = json.loads(stack.hub_exec("python", "-c", code)).items()
        admin = Browser(stack)
        admin.login(organiser, password)
        token = admin.token()
        api = httpx.Client(
            base_url=f"{stack.url}/hub/api", headers={"Authorization": f"token {token}"}
        )

        start = time.monotonic()
        cold = burst(stack, logins)
        cold_all = time.monotonic() - start

        for user in logins:
            api.delete(f"/users/{user}/server")
        wait_until(lambda: not stack.pair_containers(), 300, "the servers to stop", stack.explain)

        start = time.monotonic()
        cli(stack, class_dir, "warm", "--start", token=token)
        warming = time.monotonic() - start
        start = time.monotonic()
        warm = burst(stack, logins)
        warm_all = time.monotonic() - start
    finally:
        stack.down()

    print(f"{pairs} pairs logging in at once ({os.cpu_count()} cores)")
    print(f"  cold: all ready after {cold_all:6.1f} s; median {statistics.median(cold):5.1f} s")
    print(f"  warm: all ready after {warm_all:6.1f} s; median {statistics.median(warm):5.1f} s")
    print(
        f"  `masterclass class warm --start` itself took {warming:.1f} s (before the class arrives)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
