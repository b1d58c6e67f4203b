"""The pages people look at, in a real browser: headless Chromium against a real stack.

One compose stack with the real course (hub/course/course.toml, German worksheet),
released with the organiser's `masterclass class release` before any server starts.
Only pair-01's server is spawned (by its login, as in class); the other logins go to
the hub's home page (``next=/hub/home``) and start nothing. Every check is on what a
person sees; on a failure the test names a screenshot in its ``tmp_path``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from browser_fixtures import (
    LOGIN,
    ConsoleLog,
    chromium,  # noqa: F401  (the fixture)
    login,
    new_page,
    screenshot_on_failure,
)
from hub_fixtures import ROOT, Browser, Stack
from playwright.sync_api import expect

from masterclass.messages import hub_page_texts

pytestmark = [pytest.mark.docker, pytest.mark.slow]

COURSE_FILE = ROOT / "hub" / "course" / "course.toml"
#: The hub's defaults (docker-compose.yml): MASTERCLASS_WORKSHEET and MASTERCLASS_LANG.
WORKSHEET = "z-boson/z_boson.ipynb"
#: The hub pages' texts in the stack's class language (the default, German).
PAGES = hub_page_texts("de")
SOURCE = ROOT / "worksheets" / "de" / "source" / WORKSHEET
#: A pair's server may take minutes to spawn on a loaded machine (start + JupyterLab).
SPAWN_TIMEOUT_MS = 360_000
#: The first run of a cell starts the kernel and imports the toolkit.
CELL_TIMEOUT_MS = 300_000


def worksheet_cells() -> list[dict]:
    return json.loads(SOURCE.read_text(encoding="utf-8"))["cells"]


def worksheet_title() -> str:
    """The text of the worksheet's first level-1 heading (in the source notebook)."""
    for cell in worksheet_cells():
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    raise AssertionError(f"{SOURCE} has no level-1 heading")


def first_code_cell() -> str:
    return next("".join(c["source"]) for c in worksheet_cells() if c["cell_type"] == "code")


@pytest.fixture(scope="module")
def stack(hub_image, student_image, request):
    with Stack(MASTERCLASS_MEM_LIMIT="3G").running(request) as s:
        yield s


@pytest.fixture(scope="module")
def logins(stack) -> dict[str, str]:
    return stack.demo_logins()


@pytest.fixture(scope="module")
def released(stack, tmp_path_factory):
    """`masterclass class release` with the real course file, before any server starts."""
    workdir = tmp_path_factory.mktemp("organiser")
    env = {
        **stack.env,
        "MASTERCLASS_API_URL": f"{stack.url}/hub/api",
        "MASTERCLASS_COURSE_FILE": str(COURSE_FILE),
        "MASTERCLASS_CLASS_DIR": str(workdir / "class"),
        "MASTERCLASS_MEM_LIMIT": "3G",
    }
    run = subprocess.run(
        [str(Path(sys.executable).parent / "masterclass"), "class", "release"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert run.returncode == 0, f"release: {run.stdout}\n{run.stderr}\n{stack.explain()}"
    assert "Released z-boson" in run.stdout, run.stdout
    return run


@pytest.fixture(scope="module")
def pair_lab(chromium, stack, logins, released, tmp_path_factory):  # noqa: F811
    """pair-01 logged in as in class: the spawn page, then its JupyterLab (a module-wide page)."""
    page = new_page(chromium)
    try:
        with screenshot_on_failure(page, tmp_path_factory.mktemp("pair-lab"), "spawn"):
            login(page, stack.url, "pair-01", logins["pair-01"])
            expect(page).to_have_url(re.compile(r"/user/pair-01/lab"), timeout=SPAWN_TIMEOUT_MS)
            expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=SPAWN_TIMEOUT_MS)
        yield page
    finally:
        page.context.close()


def test_login_page_renders(chromium, stack, tmp_path):  # noqa: F811
    page = new_page(chromium)
    console = ConsoleLog(page)
    try:
        with screenshot_on_failure(page, tmp_path, "login-page"):
            response = page.goto(f"{stack.url}/hub/login")
            assert response is not None and response.status == 200, response
            page.wait_for_load_state("networkidle")
            expect(page).to_have_title(re.compile("JupyterHub"))
            expect(page.get_by_role("heading", name=LOGIN["title"])).to_be_visible()
            username = page.get_by_label(LOGIN["username"], exact=True)
            password = page.get_by_label(LOGIN["password"], exact=True)
            expect(username).to_be_visible()
            expect(username).to_be_editable()
            expect(username).to_be_focused()  # autofocus: a pair can type straight away
            expect(password).to_be_visible()
            expect(password).to_have_attribute("type", "password")
            expect(page.get_by_role("button", name=LOGIN["button"], exact=True)).to_be_enabled()
            # The class language, and where the logins are.
            expect(page.locator("form[lang]")).to_have_attribute("lang", LOGIN["lang"])
            expect(page.get_by_text(LOGIN["hint"])).to_be_visible()
            # Nobody is logged in: the navbar offers no Home/Token/Admin links.
            for link in ("Home", "Token", "Admin"):
                expect(page.get_by_role("link", name=link, exact=True)).to_have_count(0)
            # The username from a pair's QR-code link is filled in.
            page.goto(f"{stack.url}/hub/login?username=pair-02")
            expect(username).to_have_value("pair-02")
            errors = [e for e in console.errors if "favicon" not in e]
            assert not errors, f"console errors on the login page: {errors}"
    finally:
        page.context.close()


def test_wrong_password_shows_a_message_then_the_right_one_logs_in(
    chromium,  # noqa: F811
    stack,
    logins,
    tmp_path,
):
    page = new_page(chromium)
    try:
        with screenshot_on_failure(page, tmp_path, "wrong-password"):
            # Two failures, well below the throttle's 5 per username.
            for wrong in ("not-the-passphrase", logins["pair-01"]):
                login(page, stack.url, "pair-03", wrong, next_url="/hub/home")
                expect(page.locator(".login_error")).to_have_text(LOGIN["wrong"])
                expect(page.locator(".login_error")).to_be_visible()
                expect(page).to_have_url(re.compile(r"/hub/login"))
                expect(page.get_by_role("heading", name=LOGIN["title"])).to_be_visible()
                expect(page.get_by_label(LOGIN["username"], exact=True)).to_have_value("pair-03")
                expect(page.get_by_label(LOGIN["password"], exact=True)).to_have_value("")
                expect(page.locator("#logout")).to_have_count(0)
            login(page, stack.url, "pair-03", logins["pair-03"], next_url="/hub/home")
            expect(page).to_have_url(re.compile(r"/hub/home$"))
            expect(page.locator(".login_error")).to_have_count(0)
            expect(page.locator("#login_widget")).to_contain_text("pair-03")
            expect(page.get_by_role("button", name=PAGES["start_button"])).to_be_visible()
    finally:
        page.context.close()


def test_a_pair_lands_in_jupyterlab_with_the_worksheet_open(pair_lab, tmp_path):
    page = pair_lab
    name = Path(WORKSHEET).name
    with screenshot_on_failure(page, tmp_path, "worksheet-open"):
        expect(page).to_have_url(re.compile(rf"/user/pair-01/lab/tree/{re.escape(WORKSHEET)}"))
        tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab").filter(
            has=page.locator(".lm-TabBar-tabLabel", has_text=re.compile(rf"^{re.escape(name)}$"))
        )
        expect(tab).to_be_visible()
        expect(tab).to_have_class(re.compile(r"\blm-mod-current\b"))
        heading = page.locator(".jp-NotebookPanel:visible .jp-RenderedMarkdown h1").first
        expect(heading).to_contain_text(worksheet_title(), timeout=120_000)
        expect(heading).to_be_visible()
        # The student version: the source's first code cell is there, unchanged.
        cell = page.locator(".jp-NotebookPanel:visible .jp-CodeCell").first
        expect(cell.locator(".jp-InputArea-editor")).to_have_text(first_code_cell())


def test_the_first_cell_runs_from_the_ui(pair_lab, tmp_path):
    page = pair_lab
    code = first_code_cell()
    # Only a cheap cell belongs in a page test: the toolkit's import, no training.
    assert code.strip().startswith(("from masterclass import", "import ")), code
    with screenshot_on_failure(page, tmp_path, "first-cell"):
        cell = page.locator(".jp-NotebookPanel:visible .jp-CodeCell").first
        prompt = cell.locator(".jp-InputPrompt")
        expect(prompt).to_have_text(re.compile(r"\[\s*\]:"))  # never run
        # The kernel is up before the cell is sent: the status bar says "Idle",
        # or "Leerlauf" in a German class, where JupyterLab speaks German.
        expect(page.locator("#jp-main-statusbar")).to_contain_text(
            re.compile(r"\| (Idle|Leerlauf)"), timeout=CELL_TIMEOUT_MS
        )
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        expect(prompt).to_have_text(re.compile(r"\[1\]:"), timeout=CELL_TIMEOUT_MS)
        errors = cell.locator('[data-mime-type="application/vnd.jupyter.error"]')
        outputs = cell.locator(".jp-OutputArea-output")
        texts = outputs.all_inner_texts()
        assert errors.count() == 0, f"the cell failed: {texts}"
        assert not any("Traceback" in t or "Error" in t for t in texts), texts
        # Shift+Enter moved on to the next cell.
        expect(cell).not_to_have_class(re.compile(r"\bjp-mod-active\b"))


def test_a_tutor_opens_a_pairs_jupyterlab_but_a_pair_cannot(
    chromium,  # noqa: F811
    stack,
    logins,
    pair_lab,
    tmp_path,
):
    tutor = new_page(chromium)
    try:
        with screenshot_on_failure(tutor, tmp_path, "tutor"):
            # Tutors land on the hub's home page, not in a server of their own.
            login(tutor, stack.url, "tutor-01", logins["tutor-01"])
            expect(tutor).to_have_url(re.compile(r"/hub/home$"))
            expect(tutor.locator("#login_widget")).to_contain_text("tutor-01")
            expect(tutor.get_by_role("button", name=PAGES["start_button"])).to_be_visible()
            # The admin page (admin-ui scope) lists the pairs, pair-01's server running,
            # so a tutor sees at a glance who is working and can start or stop a server.
            tutor.get_by_role("link", name=PAGES["nav_admin"], exact=True).click()
            expect(tutor).to_have_url(re.compile(r"/hub/admin"))
            row = tutor.locator("tr").filter(has_text="pair-01")
            expect(row.first).to_be_visible(timeout=60_000)
            expect(row.first.get_by_role("button", name=re.compile("Stop Server"))).to_be_visible()
            # (No admin rights behind the page: test_the_admin_page_gives_tutors_no_admin_rights.)
            # access:servers!group=pairs: JupyterHub asks once, then pair-01's JupyterLab opens.
            tutor.goto(f"{stack.url}/user/pair-01/lab")
            expect(tutor.get_by_role("heading", name="Authorize access")).to_be_visible()
            tutor.get_by_role("button", name="Authorize").click()
            expect(tutor).to_have_url(re.compile(r"/user/pair-01/lab"), timeout=120_000)
            expect(tutor.locator("#jp-main-dock-panel")).to_be_visible(timeout=120_000)
            # pair-01's files: the file browser shows the fetched worksheet (its folder, or
            # the folder's content when pair-01's workspace has the browser inside it).
            folder, name = WORKSHEET.split("/")
            fetched = tutor.locator(".jp-DirListing-item:visible").filter(
                has_text=re.compile(rf"{re.escape(folder)}|{re.escape(name)}")
            )
            expect(fetched.first).to_be_visible(timeout=120_000)
    finally:
        tutor.context.close()

    other = new_page(chromium)
    try:
        with screenshot_on_failure(other, tmp_path, "other-pair"):
            login(other, stack.url, "pair-02", logins["pair-02"], next_url="/hub/home")
            expect(other).to_have_url(re.compile(r"/hub/home$"))
            response = other.goto(f"{stack.url}/user/pair-01/lab")
            assert response is not None and response.status == 403, (response, other.url)
            expect(other.get_by_role("heading", name=re.compile(r"^403\b"))).to_be_visible()
            expect(other.locator("#jp-main-dock-panel")).to_have_count(0)
            expect(other.get_by_role("button", name="Authorize")).to_have_count(0)
            expect(other.get_by_text(Path(WORKSHEET).name)).to_have_count(0)
    finally:
        other.context.close()


def test_the_home_page_and_the_navigation_bar_speak_the_class_language(
    chromium,  # noqa: F811
    stack,
    logins,
    tmp_path,
):
    server = Browser(stack)
    assert server.login("pair-03", logins["pair-03"]).status_code == 302
    server.start_server()
    page = new_page(chromium)
    log = ConsoleLog(page)
    try:
        with screenshot_on_failure(page, tmp_path, "home"):
            login(page, stack.url, "pair-03", logins["pair-03"], next_url="/hub/home")
            expect(page).to_have_url(re.compile(r"/hub/home$"))
            nav = page.locator("nav")
            for key in ("nav_home", "nav_token"):
                expect(nav.get_by_role("link", name=PAGES[key], exact=True)).to_be_visible()
            nav.get_by_role("button", name=PAGES["nav_services"]).click()
            board = nav.get_by_role("link", name=PAGES["service_results"], exact=True)
            expect(board).to_have_attribute("href", re.compile(r"/services/results/$"))
            expect(page.locator("#logout")).to_have_text(PAGES["nav_logout"])
            theme = page.locator("#dark-theme-toggle")
            expect(theme).to_have_attribute("title", PAGES["nav_theme"])
            expect(page.locator("#start")).to_have_text(PAGES["home_open"])
            # Stopping goes through JupyterHub's own script; its English label for the
            # start button is put into the class language.
            page.wait_for_load_state("networkidle")  # home.js binds the button when loaded
            page.locator("#stop").click()
            expect(page.locator("#stop")).to_be_hidden(timeout=120_000)
            expect(page.locator("#start")).to_have_text(PAGES["start_button"])
            expect(page.locator("#start")).to_have_attribute("title", PAGES["start_button"])
            for english in ("Home", "Logout", "Start My Server", "Stop My Server", "My Server"):
                expect(page.get_by_text(english, exact=True)).to_have_count(0)
            assert not log.errors, log.errors
    finally:
        page.context.close()
    assert server.hub_api("GET", "/users/pair-03").json()["servers"] == {}


def test_the_admin_page_gives_tutors_no_admin_rights(stack, logins):
    # A pair joins its group at its first login; only then may a tutor read it.
    assert Browser(stack).login("pair-01", logins["pair-01"]).status_code == 302
    tutor = Browser(stack)
    assert tutor.login("tutor-01", logins["tutor-01"]).status_code == 302
    assert tutor.hub_api("GET", "/users/pair-01").status_code == 200  # reads pairs
    refused = {
        "add a user": tutor.hub_api("POST", "/users/pair-99"),
        "make a pair admin": tutor.hub_api("PATCH", "/users/pair-01", json={"admin": True}),
        "delete a pair": tutor.hub_api("DELETE", "/users/pair-02"),
    }
    assert {what: r.status_code for what, r in refused.items()} == {
        "add a user": 403,
        "make a pair admin": 403,
        "delete a pair": 403,
    }
