"""Hardening from an outside probe (issue 15), each finding probed the way it was found.

From inside a pair's real container (``docker exec`` as the pair's own user, like a
notebook cell) or with real HTTP against the real stack. One compose stack for the
module with the demo class; pair-01 is the curious pupil, pair-02 its neighbour.
The figures go to docs/operations.md (pytest ``-s`` prints each ``FIGURE``).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import textwrap
import time

import pytest
from hub_fixtures import Browser, Stack

pytestmark = pytest.mark.docker

COURSE = "masterclass"  # hub/course/course.toml
EXCHANGE = "/srv/nbgrader/exchange"


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


def pair_exec(stack: Stack, user: str, code: str, **kw) -> list[str]:
    """``docker exec`` of Python ``code`` in ``user``'s container, as its own user."""
    return ["docker", "exec", *kw.get("options", []), stack.container(user), "python3", "-c",
            textwrap.dedent(code)]  # fmt: skip


def in_pair(stack: Stack, user: str, code: str, timeout: float = 120) -> dict:
    """Run ``code`` in ``user``'s container; it prints one JSON line, returned here."""
    done = subprocess.run(
        pair_exec(stack, user, code), capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{stack.explain()}"
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- finding 3: the exchange under a compressed upload ---------------------------------

#: Hostile archives, built inside the pair's container: gzip members chained, so that
#: a few MB claim gigabytes (each member is one MiB of zeros, about 1 KB compressed).
HOSTILE = """
import gzip, io, json, os, tarfile, time, urllib.request, urllib.error
ZEROS = gzip.compress(bytes(2**20), compresslevel=9)

def header(size, kind=tarfile.REGTYPE, fmt=tarfile.GNU_FORMAT):
    info = tarfile.TarInfo("z_boson.ipynb")
    info.size, info.type = size, kind
    return gzip.compress(info.tobuf(format=fmt))

def many(count):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for i in range(count):
            tar.addfile(tarfile.TarInfo(f"f{i}.txt"), io.BytesIO())
    return buffer.getvalue()

BODIES = {
    # the probe's archive: 2 MB that expand to 2 GiB
    "2 MB to 2 GiB": header(2 * 2**30) + ZEROS * 2048,
    # at the 50 MB upload cap: 50 MB that claim 50 GiB (a pax size record)
    "50 MB to 50 GiB": header(50 * 2**30, fmt=tarfile.PAX_FORMAT) + ZEROS * 48000,
    # a pax header tarfile reads into memory: stopped by the inflation limit
    "pax header of 1 GiB": header(2**30, tarfile.XHDTYPE) + ZEROS * 1024,
    # many empty files
    "100000 files": many(100000),
}
url = os.environ["MASTERCLASS_EXCHANGE_URL"] + "api/assignments/probe/submissions"
token = os.environ["JUPYTERHUB_API_TOKEN"]
out = {}
for name, body in BODIES.items():
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Authorization": "token " + token, "Content-Type": "application/gzip"})
    start = time.perf_counter()
    try:
        reply = urllib.request.urlopen(request, timeout=60)
        status, message = reply.status, reply.read().decode()
    except urllib.error.HTTPError as e:
        status, message = e.code, json.loads(e.read()).get("message")
    except OSError as e:
        status, message = None, repr(e)
    out[name] = {"mb": round(len(body) / 2**20, 1), "status": status, "message": message,
                 "seconds": round(time.perf_counter() - start, 2)}
print(json.dumps(out))
"""

#: Lists the exchange every 50 ms until its stdin closes, then prints the latencies.
LISTER = """
import json, os, sys, threading, time, urllib.request
url = os.environ["MASTERCLASS_EXCHANGE_URL"] + "api/assignments"
headers = {"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"]}
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
latencies, errors = [], []
print("listing", flush=True)
while not stop.is_set():
    start = time.perf_counter()
    try:
        urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30).read()
        latencies.append(time.perf_counter() - start)
    except OSError as e:
        errors.append(repr(e))
    time.sleep(0.05)
print(json.dumps({"latencies": latencies, "errors": errors}))
"""


def listing_latencies(stack: Stack, during) -> tuple[list[float], object]:
    """pair-02 lists the exchange in a loop while ``during()`` runs; its latencies."""
    lister = subprocess.Popen(
        pair_exec(stack, "pair-02", LISTER, options=["-i"]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert lister.stdout.readline().strip() == "listing"
        time.sleep(1)
        result = during()
        time.sleep(1)
    finally:
        out, _ = lister.communicate("", timeout=60)
    listed = json.loads(out.strip().splitlines()[-1])
    assert not listed["errors"], listed["errors"]
    return listed["latencies"], result


def test_a_compressed_bomb_is_refused_quickly_and_says_why_while_others_list(stack, pairs):
    folder = f"{EXCHANGE}/{COURSE}/outbound/probe"
    stack.hub_exec("sh", "-c", f"mkdir -p {folder} && echo '{{}}' > {folder}/probe.ipynb")
    calm, _ = listing_latencies(stack, lambda: time.sleep(3))
    busy, uploads = listing_latencies(stack, lambda: in_pair(stack, "pair-01", HOSTILE, 600))
    for name, upload in uploads.items():
        print(f"FIGURE hostile upload {name}: {upload}")
    p50, worst = statistics.median(busy), max(busy)
    print(
        f"FIGURE pair-02's exchange listing: calm p50 {statistics.median(calm):.3f} s, "
        f"max {max(calm):.3f} s ({len(calm)}); during the hostile uploads p50 {p50:.3f} s, "
        f"max {worst:.3f} s ({len(busy)} listings)"
    )
    expected = {
        "2 MB to 2 GiB": (400, "submission refused: it unpacks to more than 50 MB"),
        "50 MB to 50 GiB": (400, "submission refused: it unpacks to more than 50 MB"),
        "pax header of 1 GiB": (400, "submission refused: it unpacks to more than 50 MB"),
        "100000 files": (400, "submission refused: it has more than 200 files"),
    }
    assert {k: (v["status"], v["message"]) for k, v in uploads.items()} == expected
    assert all(upload["seconds"] < 10 for upload in uploads.values()), uploads
    assert worst < 0.5, sorted(busy)[-5:]
    # nothing of the refused uploads stays in the exchange
    inbound = stack.hub_exec("ls", "-A", f"{EXCHANGE}/{COURSE}/inbound")
    assert inbound.split() == []
