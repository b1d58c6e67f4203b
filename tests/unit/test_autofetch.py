"""The worksheet reaches a pair without a restart: placeholder, fetch rounds, `make up`'s release.

The fetch runs against the real exchange service (tornado, in a thread) with the hub's
token check replaced by a table, as in test_grading.py; the release runs real nbgrader.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import stat
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from masterclass.grading import autofetch, autorelease, placeholder
from masterclass.grading.course import Course
from masterclass.grading.grader import Paths
from masterclass.grading.service import Store
from masterclass.messages import text

ROOT = Path(__file__).parents[2]
WORKSHEET = "tiny/tiny.ipynb"
REAL = {"cells": [], "metadata": {"title": "the real worksheet"}, "nbformat": 4}


# ------------------------------------------------------------------ the placeholder


@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_placeholder_speaks_the_class_language_and_names_one_action(lang):
    nb = placeholder.notebook(lang)
    (cell,) = nb["cells"]
    assert cell["cell_type"] == "markdown"
    assert cell["source"].startswith(f"# {text('worksheet.waiting_title', language=lang)}\n")
    assert text("worksheet.waiting", language=lang) in cell["source"]
    assert "F5" in cell["source"]
    # A kernel is named, so JupyterLab asks no question when it opens the notice.
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


def test_the_placeholder_is_read_only_and_never_replaces_a_file(tmp_path):
    path = tmp_path / "tiny" / "tiny.ipynb"
    assert placeholder.write(path, "de")
    assert placeholder.is_placeholder(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert not placeholder.write(path, "en")  # something is there: left alone
    assert [p.name for p in path.parent.iterdir()] == ["tiny.ipynb"]  # no temporary files

    mine = tmp_path / "mine" / "tiny.ipynb"
    mine.parent.mkdir()
    mine.write_text(json.dumps(REAL))
    assert not placeholder.write(mine) and json.loads(mine.read_text()) == REAL


def test_only_an_unchanged_placeholder_counts_as_one(tmp_path):
    path = tmp_path / "tiny.ipynb"
    placeholder.write(path, "de")
    nb = json.loads(path.read_text())
    nb["cells"][0]["source"] += "\n\nunsere Notizen"
    path.chmod(0o644)
    path.write_text(json.dumps(nb))
    assert not placeholder.is_placeholder(path)  # the pair's own work now
    for not_one in ("{}", "not json", json.dumps(REAL)):
        path.write_text(not_one)
        assert not placeholder.is_placeholder(path)
    assert not placeholder.is_placeholder(tmp_path / "missing.ipynb")


def test_a_folder_with_only_a_placeholder_or_hidden_files_holds_no_work(tmp_path):
    folder = tmp_path / "tiny"
    assert not placeholder.has_work(folder)  # missing
    placeholder.write(folder / "tiny.ipynb")
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "tiny-checkpoint.ipynb").write_text("{}")
    assert not placeholder.has_work(folder)
    (folder / "notes.txt").write_text("ours")
    assert placeholder.has_work(folder)


# ---------------------------------------------------- the exchange service, in a thread


@pytest.fixture
def exchange(tmp_path, monkeypatch):
    """The real exchange service for pair-01, nothing released yet; returns its Store."""
    from jupyterhub.services.auth import HubAuthenticated
    from tornado.httpserver import HTTPServer

    from masterclass.grading.service import make_app

    def fake_user(self):
        ok = self.request.headers.get("Authorization", "") == "token token-a"
        return {"kind": "user", "name": "pair-01"} if ok else None

    monkeypatch.setattr(HubAuthenticated, "get_current_user", fake_user)
    (tmp_path / "exchange").mkdir()
    store = Store(tmp_path / "exchange", "testcourse")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve():
        asyncio.set_event_loop(loop)
        HTTPServer(make_app(store, "/services/exchange/")).listen(port, "127.0.0.1")
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10), "the exchange service did not start within 10 s"
    monkeypatch.setenv("MASTERCLASS_EXCHANGE_URL", f"http://127.0.0.1:{port}/services/exchange/")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "token-a")
    monkeypatch.setenv("MASTERCLASS_WORKSHEET", WORKSHEET)
    monkeypatch.setenv("MASTERCLASS_LANG", "en")
    yield tmp_path / "exchange" / "testcourse" / "outbound"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def release(outbound: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        (outbound / "tiny" / name).parent.mkdir(parents=True, exist_ok=True)
        (outbound / "tiny" / name).write_text(content)


def test_a_release_after_the_start_replaces_the_placeholder_and_keeps_the_pairs_work(
    exchange, tmp_path, caplog
):
    home = tmp_path / "home"
    home.mkdir()
    watcher = autofetch.Watcher.from_env(home)
    assert watcher is not None and watcher.language == "en"
    target = home / WORKSHEET

    # Nothing released: the worksheet's place holds the notice in the class language.
    assert watcher.step() == []
    assert placeholder.is_placeholder(target) and watcher.waiting()
    assert text("worksheet.waiting_title", language="en") in target.read_text()

    # The release reaches the running server in the next round.
    release(exchange, {"tiny.ipynb": json.dumps(REAL), "data/events.csv": "a,b\n"})
    assert watcher.step() == ["tiny"]
    assert json.loads(target.read_text()) == REAL and not watcher.waiting()
    assert (home / "tiny" / "data" / "events.csv").is_file()

    # The pair's own work is never replaced, and later rounds fetch nothing more.
    target.write_text('{"ours": true}')
    assert watcher.step() == []
    assert json.loads(target.read_text()) == {"ours": True}

    # A worksheet the pair deleted comes back fresh; their other files stay.
    (home / "tiny" / "data" / "events.csv").write_text("ours\n")
    target.unlink()
    assert watcher.step() == ["tiny"]
    assert json.loads(target.read_text()) == REAL
    assert (home / "tiny" / "data" / "events.csv").read_text() == "ours\n"


def test_the_placeholders_checkpoint_goes_with_it(exchange, tmp_path):
    home = tmp_path / "home"
    watcher = autofetch.Watcher.from_env(home)
    watcher.step()
    stale = placeholder.checkpoint(home / WORKSHEET)
    stale.parent.mkdir()
    shutil.copy2(home / WORKSHEET, stale)  # what the Jupyter server's checkpoint does
    release(exchange, {"tiny.ipynb": json.dumps(REAL)})
    watcher.step()
    assert not stale.exists()


def test_an_edited_placeholder_is_the_pairs_work(exchange, tmp_path):
    home = tmp_path / "home"
    watcher = autofetch.Watcher.from_env(home)
    watcher.step()
    target = home / WORKSHEET
    target.chmod(0o644)
    target.write_text(target.read_text().replace("F5", "F5 -- our notes"))
    release(exchange, {"tiny.ipynb": json.dumps(REAL)})
    watcher.step()
    assert "our notes" in target.read_text()


def test_the_exchange_down_means_a_notice_and_one_log_line(exchange, tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("MASTERCLASS_EXCHANGE_URL", "http://127.0.0.1:9/services/exchange/")
    home = tmp_path / "home"
    watcher = autofetch.Watcher.from_env(home)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert watcher.step() == []
    assert placeholder.is_placeholder(home / WORKSHEET)
    assert len([r for r in caplog.records if "fetching released" in r.message]) == 1


def test_no_watcher_outside_the_class_hub_and_no_placeholder_for_a_bad_path(tmp_path, monkeypatch):
    monkeypatch.delenv("MASTERCLASS_EXCHANGE_URL", raising=False)
    assert autofetch.Watcher.from_env(tmp_path) is None
    monkeypatch.setenv("MASTERCLASS_EXCHANGE_URL", "http://hub:8000/services/exchange/")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "t")
    for bad in ("z_boson.ipynb", "../z-boson/z_boson.ipynb", "z-boson/notes.txt", ""):
        monkeypatch.setenv("MASTERCLASS_WORKSHEET", bad)
        watcher = autofetch.Watcher.from_env(tmp_path)
        assert watcher.target is None and not watcher.hold_place() and not watcher.waiting()
    assert list(tmp_path.iterdir()) == []


def test_the_server_extension_holds_the_place_before_the_first_page(exchange, tmp_path):
    home = tmp_path / "home"
    serverapp = SimpleNamespace(
        root_dir=str(home), log=logging.getLogger("test"), web_app=SimpleNamespace(settings={})
    )
    assert autofetch._jupyter_server_extension_points() == [
        {"module": "masterclass.grading.autofetch"}
    ]
    autofetch._load_jupyter_server_extension(serverapp)
    assert placeholder.is_placeholder(home / WORKSHEET)
    release(exchange, {"tiny.ipynb": json.dumps(REAL)})

    async def start_and_wait():
        await autofetch._start_jupyter_server_extension(serverapp)
        watcher = serverapp.web_app.settings[autofetch.SETTING]
        for _ in range(100):
            if not watcher.waiting():
                break
            await asyncio.sleep(0.1)
        watcher.task.cancel()

    asyncio.run(start_and_wait())
    assert json.loads((home / WORKSHEET).read_text()) == REAL


def test_a_worksheet_released_before_the_start_is_there_before_the_first_page(exchange, tmp_path):
    """The server fetches while its extensions load: the start hook has no fetch of its own."""
    release(exchange, {"tiny.ipynb": json.dumps(REAL)})
    home = tmp_path / "home"
    serverapp = SimpleNamespace(
        root_dir=str(home), log=logging.getLogger("test"), web_app=SimpleNamespace(settings={})
    )
    autofetch._load_jupyter_server_extension(serverapp)
    assert json.loads((home / WORKSHEET).read_text()) == REAL
    hook = (Path(__file__).parents[2] / "images" / "student" / "start-singleuser.sh").read_text()
    assert "python" not in hook.replace("jupyterhub-singleuser", "")


def test_the_extension_waits_a_little_for_an_exchange_that_does_not_answer(
    exchange, tmp_path, monkeypatch
):
    monkeypatch.setenv("MASTERCLASS_EXCHANGE_URL", "http://127.0.0.1:9/services/exchange/")
    monkeypatch.setenv("MASTERCLASS_AUTOFETCH_WAIT", "3")
    home = tmp_path / "home"
    serverapp = SimpleNamespace(
        root_dir=str(home), log=logging.getLogger("test"), web_app=SimpleNamespace(settings={})
    )
    start = time.monotonic()
    autofetch._load_jupyter_server_extension(serverapp)
    assert 1.5 < time.monotonic() - start < 10
    assert placeholder.is_placeholder(home / WORKSHEET)


def test_a_refusal_does_not_hold_the_start(exchange, tmp_path, monkeypatch):
    """A server started before its pair's first login may not fetch yet: no waiting for it."""
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "token-of-nobody")
    monkeypatch.setenv("MASTERCLASS_AUTOFETCH_WAIT", "20")
    home = tmp_path / "home"
    serverapp = SimpleNamespace(
        root_dir=str(home), log=logging.getLogger("test"), web_app=SimpleNamespace(settings={})
    )
    start = time.monotonic()
    autofetch._load_jupyter_server_extension(serverapp)
    assert time.monotonic() - start < 10
    watcher = serverapp.web_app.settings[autofetch.SETTING]
    assert "refused (4" in watcher.last_error
    assert placeholder.is_placeholder(home / WORKSHEET)


def test_the_extension_is_off_without_an_exchange(tmp_path, monkeypatch):
    monkeypatch.delenv("MASTERCLASS_EXCHANGE_URL", raising=False)
    serverapp = SimpleNamespace(
        root_dir=str(tmp_path), log=logging.getLogger("test"), web_app=SimpleNamespace(settings={})
    )
    autofetch._load_jupyter_server_extension(serverapp)
    asyncio.run(autofetch._start_jupyter_server_extension(serverapp))
    assert serverapp.web_app.settings == {} and list(tmp_path.iterdir()) == []


def test_the_image_enables_the_extension():
    config = json.loads((ROOT / "images/student/lab/jupyter_server_config.json").read_text())
    assert config["ServerApp"]["jpserver_extensions"] == {"masterclass.grading.autofetch": True}


# ------------------------------------------------------- make up's release of the demo


def test_make_ups_release_is_the_real_release_and_leaves_a_release_alone(tmp_path):
    course = Course.load(ROOT / "hub" / "course" / "course.toml")
    paths = Paths(exchange=tmp_path / "exchange", course=tmp_path / "course")
    done = autorelease.release_missing(course, ROOT, "de", paths)
    assert set(done) == set(course.assignments)
    outbound = tmp_path / "exchange" / course.course_id / "outbound"
    for name, files in done.items():
        assert files and autorelease.is_released(paths.exchange, course.course_id, name)
        for notebook in (outbound / name).glob("*.ipynb"):
            assert "BEGIN SOLUTION" not in notebook.read_text()
    stamp = {p: p.stat().st_mtime_ns for p in outbound.rglob("*")}
    again = autorelease.release_missing(course, ROOT, "de", Paths(paths.exchange, paths.course))
    assert again == {name: [] for name in course.assignments}
    assert {p: p.stat().st_mtime_ns for p in outbound.rglob("*")} == stamp


def test_make_ups_release_says_what_went_wrong(tmp_path, capsys):
    bad = tmp_path / "hub" / "course" / "course.toml"
    bad.parent.mkdir(parents=True)
    bad.write_text('course_id = "x"\nassignments = ["nothere"]\n')
    code = autorelease.main(
        [f"--course-file={bad}", f"--course-dir={tmp_path / 'c'}", f"--exchange={tmp_path}"]
    )
    assert code == 1
    assert "nothere" in capsys.readouterr().err


@pytest.fixture(autouse=True)
def _no_class_language(monkeypatch):
    """The tests choose the language; a developer's MASTERCLASS_LANG must not leak in."""
    if "MASTERCLASS_LANG" in os.environ:
        monkeypatch.delenv("MASTERCLASS_LANG")
