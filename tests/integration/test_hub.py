"""The class hub end to end: compose stack, real login form, real pair containers, kernels."""

from __future__ import annotations

import html
import re
import uuid

import httpx
import pytest
from hub_fixtures import Browser, Kernel, Stack, wait_until
from solution_path import solution_path

from masterclass.messages import text

pytestmark = pytest.mark.docker

GiB = 2**30

WORKSHEET = solution_path(epochs=1)


@pytest.fixture(scope="module")
def stack(hub_image, student_image, request):
    with Stack().running(request) as s:
        yield s


@pytest.fixture(scope="module")
def logins(stack):
    return stack.demo_logins()


@pytest.fixture(scope="module")
def pair_a(stack, logins):
    browser = Browser(stack)
    assert browser.login("pair-01", logins["pair-01"]).status_code == 302
    browser.start_server()
    return browser


@pytest.fixture(scope="module")
def pair_b(stack, logins):
    browser = Browser(stack)
    assert browser.login("pair-02", logins["pair-02"]).status_code == 302
    browser.start_server()
    return browser


def test_demo_class_and_login_link(stack, logins):
    assert sorted(logins) == ["pair-01", "pair-02", "pair-03", "tutor-01"]
    form = httpx.get(f"{stack.url}/hub/login?username=pair-02")
    assert re.search(r'name="username"\s+value="pair-02"', form.text)
    mode = stack.hub_exec("stat", "-c", "%a", "/srv/jupyterhub/state/roster.json").strip()
    secret = stack.hub_exec(
        "stat", "-c", "%a", "/srv/jupyterhub/state/jupyterhub_cookie_secret"
    ).strip()
    assert (mode, secret) == ("600", "600")


def test_each_pair_gets_its_own_limited_container(stack, pair_a, pair_b):
    homes = set()
    for user in ("pair-01", "pair-02"):
        info = stack.inspect(stack.container(user))
        assert info and info["State"]["Running"], stack.explain()
        host = info["HostConfig"]
        assert host["Memory"] == 8 * GiB
        assert host["MemorySwap"] == 8 * GiB
        assert host["CpuQuota"] == 200_000 and host["CpuPeriod"] == 100_000
        assert host["PidsLimit"] == 1024
        assert "no-new-privileges" in host["SecurityOpt"]
        assert host["CapDrop"] == ["ALL"]
        assert info["Config"]["Image"] == "masterclass/student:latest"
        (home,) = [m for m in info["Mounts"] if m["Destination"] == "/home/jovyan"]
        assert home["Type"] == "volume" and home["Name"] == f"{stack.prefix}-home-{user}"
        homes.add(home["Name"])
        uid = stack.docker("exec", stack.container(user), "id", "-u").stdout.strip()
        assert uid == "1000"
    assert len(homes) == 2


def test_wrong_password_is_refused(stack, logins):
    browser = Browser(stack)
    response = browser.login("pair-03", logins["pair-01"])
    assert response.status_code == 403
    # The login page says so in the class language (German unless MASTERCLASS_LANG=en).
    assert html.escape(text("login.wrong"), quote=False) in response.text
    assert browser.http.get("/hub/api/user").status_code == 403


def test_repeated_failures_are_throttled_even_for_the_right_password(stack):
    user, password = stack.add_pair()
    browser = Browser(stack)
    codes = [browser.login(user, f"wrong-guess-{i:02d}").status_code for i in range(5)]
    assert codes == [403] * 5
    throttled = browser.login(user, password)
    assert throttled.status_code == 429, throttled.text[:300]
    wait = text("login.throttled", seconds=60).split("60")[0]
    assert html.escape(wait, quote=False) in throttled.text, throttled.text[:2000]


def test_a_pair_cannot_use_another_pairs_server(stack, pair_a, pair_b):
    # with its cookie, through the browser's OAuth dance
    r = pair_a.server_api("pair-02", "GET", "/contents")
    assert r.status_code == 403, (r.status_code, str(r.url))
    # with its own API token
    token = pair_a.token()
    r = httpx.get(
        f"{stack.url}/user/pair-02/api/contents",
        headers={"Authorization": f"token {token}"},
    )
    assert r.status_code == 403
    # and its own server works with both
    assert pair_a.server_api("pair-01", "GET", "/contents").status_code == 200
    r = httpx.get(
        f"{stack.url}/user/pair-01/api/contents",
        headers={"Authorization": f"token {token}"},
    )
    assert r.status_code == 200


def test_tutor_can_open_a_pairs_server_but_not_the_reverse(stack, logins, pair_a):
    tutor = Browser(stack)
    assert tutor.login("tutor-01", logins["tutor-01"]).status_code == 302
    tutor.start_server()
    assert tutor.server_api("pair-01", "GET", "/contents").status_code == 200
    users = tutor.hub_api("GET", "/users").json()
    assert "pair-01" in {u["name"] for u in users}
    assert pair_a.server_api("tutor-01", "GET", "/contents").status_code == 403
    assert pair_a.hub_api("GET", "/users").status_code == 403
    tutor.hub_api("DELETE", "/users/tutor-01/server")


@pytest.mark.slow
def test_worksheet_runs_inside_the_pairs_container(stack, pair_a):
    kernel = Kernel(stack, "pair-01", pair_a.token())
    try:
        where = kernel.execute(
            "import os, socket; print(os.environ['JUPYTERHUB_USER'], socket.gethostname())"
        )
        info = stack.inspect(stack.container("pair-01"))
        assert where["stdout"].split() == ["pair-01", info["Config"]["Hostname"]]
        out = kernel.execute(WORKSHEET, timeout=1500)
        assert out["status"] == "ok", out
        accuracy = float(re.search(r"ACCURACY ([0-9.]+)", out["stdout"]).group(1))
        assert 0.0 <= accuracy <= 1.0
    finally:
        kernel.close()


def test_hub_restart_keeps_containers_kernels_and_logins(stack, pair_a):
    container = stack.inspect(stack.container("pair-01"))["Id"]
    kernel = Kernel(stack, "pair-01", pair_a.token())
    kernel.execute("survivor = 42")
    kernel.close()

    stack.docker("restart", stack.hub)
    wait_until(stack.healthy, 120, "the hub after its restart", stack.explain)

    after = stack.inspect(stack.container("pair-01"))
    assert after["Id"] == container and after["State"]["Running"]
    pair_a.wait_ready("pair-01", timeout=120)  # the same cookie, no new login
    assert pair_a.hub_api("GET", "/user").json()["name"] == "pair-01"
    again = Kernel(stack, "pair-01", kernel.token, kernel_id=kernel.id)
    try:
        assert again.execute("print(survivor)")["stdout"].strip() == "42"
    finally:
        again.close()


def test_stopping_removes_the_container_and_keeps_the_home(stack, pair_b):
    token = pair_b.token()
    api = httpx.Client(
        base_url=f"{stack.url}/user/pair-02/api", headers={"Authorization": f"token {token}"}
    )
    marker = uuid.uuid4().hex
    r = api.put("/contents/keep.txt", json={"type": "file", "format": "text", "content": marker})
    assert r.status_code in (200, 201), r.text
    assert pair_b.hub_api("DELETE", "/users/pair-02/server").status_code in (202, 204)
    wait_until(
        lambda: stack.inspect(stack.container("pair-02")) is None,
        120,
        "the stopped container to be removed",
        stack.explain,
    )
    pair_b.start_server()
    r = pair_b.server_api("pair-02", "GET", "/contents/keep.txt")
    assert r.status_code == 200 and r.json()["content"] == marker


def test_a_kernel_killed_by_the_memory_limit_explains_itself(stack, logins):
    browser = Browser(stack)
    assert browser.login("pair-03", logins["pair-03"]).status_code == 302
    browser.start_server()
    name = stack.container("pair-03")
    # a small memory limit on this one container, as a long training would hit 8 GiB
    stack.docker("update", "--memory", "700m", "--memory-swap", "700m", name)
    kernel = Kernel(stack, "pair-03", browser.token())
    try:
        out = kernel.execute("hog = b'x' * (2 * 1024**3)", timeout=180)
        assert out["restarting"], out
        (error,) = out["errors"]
        assert error["ename"] == "MemoryError"
        assert "700 MB" in error["evalue"] and "augment_events" in error["evalue"]
        # only the kernel died: the same container and server answer, and a new kernel runs
        assert stack.inspect(name)["State"]["Running"]
        browser.wait_ready("pair-03", timeout=60)
    finally:
        kernel.close()
    fresh = Kernel(stack, "pair-03", kernel.token)
    try:
        assert fresh.execute("print(6 * 7)")["stdout"].strip() == "42"
    finally:
        fresh.close()
