"""Bad input against the real stack, each with its outcome; the outcomes make docs/bad-input.md.

Every test tries one kind of bad input the way a pupil's browser or a typo would send it
(the Jupyter contents API that JupyterLab's upload and save use, the login form, a kernel)
and records one row: what was tried, what came back, and whether the pair's reference
files (a worksheet, its results, a binary file) are still byte-identical afterwards.

The last test renders the rows as the Markdown table of docs/bad-input.md and fails if the
file differs; ``MASTERCLASS_WRITE_DOCS=1`` writes it instead (after a behaviour change).
One compose stack for the module (login lockout 20 s instead of 60 s), one pair.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from pathlib import Path

import httpx
import pytest
from hub_fixtures import Browser, Kernel, Stack, wait_until

pytestmark = pytest.mark.docker

DOC = Path(__file__).parents[2] / "docs" / "bad-input.md"
LOCKOUT = 20
ROWS: list[dict[str, str]] = []

REFERENCE = {
    "worksheet.ipynb": json.dumps(
        {
            "cells": [
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "id": "c1",
                    "metadata": {},
                    "outputs": [],
                    "source": "from masterclass import *\nev = load_events()",
                }
            ],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        },
        indent=1,
    ).encode(),
    "results.json": b'{"accuracy": 0.86, "factors": [3, 60, 60, 60]}\n',
    "plot.png": bytes(range(256)) * 64,
}


@pytest.fixture(scope="module")
def stack(hub_image, student_image, request):
    with Stack(MASTERCLASS_LOGIN_LOCKOUT=str(LOCKOUT)).running(request) as s:
        yield s


@pytest.fixture(scope="module")
def logins(stack):
    return stack.demo_logins()


@pytest.fixture(scope="module")
def pair(stack, logins):
    """pair-01 logged in with its server running and the reference files in its home."""
    browser = Browser(stack)
    assert browser.login("pair-01", logins["pair-01"]).status_code == 302
    browser.start_server()
    browser.api = httpx.Client(
        base_url=f"{stack.url}/user/pair-01/api",
        headers={"Authorization": f"token {browser.token()}"},
        timeout=120,
    )
    for name, data in REFERENCE.items():
        r = browser.api.put(
            f"/contents/{name}",
            json={"type": "file", "format": "base64", "content": base64.b64encode(data).decode()},
        )
        assert r.status_code in (200, 201), r.text
    return browser


def home_digests(stack: Stack) -> dict[str, str]:
    """sha256 of the reference files, read inside the pair's container."""
    out = stack.docker(
        "exec", stack.container("pair-01"), "sha256sum", *sorted(REFERENCE), check=False
    )
    return {line.split()[1]: line.split()[0] for line in out.stdout.splitlines()}


EXPECTED = {name: hashlib.sha256(data).hexdigest() for name, data in REFERENCE.items()}


def record(stack: Stack, bad_input: str, tried: str, outcome: str) -> None:
    """One row of the table; also checks that nothing of the pair's was lost."""
    intact = home_digests(stack) == EXPECTED
    ROWS.append(
        {
            "input": bad_input,
            "tried": tried,
            "outcome": outcome,
            "nothing lost": "yes" if intact else "**NO**",
        }
    )
    assert intact, f"reference files changed after {bad_input!r}: {home_digests(stack)}"


def message(response: httpx.Response) -> str:
    """The error message of a Jupyter API response, or the title of an HTML error page."""
    try:
        return response.json()["message"]
    except ValueError:
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text))
        found = re.search(r"(\d{3} : [A-Za-z ]+)", text)
        return f"HTML error page '{found.group(1).strip()}'" if found else text[:80]


def short(text: str, limit: int = 110) -> str:
    text = text.replace("|", "/").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def test_reference_files_are_in_place(stack, pair):
    assert home_digests(stack) == EXPECTED


def test_corrupt_upload(stack, pair):
    r = pair.api.put(
        "/contents/upload.bin",
        json={"type": "file", "format": "base64", "content": "!!! not base64 ***"},
    )
    assert r.status_code == 400, r.text
    assert "Invalid base64" in message(r)
    assert pair.api.get("/contents/upload.bin").status_code == 404
    record(
        stack,
        "corrupt upload (invalid base64)",
        "contents API `PUT upload.bin`",
        f"{r.status_code}: {short(message(r), 70)}; no file written",
    )


def test_huge_upload(stack, pair):
    # 600 MiB, streamed: above jupyter_server's max_body_size (512 MiB).
    size = 600 * 2**20
    head, tail = b'{"type": "file", "format": "base64", "content": "', b'"}'

    def body():
        yield head
        for _ in range(size // 2**20):
            yield b"A" * 2**20
        yield tail

    start = time.monotonic()
    try:
        r = pair.api.put(
            "/contents/huge.bin",
            content=body(),
            headers={
                "Content-Type": "application/json",
                "Content-Length": str(len(head) + size + len(tail)),
            },
        )
        status = r.status_code
        # 400 from the server; 503 from the proxy when the server closes the connection first
        assert status in (400, 413, 502, 503), (status, r.text[:300])
    except (httpx.WriteTimeout, httpx.WriteError, httpx.RemoteProtocolError) as error:
        # The server stopped reading the refused body, so the client's write stalls.
        status = type(error).__name__
    seconds = time.monotonic() - start
    print(f"FIGURE huge upload refused after {seconds:.1f} s with {status}")
    assert pair.api.get("/contents/huge.bin").status_code == 404
    pair.wait_ready("pair-01", timeout=30)
    record(
        stack,
        "huge upload (600 MiB in one request)",
        "contents API `PUT huge.bin`, streamed",
        "refused before the body is read: 400 (above the server's 512 MiB request limit), "
        "503 from the proxy, or the upload stalls because nobody reads it; no file written, "
        "the server keeps running",
    )


def test_malformed_notebook_is_not_saved(stack, pair):
    r = pair.api.put(
        "/contents/malformed.ipynb",
        json={"type": "notebook", "format": "json", "content": {"cells": "not a list"}},
    )
    assert r.status_code in (400, 500), r.text
    assert pair.api.get("/contents/malformed.ipynb").status_code == 404
    record(
        stack,
        "malformed notebook (cells not a list)",
        "contents API `PUT` as a notebook (JupyterLab's save)",
        f"{r.status_code}: {short(message(r), 60)}; nothing written",
    )


def test_truncated_notebook_opens_with_a_clear_error(stack, pair):
    whole = REFERENCE["worksheet.ipynb"].decode()
    r = pair.api.put(
        "/contents/truncated.ipynb",
        json={"type": "file", "format": "text", "content": whole[: len(whole) // 2]},
    )
    assert r.status_code == 201, r.text
    opened = pair.api.get("/contents/truncated.ipynb")
    assert opened.status_code == 400
    assert message(opened).startswith("Unreadable Notebook")
    # the intact worksheet still opens as a notebook
    assert pair.api.get("/contents/worksheet.ipynb").json()["type"] == "notebook"
    record(
        stack,
        "truncated notebook (half the JSON)",
        "saved as a file, then opened as a notebook",
        f"{opened.status_code}: Unreadable Notebook … NotJSONError; the file stays as it was",
    )


@pytest.mark.parametrize(
    "name",
    ["..%2F..%2F..%2Ftmp%2Fevil.txt", "..%2F..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd"],
)
def test_path_traversal_names_are_refused(stack, pair, name):
    put = pair.api.put(f"/contents/{name}", json={"type": "file", "format": "text", "content": "x"})
    get = pair.api.get(f"/contents/{name}")
    assert put.status_code in (404, 500) and get.status_code == 404, (put.text, get.text)
    # refused, or taken as a path inside the home (`/etc/passwd` → ~/etc/passwd)
    assert "outside root contents directory" in message(put) or "/home/jovyan/" in message(put), (
        message(put)
    )
    escaped = stack.docker(
        "exec", stack.container("pair-01"), "test", "-e", "/tmp/evil.txt", check=False
    )
    assert escaped.returncode != 0
    record(
        stack,
        f"path traversal `{name.replace('%2F', '/')}`",
        "contents API `PUT` and `GET`",
        f"{put.status_code}: {short(message(put), 100)}; nothing written outside the home",
    )


def test_renaming_out_of_the_home_is_refused(stack, pair):
    r = pair.api.patch("/contents/results.json", json={"path": "../../tmp/results.json"})
    assert r.status_code == 404, r.text
    record(
        stack,
        "rename to `../../tmp/results.json`",
        "contents API `PATCH` (JupyterLab's rename)",
        f"{r.status_code}: {short(message(r), 70)}",
    )


def test_non_utf8_file_name_in_a_url(stack, pair):
    r = pair.api.put(
        "/contents/caf%FF.txt", json={"type": "file", "format": "text", "content": "x"}
    )
    assert r.status_code in (400, 404, 500), r.text[:300]
    assert pair.api.get("/contents").status_code == 200  # proxy and server still answer
    record(
        stack,
        "non-UTF-8 file name in the URL (`caf%FF.txt`)",
        "contents API `PUT`",
        f"{r.status_code}: the proxy cannot decode the URL (URI malformed) and shows the hub's "
        "error page; the proxy keeps serving",
    )


def test_non_utf8_file_name_in_the_home(stack, pair):
    # e.g. unpacked from a zip made on an old Windows machine
    stack.docker(
        "exec",
        stack.container("pair-01"),
        "python3",
        "-c",
        "open(b'/home/jovyan/caf\\xe9-latin1.txt', 'wb').write(b'x')",
    )
    listing = pair.api.get("/contents")
    assert listing.status_code == 200, listing.text
    names = [item["name"] for item in listing.json()["content"]]
    assert "worksheet.ipynb" in names
    shown = [n for n in names if n.startswith("caf")]
    record(
        stack,
        "non-UTF-8 file name in the home (`caf\\xe9-latin1.txt`)",
        "file made in the container, then the home listed",
        f"{listing.status_code}: the listing works; the file appears as {shown!r}",
    )


def test_wrong_credentials_100_times(stack, logins):
    browser = Browser(stack)
    codes = [browser.login("pair-02", f"wrong-{i:03d}").status_code for i in range(100)]
    assert codes == [403] * 5 + [429] * 95, codes
    # a neighbour on the same address still gets in during the lockout
    neighbour = Browser(stack)
    assert neighbour.login("pair-03", logins["pair-03"]).status_code == 302
    # and the right passphrase works once the lockout is over
    right = Browser(stack).login("pair-02", logins["pair-02"])
    assert right.status_code == 429

    def logged_in() -> bool:
        # a throttled attempt is refused before it is checked: it does not extend the lockout
        code = Browser(stack).login("pair-02", logins["pair-02"]).status_code
        assert code == 302, f"the login answered {code}"
        return True

    wait_until(
        logged_in,
        LOCKOUT + 30,
        "the right passphrase to work after the lockout",
        stack.explain,
        interval=2,
    )
    record(
        stack,
        "wrong passphrase 100 times for one pair",
        "the real login form",
        "5 × 403 'the username or passphrase is wrong', then 95 × 429 'too many failed "
        "logins, wait N seconds' (in the class language); other pairs on the same "
        "address log in; the right passphrase works after the lockout",
    )


def test_student_parameter_out_of_range(stack, pair):
    kernel = Kernel(stack, "pair-01", pair.token())
    try:
        out = kernel.execute(
            "from masterclass import *\nsplit_events_random(load_events(), 1.5)", timeout=300
        )
    finally:
        kernel.close()
    assert out["status"] == "error", out
    (error,) = out["errors"]
    assert error["ename"] == "StudentError"
    assert "fraction_first_block" in error["evalue"] and "1.5" not in error["ename"]
    # the pair sees one short hint, not a stack trace
    assert len(error["traceback"]) == 1 and "Traceback" not in error["traceback"][0]
    record(
        stack,
        "student parameter out of range",
        "kernel: `split_events_random(load_events(), 1.5)`",
        f"StudentError, one line: “{short(error['evalue'], 90)}”",
    )


def render(rows: list[dict[str, str]]) -> str:
    lines = [
        "# Bad input: what was tried and what happened",
        "",
        "Generated by `tests/integration/test_bad_input.py` against the real stack (a pair's",
        "server, the login form, a kernel). Regenerate after a behaviour change with",
        "`MASTERCLASS_WRITE_DOCS=1 .venv/bin/pytest tests/integration/test_bad_input.py`;",
        "without it, the test fails when this table no longer matches what the stack does.",
        '"Nothing lost": the pair\'s worksheet, results and a binary file are byte-identical',
        "(sha256) after the input.",
        "",
        "| bad input | how it was tried | outcome | nothing lost |",
        "|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['input']} | {row['tried']} | {row['outcome']} | {row['nothing lost']} |"
        )
    return "\n".join(lines) + "\n"


def test_the_table_in_docs_is_current():
    assert len(ROWS) >= 10, f"only {len(ROWS)} rows recorded: run the whole module"
    table = render(ROWS)
    if os.environ.get("MASTERCLASS_WRITE_DOCS") == "1":
        DOC.write_text(table, encoding="utf-8")
    assert DOC.read_text(encoding="utf-8") == table, (
        "docs/bad-input.md is out of date; regenerate it with MASTERCLASS_WRITE_DOCS=1"
    )
