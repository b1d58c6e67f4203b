"""The Ansible playbook (ansible/site.yml) applied for real, through Ansible's docker connection.

Targets are containers of the project's own Debian base image
(``masterclass/debian-base:bookworm``, from ``make base-image``), named ``mctest-ansible-…``
and removed by that prefix. A container has no Docker engine and no systemd, so these runs
set ``masterclass_manage_docker_engine: false`` and ``masterclass_run_stack: false``: they
prove the bare-server bootstrap (Python, apt packages), the project files, ``.env``, the
compose project (resolved with ``docker-compose config`` on the host), the units, the
secrets generated on the target with mode 600, the firewall rules (in the container's own
network namespace, with ``NET_ADMIN``), the backup script, the offline bundle without any
network, the organiser CLI's wrapper (installed, but with no engine it cannot run), and a
second run with ``changed=0``. NOT covered here: installing and starting Docker Engine,
loading or building images, starting the stack, creating the first class, Caddy's
certificates and systemd itself (see ansible/README.md).

The stack part (the first class made by the organiser CLI from the hub image, its cards
with QR codes, compose up, a pair's login, the installed wrapper running ``class cards``)
runs with connection local against this machine's own engine and the built hub image, all
paths in a temporary folder.
The TLS decision (ACME or Caddy's own CA) runs without Docker, on localhost.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BASE_IMAGE = os.environ.get("LOCAL_BASE_IMAGE", "masterclass/debian-base:bookworm")
#: Every container and image these tests make starts with this.
PREFIX = f"mctest-ansible-{uuid.uuid4().hex[:6]}"

#: The test mode: no engine in the target, so no engine, images, stack or class.
TEST_VARS = {
    "masterclass_manage_docker_engine": False,
    "masterclass_run_stack": False,
    "masterclass_first_class_pairs": 4,
    "masterclass_first_class_tutors": 1,
    "masterclass_mem_limit": "4G",
    "masterclass_cpu_limit": 1,
    "masterclass_lang": "en",
    "masterclass_domain": "hub.school.example",
    "masterclass_admin_email": "admin@school.example",
    "backup_enabled": True,
}


def run(
    *args: str, check: bool = True, timeout: float = 600, **kwargs
) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args[:6])} … failed ({result.returncode})\n"
            f"--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-3000:]}"
        )
    return result


def in_target(name: str, script: str, check: bool = True) -> subprocess.CompletedProcess:
    return run("docker", "exec", name, "sh", "-c", script, check=check)


def recap(output: str, host: str) -> dict[str, int]:
    """The counters of ``host`` in the PLAY RECAP (ok, changed, failed, …)."""
    line = re.search(rf"^{re.escape(host)}\s*:(.*)$", output, re.MULTILINE)
    assert line, f"no PLAY RECAP line for {host}:\n{output[-3000:]}"
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line.group(1))}


def changed_tasks(output: str) -> list[str]:
    """Names of the tasks that reported a change, for a helpful failure message."""
    names, current = [], None
    for line in output.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            current = line
        elif line.startswith("changed:") and current not in names:
            names.append(current)
    return names


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> Path:
    """A frozen copy of the project files and ansible/, so edits elsewhere cannot leak in."""
    root = tmp_path_factory.mktemp("ansible-src")
    run(str(REPO / "ansible" / "bundle.sh"), "project", str(root / "project.tar"))
    with tarfile.open(root / "project.tar") as tar:
        tar.extractall(root / "src", filter="tar")
    shutil.copytree(REPO / "ansible", root / "src" / "ansible")
    return root / "src"


@pytest.fixture(scope="module")
def targets(docker_engine):
    """Start target containers by name; all of them (and test images) go at the end."""
    started: list[str] = []
    images: list[str] = []

    def start(suffix: str, image: str, *docker_args: str) -> str:
        name = f"{PREFIX}-{suffix}"
        run("docker", "run", "--detach", "--name", name, "--cap-add", "NET_ADMIN",
            *docker_args, image, "sleep", "infinity")  # fmt: skip
        started.append(name)
        return name

    start.images = images
    yield start
    if started:
        run("docker", "rm", "--force", *started, check=False)
    if images:
        run("docker", "rmi", "--force", *images, check=False)
    left = run("docker", "ps", "-aq", "--filter", f"name=^{PREFIX}").stdout.split()
    assert not left, f"test targets left behind: {left}"


@pytest.fixture(scope="module")
def base_image(docker_engine) -> str:
    if run("docker", "image", "inspect", BASE_IMAGE, check=False).returncode != 0:
        pytest.fail(f"{BASE_IMAGE} is missing; run `make base-image`", pytrace=False)
    return BASE_IMAGE


def playbook(snapshot: Path, target: str, tmp_path: Path, **extra) -> subprocess.CompletedProcess:
    """Run site.yml against the container ``target``; returns the finished process."""
    inventory = tmp_path / "inventory"
    inventory.write_text(
        f"[masterclass]\n{target} ansible_connection=community.docker.docker ansible_become=false\n"
    )
    variables = tmp_path / "vars.json"
    variables.write_text(json.dumps({**TEST_VARS, **extra}))
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "PATH": f"{BIN}:{os.environ['PATH']}"}
    return run(
        str(BIN / "ansible-playbook"), "-i", str(inventory), "-e", f"@{variables}", "site.yml",
        cwd=snapshot / "ansible", env=env, check=False, timeout=900,
    )  # fmt: skip


def apply_twice(snapshot: Path, target: str, tmp_path: Path, **extra) -> tuple[str, dict]:
    first = playbook(snapshot, target, tmp_path, **extra)
    assert first.returncode == 0, (
        f"first run failed:\n{first.stdout[-8000:]}\n{first.stderr[-2000:]}"
    )
    assert recap(first.stdout, target)["changed"] > 0
    second = playbook(snapshot, target, tmp_path, **extra)
    assert second.returncode == 0, f"second run failed:\n{second.stdout[-8000:]}"
    counts = recap(second.stdout, target)
    assert counts["changed"] == 0, f"second run changed: {changed_tasks(second.stdout)}"
    assert counts["failed"] == 0
    return second.stdout, counts


def stat(target: str, *paths: str) -> dict[str, str]:
    """path → 'mode owner:group' inside the target."""
    out = in_target(target, "stat -c '%n %a %U:%G' " + " ".join(paths)).stdout
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in out.splitlines()}


def check_secrets(target: str) -> str:
    """The secrets are mode 600, root's, 32 random bytes in hex; returns the cookie secret."""
    state = "/srv/masterclass/hub-state"
    modes = stat(target, state, f"{state}/jupyterhub_cookie_secret", f"{state}/proxy_token",
                 "/etc/masterclass", "/etc/masterclass/class",
                 "/opt/masterclass-hub/.env")  # fmt: skip
    assert modes == {
        state: "700 root:root",
        f"{state}/jupyterhub_cookie_secret": "600 root:root",
        f"{state}/proxy_token": "600 root:root",
        "/etc/masterclass": "700 root:root",
        "/etc/masterclass/class": "700 root:root",
        "/opt/masterclass-hub/.env": "600 root:root",
    }
    cookie = in_target(target, f"cat {state}/jupyterhub_cookie_secret").stdout.strip()
    token = in_target(target, f"cat {state}/proxy_token").stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cookie) and re.fullmatch(r"[0-9a-f]{64}", token)
    assert cookie != token
    return cookie


def check_cli_wrapper(target: str) -> None:
    """The organiser CLI's wrapper is installed; without an engine it says so and fails."""
    path = "/usr/local/bin/masterclass"
    assert stat(target, path) == {path: "755 root:root"}
    in_target(target, f"sh -n {path}")
    wrapper = in_target(target, f"cat {path}").stdout
    for part in ("image=masterclass/hub:latest", '"$image" masterclass "$@"',
                 "/var/run/docker.sock",
                 '--workdir "$install_dir"', "install_dir=/opt/masterclass-hub",
                 "class_dir=/etc/masterclass/class"):  # fmt: skip
        assert part in wrapper, part
    ran = in_target(
        target, f"mkdir -p /tmp/cli && TMPDIR=/tmp/cli {path} class --help", check=False
    )
    assert ran.returncode != 0 and "docker" in ran.stderr, ran
    assert not in_target(target, "ls -A /tmp/cli").stdout.strip(), "scratch folder left behind"


@pytest.mark.docker
def test_bare_debian_server_online(snapshot, targets, base_image, tmp_path, docker_cli):
    target = targets("online", base_image)
    assert in_target(target, "command -v python3", check=False).returncode != 0, "base has python3?"

    apply_twice(snapshot, target, tmp_path)
    check_secrets(target)
    check_cli_wrapper(target)

    # The settings reached .env; HTTPS with an ACME certificate for a public name + e-mail.
    env = dict(
        line.split("=", 1)
        for line in in_target(target, "cat /opt/masterclass-hub/.env").stdout.splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert env["MASTERCLASS_MEM_LIMIT"] == "4G" and env["MASTERCLASS_CPU_LIMIT"] == "1"
    assert env["MASTERCLASS_LANG"] == "en"
    assert env["MASTERCLASS_TLS"] == "admin@school.example"
    assert env["MASTERCLASS_PUBLIC_URL"] == "https://hub.school.example"
    assert "docker-compose.https.yml" in env["COMPOSE_FILE"]

    # The compose project the unit starts resolves, with its volumes bound to /srv/masterclass.
    project = tmp_path / "project"
    run("docker", "cp", f"{target}:/opt/masterclass-hub", str(project))
    config = run("docker-compose", "config", cwd=project).stdout
    for volume, folder in [("hub-state", "hub-state"), ("exchange", "exchange"),
                           ("caddy-data", "caddy-data")]:  # fmt: skip
        assert re.search(
            rf"device: /srv/masterclass/{folder}\n(.*\n)*?\s+name: masterclass-{volume}", config
        ), config
    assert "caddy:2" in config and "MASTERCLASS_MEM_LIMIT: 4G" in config
    unit = in_target(target, "cat /etc/systemd/system/masterclass-hub.service").stdout
    assert "WorkingDirectory=/opt/masterclass-hub" in unit
    assert "ExecStart=/opt/masterclass-hub/hub/start.sh --remove-orphans" in unit
    assert 'Environment="MASTERCLASS_COMPOSE=docker-compose"' in unit
    # Started after Docker, but not stopped with it: a Docker restart (live-restore on)
    # must not run ExecStop, which stops every pair's server.
    assert re.search(r"^Wants=docker\.service", unit, re.M)
    assert re.search(r"^After=docker\.service", unit, re.M)
    assert not re.search(r"^(Requires|BindsTo|PartOf)=.*docker", unit, re.M)

    # The firewall: only 22, 80, 443 in; published Docker ports only 80 and 443.
    rules = in_target(target, "iptables -S; ip6tables -S").stdout
    assert rules.count("-A INPUT -j MASTERCLASS-INPUT") == 2
    accepted = re.findall(r"-A MASTERCLASS-INPUT -p tcp -m tcp --dport (\d+) -j ACCEPT", rules)
    assert sorted(set(accepted), key=int) == ["22", "80", "443"]
    assert rules.count("-A MASTERCLASS-INPUT -j DROP") == 2
    assert "-A FORWARD -j DOCKER-USER" in rules
    ports = re.findall(r"-A DOCKER-USER .*--ctorigdstport (\d+) .*-j RETURN", rules)
    assert ports == ["80", "443"] and rules.rstrip().count("-A DOCKER-USER -j DROP") == 1

    # Unattended security upgrades; the backup saves the hub state, root-only.
    conf = in_target(target, "cat /etc/apt/apt.conf.d/20auto-upgrades").stdout
    assert 'APT::Periodic::Unattended-Upgrade "1";' in conf
    backup = in_target(target, "/usr/local/sbin/masterclass-backup")
    assert "no Docker engine answers" in backup.stderr
    folder = backup.stdout.split()[-1]
    listing = in_target(target, f"tar -tzf {folder}/hub-state.tar.gz").stdout.split()
    assert "hub-state/jupyterhub_cookie_secret" in listing and "hub-state/proxy_token" in listing
    assert stat(target, "/var/backups/masterclass", folder) == {
        "/var/backups/masterclass": "700 root:root",
        folder: "700 root:root",
    }


@pytest.fixture(scope="module")
def offline_image(targets, base_image) -> str:
    """The base image with Python, iptables and unattended-upgrades, as a server would have."""
    prep = targets("prep", base_image)
    packages = "python3 iptables unattended-upgrades"
    in_target(
        prep,
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
        f"--no-install-recommends {packages} >/dev/null",
    )
    image = f"{PREFIX}-offline:latest"
    run("docker", "commit", prep, image)
    targets.images.append(image)
    run("docker", "rm", "--force", prep)
    return image


@pytest.fixture(scope="module")
def test_bundle(tmp_path_factory, base_image) -> Path:
    """A bundle as `make bundle` makes it, with the small base image and a tiny event store."""
    import numpy as np

    root = tmp_path_factory.mktemp("bundle")
    store = root / "store"
    store.mkdir()
    np.save(store / "events.npy", np.zeros((2, 200, 200, 3), dtype=np.uint8))
    (store / "events.json").write_text(json.dumps({"format": 1, "events": []}))
    env = {**os.environ, "BUNDLE_IMAGES": base_image, "BUNDLE_EVENTS": str(store)}
    run(str(REPO / "ansible" / "bundle.sh"), str(root / "bundle.tar"), env=env)
    return root / "bundle.tar"


@pytest.mark.docker
def test_bundle_contents(test_bundle, base_image, docker_cli):
    import hashlib

    with tarfile.open(test_bundle) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("masterclass-bundle/MANIFEST.json"))
        for name, digest in manifest["sha256"].items():
            data = tar.extractfile(f"masterclass-bundle/{name}").read()
            assert hashlib.sha256(data).hexdigest() == digest, name
        members = {}
        for name in ("images.tar", "events.tar", "project.tar"):
            with tarfile.open(fileobj=tar.extractfile(f"masterclass-bundle/{name}")) as inner:
                members[name] = inner.getnames()
                if name == "images.tar":
                    repositories = json.load(inner.extractfile("repositories"))
    events, project = members["events.tar"], members["project.tar"]
    assert {"images.tar", "project.tar", "events.tar", "MANIFEST.json"} <= {
        n.split("/", 1)[-1] for n in names
    }
    image_id = docker_cli("image", "inspect", "-f", "{{.Id}}", base_image).stdout.strip()
    assert manifest["images"] == {base_image: image_id}
    assert base_image.split(":")[0] in repositories
    assert "events/events.npy" in events and "events/events.json" in events
    assert {"docker-compose.yml", "hub/Caddyfile", "hub/jupyterhub_config.py"} <= set(project)
    # What `masterclass class release` hands out, from the course file's sources.
    assert {"hub/course/course.toml", "worksheets/de/nbgrader_config.py",
            "worksheets/en/nbgrader_config.py"} <= set(project)  # fmt: skip
    assert any(n.startswith("worksheets/de/source/") for n in project)


@pytest.mark.docker
def test_offline_bundle_without_network(snapshot, targets, offline_image, test_bundle, tmp_path):
    target = targets("offline", offline_image, "--network", "none")
    assert in_target(target, "ls /sys/class/net").stdout.split() == ["lo"]

    apply_twice(snapshot, target, tmp_path, masterclass_offline_bundle=str(test_bundle))
    cookie = check_secrets(target)
    check_cli_wrapper(target)

    files = in_target(target, "ls /srv/masterclass/events /opt/masterclass-hub/hub").stdout
    assert "events.npy" in files and "jupyterhub_config.py" in files
    # Generated on this target, not taken from the repository.
    tracked = run("git", "grep", "-q", cookie, cwd=REPO, check=False)
    assert tracked.returncode == 1


def tls_decision(tmp_path: Path, **variables) -> subprocess.CompletedProcess:
    """Run the tls role on localhost and return the process (its facts are in stdout)."""
    play = tmp_path / "tls.yml"
    play.write_text(
        "- hosts: localhost\n  gather_facts: false\n  roles: [tls]\n  tasks:\n"
        "    - ansible.builtin.debug:\n"
        "        msg: 'DECISION {{ tls_caddy_tls }} {{ tls_https }} {{ tls_public_url }}'\n"
    )
    env = {
        **os.environ,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_ROLES_PATH": str(REPO / "ansible" / "roles"),
    }
    return run(
        str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(play),
        "-e", json.dumps(variables), env=env, check=False, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"tls_domain": "hub.uni.example", "tls_email": "a@uni.example"},
         "a@uni.example True https://hub.uni.example"),
        ({"tls_domain": "hub.uni.example", "tls_email": ""}, "internal True https://hub.uni.example"),
        ({"tls_domain": "192.168.1.10", "tls_email": "a@uni.example"},
         "internal True https://192.168.1.10"),
        ({"tls_domain": "hub.school.lan", "tls_email": "a@uni.example"},
         "internal True https://hub.school.lan"),
        ({"tls_domain": "localhost", "tls_email": "a@uni.example"}, "internal True https://localhost"),
        ({"tls_domain": "hub.uni.example", "tls_mode": "off"}, "internal False "),
    ],
)  # fmt: skip
def test_tls_chooses_acme_only_for_public_names_with_email(tmp_path, variables, expected):
    result = tls_decision(tmp_path, **variables)
    assert result.returncode == 0, result.stdout[-3000:]
    assert f'"msg": "DECISION {expected}"' in result.stdout


def test_tls_refuses_acme_for_an_address(tmp_path):
    result = tls_decision(
        tmp_path, tls_domain="10.0.0.5", tls_email="a@uni.example", tls_mode="acme"
    )
    assert result.returncode != 0
    assert "acme needs an e-mail address" in result.stdout


@pytest.fixture
def host_stack(tmp_path, hub_image, proxy_image, student_image):
    """Paths and names for a run on this machine's own engine; the stack goes at the end.

    The stack runs tags of its own of the built images, so that a `make images` elsewhere
    on this machine between the two runs cannot make the second run recreate it.
    """
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    prefix = f"{PREFIX}-stack"
    tags = {image: f"{prefix}-{role}:test" for role, image in
            (("hub", hub_image), ("proxy", proxy_image), ("student", student_image))}  # fmt: skip
    for image, tag in tags.items():
        run("docker", "tag", image, tag)
    root = tmp_path / "server"
    settings = {
        "masterclass_prefix": prefix,
        "masterclass_port": port,
        "masterclass_hub_image": tags[hub_image],
        "masterclass_proxy_image": tags[proxy_image],
        "masterclass_student_image": tags[student_image],
        "masterclass_install_dir": str(root / "opt"),
        "masterclass_config_dir": str(root / "etc"),
        "masterclass_data_dir": str(root / "srv"),
        "masterclass_systemd_dir": str(root / "units"),
        "masterclass_cli_path": str(root / "bin" / "masterclass"),
        "masterclass_first_class_pairs": 3,
        "masterclass_first_class_tutors": 1,
        "masterclass_first_class_organisers": 1,
        "tls_mode": "off",
        "firewall_enabled": False,
        "unattended_upgrades_enabled": False,
        "masterclass_manage_docker_engine": False,
    }
    (root / "units").mkdir(parents=True)
    (root / "bin").mkdir()
    yield settings
    if (root / "opt" / "docker-compose.yml").exists():
        run("docker-compose", "down", "--volumes", cwd=root / "opt", check=False)
    left = run("docker", "ps", "-aq", "--filter", f"name=^{prefix}").stdout.split()
    if left:
        run("docker", "rm", "--force", "--volumes", *left, check=False)
    run("docker", "rmi", *tags.values(), check=False)


def qr_links(pdf: Path, pages: int, folder: Path) -> list[str]:
    """The links of every QR code on the first *pages* pages, as a phone reads them."""
    import zxingcpp
    from PIL import Image

    folder.mkdir()
    run("pdftoppm", "-r", "150", "-l", str(pages), "-png", str(pdf), str(folder / "p"))
    found = [r.text for png in sorted(folder.glob("p-*.png"))
             for r in zxingcpp.read_barcodes(Image.open(png))]  # fmt: skip
    return sorted(found)


def log_in(base: str, username: str, passphrase: str):
    """POST the hub's login form; returns the response (302 on success)."""
    import httpx

    with httpx.Client(base_url=base, timeout=30) as client:
        client.get("/hub/login")
        return client.post(
            "/hub/login",
            data={
                "username": username,
                "password": passphrase,
                "_xsrf": client.cookies.get("_xsrf", ""),
            },
        )


@pytest.mark.docker
def test_stack_on_this_machines_engine(snapshot, host_stack, tmp_path):
    """The part a container target cannot run: first class, compose up, hub answering, CLI.

    Connection local on this machine (its engine, the built hub image), with every path
    in a temporary folder, a test prefix and port, and no firewall, apt or HTTPS front.
    """
    inventory = tmp_path / "inventory"
    inventory.write_text(
        "[masterclass]\nlocalhost ansible_connection=local ansible_become=false "
        "ansible_python_interpreter=/usr/bin/python3\n"
    )
    variables = tmp_path / "vars.json"
    variables.write_text(json.dumps(host_stack))
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "PATH": f"{BIN}:{os.environ['PATH']}"}
    args = (str(BIN / "ansible-playbook"), "-i", str(inventory), "-e", f"@{variables}", "site.yml")
    first = run(*args, cwd=snapshot / "ansible", env=env, check=False, timeout=600)
    assert first.returncode == 0, first.stdout[-8000:]
    second = run(*args, cwd=snapshot / "ansible", env=env, check=False, timeout=600)
    assert second.returncode == 0, second.stdout[-8000:]
    assert recap(second.stdout, "localhost")["changed"] == 0, changed_tasks(second.stdout)

    srv, etc = Path(host_stack["masterclass_data_dir"]), Path(host_stack["masterclass_config_dir"])
    for secret in ("roster.json", "jupyterhub_cookie_secret", "proxy_token"):
        assert (srv / "hub-state" / secret).stat().st_mode & 0o777 == 0o600, secret
    assert (Path(host_stack["masterclass_systemd_dir"]) / "masterclass-hub.service").exists()

    # The first class came from the organiser CLI: its files in the class directory.
    class_dir = etc / "class"
    assert class_dir.stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in class_dir.iterdir()) == ["audit.log", "cards.pdf", "logins.json"]
    for name in ("audit.log", "cards.pdf", "logins.json"):
        assert (class_dir / name).stat().st_mode & 0o777 == 0o600, name
    saved = json.loads((class_dir / "logins.json").read_text())
    base = f"http://127.0.0.1:{host_stack['masterclass_port']}"
    url = f"http://localhost:{host_stack['masterclass_port']}"
    assert saved["class"] == "First class" and saved["url"] == url
    assert sorted(saved["logins"]) == ["organiser-01", "pair-01", "pair-02", "pair-03", "tutor-01"]
    audit = json.loads((class_dir / "audit.log").read_text().splitlines()[0])
    assert audit["action"] == "create" and audit["prefix"] == host_stack["masterclass_prefix"]

    # A real PDF: the pairs' cards with QR codes, the organiser's login on the summary.
    cards = class_dir / "cards.pdf"
    assert cards.read_bytes().startswith(b"%PDF-")
    links = [f"{url}/hub/login?username=pair-0{i}" for i in (1, 2, 3)]
    assert qr_links(cards, 1, tmp_path / "qr") == links
    summary = run("pdftotext", "-layout", "-f", "3", str(cards), "-").stdout
    assert f"organiser-01 {saved['logins']['organiser-01']}" in " ".join(summary.split())

    # A pair logs in with the passphrase from the logins file: roster and secrets are in use.
    login = log_in(base, "pair-02", saved["logins"]["pair-02"])
    assert login.status_code == 302, login.text[:500]
    assert "/hub/login" not in login.headers["location"]

    # The installed wrapper runs the CLI from the hub image against this stack.
    cli = host_stack["masterclass_cli_path"]
    assert Path(cli).stat().st_mode & 0o777 == 0o755
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    cli_env = {**os.environ, "TMPDIR": str(scratch)}
    helped = run(cli, "class", "--help", env=cli_env, cwd=tmp_path)
    assert "create" in helped.stdout and "purge" in helped.stdout
    cards.unlink()
    printed = run(cli, "class", "cards", env=cli_env, cwd=tmp_path)
    # Rich wraps the path at 80 columns in a pipe.
    assert str(cards) in "".join(printed.stdout.split()), printed.stdout
    assert cards.stat().st_mode & 0o777 == 0o600
    assert qr_links(cards, 1, tmp_path / "qr-again") == links
    only = run(cli, "class", "cards", "--only", "pair-03", "--out", str(class_dir / "p3.pdf"),
               env=cli_env, cwd=tmp_path)  # fmt: skip
    assert qr_links(class_dir / "p3.pdf", 1, tmp_path / "qr-only") == links[2:], only.stdout
    # The CLI's exit codes come through the wrapper (2: bad input, nothing changed).
    wrong = run(cli, "class", "cards", "--only", "pair-99", env=cli_env, check=False)
    assert wrong.returncode == 2, wrong.stdout + wrong.stderr
    assert not list(scratch.iterdir()), "the wrapper left its scratch folders behind"
