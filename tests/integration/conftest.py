"""Fixtures for the integration tier: a real Docker engine and the built images.

Every container a test starts is named with :data:`PREFIX` followed by this session's
id (:data:`SESSION_PREFIX`); at the end of the session all of them are removed by that
prefix, and the session fails if any is left. The id keeps concurrent sessions on one
engine (developers sharing a machine) from removing each other's containers. When a test
fails, the containers it started are described (state, limits, logs) before removal.

The images are built beforehand by ``make images`` (``make test`` does it); the tests
never build them. A missing engine or image fails loudly: CI installs and starts the
engine with ``.ci/ensure-docker``.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from dataclasses import dataclass

import pytest

#: Name prefix of every container the integration tests start.
PREFIX = "mctest-"
#: The prefix of this session's containers.
SESSION_PREFIX = f"{PREFIX}{uuid.uuid4().hex[:6]}-"

STUDENT_IMAGE = os.environ.get("STUDENT_IMAGE", "masterclass/student:latest")
HUB_IMAGE = os.environ.get("HUB_IMAGE", "masterclass/hub:latest")
PROXY_IMAGE = os.environ.get("PROXY_IMAGE", "masterclass/proxy:latest")


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """Run the docker CLI and return the completed process (text output)."""
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=check
    )


def containers_with_prefix(prefix: str = SESSION_PREFIX) -> list[str]:
    """Names of all containers (running or not) whose name starts with ``prefix``."""
    listed = docker("ps", "--all", "--filter", f"name=^{prefix}", "--format", "{{.Names}}")
    return [name for name in listed.stdout.split() if name.startswith(prefix)]


def remove_by_prefix() -> None:
    names = containers_with_prefix()
    if names:
        docker("rm", "--force", "--volumes", *names, check=False)


@dataclass
class Run:
    """The outcome of one container run."""

    name: str
    exit_code: int
    stdout: str
    stderr: str
    oom_killed: bool

    def explain(self) -> str:
        return (
            f"container {self.name}: exit code {self.exit_code}, OOM-killed: {self.oom_killed}\n"
            f"--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}"
        )


def describe(name: str) -> str:
    """State, limits and logs of a container, for a failure report."""
    inspected = docker("inspect", name, check=False)
    if inspected.returncode != 0:
        return f"{name}: gone ({inspected.stderr.strip()})"
    info = json.loads(inspected.stdout)[0]
    host = info["HostConfig"]
    logs = docker("logs", "--tail", "80", name, check=False)
    return "\n".join(
        [
            f"===== {name} ({info['Config']['Image']}) =====",
            f"state: {json.dumps(info['State'], indent=1)}",
            f"limits: memory={host.get('Memory')} memory+swap={host.get('MemorySwap')} "
            f"nano_cpus={host.get('NanoCpus')} user={info['Config'].get('User')!r}",
            f"cmd: {info['Config'].get('Cmd')}",
            f"--- logs ---\n{logs.stdout}{logs.stderr}",
        ]
    )


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so fixtures can see whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="session")
def docker_engine():
    """A Docker engine that answers; fails (never skips) when there is none."""
    try:
        info = docker("info", "--format", "{{.ServerVersion}}", timeout=30, check=False)
    except FileNotFoundError:
        pytest.fail("the docker CLI is not installed; run .ci/ensure-docker", pytrace=False)
    if info.returncode != 0:
        pytest.fail(
            f"no Docker engine answers ({info.stderr.strip()}); run .ci/ensure-docker",
            pytrace=False,
        )
    yield info.stdout.strip()
    remove_by_prefix()
    left = containers_with_prefix()
    assert not left, f"test containers left behind: {left}"


def _require_image(image: str) -> str:
    if docker("image", "inspect", image, check=False).returncode != 0:
        pytest.fail(f"image {image} is missing; build it first with `make images`", pytrace=False)
    return image


@pytest.fixture(scope="session")
def docker_cli(docker_engine):
    """The :func:`docker` helper: ``docker_cli("image", "inspect", tag).stdout``."""
    return docker


@pytest.fixture(scope="session")
def student_image(docker_engine) -> str:
    """Tag of the built student image."""
    return _require_image(STUDENT_IMAGE)


@pytest.fixture(scope="session")
def hub_image(docker_engine) -> str:
    """Tag of the built hub image."""
    return _require_image(HUB_IMAGE)


@pytest.fixture(scope="session")
def proxy_image(docker_engine) -> str:
    """Tag of the built proxy image (configurable-http-proxy, images/proxy)."""
    return _require_image(PROXY_IMAGE)


@pytest.fixture
def run_container(request, docker_engine):
    """Run a command in a fresh, prefixed container and wait for it (a factory).

    ``run_container(image, *command, memory="8g", cpus=None, timeout=600, env=None)``
    returns a :class:`Run`. Memory and memory+swap are set to the same value, so the
    limit is real. Containers are removed after the test, and described if it failed.
    """
    started: list[str] = []

    def run(image, *command, memory="8g", cpus=None, timeout=600, env=None) -> Run:
        name = f"{SESSION_PREFIX}{request.node.name[:40].strip('_')}-{uuid.uuid4().hex[:6]}"
        name = "".join(c if c.isalnum() or c in "_.-" else "-" for c in name)
        args = ["run", "--detach", "--name", name, "--memory", memory, "--memory-swap", memory]
        if cpus is not None:
            args += ["--cpus", str(cpus)]
        for key, value in (env or {}).items():
            args += ["--env", f"{key}={value}"]
        docker(*args, image, *command)
        started.append(name)
        try:
            waited = docker("wait", name, timeout=timeout)
        except subprocess.TimeoutExpired:
            docker("kill", name, check=False)
            pytest.fail(f"{name} did not finish within {timeout}s\n{describe(name)}")
        logs = docker("logs", name)
        state = json.loads(docker("inspect", name).stdout)[0]["State"]
        return Run(
            name=name,
            exit_code=int(waited.stdout.strip()),
            stdout=logs.stdout,
            stderr=logs.stderr,
            oom_killed=bool(state.get("OOMKilled")),
        )

    yield run

    failed = any(
        getattr(request.node, f"report_{when}", None) is not None
        and getattr(request.node, f"report_{when}").failed
        for when in ("setup", "call")
    )
    if failed:
        for name in started:
            print(describe(name))
    if started:
        docker("rm", "--force", *started, check=False)
