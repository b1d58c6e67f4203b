"""Security checks on the real stack: from inside a pair's container, and from outside.

Inside: what a pair's code (a notebook cell, here ``docker exec`` as the container's own
user) can reach: no Docker socket, no hub database, no proxy API, no cloud metadata,
no other pair's server, no hub API beyond its own user, a capped fork bomb, no way to
become root. Outside: security headers, the cookie secret's mode, login throttling and
no default passwords. Anchors: JupyterHub's "Security overview" and zero-to-jupyterhub's
security settings (singleuser network policy blocking 169.254.169.254, no privilege
escalation, hub-only access to the proxy API).

One compose stack for the module, two pairs.
"""

from __future__ import annotations

import json
import re
import textwrap

import httpx
import pytest
from hub_fixtures import Browser, Stack

pytestmark = pytest.mark.docker

STATE = "/srv/jupyterhub/state"


@pytest.fixture(scope="module")
def stack(hub_image, student_image, request):
    with Stack().running(request) as s:
        yield s


@pytest.fixture(scope="module")
def logins(stack):
    return stack.demo_logins()


@pytest.fixture(scope="module")
def pairs(stack, logins):
    """pair-01 and pair-02 logged in, servers running."""
    browsers = {}
    for user in ("pair-01", "pair-02"):
        browser = Browser(stack)
        assert browser.login(user, logins[user]).status_code == 302
        browser.start_server()
        browsers[user] = browser
    return browsers


def in_pair(stack: Stack, user: str, code: str, timeout: float = 120) -> dict:
    """Run Python ``code`` inside ``user``'s container as its user; it prints one JSON line."""
    done = stack.docker(
        "exec",
        stack.container(user),
        "python3",
        "-c",
        textwrap.dedent(code),
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{stack.explain()}"
    return json.loads(done.stdout.strip().splitlines()[-1])


CONNECT = """
import json, socket
def connect(host, port):
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((host, port))
        return "open"
    except OSError as e:
        return type(e).__name__
    finally:
        s.close()
"""


# -- inside a pair's container -------------------------------------------------------


def test_no_docker_socket_and_no_hub_state_in_a_pair(stack, pairs):
    out = in_pair(
        stack,
        "pair-01",
        """
        import json, os
        mounts = open("/proc/mounts").read()
        found = []
        for top, dirs, files in os.walk("/", onerror=lambda e: None):
            if top.startswith(("/proc", "/sys", "/dev")):
                dirs[:] = []
                continue
            found += [os.path.join(top, f) for f in files
                      if f in ("docker.sock", "jupyterhub.sqlite", "jupyterhub_cookie_secret",
                               "proxy_token", "roster.json")]
        print(json.dumps({"found": found, "state_mounted": "/srv/jupyterhub" in mounts,
                          "sock_mounted": "docker.sock" in mounts}))
        """,
        timeout=300,
    )
    assert out == {"found": [], "state_mounted": False, "sock_mounted": False}


def test_no_proxy_api_no_metadata_no_internet_from_a_pair(stack, pairs):
    out = in_pair(
        stack,
        "pair-01",
        CONNECT
        + """
print(json.dumps({
    "hub_api": connect("hub", 8081),          # needed: the server reports to the hub
    "proxy_api": connect("hub", 8001),
    "metadata": connect("169.254.169.254", 80),
    "internet": connect("1.1.1.1", 443),
}))
""",
    )
    print(f"FIGURE reachability from a pair: {out}")
    assert out["hub_api"] == "open"
    assert out["proxy_api"] != "open"
    assert out["metadata"] != "open"
    assert out["internet"] != "open"


def test_a_pair_cannot_use_another_pairs_server_even_on_the_network(stack, pairs):
    net = stack.inspect(stack.container("pair-02"))["NetworkSettings"]["Networks"]
    ip = net[f"{stack.prefix}-spawn"]["IPAddress"]
    out = in_pair(
        stack,
        "pair-01",
        f"""
        import json, os, urllib.request, urllib.error
        token = os.environ["JUPYTERHUB_API_TOKEN"]
        def status(url, auth):
            headers = {{"Authorization": "token " + token}} if auth else {{}}
            try:
                return urllib.request.urlopen(
                    urllib.request.Request(url, headers=headers), timeout=10).status
            except urllib.error.HTTPError as e:
                return e.code
        base = "http://{ip}:8888/user/pair-02/api"
        print(json.dumps({{
            "direct_anonymous": status(base + "/contents", False),
            "direct_own_token": status(base + "/contents", True),
            "direct_kernels": status(base + "/kernels", True),
            "via_proxy": status("http://hub:8000/user/pair-02/api/contents", True),
        }}))
        """,
    )
    assert set(out.values()) == {403}, out


def test_the_servers_own_token_is_limited_to_its_pair(stack, pairs):
    out = in_pair(
        stack,
        "pair-01",
        """
        import json, os, urllib.request, urllib.error
        token, api = os.environ["JUPYTERHUB_API_TOKEN"], os.environ["JUPYTERHUB_API_URL"]
        def status(path, method="GET"):
            req = urllib.request.Request(api + path, method=method,
                                         headers={"Authorization": "token " + token})
            try:
                return urllib.request.urlopen(req, timeout=10).status
            except urllib.error.HTTPError as e:
                return e.code
        print(json.dumps({
            "own_user": status("/user"),
            "list_users": status("/users"),
            "other_user": status("/users/pair-02"),
            "start_other": status("/users/pair-02/server", "POST"),
            "stop_other": status("/users/pair-02/server", "DELETE"),
            "proxy_table": status("/proxy"),
            "groups": status("/groups"),
            "make_admin": status("/users/pair-01", "PATCH"),
            "shutdown_hub": status("/shutdown", "POST"),
        }))
        """,
    )
    assert out.pop("own_user") == 200
    # JupyterHub answers 404 for a user the token may not even see (no existence leak).
    assert out.pop("other_user") in (403, 404)
    assert set(out.values()) == {403}, out


def test_a_fork_bomb_is_capped_by_the_pids_limit(stack, pairs):
    limit = stack.inspect(stack.container("pair-01"))["HostConfig"]["PidsLimit"]
    # A bounded loop that forks sleeping children until fork fails, then kills them all.
    out = in_pair(
        stack,
        "pair-01",
        """
        import json, os, signal, time
        children, error = [], None
        for _ in range(5000):
            try:
                pid = os.fork()
            except OSError as e:
                error = type(e).__name__
                break
            if pid == 0:
                time.sleep(120)
                os._exit(0)
            children.append(pid)
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        for pid in children:
            os.waitpid(pid, 0)
        print(json.dumps({"forked": len(children), "error": error}))
        """,
        timeout=300,
    )
    print(f"FIGURE fork bomb stopped after {out['forked']} processes (pids limit {limit})")
    assert out["error"] == "BlockingIOError", out
    assert 0 < out["forked"] < limit
    # and the pair's server is still there afterwards
    pairs["pair-01"].wait_ready("pair-01", timeout=60)


def test_no_privilege_escalation_in_a_pair(stack, pairs):
    out = in_pair(
        stack,
        "pair-01",
        """
        import json, os, subprocess
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        try:
            os.setuid(0)
            setuid = "became root"
        except PermissionError:
            setuid = "PermissionError"
        su = subprocess.run(["su", "-c", "id -u", "root"], input="", capture_output=True,
                            text=True, timeout=20)
        sudo = subprocess.run(["sh", "-c", "command -v sudo"], capture_output=True)
        print(json.dumps({
            "uid": os.getuid(),
            "no_new_privs": status["NoNewPrivs"].strip(),
            "cap_eff": status["CapEff"].strip(),
            "cap_bnd": status["CapBnd"].strip(),
            "setuid": setuid,
            "su_root": su.stdout.strip() == "0",
            "sudo": sudo.returncode == 0,
        }))
        """,
    )
    assert out == {
        "uid": 1000,
        "no_new_privs": "1",
        "cap_eff": "0000000000000000",
        "cap_bnd": "0000000000000000",
        "setuid": "PermissionError",
        "su_root": False,
        "sudo": False,
    }


# -- from outside ----------------------------------------------------------------------

CSP = re.compile(r"frame-ancestors 'none'")
NOSNIFF = re.compile(r"^nosniff$")
REFERRER = re.compile(r"^(no-referrer|same-origin|strict-origin)")
HEADERS = {
    # the hub's own pages: JupyterHub's CSP plus the headers set in update_headers
    "/hub/login": {
        "content-security-policy": CSP,
        "x-content-type-options": NOSNIFF,
        "referrer-policy": REFERRER,
    },
    "/hub/home": {
        "content-security-policy": CSP,
        "x-content-type-options": NOSNIFF,
        "referrer-policy": REFERRER,
    },
    # a pair's JupyterLab: jupyterhub-singleuser's CSP and jupyter_server's nosniff
    "/user/pair-01/lab": {"content-security-policy": CSP, "x-content-type-options": NOSNIFF},
}


@pytest.mark.parametrize("path", sorted(HEADERS))
def test_security_headers_are_present(stack, pairs, path):
    # the login page as a new visitor sees it; the others as a logged-in pair
    client = httpx.Client(base_url=stack.url) if path == "/hub/login" else pairs["pair-01"].http
    response = client.get(path)
    assert response.status_code == 200, (response.status_code, str(response.url))
    assert response.url.path == path
    missing = {
        name: response.headers.get(name)
        for name, pattern in HEADERS[path].items()
        if not pattern.search(response.headers.get(name, ""))
    }
    assert not missing, f"{path}: {missing} (all: {dict(response.headers)})"


def test_session_cookies_are_httponly(stack, logins):
    browser = Browser(stack)
    response = browser.login("pair-03", logins["pair-03"])
    assert response.status_code == 302
    cookies = response.headers.get_list("set-cookie")
    session = [c for c in cookies if c.startswith(("jupyterhub-hub-login=", "jupyterhub-session"))]
    assert session, cookies
    assert all("httponly" in c.lower() for c in session), session


def test_secrets_in_the_state_volume_have_mode_600(stack, logins):
    modes = stack.hub_exec(
        "stat",
        "-c",
        "%a %n",
        f"{STATE}/jupyterhub_cookie_secret",
        f"{STATE}/proxy_token",
        f"{STATE}/roster.json",
        f"{STATE}/demo-logins.json",
    )
    assert [line.split()[0] for line in modes.splitlines()] == ["600"] * 4, modes


def test_no_default_passwords(stack, logins):
    guesses = ["", "password", "jupyter", "admin", "masterclass", "changeme", "1234", "test"]
    users = [*logins, "admin", "root", "jovyan", "organiser-01"]
    # every account against every common guess, with the authenticator's own check
    code = (
        "import json, sys; from masterclass.roster import Roster; "
        f"r = Roster.load('{STATE}/roster.json'); "
        "users, guesses = json.loads(sys.argv[1]), json.loads(sys.argv[2]); "
        "print(json.dumps([[u, g] for u in users for g in guesses + [u] "
        "if u in r and r.verify(u, g)]))"
    )
    accepted = stack.hub_exec("python", "-c", code, json.dumps(users), json.dumps(guesses))
    assert json.loads(accepted) == []
    # and through the real form for the obvious admin names
    codes = {Browser(stack).login(user, "admin").status_code for user in ("admin", "root")}
    assert codes == {403}, codes
    # the roster holds only bcrypt hashes, never a plaintext passphrase
    text = stack.hub_exec("cat", f"{STATE}/roster.json")
    assert not any(password in text for password in logins.values())
    hashes = re.findall(r'"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}"', text)
    assert len(hashes) >= len(logins)
    # and the hub API refuses anonymous access
    assert httpx.get(f"{stack.url}/hub/api/users").status_code == 403


def test_failed_logins_are_throttled_per_address(stack):
    # Failures from one address, spread over made-up usernames (each below the per-user
    # limit), lock the address after 30 within 5 minutes (the module made a few before).
    browser = Browser(stack)
    codes = []
    while len(codes) < 40 and 429 not in codes:
        codes.append(browser.login(f"pair-{90 + len(codes) % 9:02d}", "guess").status_code)
    print(f"FIGURE failed logins from one address in this run before 429: {len(codes) - 1}")
    assert codes[-1] == 429, codes
    assert set(codes[:-1]) == {403} and 25 <= len(codes) - 1 <= 30, codes
