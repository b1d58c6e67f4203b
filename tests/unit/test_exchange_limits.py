"""The exchange under hostile uploads (issue 15, finding 3), without Docker.

``unpack`` reads a submission as a stream and checks sizes, counts and the expansion
while it decompresses, so a compressed bomb is refused after a bounded amount of work;
the service does that work off its event loop and its error replies say why. The same
shapes against the real stack, with another pair's listing timed meanwhile:
tests/integration/test_hardening.py.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import socket
import tarfile
import threading
import time

import httpx
import pytest

from masterclass.grading import service
from masterclass.grading.service import BadArchive, Store, unpack

ZEROS = gzip.compress(bytes(2**20), compresslevel=9)  # one MiB of zeros, about 1 KB


def header(name: str, size: int, kind: bytes = tarfile.REGTYPE, fmt=tarfile.GNU_FORMAT) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    return gzip.compress(info.tobuf(format=fmt))


def bomb(claimed_mib: int, kind: bytes = tarfile.REGTYPE) -> bytes:
    """A tar.gz whose first member claims *claimed_mib* MiB of zeros (gzip members chained)."""
    return header("big.ipynb", claimed_mib * 2**20, kind) + ZEROS * claimed_mib


def many(count: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for i in range(count):
            tar.addfile(tarfile.TarInfo(f"f{i}.txt"), io.BytesIO())
    return buffer.getvalue()


def timed(function, *args):
    start = time.perf_counter()
    try:
        function(*args)
    except BadArchive as e:
        return time.perf_counter() - start, str(e)
    raise AssertionError("the archive was accepted")


def test_a_member_that_claims_two_gib_is_refused_at_its_header(tmp_path):
    seconds, why = timed(unpack, bomb(2048), tmp_path)
    assert why == "it unpacks to more than 50 MB"
    assert seconds < 0.5
    assert list(tmp_path.iterdir()) == []


def test_a_pax_header_that_claims_a_gib_stops_at_the_inflation_limit(tmp_path):
    # tarfile reads a pax header's contents into memory: only the stream's limit stops it
    seconds, why = timed(unpack, bomb(1024, tarfile.XHDTYPE), tmp_path)
    assert why == "it unpacks to more than 50 MB"
    assert seconds < 5


def test_a_small_body_may_not_expand_more_than_the_ratio(tmp_path):
    body = header("a.txt", 20 * 2**20) + ZEROS * 20  # 20 KB that unpack to 20 MiB
    assert len(body) * service.MAX_RATIO < 20 * 2**20
    assert timed(unpack, body, tmp_path)[1] == "it unpacks to more than 100 times its own size"


def test_members_are_counted(tmp_path):
    assert timed(unpack, many(service.MAX_FILES + 1), tmp_path)[1] == "it has more than 200 files"
    assert len(list(tmp_path.iterdir())) == service.MAX_FILES


def test_garbage_inside_the_gzip_says_it_is_no_archive(tmp_path):
    body = bomb(1)[:-100] + b"x" * 100
    assert timed(unpack, body, tmp_path)[1].startswith("not a tar.gz archive")


def test_an_ordinary_submission_still_unpacks(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "nb.ipynb").write_text('{"cells": []}' * 1000)
    (tmp_path / "a" / "plots").mkdir()
    (tmp_path / "a" / "plots" / "p.png").write_bytes(bytes(range(256)) * 400)
    assert sorted(unpack(service.pack(tmp_path / "a"), tmp_path / "b")) == [
        "nb.ipynb",
        "plots/p.png",
    ]
    assert (tmp_path / "b" / "plots" / "p.png").read_bytes() == bytes(range(256)) * 400


@pytest.fixture
def exchange(tmp_path, monkeypatch):
    """The real tornado app on a free port; the hub's token check is a table."""
    from jupyterhub.services.auth import HubAuthenticated
    from tornado.httpserver import HTTPServer

    tokens = {"token-a": "pair-01", "token-b": "pair-02"}

    def fake_user(self):
        name = tokens.get(self.request.headers.get("Authorization", "").removeprefix("token "))
        return {"kind": "user", "name": name} if name else None

    monkeypatch.setattr(HubAuthenticated, "get_current_user", fake_user)
    store = Store(tmp_path, "course")
    (tmp_path / "course" / "outbound" / "tiny").mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve():
        asyncio.set_event_loop(loop)
        HTTPServer(service.make_app(store, "/services/exchange/")).listen(port, "127.0.0.1")
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10), "the exchange did not start within 10 s"
    yield f"http://127.0.0.1:{port}/services/exchange/api/assignments"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


A = {"Authorization": "token token-a"}
B = {"Authorization": "token token-b"}


def test_a_refusal_says_why_in_the_reply(exchange):
    r = httpx.post(f"{exchange}/tiny/submissions", headers=A, content=many(300), timeout=30)
    assert r.status_code == 400
    assert r.json()["message"] == "submission refused: it has more than 200 files"


def test_a_body_over_the_limit_is_refused_with_the_reason(exchange):
    body = bytes(service.MAX_BYTES + 1)
    r = httpx.post(f"{exchange}/tiny/submissions", headers=A, content=body, timeout=30)
    assert r.status_code == 413
    assert r.json()["message"] == "submission refused: it is larger than 50 MB"


def test_other_pairs_are_answered_while_a_bomb_is_refused(exchange):
    # A pax bomb keeps a worker busy for a while; the loop answers pair-02 meanwhile.
    latencies, done = [], threading.Event()

    def listing():
        with httpx.Client(headers=B, timeout=30) as client:
            while not done.is_set():
                start = time.perf_counter()
                assert client.get(exchange).status_code == 200
                latencies.append(time.perf_counter() - start)

    lister = threading.Thread(target=listing)
    lister.start()
    try:
        for _ in range(3):
            r = httpx.post(
                f"{exchange}/tiny/submissions",
                headers=A,
                content=bomb(1024, tarfile.XHDTYPE),
                timeout=60,
            )
            assert r.status_code == 400, r.text
    finally:
        done.set()
        lister.join(30)
    assert latencies and max(latencies) < 0.5, sorted(latencies)[-5:]


@pytest.mark.parametrize("before", [None, 0o777, 0o755])
def test_a_release_leaves_the_exchange_root_closed(tmp_path, before):
    """nbgrader's own release makes the root 0777; the course config names this one."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory

    from masterclass.grading.grader import DEFAULT_EXCHANGE
    from masterclass.grading.nbexchange import ReleaseAssignment

    root = tmp_path / "exchange"
    if before is not None:
        root.mkdir()
        root.chmod(before)
    release = ReleaseAssignment(coursedir=CourseDirectory(), authenticator=Authenticator())
    release.root = str(root)
    release.ensure_root()
    assert root.stat().st_mode & 0o7777 == 0o755
    assert (
        DEFAULT_EXCHANGE["release_assignment"] == "masterclass.grading.nbexchange.ReleaseAssignment"
    )


def _small(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_pair_keeps_a_bounded_number_and_size_of_submissions(tmp_path, monkeypatch):
    store = Store(tmp_path, "course")
    (tmp_path / "course" / "outbound" / "tiny").mkdir()
    for _ in range(service.MAX_SUBMISSIONS):
        store.submit("pair-01", "tiny", _small({"tiny.ipynb": b"{}"}))
    with pytest.raises(BadArchive, match="submitted 20 times already"):
        store.submit("pair-01", "tiny", _small({"tiny.ipynb": b"{}"}))
    # the neighbour is not affected
    store.submit("pair-02", "tiny", _small({"tiny.ipynb": b"{}"}))
    monkeypatch.setattr(service, "MAX_USER_BYTES", 3000)
    store.submit("pair-03", "tiny", _small({"a.bin": bytes(2000)}))
    with pytest.raises(BadArchive, match="more than 0 MB in all"):
        store.submit("pair-03", "tiny", _small({"b.bin": bytes(2000)}))
    assert store.usage("pair-03")[0] == 1  # (and its timestamp.txt)
    assert not [p for p in (tmp_path / "course" / "inbound").iterdir() if p.name.startswith(".")]
