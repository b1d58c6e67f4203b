"""`make up` on a fresh machine: docker-compose appears only when the engine step has run.

hub/up.sh runs in a copy of its folder with every outside command replaced by a stub that
records its call: ``.ci/ensure-docker`` "installs" docker-compose into a folder on the
PATH (as Debian's package does), and ``docker`` is a client without the compose plugin
(like the Docker 28 client these machines have first on the PATH). The PATH holds nothing
else, so the machine's own docker-compose cannot stand in. An up.sh that picks the
compose command before the engine step falls back to ``docker compose`` and fails here.
The real stack behind the same script is tests/integration/test_first_contact.py.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SCRIPTS = ("hub/up.sh", "hub/start.sh", "hub/env.sh", "hub/compose.sh", "hub/release-missing.sh")
#: The machine's programs the scripts and stubs may use (linked into the stub PATH).
TOOLS = ("bash", "dirname", "sleep", "ln", "cat")

DOCKER = """#!/usr/bin/env bash
echo "docker $*" >> "$CALLS"
case "$1" in
    compose) echo "docker: 'compose' is not a docker command." >&2; exit 1 ;;
    # hub/start.sh: the proxy's id, the hub's network mode, both network namespaces.
    inspect) case "$*" in
        *NetworkMode*) echo "container:${HUB_JOINED:-proxy-id}" ;;
        *) echo "proxy-id" ;;
        esac ;;
    exec) echo "net:[4026532181]" ;;
esac
"""
COMPOSE = """#!/usr/bin/env bash
echo "docker-compose $*" >> "$CALLS"
case "$*" in
    *"masterclass.roster demo"*) echo "Demo logins (username  passphrase  login link):"
        echo "  pair-01      quark-tiger-lemon-47   $9/hub/login?username=pair-01" ;;
esac
"""
ENSURE_DOCKER = """#!/usr/bin/env bash
echo "ensure-docker" >> "$CALLS"
ln -s "$FAKE/docker-compose" "$SHIM/docker-compose"
"""
CURL = """#!/usr/bin/env bash
echo "curl $*" >> "$CALLS"
"""


def executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def fresh_machine(tmp_path):
    """A checkout of the scripts and a PATH without docker-compose; returns (run, calls)."""
    checkout, shim, tools, fake = (tmp_path / d for d in ("checkout", "shim", "tools", "fake"))
    for script in SCRIPTS:
        (checkout / script).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / script, checkout / script)
    executable(checkout / ".ci" / "ensure-docker", ENSURE_DOCKER)
    shim.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, f"{tool} is not installed"
        tools.mkdir(exist_ok=True)
        (tools / tool).symlink_to(found)
    executable(tools / "docker", DOCKER)
    executable(tools / "curl", CURL)
    executable(fake / "docker-compose", COMPOSE)
    calls = tmp_path / "calls.log"
    env = {
        "PATH": f"{shim}:{tools}",
        "HOME": str(tmp_path),
        "CALLS": str(calls),
        "SHIM": str(shim),
        "FAKE": str(fake),
        "MASTERCLASS_PORT": "8123",
        "MASTERCLASS_PUBLIC_URL": "http://class.example:8123",
    }

    def run(script: str = "hub/up.sh", **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(checkout / script)],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    yield run, calls, shim


def test_make_up_uses_the_compose_that_the_engine_step_installed(fresh_machine):
    run, calls, shim = fresh_machine
    assert not (shim / "docker-compose").exists()
    up = run()
    log = calls.read_text().splitlines() if calls.exists() else []
    assert up.returncode == 0, f"{up.stdout}\n{up.stderr}\ncalls: {log}"
    assert log[0] == "ensure-docker", log
    assert not [c for c in log if c.startswith("docker compose")], log
    compose = [c.removeprefix("docker-compose ") for c in log if c.startswith("docker-compose")]
    assert compose[0] == "up -d", compose
    assert "up -d --no-deps --force-recreate hub" not in compose, compose
    # The demo's worksheets are released through the same compose, in the formgrader image.
    assert (
        "run --rm --no-deps -T formgrader python3 -m masterclass.grading.autorelease" in compose
    ), compose
    assert "pair-01      quark-tiger-lemon-47   http://class.example:8123/hub/login" in up.stdout


def test_the_environment_wins_over_dot_env_as_in_compose(fresh_machine, tmp_path):
    run, calls, _ = fresh_machine
    (tmp_path / "checkout" / ".env").write_text(
        "MASTERCLASS_PORT=9999  # the port\nMASTERCLASS_UP_TIMEOUT=30\n"
    )
    up = run()
    assert up.returncode == 0, up.stderr
    assert "curl -fs -o /dev/null http://127.0.0.1:8123/hub/health" in calls.read_text()


def test_a_failed_release_fails_make_up_after_printing_the_logins(fresh_machine, tmp_path):
    run, _, _ = fresh_machine
    compose = tmp_path / "fake" / "docker-compose"
    compose.write_text(compose.read_text() + 'case "$*" in *autorelease*) exit 3 ;; esac\n')
    up = run()
    assert up.returncode == 1
    assert "quark-tiger-lemon-47" in up.stdout
    assert "could not be released" in up.stderr


def test_make_up_releases_nothing_for_a_real_class(fresh_machine, tmp_path):
    run, calls, _ = fresh_machine
    compose = tmp_path / "fake" / "docker-compose"
    # No demo-logins.json in the hub's state: the class was created with `class create`.
    compose.write_text(compose.read_text() + 'case "$*" in *"test -f"*) exit 1 ;; esac\n')
    up = run()
    assert up.returncode == 0, up.stderr
    assert "autorelease" not in calls.read_text()


def test_the_stub_path_really_lacks_docker_compose(fresh_machine):
    _, _, shim = fresh_machine
    path = os.pathsep.join([str(shim), str(shim.parent / "tools")])
    assert shutil.which("docker-compose", path=path) is None


def test_a_hub_left_in_an_old_proxy_containers_namespace_is_recreated(fresh_machine):
    """Compose v1 recreated the proxy but called the hub "up-to-date" (hub/start.sh)."""
    run, calls, _ = fresh_machine
    up = run(HUB_JOINED="old-proxy-id")
    assert up.returncode == 0, up.stderr
    assert "recreating the hub" in up.stderr
    compose = [c for c in calls.read_text().splitlines() if c.startswith("docker-compose")]
    assert compose[:2] == [
        "docker-compose up -d",
        "docker-compose up -d --no-deps --force-recreate hub",
    ], compose
