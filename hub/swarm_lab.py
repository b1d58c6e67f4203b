#!/usr/bin/env python3
"""`make swarm-lab`: a Docker Swarm of one manager and two workers on this machine, class included.

Each node is a container of ``masterclass/swarm-node`` (images/swarm-node: Debian's
``docker.io`` on the local base image) with its own engine; its ``/var/lib/docker`` is a
volume of this machine's engine. The lab

1. builds the node image (when missing or changed) and starts the nodes on a network of
   their own, with fixed addresses (a node that is stopped and started keeps its address);
2. loads the student, hub and proxy images into each node that lacks them (one ``docker save``,
   streamed into every node's ``docker load``: docs/scale-out.md says why not a registry);
3. provisions the nodes with ``ansible/swarm.yml`` (the swarm role) through Ansible's
   docker connection: daemon.json, firewall, ``swarm init`` inside the manager (never on
   this machine's own engine), the workers' ``join``, the node labels;
4. deploys the class on the manager with docker-compose.yml + docker-compose.swarm.yml
   (proxy, hub, exchange, formgrader), creates the demo class, releases the worksheet, and
   prints the URL and the logins as ``make up`` does.

``down`` removes every container, network, volume and file of the lab.

Usage::

    python3 hub/swarm_lab.py up [--workers 2] [--port 8100]
    python3 hub/swarm_lab.py down
    python3 hub/swarm_lab.py cli class status --once   # the organiser CLI on the manager

Environment: ``SWARM_LAB`` (the lab's name and prefix of its Docker objects, default
``masterclass-lab``), ``MASTERCLASS_PREFIX`` (the class's prefix on the manager, default
``masterclass``), ``STUDENT_IMAGE``/``HUB_IMAGE``/``PROXY_IMAGE``, ``ANSIBLE_PLAYBOOK``,
``LOCAL_BASE_IMAGE``, and any ``MASTERCLASS_*`` setting of docs/configuration.md for the
class. The tests (tests/integration/test_swarm.py) drive the same :class:`Lab`.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = ROOT / "images" / "swarm-node"
NODE_IMAGE = "masterclass/swarm-node:latest"
#: Where the class lives on the manager (as on a server provisioned by Ansible).
PROJECT = "/opt/masterclass-hub"
#: Files of this checkout the class needs on the manager.
PROJECT_FILES = [
    "docker-compose.yml",
    "docker-compose.swarm.yml",
    "hub/jupyterhub_config.py",
    "hub/jupyterhub_config.d",
    "hub/templates",
    "hub/course",
    "worksheets",
]
#: The lab's networks come from here, outside Docker's default address pools.
SUBNETS = ipaddress.ip_network("10.213.0.0/16")
#: What a node container needs instead of --privileged: every capability this engine can
#: grant (where it lacks CAP_SYS_RESOURCE, --privileged fails with "unable to apply
#: caps"), no seccomp/AppArmor profile, unmasked /proc and /sys, every device.
NODE_SECURITY = [
    "--cap-add=ALL",
    "--security-opt=seccomp=unconfined",
    "--security-opt=apparmor=unconfined",
    "--security-opt=systempaths=unconfined",
    "--device-cgroup-rule=a *:* rwm",
]


def say(text: str) -> None:
    print(f"\033[1m==> {text}\033[0m", file=sys.stderr, flush=True)


def run(*args: str, check: bool = True, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args[:8])} failed ({result.returncode}):\n{result.stdout[-3000:]}"
            f"\n{result.stderr[-3000:]}"
        )
    return result


def docker(*args: str, **kw) -> subprocess.CompletedProcess:
    return run("docker", *args, **kw)


def can_grant_all_capabilities() -> bool:
    """Whether this engine can start --privileged containers (it needs every capability)."""
    status = Path("/proc/self/status").read_text()
    bounding = int(
        next(line.split()[1] for line in status.splitlines() if line.startswith("CapBnd")), 16
    )
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    return bounding & ((1 << (last + 1)) - 1) == (1 << (last + 1)) - 1


class Lab:
    """The lab's nodes, their network and volumes, and the class on the manager."""

    def __init__(
        self,
        name: str | None = None,
        workers: int = 2,
        port: int | None = None,
        env: dict[str, str] | None = None,
        files: dict[str, str] | None = None,
        demo: bool = True,
    ) -> None:
        self.name = name or os.environ.get("SWARM_LAB", "masterclass-lab")
        # Files of the project on the manager replaced or added (the tests' tiny course).
        self.files = files or {}
        # The demo class (3 pairs, 1 tutor) with its worksheet released, as `make up` does.
        self.demo = demo
        self.workers = [f"{self.name}-worker-{i}" for i in range(1, workers + 1)]
        self.manager = f"{self.name}-manager"
        self.network = f"{self.name}-net"
        self.port = port
        self.env = dict(os.environ if env is None else env)
        self.prefix = self.env.get("MASTERCLASS_PREFIX", "masterclass")
        self.student_image = self.env.get("STUDENT_IMAGE", "masterclass/student:latest")
        self.hub_image = self.env.get("HUB_IMAGE", "masterclass/hub:latest")
        self.proxy_image = self.env.get("PROXY_IMAGE", "masterclass/proxy:latest")
        self.run_dir = Path(tempfile.gettempdir()) / self.name

    # --- names and addresses -------------------------------------------------------------

    @property
    def nodes(self) -> list[str]:
        return [self.manager, *self.workers]

    def volume(self, node: str) -> str:
        return f"{node}-docker"

    def subnet(self) -> ipaddress.IPv4Network:
        out = docker(
            "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", self.network
        )
        return ipaddress.ip_network(out.stdout.strip())

    def address(self, node: str) -> str:
        """A node's fixed address: .10 for the manager, .11, .12, ... for the workers."""
        return str(self.subnet().network_address + 10 + self.nodes.index(node))

    @property
    def url(self) -> str:
        """The hub as this machine reaches it: the manager's address, port 8000."""
        return f"http://{self.address(self.manager)}:8000"

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.port}" if self.port else self.url

    def in_node(
        self,
        node: str,
        *command: str,
        check: bool = True,
        timeout: float = 600,
        input: str | None = None,
    ) -> subprocess.CompletedProcess:
        interactive = ["-i"] if input is not None else []
        return docker(
            "exec", *interactive, node, *command, check=check, timeout=timeout, input=input
        )

    def node_docker(self, node: str, *args: str, **kw) -> subprocess.CompletedProcess:
        """The docker CLI of a node's own engine."""
        return docker("exec", node, "docker", *args, **kw)

    def manager_compose(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return docker("exec", "-w", PROJECT, self.manager, "docker-compose", *args, **kw)

    # --- up ------------------------------------------------------------------------------------

    def up(self) -> None:
        started = time.monotonic()
        self.node_image()
        self.start_nodes()
        self.load_images()
        self.provision()
        self.deploy()
        say(f"swarm lab ready in {time.monotonic() - started:.0f} s")

    def node_image(self) -> None:
        recipe = hashlib.sha256(
            b"".join(p.read_bytes() for p in sorted(NODE_DIR.iterdir()) if p.is_file())
        ).hexdigest()[:16]
        have = docker(
            "image",
            "inspect",
            "-f",
            '{{index .Config.Labels "org.masterclass.swarm-node-recipe"}}',
            NODE_IMAGE,
            check=False,
        ).stdout.strip()
        if have == recipe:
            return
        base = self.env.get("LOCAL_BASE_IMAGE", "masterclass/debian-base:bookworm")
        if docker("image", "inspect", base, check=False).returncode != 0:
            base = "debian:bookworm-slim"
        say(f"building {NODE_IMAGE} from {base}")
        docker(
            "build",
            "--build-arg",
            f"BASE_IMAGE={base}",
            "--label",
            f"org.masterclass.swarm-node-recipe={recipe}",
            "-t",
            NODE_IMAGE,
            str(NODE_DIR),
            timeout=1200,
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
        )

    def create_network(self) -> None:
        if docker("network", "inspect", self.network, check=False).returncode == 0:
            return
        taken = set()
        for net in docker("network", "ls", "-q").stdout.split():
            for subnet in docker(
                "network",
                "inspect",
                "-f",
                "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
                net,
                check=False,
            ).stdout.split():
                taken.add(ipaddress.ip_network(subnet, strict=False))
        start = int(hashlib.sha256(self.name.encode()).hexdigest(), 16) % 256
        for i in range(256):
            subnet = list(SUBNETS.subnets(new_prefix=24))[(start + i) % 256]
            if not any(subnet.overlaps(t) for t in taken):
                break
        else:
            raise RuntimeError(f"no free /24 left in {SUBNETS} for the lab's network")
        docker(
            "network",
            "create",
            "--subnet",
            str(subnet),
            "--label",
            f"org.masterclass.swarm-lab={self.name}",
            self.network,
        )

    def start_nodes(self) -> None:
        self.create_network()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        security = ["--privileged"] if can_grant_all_capabilities() else NODE_SECURITY
        if security is NODE_SECURITY:
            # The bounding set lacks some capability: ask only for what is there.
            security = [*NODE_SECURITY, "--cap-drop=SYS_RESOURCE"]
        for node in self.nodes:
            state = docker("inspect", "-f", "{{.State.Running}}", node, check=False).stdout.strip()
            if state == "true":
                continue
            if state == "false":
                docker("start", node)
                continue
            extra = []
            if node == self.manager and self.port:
                # The class's plain-HTTP port also on this machine's localhost.
                extra = ["-p", f"127.0.0.1:{self.port}:8000"]
            docker(
                "run",
                "-d",
                "--name",
                node,
                "--hostname",
                node,
                *security,
                "--network",
                self.network,
                "--ip",
                self.address(node),
                "-v",
                f"{self.volume(node)}:/var/lib/docker",
                "--label",
                f"org.masterclass.swarm-lab={self.name}",
                *extra,
                NODE_IMAGE,
            )
        for node in self.nodes:
            self.wait_engine(node)

    def stop_node(self, node: str) -> None:
        """Stop a node as a machine that is switched off (its engine stops its containers)."""
        docker("stop", "-t", "20", node)

    def start_node(self, node: str) -> None:
        """Start a stopped node again; it keeps its address, images, volumes and swarm."""
        docker("start", node)
        self.wait_engine(node)

    def wait_engine(self, node: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.node_docker(node, "info", check=False).returncode != 0:
            if time.monotonic() > deadline:
                logs = docker("logs", "--tail", "40", node, check=False)
                raise RuntimeError(
                    f"the engine in {node} did not answer:\n{logs.stdout}{logs.stderr}"
                )
            time.sleep(1)

    def image_id(self, node: str | None, image: str) -> str | None:
        args = ("image", "inspect", "-f", "{{.Id}}", image)
        out = self.node_docker(node, *args, check=False) if node else docker(*args, check=False)
        return out.stdout.strip() if out.returncode == 0 else None

    def load_images(self) -> None:
        """Each node gets what it runs: workers the student image, the manager all three."""
        everything = [self.student_image, self.hub_image, self.proxy_image]
        for image in everything:
            if self.image_id(None, image) is None:
                raise RuntimeError(f"{image} is missing here: build it first (make images)")
        wanted = {self.manager: everything}
        wanted.update({w: [self.student_image] for w in self.workers})
        for image in everything:
            want = self.image_id(None, image)
            nodes = [
                n
                for n, images in wanted.items()
                if image in images and self.image_id(n, image) != want
            ]
            if nodes:
                say(f"loading {image} into {', '.join(nodes)}")
                self.stream_image(image, nodes)

    def stream_image(self, image: str, nodes: list[str]) -> None:
        """One ``docker save``, written into every node's ``docker load`` at once."""
        save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
        loads = [
            subprocess.Popen(
                ["docker", "exec", "-i", n, "docker", "load", "-q"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for n in nodes
        ]
        outputs: dict[int, bytes] = {}

        def drain(i, proc):
            outputs[i] = proc.stdout.read()

        readers = [threading.Thread(target=drain, args=(i, p)) for i, p in enumerate(loads)]
        for reader in readers:
            reader.start()
        while chunk := save.stdout.read(1 << 20):
            for load in loads:
                load.stdin.write(chunk)
        for load in loads:
            load.stdin.close()
        for reader, load in zip(readers, loads, strict=True):
            reader.join()
            load.wait()
        if save.wait() != 0 or any(load.returncode for load in loads):
            raise RuntimeError(f"loading {image} failed: {outputs}")

    def inventory(self) -> Path:
        """An inventory of the nodes for Ansible's docker connection."""
        lines = [
            "[masterclass]",
            f"{self.manager}",
            "",
            "[swarm_workers]",
            *self.workers,
            "",
            "[swarm:children]",
            "masterclass",
            "swarm_workers",
            "",
            "[swarm:vars]",
            "ansible_connection=community.docker.docker",
            "ansible_user=root",
            "ansible_become=false",
        ]
        path = self.run_dir / "inventory"
        path.write_text("\n".join(lines) + "\n")
        return path

    def provision(self, check_idempotent: bool = False) -> str:
        """Run ansible/swarm.yml on the nodes; returns Ansible's output."""
        say("provisioning the nodes with ansible/swarm.yml (roles/swarm)")
        playbook = (
            self.env.get("ANSIBLE_PLAYBOOK")
            or shutil.which("ansible-playbook")
            or str(Path(sys.executable).parent / "ansible-playbook")
        )
        variables = self.run_dir / "vars.json"
        variables.write_text(
            json.dumps(
                {
                    # The node image has Debian's docker.io; its init script runs it (no systemd).
                    "masterclass_manage_docker_engine": False,
                }
            )
        )
        env = {
            **os.environ,
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg"),
            "PATH": f"{Path(playbook).parent}:{os.environ.get('PATH', '')}",
        }
        result = run(
            playbook,
            "-i",
            str(self.inventory()),
            "-e",
            f"@{variables}",
            "swarm.yml",
            cwd=ROOT / "ansible",
            env=env,
            timeout=1200,
        )
        return result.stdout

    def env_file(self) -> str:
        settings = {
            "COMPOSE_FILE": "docker-compose.yml:docker-compose.swarm.yml",
            "COMPOSE_PROJECT_NAME": self.prefix,
            "MASTERCLASS_PREFIX": self.prefix,
            # This machine reaches the hub on the manager's address.
            "MASTERCLASS_BIND": "0.0.0.0",
            "MASTERCLASS_PORT": "8000",
            "MASTERCLASS_PUBLIC_URL": self.public_url,
            "MASTERCLASS_STUDENT_IMAGE": self.student_image,
            "MASTERCLASS_HUB_IMAGE": self.hub_image,
            "MASTERCLASS_PROXY_IMAGE": self.proxy_image,
        }
        for key, value in self.env.items():
            if key.startswith("MASTERCLASS_") and key not in settings:
                settings[key] = value
        return "".join(f"{k}={v}\n" for k, v in sorted(settings.items()))

    def deploy(self) -> None:
        say(f"deploying the class on {self.manager}")
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / "project.tar"
            run("tar", "-cf", str(archive), "--exclude=__pycache__", *PROJECT_FILES, cwd=ROOT)
            self.in_node(self.manager, "mkdir", "-p", PROJECT)
            docker("cp", str(archive), f"{self.manager}:/tmp/project.tar")
        self.in_node(self.manager, "tar", "-xf", "/tmp/project.tar", "-C", PROJECT)
        for path, text in self.files.items():
            target = f"{PROJECT}/{path}"
            self.in_node(self.manager, "sh", "-c", f'mkdir -p "$(dirname {target})"')
            self.in_node(self.manager, "sh", "-c", f"cat > {target}", input=text)
        self.in_node(self.manager, "sh", "-c", f"cat > {PROJECT}/.env", input=self.env_file())
        self.manager_compose("up", "-d", timeout=600)
        self.wait_hub()
        if not self.demo:
            return
        hub = ("exec", "-T", "hub")
        roster = ("python", "-m", "masterclass.roster", "demo", "/srv/jupyterhub/state")
        logins = self.manager_compose(*hub, *roster, self.public_url).stdout
        # The course's worksheets released, so a pair's first login opens one (make up).
        release = ("python3", "-m", "masterclass.grading.autorelease")
        self.manager_compose("run", "--rm", "--no-deps", "-T", "formgrader", *release, timeout=600)
        print(f"\n{logins}\n")
        print(f"Nodes: {', '.join(f'{n} ({self.address(n)})' for n in self.nodes)}")
        print("The organiser CLI on the manager: python3 hub/swarm_lab.py cli class status --once")
        print("Remove everything with 'make swarm-lab-down'.")

    def wait_hub(self, timeout: float = 240) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/hub/health", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                logs = self.manager_compose("logs", "--tail=80", "hub", check=False)
                raise RuntimeError(f"the hub on {self.manager} did not answer:\n{logs.stdout}")
            time.sleep(2)

    def cli(self, *args: str, check: bool = True, timeout: float = 1800):
        """``masterclass <args>`` on the manager, as the Ansible role installs it there.

        The organiser CLI runs from the hub image with the manager's Docker socket, the
        project files and a scratch folder under the same paths as on the manager, so
        what it hands to Docker (the course, collect's snapshots) are the manager's paths.
        """
        scratch = f"/tmp/masterclass-cli-{os.getpid()}"
        script = (
            f"mkdir -p {scratch} /root/class && "
            "docker run --rm -i --pull never --network host "
            "-v /var/run/docker.sock:/var/run/docker.sock "
            f"-v {PROJECT}:{PROJECT}:ro -v /root/class:/root/class -v {scratch}:{scratch} "
            f"-w {PROJECT} -e MASTERCLASS_CLASS_DIR=/root/class -e TMPDIR={scratch} "
            f'-e COLUMNS=200 -e NO_COLOR=1 {self.hub_image} masterclass "$@"; '
            f"code=$?; rm -rf {scratch}; exit $code"
        )
        return docker(
            "exec",
            "-i",
            self.manager,
            "sh",
            "-c",
            script,
            "sh",
            *args,
            check=check,
            timeout=timeout,
        )

    def explain(self) -> str:
        """The nodes, the pairs' services and the hub's last log lines (for a failure)."""
        parts = []
        for args in (("node", "ls"), ("service", "ls")):
            out = self.node_docker(self.manager, *args, check=False)
            parts.append(out.stdout + out.stderr)
        services = self.node_docker(self.manager, "service", "ls", "-q", check=False).stdout.split()
        for service in services:
            out = self.node_docker(
                self.manager, "service", "ps", "--no-trunc", service, check=False
            )
            parts.append(out.stdout)
        logs = self.manager_compose("logs", "--tail=60", "hub", check=False)
        parts.append(logs.stdout[-6000:])
        return "\n".join(parts)

    # --- down ----------------------------------------------------------------------------------

    def down(self) -> None:
        """Remove the nodes (their engines, services and pairs' homes go with their volumes)."""
        labelled = docker(
            "ps", "-aq", "--filter", f"label=org.masterclass.swarm-lab={self.name}"
        ).stdout.split()
        if labelled:
            docker("rm", "-f", "-v", *labelled, timeout=300)
        if docker("network", "inspect", self.network, check=False).returncode == 0:
            docker("network", "rm", self.network)
        volumes = [self.volume(n) for n in self.nodes]
        present = [
            v for v in volumes if docker("volume", "inspect", v, check=False).returncode == 0
        ]
        if present:
            docker("volume", "rm", "-f", *present)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def leftovers(self) -> list[str]:
        """Anything of the lab still on this machine's engine (empty after down())."""
        left = docker(
            "ps", "-aq", "--filter", f"label=org.masterclass.swarm-lab={self.name}"
        ).stdout.split()
        left += [
            n
            for n in [self.network]
            if docker("network", "inspect", n, check=False).returncode == 0
        ]
        left += [
            v
            for v in map(self.volume, self.nodes)
            if docker("volume", "inspect", v, check=False).returncode == 0
        ]
        return left


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "cli"])
    parser.add_argument("--workers", type=int, default=2, help="worker nodes (default 2)")
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("SWARM_LAB_PORT", "8100")),
        help="the hub also on 127.0.0.1:PORT of this machine (default 8100; 0: not)",
    )
    parser.add_argument("args", nargs=argparse.REMAINDER, help="cli: masterclass's arguments")
    args = parser.parse_args(argv)
    lab = Lab(workers=args.workers, port=args.port or None)
    if args.command == "up":
        try:
            lab.up()
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"swarm lab: {e}", file=sys.stderr)
            return 1
    elif args.command == "down":
        lab.down()
        left = lab.leftovers()
        if left:
            print(f"swarm lab: left behind: {', '.join(left)}", file=sys.stderr)
            return 1
        say(f"swarm lab {lab.name} removed")
    else:
        result = lab.cli(*args.args, check=False)
        print(result.stdout, end="")
        print(result.stderr, end="", file=sys.stderr)
        return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
