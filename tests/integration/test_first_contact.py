"""First contact, in a real browser: the stack exactly as `make up` leaves it.

Each class of tests runs one stack of its own (torn down before the next one starts):

- ``TestMakeUpInGerman``: hub/up.sh itself starts the stack (with this test's prefix and
  port), creates the demo class and releases its worksheet; the test releases nothing.
  A pair logs in with a login up.sh printed and lands in a German JupyterLab with the
  worksheet open and no news prompt; the spawn, error and throttled-login pages speak
  German; a second `make up` changes nothing.
- ``TestMakeUpInEnglish``: the same with ``MASTERCLASS_LANG=en``.
- ``TestReleaseWhileTheServerRuns``: a stack with nothing released. The pair's landing
  page shows the notice instead of "Cannot open"; then `make up`'s own release step
  (hub/release-missing.sh) runs, and the pair's running server gets the worksheet
  without a restart.

On a failure the test names a screenshot in its ``tmp_path``.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from urllib.parse import quote

import pytest
from browser_fixtures import (
    chromium,  # noqa: F401  (the fixture)
    new_page,
    screenshot_on_failure,
)
from hub_fixtures import ROOT, MadeUp, Stack, parse_logins, wait_until
from playwright.sync_api import Page, expect

from masterclass.messages import hub_page_texts, login_page_texts, text

pytestmark = [pytest.mark.docker, pytest.mark.slow]

WORKSHEET = "z-boson/z_boson.ipynb"
#: A pair's server may take minutes to spawn on a loaded machine (start + JupyterLab).
SPAWN_TIMEOUT_MS = 360_000
#: The menu bar's first two menus, File and Edit, in each language.
MENUS = {"de": ["Datei", "Bearbeiten"], "en": ["File", "Edit"]}
#: JupyterLab's "Cannot open" dialog title, in each language (the German language pack's).
CANNOT_OPEN = re.compile("Cannot open|Kann nicht geöffnet werden")


def worksheet_title(lang: str) -> str:
    """The worksheet's first level-1 heading in the class language's source."""
    source = ROOT / "worksheets" / lang / "source" / WORKSHEET
    for cell in json.loads(source.read_text(encoding="utf-8"))["cells"]:
        for line in "".join(cell["source"]).splitlines():
            if cell["cell_type"] == "markdown" and line.startswith("# "):
                return line[2:].strip()
    raise AssertionError(f"{source} has no level-1 heading")


def notebook_heading(page: Page):
    return page.locator(".jp-NotebookPanel:visible .jp-RenderedMarkdown h1").first


def login(page: Page, base_url: str, user: str, password: str, lang: str) -> None:
    """Fill the hub's login form in the class language and send it (browser_fixtures.login,
    for a stack whose language is not the test process's)."""
    form = login_page_texts(lang)
    page.goto(f"{base_url}/hub/login?username={quote(user)}")
    page.get_by_label(form["username"], exact=True).fill(user)
    page.get_by_label(form["password"], exact=True).fill(password)
    with page.expect_navigation(wait_until="commit"):
        page.get_by_role("button", name=form["button"], exact=True).click()


def log_in_and_land(page: Page, stack: Stack, user: str, password: str, lang: str) -> str:
    """Log in as in class; return the spawn page's HTML. Ends with the notebook shown."""
    with page.expect_response(
        lambda r: "/hub/spawn-pending/" in r.url and r.request.method == "GET",
        timeout=SPAWN_TIMEOUT_MS,
    ) as pending:
        login(page, stack.url, user, password, lang)
    spawn_page = pending.value.text()
    expect(page).to_have_url(
        re.compile(rf"/user/{user}/lab/tree/{re.escape(WORKSHEET)}"), timeout=SPAWN_TIMEOUT_MS
    )
    expect(notebook_heading(page)).to_be_visible(timeout=SPAWN_TIMEOUT_MS)
    return spawn_page


def check_lab_in(page: Page, lang: str) -> None:
    """JupyterLab's menus in *lang*, no news prompt, no "Cannot open" dialog, and the
    worksheet not marked as changed once its kernel is up."""
    menus = page.locator("#jp-MainMenu .lm-MenuBar-itemLabel")
    expect(menus.first).to_have_text(MENUS[lang][0])
    expect(menus.nth(1)).to_have_text(MENUS[lang][1])
    idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first
    expect(idle).to_be_attached(timeout=SPAWN_TIMEOUT_MS)
    # The news prompt would come right after JupyterLab restored its layout; give it time.
    page.wait_for_timeout(5_000)
    expect(page.get_by_text(re.compile("Jupyter news|Jupyter-Nachrichten"))).to_have_count(0)
    expect(page.locator(".Toastify__toast")).to_have_count(0)
    expect(page.locator(".jp-Dialog").filter(has_text=CANNOT_OPEN)).to_have_count(0)
    # When the kernel starts, JupyterLab writes its language_info into the notebook; the
    # worksheet carries the same values (worksheets/build.py), so nothing changed yet.
    tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text=WORKSHEET.rsplit("/", 1)[-1])
    expect(tab).to_have_count(1)
    assert "jp-mod-dirty" not in (tab.get_attribute("class") or "").split()
    # Behind it: the news feed is off in the page config, and the setting says never.
    config = json.loads(page.locator("#jupyter-config-data").text_content())
    assert config.get("news") == {"disabled": True}, config.get("news")
    schema = page.evaluate(
        """async () => {
            const data = document.getElementById('jupyter-config-data').textContent;
            const plugin = '@jupyterlab/apputils-extension:notification';
            const url = JSON.parse(data).baseUrl + 'lab/api/settings/' + plugin;
            // As JupyterLab does: a cookie-authenticated request carries the _xsrf cookie.
            const xsrf = (document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1] || '';
            const response = await fetch(url, {headers: {'X-XSRFToken': decodeURIComponent(xsrf)}});
            return {status: response.status, body: await response.text()};
        }"""
    )
    assert schema["status"] == 200, schema
    schema = json.loads(schema["body"])["schema"]["properties"]
    assert schema["fetchNews"]["default"] == "false", schema
    assert schema["checkForUpdates"]["default"] is False, schema


# ------------------------------------------------------------------ make up, German


@pytest.fixture(scope="class")
def made_up(request, hub_image, student_image):
    lang = getattr(request.cls, "lang", "de")
    with MadeUp(MASTERCLASS_MEM_LIMIT="3G", MASTERCLASS_LANG=lang).running(request) as s:
        yield s


class MakeUpChecks:
    """What holds after `make up` in any class language (the subclasses name it)."""

    lang = "de"

    def test_make_up_prints_the_logins_and_releases_the_worksheet(self, made_up):
        logins = made_up.printed_logins()
        assert sorted(logins) == ["pair-01", "pair-02", "pair-03", "tutor-01"], made_up.output
        assert f"Released z-boson (masterclass, {self.lang})" in made_up.output, made_up.output

    def test_a_pairs_first_login_opens_the_worksheet_in_the_class_language(
        self,
        chromium,  # noqa: F811
        made_up,
        tmp_path,
    ):
        pages = hub_page_texts(self.lang)
        page = new_page(chromium)
        try:
            with screenshot_on_failure(page, tmp_path, f"first-login-{self.lang}"):
                password = made_up.printed_logins()["pair-01"]
                spawn_page = log_in_and_land(page, made_up, "pair-01", password, self.lang)
                assert pages["spawn_title"] in spawn_page, spawn_page[:3000]
                assert "Your server is starting up" not in spawn_page
                expect(notebook_heading(page)).to_contain_text(worksheet_title(self.lang))
                notice = text("worksheet.waiting_title", language=self.lang)
                expect(page.get_by_text(notice)).to_have_count(0)
                check_lab_in(page, self.lang)
        finally:
            page.context.close()

    def test_make_up_again_changes_nothing(self, made_up):
        again = made_up.make_up()
        assert "z-boson was released before; left as it is." in again, again
        assert parse_logins(again) == made_up.printed_logins()


class TestMakeUpInGerman(MakeUpChecks):
    lang = "de"

    def test_error_pages_and_a_throttled_login_speak_the_class_language(
        self,
        chromium,  # noqa: F811
        made_up,
        tmp_path,
    ):
        pages, form = hub_page_texts("de"), login_page_texts("de")
        page = new_page(chromium)
        try:
            with screenshot_on_failure(page, tmp_path, "error-pages"):
                response = page.goto(f"{made_up.url}/hub/no-such-page")
                assert response is not None and response.status == 404
                heading = page.get_by_role("heading", name=f"404 : {pages['error_404']}")
                expect(heading).to_be_visible()
                expect(page.get_by_text(pages["error_text"])).to_be_visible()
                expect(page.get_by_text("lots of moons")).to_have_count(0)
                # Five wrong passphrases, then the sixth try is told to wait, on the form.
                for _ in range(5):
                    login(page, made_up.url, "pair-03", "not-the-passphrase", "de")
                    expect(page.locator(".login_error")).to_have_text(form["wrong"])
                login(page, made_up.url, "pair-03", made_up.printed_logins()["pair-03"], "de")
                waiting = re.escape(text("login.throttled", language="de", seconds=999))
                expect(page.locator(".login_error")).to_have_text(
                    re.compile(waiting.replace("999", r"\d+"))
                )
                expect(page).to_have_url(re.compile(r"/hub/login"))
                expect(page.get_by_role("heading", name=form["title"])).to_be_visible()
                expect(page.get_by_label(form["username"], exact=True)).to_have_value("pair-03")
        finally:
            page.context.close()


class TestMakeUpInEnglish(MakeUpChecks):
    lang = "en"


# ---------------------------------------------- a release while the pair's server runs


@pytest.fixture(scope="class")
def unreleased(request, hub_image, student_image):
    with Stack(MASTERCLASS_MEM_LIMIT="3G").running(request) as s:
        yield s


class TestReleaseWhileTheServerRuns:
    def test_the_pair_sees_the_notice_then_gets_the_worksheet_without_a_restart(
        self,
        chromium,  # noqa: F811
        unreleased,
        tmp_path,
    ):
        stack = unreleased
        logins = stack.demo_logins()
        page = new_page(chromium)
        try:
            with screenshot_on_failure(page, tmp_path, "notice"):
                log_in_and_land(page, stack, "pair-01", logins["pair-01"], "de")
                # Nothing is released: the notice in the class language, no "Cannot open".
                expect(notebook_heading(page)).to_contain_text(text("worksheet.waiting_title"))
                rendered = page.locator(".jp-NotebookPanel:visible .jp-RenderedMarkdown")
                expect(rendered.filter(has_text="F5")).to_be_visible()
                check_lab_in(page, "de")
                # Opening the notice changed nothing: reloading asks no "leave the page?".
                tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current")
                expect(tab).not_to_have_class(re.compile(r"\bjp-mod-dirty\b"))
            started = stack.inspect(stack.container("pair-01"))["State"]["StartedAt"]

            release = subprocess.run(
                ["bash", str(ROOT / "hub" / "release-missing.sh")],
                cwd=ROOT,
                env=stack.env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert release.returncode == 0, f"{release.stdout}\n{release.stderr}"
            assert "Released z-boson (masterclass, de)" in release.stdout, release.stdout

            # The running server fetches it within seconds; the notice's one action: F5.
            def fetched() -> bool:
                nb = stack.docker(
                    "exec", stack.container("pair-01"), "cat", f"/home/jovyan/{WORKSHEET}"
                ).stdout
                return "masterclass_placeholder" not in nb and worksheet_title("de") in nb

            began = time.monotonic()
            wait_until(fetched, 120, "the running server to fetch the worksheet", stack.explain)
            print(f"worksheet fetched {time.monotonic() - began:.0f} s after the release")
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.type), d.accept()))
            with screenshot_on_failure(page, tmp_path, "after-release"):
                page.reload()
                expect(notebook_heading(page)).to_contain_text(
                    worksheet_title("de"), timeout=SPAWN_TIMEOUT_MS
                )
                expect(page.locator(".jp-Dialog")).to_have_count(0)
                assert dialogs == [], f"the reload asked: {dialogs}"
            assert stack.inspect(stack.container("pair-01"))["State"]["StartedAt"] == started
        finally:
            page.context.close()
