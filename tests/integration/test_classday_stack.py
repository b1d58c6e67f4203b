"""The organiser's class day against the real stack: create → log in with a card → status → purge.

One compose stack for the whole module (its own prefix, port and volumes; torn down at
the end). The CLI runs as the organiser runs it: a separate process on this machine,
reaching the roster through the hub container and the hub through its REST API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import zxingcpp
from hub_fixtures import Browser, Stack, wait_until
from PIL import Image

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def stack(hub_image, student_image, request):
    with Stack().running(request) as s:
        yield s


@pytest.fixture(scope="module")
def class_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("class") / "organiser"


@pytest.fixture(scope="module")
def cli(stack, class_dir):
    """Run ``masterclass class …`` in a fresh process against the stack."""
    env = {
        **os.environ,
        "MASTERCLASS_PREFIX": stack.prefix,
        "MASTERCLASS_PORT": str(stack.port),
        "MASTERCLASS_PUBLIC_URL": stack.url,
        "MASTERCLASS_CLASS_DIR": str(class_dir),
        "COLUMNS": "200",
    }
    env.pop("MASTERCLASS_CLASS_STATE", None)

    def run(*args: str, token: str | None = None, timeout: float = 300):
        extra = {"MASTERCLASS_API_TOKEN": token} if token else {}
        return subprocess.run(
            [sys.executable, "-c", "from masterclass.cli import main; main()", "class", *args],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=class_dir.parent,
        )

    return run


@pytest.fixture(scope="module")
def created(cli, class_dir):
    result = cli("create", "--name", "Integration school, 2026-03-12", "--pairs", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads((class_dir / "logins.json").read_text())


@pytest.fixture(scope="module")
def admin_token(stack, created):
    """An organiser's API token (the hub's masterclass-cli service token is not set up yet)."""
    code = (
        "import json; from masterclass.roster import Roster; "
        "print(json.dumps(Roster.load('/srv/jupyterhub/state/roster.json').add_organisers(1)))"
    )
    ((user, password),) = json.loads(stack.hub_exec("python", "-c", code)).items()
    organiser = Browser(stack)
    assert organiser.login(user, password).status_code in (302, 303)
    return organiser.token()


def test_create_writes_the_hashed_roster_into_the_hub(stack, created, cli):
    roster = stack.hub_exec("cat", "/srv/jupyterhub/state/roster.json")
    for passphrase in created["logins"].values():
        assert passphrase not in roster
    mode = stack.hub_exec("stat", "-c", "%a", "/srv/jupyterhub/state/roster.json").strip()
    assert mode == "600"
    again = cli("create", "--name", "Again", "--pairs", "3")
    assert again.returncode == 3
    assert stack.hub_exec("cat", "/srv/jupyterhub/state/roster.json") == roster


def test_a_pair_logs_in_with_its_card(stack, created, class_dir, tmp_path):
    subprocess.run(
        ["pdftoppm", "-r", "150", "-f", "1", "-l", "1", "-png", str(class_dir / "cards.pdf"),
         str(tmp_path / "p")],
        check=True,
    )  # fmt: skip
    (page,) = tmp_path.glob("p-*.png")
    links = sorted(r.text for r in zxingcpp.read_barcodes(Image.open(page)))
    assert links == [f"{stack.url}/hub/login?username=pair-0{i}" for i in (1, 2)]
    # The QR code's link opens the login form with the username filled in.
    form = httpx.get(links[0], timeout=30)
    assert form.status_code == 200
    assert 'value="pair-01"' in form.text
    browser = Browser(stack)
    response = browser.login("pair-01", created["logins"]["pair-01"])
    assert response.status_code in (302, 303), response.text[:300]
    browser.start_server()


def test_status_shows_the_pair(cli, admin_token):
    result = cli("status", "--once", token=admin_token)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "running" in rows["pair-01"]
    assert "yes" in rows["pair-01"]
    assert " GB" in rows["pair-01"]  # memory used / limit from docker stats
    assert "stopped" in rows["pair-02"] and "never" in rows["pair-02"]


def test_warm_starts_a_pairs_server_ahead_of_its_login(cli, admin_token, stack):
    result = cli("warm", "--start", "--only", "pair-02", token=admin_token, timeout=400)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 of 1 servers ready" in result.stdout
    assert stack.inspect(stack.container("pair-02"))["State"]["Running"]


def test_purge_refuses_without_an_export(cli, admin_token, stack):
    result = cli("purge", "--yes", token=admin_token)
    assert result.returncode == 6, result.stdout + result.stderr
    assert "No export since the pairs' last activity" in result.stderr
    assert stack.inspect(stack.container("pair-01")) is not None


def test_purge_deletes_accounts_containers_volumes_and_secrets(cli, admin_token, stack, created):
    volumes = [f"{stack.prefix}-home-pair-01", f"{stack.prefix}-home-pair-02"]
    for volume in volumes:
        assert stack.docker("volume", "inspect", volume, check=False).returncode == 0
    result = cli("purge", "--yes", "--force", token=admin_token, timeout=400)
    assert result.returncode == 0, result.stdout + result.stderr
    api = httpx.Client(
        base_url=f"{stack.url}/hub/api", headers={"Authorization": f"token {admin_token}"}
    )

    def gone():
        return all(api.get(f"/users/{u}").status_code == 404 for u in ("pair-01", "pair-02"))

    wait_until(gone, 30, "the pairs' accounts to be deleted", stack.explain)
    for user in ("pair-01", "pair-02"):
        assert stack.inspect(stack.container(user)) is None
    for volume in volumes:
        assert stack.docker("volume", "inspect", volume, check=False).returncode != 0
    missing = stack.docker(
        "exec", stack.hub, "test", "-e", "/srv/jupyterhub/state/roster.json", check=False
    )
    assert missing.returncode == 1
    # The card's passphrase no longer opens anything.
    assert Browser(stack).login("pair-01", created["logins"]["pair-01"]).status_code not in (
        302,
        303,
    )


def test_a_second_purge_is_a_no_op(cli, admin_token):
    result = cli("purge", "--yes", "--force", token=admin_token)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Nothing to purge" in result.stdout
