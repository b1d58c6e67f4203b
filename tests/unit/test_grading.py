"""Grading without Docker: the course file, the exchange store, the grader with real nbgrader."""

from __future__ import annotations

import csv
import io
import json
import tarfile
from pathlib import Path

import nbformat
import pytest

from masterclass.grading import grader as grading
from masterclass.grading.course import Course, CourseError
from masterclass.grading.service import BadArchive, Store, pack, unpack

ROOT = Path(__file__).parents[2]
SOLUTION = "answer = 6 * 7  # the secret solution"
HIDDEN = "assert answer != 41  # hidden check"


def placeholder(source: Path, name: str = "tiny") -> Path:
    """A one-notebook nbgrader assignment: one solution cell, one visible and one hidden test."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell("Fill in the answer."),
        nbformat.v4.new_code_cell(
            f"### BEGIN SOLUTION\n{SOLUTION}\n### END SOLUTION",
            metadata={
                "nbgrader": {
                    "grade": False,
                    "solution": True,
                    "locked": False,
                    "grade_id": "answer",
                    "schema_version": 3,
                }
            },
        ),
        nbformat.v4.new_code_cell(
            f"assert answer == 42\n### BEGIN HIDDEN TESTS\n{HIDDEN}\n### END HIDDEN TESTS",
            metadata={
                "nbgrader": {
                    "grade": True,
                    "solution": False,
                    "locked": True,
                    "points": 1,
                    "grade_id": "check",
                    "schema_version": 3,
                }
            },
        ),
    ]
    folder = source / name
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{name}.ipynb")
    return folder


@pytest.fixture
def grader(tmp_path) -> grading.Grader:
    source = tmp_path / "source"
    placeholder(source)
    config = tmp_path / "config.py"
    config.write_text(
        "c = get_config()\n"
        "c.ClearSolutions.code_stub = {'python': '...  # fill in'}\n"
        "c.Execute.timeout = 60\n"
    )
    paths = grading.Paths(
        exchange=tmp_path / "exchange",
        course=tmp_path / "course",
        source=source,
        config=config,
        snapshots=tmp_path / "snapshots",
        out=tmp_path / "out",
    )
    return grading.Grader("testcourse", paths, step_timeout=300)


def released_notebook(grader) -> dict:
    path = grader.paths.exchange / "testcourse" / "outbound" / "tiny" / "tiny.ipynb"
    return nbformat.read(path, as_version=4)


def answered(grader, answer: str) -> nbformat.NotebookNode:
    nb = released_notebook(grader)
    nb.cells[1].source = answer
    return nb


def submit(store: Store, user: str, files: dict[str, str | bytes]) -> str:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return store.submit(user, "tiny", buffer.getvalue())


# ------------------------------------------------------------------- course file


def test_the_shipped_course_file_names_existing_sources():
    course = Course.load(ROOT / "hub" / "course" / "course.toml")
    for lang in ("de", "en"):
        for assignment in course.assignments:
            assert (course.source_dir(ROOT, lang) / assignment).is_dir()
        assert course.config_file(ROOT, lang).is_file()


@pytest.mark.parametrize(
    "text, message",
    [
        ('course_id = "a+b"\nassignments = ["x"]', "not a usable name"),
        ('course_id = "c"\nassignments = []', "at least one"),
        ('course_id = "c"\nassignments = ["../x"]', "not a usable name"),
        ('course_id = "c"\nassignments = ["x"]\ncolour = 1', "unknown keys"),
        ("course_id = ", "not valid TOML"),
    ],
)
def test_a_wrong_course_file_says_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "course.toml"
    path.write_text(text)
    with pytest.raises(CourseError, match=message):
        Course.load(path)


# ----------------------------------------------------------------- exchange store


def test_a_user_lists_only_own_submissions_and_latest_is_newest(tmp_path):
    store = Store(tmp_path, "testcourse")
    (tmp_path / "testcourse" / "outbound" / "tiny").mkdir()
    first = submit(store, "pair-01", {"tiny.ipynb": "{}"})
    second = submit(store, "pair-01", {"tiny.ipynb": "{}"})
    submit(store, "pair-02", {"tiny.ipynb": "{}"})
    submit(store, "pair-010", {"tiny.ipynb": "{}"})
    mine = store.submissions("pair-01")
    assert [s["timestamp"] for s in mine] == [first, second]
    assert all(s["assignment_id"] == "tiny" for s in mine)


@pytest.mark.parametrize("name", ["../evil.ipynb", "/etc/evil", "a/../../evil"])
def test_unpack_refuses_paths_outside_the_folder(tmp_path, name):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(BadArchive, match="relative path"):
        unpack(buffer.getvalue(), tmp_path / "t")
    assert not (tmp_path / "evil.ipynb").exists()


def test_unpack_refuses_links_and_garbage(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("link")
        info.type = tarfile.SYMTYPE
        info.linkname = "/srv/nbgrader/exchange"
        tar.addfile(info)
    with pytest.raises(BadArchive, match="plain files"):
        unpack(buffer.getvalue(), tmp_path)
    with pytest.raises(BadArchive, match=r"not a tar\.gz"):
        unpack(b"not a tar at all", tmp_path)


def test_a_refused_submission_leaves_nothing_behind(tmp_path):
    store = Store(tmp_path, "testcourse")
    with pytest.raises(BadArchive):
        store.submit("pair-01", "tiny", b"garbage")
    assert list((tmp_path / "testcourse" / "inbound").iterdir()) == []


def test_pack_leaves_out_hidden_files(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "nb.ipynb").write_text("{}")
    (tmp_path / "a" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "a" / ".ipynb_checkpoints" / "nb.ipynb").write_text("{}")
    unpack(pack(tmp_path / "a"), tmp_path / "b")
    assert [p.name for p in (tmp_path / "b").rglob("*")] == ["nb.ipynb"]


# ------------------------------------------------------------ grader (real nbgrader)


@pytest.mark.slow
def test_release_hands_out_no_solution_and_no_hidden_test(grader):
    files = grader.release("tiny")
    assert files == ["tiny.ipynb"]
    text = json.dumps(released_notebook(grader))
    for secret in (SOLUTION, HIDDEN, "BEGIN SOLUTION", "HIDDEN TESTS"):
        assert secret not in text
    assert "...  # fill in" in text
    # A second release replaces the first one as a whole.
    assert grader.release("tiny") == ["tiny.ipynb"]


def test_release_refuses_a_missing_assignment(grader):
    with pytest.raises(grading.GradingError, match="no source folder"):
        grader.release("nothere")


@pytest.mark.slow
def test_collect_latest_wins_snapshots_broken_notebook_and_export(grader):
    grader.release("tiny")
    store = Store(grader.paths.exchange, "testcourse")
    wrong = nbformat.writes(answered(grader, "answer = 41"))
    right = nbformat.writes(answered(grader, "answer = 42"))
    results = {
        "test_accuracy": 0.875,
        "epochs": 3,
        "augmentation_factors": {"q": 3, "e": 60, "m": 60, "t": 60},
        "measured_ratios": {"q": 0.8, "e": 0.05, "m": 0.05, "t": 0.1},
    }
    submit(store, "pair-01", {"tiny.ipynb": wrong})
    submit(store, "pair-01", {"tiny.ipynb": right, "masterclass-results.json": json.dumps(results)})
    submit(store, "pair-02", {"tiny.ipynb": right[: len(right) // 2]})  # truncated
    snapshot = grader.paths.snapshots / "pair-03" / "tiny"
    snapshot.mkdir(parents=True)
    nbformat.write(answered(grader, "answer = 42"), snapshot / "tiny.ipynb")

    first = grader.collect("tiny", ["pair-01", "pair-02", "pair-03", "pair-04"])
    assert first["pair-01"]["status"] == grading.SUBMITTED
    assert "tiny.ipynb is damaged" in first["pair-02"]["problem"]
    assert first["pair-03"]["status"] == grading.NOT_SUBMITTED
    assert first["pair-04"]["status"] == grading.NO_WORK
    feedback = grader.paths.exchange / "testcourse" / "feedback" / "pair-01" / "tiny"
    assert (feedback / "tiny.html").is_file()

    second = grader.collect("tiny", ["pair-01", "pair-02", "pair-03", "pair-04"])
    assert second == first

    csv_path, md_path = grader.export(["tiny"])
    rows = {r["pair"]: r for r in csv.DictReader(csv_path.open())}
    assert sorted(rows) == ["pair-01", "pair-02", "pair-03", "pair-04"]
    assert rows["pair-01"]["score"] == "1.0"  # the latest (right) submission counts
    assert rows["pair-01"]["test_accuracy"] == "0.875"
    assert rows["pair-01"]["augmentation_factors"] == "3 60 60 60"
    assert rows["pair-01"]["measured_t"] == "0.1"
    assert rows["pair-02"]["score"] == ""
    assert rows["pair-02"]["problem"].startswith("tiny.ipynb is damaged")
    assert rows["pair-03"]["status"] == "not submitted"
    assert rows["pair-03"]["score"] == "1.0"
    assert "2 of 4 submitted" in md_path.read_text()


def test_export_before_collect_says_so(grader):
    with pytest.raises(grading.GradingError, match="collect first"):
        grader.export(["tiny"])


# ----------------------------------------------------------- client exchange classes


def test_the_client_says_when_no_exchange_is_configured(tmp_path, monkeypatch):
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange import ExchangeError

    from masterclass.grading.client import ExchangeList, autofetch

    monkeypatch.delenv("MASTERCLASS_EXCHANGE_URL", raising=False)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "x")
    with pytest.raises(ExchangeError, match="No exchange service configured"):
        ExchangeList(coursedir=CourseDirectory(), assignment_dir=str(tmp_path)).start()
    assert autofetch(tmp_path, deadline=0) == []


def test_the_client_says_when_the_exchange_cannot_be_reached(tmp_path, monkeypatch):
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange import ExchangeError

    from masterclass.grading.client import ExchangeList

    monkeypatch.setenv("MASTERCLASS_EXCHANGE_URL", "http://127.0.0.1:9/services/exchange/")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "x")
    lister = ExchangeList(coursedir=CourseDirectory(), assignment_dir=str(tmp_path))
    with pytest.raises(ExchangeError, match="cannot be reached"):
        lister.start()


def test_the_client_refuses_the_inbound_listing(tmp_path):
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange import ExchangeError

    from masterclass.grading.client import ExchangeList

    lister = ExchangeList(coursedir=CourseDirectory(), assignment_dir=str(tmp_path), inbound=True)
    with pytest.raises(ExchangeError, match="Only the tutors"):
        lister.start()


# --------------------------------------------------------- the real worksheets, CLI, hub


@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_real_gap_fill_releases_without_solutions(tmp_path, lang):
    course = Course.load(ROOT / "hub" / "course" / "course.toml")
    paths = grading.Paths(
        exchange=tmp_path / "exchange",
        course=tmp_path / "course",
        source=course.source_dir(ROOT, lang),
        config=course.config_file(ROOT, lang),
    )
    grader = grading.Grader(course.course_id, paths)
    assert "z_boson.ipynb" in grader.release("z-boson")
    released = paths.exchange / course.course_id / "outbound" / "z-boson" / "z_boson.ipynb"
    text = released.read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert "✏️" in text  # the language's gap stub, not NotImplementedError
    assert "NotImplementedError" not in text
    cells = nbformat.read(released, as_version=4).cells
    gap = next(c for c in cells if c.metadata.get("nbgrader", {}).get("grade_id") == "gap-epochs")
    assert "3" not in gap.source  # the solution value is gone


@pytest.mark.parametrize("command", ["release", "collect", "export"])
def test_class_grading_commands_explain_with_examples(command):
    from typer.testing import CliRunner

    from masterclass import cli

    result = CliRunner().invoke(cli.app, ["class", command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Examples" in result.output
    assert f"masterclass class {command}" in result.output


def test_hub_config_runs_the_exchange_service_and_scopes_it(monkeypatch, tmp_path):
    from traitlets.config.loader import PyFileConfigLoader

    monkeypatch.setenv("MASTERCLASS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MASTERCLASS_NETWORK", "mc-spawn")
    monkeypatch.setenv("MASTERCLASS_LANG", "en")
    c = PyFileConfigLoader("jupyterhub_config.py", str(ROOT / "hub")).load_config()
    services = {s["name"]: s for s in c.JupyterHub.services}
    exchange = services["exchange"]
    assert exchange["command"][1:3] == ["-m", "masterclass.grading.service"]
    assert "--root=/srv/nbgrader/exchange" in exchange["command"]
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["exchange-user"]["scopes"] == ["access:services!service=exchange"]
    assert set(roles["exchange-user"]["groups"]) == {"pairs", "tutors"}
    assert "access:services!service=exchange" in c.Spawner.server_token_scopes
    # (The rest of the pair's environment is test_hub_config's.)
    assert c.Spawner.environment["MASTERCLASS_LANG"] == "en"
    assert c.Spawner.environment["MASTERCLASS_EXCHANGE_URL"] == "http://hub:8000/services/exchange/"


# --------------------------------------------------- the service over HTTP, fake hub auth


@pytest.fixture
def service(tmp_path, monkeypatch):
    """The real tornado app on a free port; the hub's token check is replaced by a table."""
    import asyncio
    import socket
    import threading

    from jupyterhub.services.auth import HubAuthenticated
    from tornado.httpserver import HTTPServer

    from masterclass.grading.service import make_app

    tokens = {"token-a": "pair-01", "token-b": "pair-02"}

    def fake_user(self):
        header = self.request.headers.get("Authorization", "")
        name = tokens.get(header.removeprefix("token "))
        return {"kind": "user", "name": name} if name else None

    monkeypatch.setattr(HubAuthenticated, "get_current_user", fake_user)
    store = Store(tmp_path, "testcourse")
    (tmp_path / "testcourse" / "outbound" / "tiny").mkdir()
    (tmp_path / "testcourse" / "outbound" / "tiny" / "tiny.ipynb").write_text("{}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve():
        asyncio.set_event_loop(loop)
        server = HTTPServer(make_app(store, "/services/exchange/"))
        server.listen(port, "127.0.0.1")
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10), "the exchange server did not start within 10 s"
    yield f"http://127.0.0.1:{port}/services/exchange/api/", store
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def _tar(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return buffer.getvalue()


def test_the_service_takes_the_name_from_the_token_only(service):
    import httpx

    url, store = service
    a = {"Authorization": "token token-a"}
    forged = {**a, "X-Forwarded-User": "pair-02", "X-JupyterHub-User": "pair-02"}
    r = httpx.post(
        url + "assignments/tiny/submissions?student=pair-02",
        headers=forged,
        content=_tar({"tiny.ipynb": "{}"}),
    )
    assert r.status_code == 201, r.text
    assert [s["assignment_id"] for s in store.submissions("pair-01")] == ["tiny"]
    assert store.submissions("pair-02") == []
    listing = httpx.get(url + "assignments", headers=forged).json()
    assert listing["user"] == "pair-01" and len(listing["submissions"]) == 1
    b = httpx.get(url + "assignments", headers={"Authorization": "token token-b"}).json()
    assert b["submissions"] == []


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", "assignments", 403),  # no token
        ("GET", "assignments/nothere/files", 404),
        ("GET", "assignments/..%2Finbound/files", 404),
        ("GET", "assignments/tiny/feedback", 404),
        ("POST", "assignments/nothere/submissions", 404),
    ],
)
def test_the_service_refuses_what_it_must(service, method, path, status):
    import httpx

    url, _ = service
    headers = {} if status == 403 else {"Authorization": "token token-a"}
    assert httpx.request(method, url + path, headers=headers).status_code == status


def test_the_service_refuses_a_bad_upload_and_keeps_nothing(service):
    import httpx

    url, store = service
    r = httpx.post(
        url + "assignments/tiny/submissions",
        headers={"Authorization": "token token-a"},
        content=_tar({"../escape.ipynb": "{}"}),
    )
    assert r.status_code == 400
    assert store.submissions("pair-01") == []


def test_release_language_comes_from_the_class_roster(tmp_path):
    from masterclass.files import write_private
    from masterclass.organiser.settings import Settings
    from masterclass.organiser.state import ROSTER_FILE, class_language

    settings = Settings(lang="de", state_dir=tmp_path)
    assert class_language(settings) == "de"  # no class yet: MASTERCLASS_LANG
    write_private(tmp_path / ROSTER_FILE, '{"lang": "en", "users": []}')
    assert class_language(settings) == "en"
    (tmp_path / ROSTER_FILE).write_text("{broken")
    assert class_language(settings) == "de"


# ------------------------------------------------------------------ the formgrader's start


def test_the_formgrader_uses_the_graders_config_and_keeps_tutors_edits(tmp_path, monkeypatch):
    from masterclass.grading import formgrader

    checkout = tmp_path / "checkout"
    for lang in ("de", "en"):
        (checkout / "worksheets" / lang / "source" / "a1").mkdir(parents=True)
        (checkout / "worksheets" / lang / "source" / "a1" / "a1.ipynb").write_text(lang)
        (checkout / "worksheets" / lang / "nbgrader_config.py").write_text(f"# {lang}\n")
    course_file = checkout / "hub" / "course" / "course.toml"
    course_file.parent.mkdir(parents=True)
    course_file.write_text('course_id = "c1"\nassignments = ["a1", "a2"]\n')
    course_dir = tmp_path / "course"
    args = [
        f"--course-file={course_file}",
        f"--course-dir={course_dir}",
        f"--exchange={tmp_path / 'exchange'}",
        "--dry-run",
    ]
    monkeypatch.setenv("MASTERCLASS_LANG", "en")
    assert formgrader.main(args) == 0
    config = (course_dir / "nbgrader_config.py").read_text()
    assert "c.CourseDirectory.course_id = 'c1'" in config
    # nbgrader's own filesystem exchange, not the pairs' client classes.
    assert "c.ExchangeFactory.collect = 'nbgrader.exchange.default.ExchangeCollect'" in config
    assert "masterclass.grading.client" not in config
    assert (course_dir / "language_config.py").read_text() == "# en\n"
    assert (course_dir / "source" / "a1" / "a1.ipynb").read_text() == "en"
    # A tutor's edit in the course survives a restart; a missing source (a2) is no error.
    (course_dir / "source" / "a1" / "a1.ipynb").write_text("edited")
    assert formgrader.main(args) == 0
    assert (course_dir / "source" / "a1" / "a1.ipynb").read_text() == "edited"


def test_the_formgrader_says_when_the_course_file_is_wrong(tmp_path, capsys):
    from masterclass.grading import formgrader

    assert formgrader.main([f"--course-file={tmp_path / 'missing.toml'}", "--dry-run"]) == 2
    assert "cannot read the course file" in capsys.readouterr().err


def test_the_formgrader_waits_for_the_hubs_token_and_then_gives_up(tmp_path):
    from masterclass.grading import formgrader

    token = tmp_path / "token"
    token.write_text("abc\n")
    assert formgrader.wait_for_token(token, timeout=1) == "abc"
    with pytest.raises(SystemExit, match="no service token"):
        formgrader.wait_for_token(tmp_path / "absent", timeout=0.2, interval=0.05)
