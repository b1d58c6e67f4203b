"""A real browser for the integration tier: headless Chromium driven by Playwright.

Import the fixture into a test module (``from browser_fixtures import chromium``);
every test opens its own context from it (``chromium.new_context()``), so cookies
never leak from one test into another. Playwright's own browser download is not
used: the machine's Chromium (Debian's package ``chromium``) is launched; set
``CHROMIUM`` to use another binary.

- :func:`login` fills the hub's real login form and submits it;
- :func:`screenshot_on_failure` turns any failure inside its block into an
  assertion error that names a screenshot of the page (in the test's ``tmp_path``);
- :class:`ConsoleLog` records what the page writes to the browser console.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from masterclass.messages import login_page_texts

#: The login page's texts in the class language of the test stacks (MASTERCLASS_LANG,
#: German by default), from the same catalogue the hub renders them from.
LOGIN = login_page_texts()

#: Milliseconds a hub page (not a spawning server) may take on a loaded machine.
PAGE_TIMEOUT_MS = 60_000


def chromium_path() -> str:
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def chromium() -> Browser:
    """A launched headless Chromium (Playwright's sync API), closed at the end of the module.

    Module scope on purpose: while Playwright's sync API runs, the main thread counts as
    running an asyncio loop, so a second Playwright (another module importing this
    fixture) or any later ``asyncio.run()`` (the unit tier) would fail.
    """
    path = chromium_path()
    if not Path(path).exists():
        pytest.fail(f"no Chromium at {path}; install Debian's `chromium` package", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path,
            headless=True,
            # /dev/shm is small in containers; Chromium then uses /tmp instead.
            args=["--disable-dev-shm-usage"],
        )
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Browser, timeout_ms: float = PAGE_TIMEOUT_MS) -> Page:
    """A page in a fresh context (own cookies), with generous default timeouts."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(timeout_ms)
    context.set_default_navigation_timeout(timeout_ms)
    return context.new_page()


def login(page: Page, base_url: str, user: str, password: str, next_url: str = "") -> None:
    """Open the hub's login page, fill in username and password, press the button.

    Returns when the hub has answered the form (the next page has started to load);
    where the browser lands (the spawn page, ``next_url``, the login page again with
    an error) is for the caller to check.
    """
    url = f"{base_url.rstrip('/')}/hub/login"
    if next_url:
        url += f"?next={quote(next_url, safe='')}"
    page.goto(url)
    page.get_by_label(LOGIN["username"], exact=True).fill(user)
    page.get_by_label(LOGIN["password"], exact=True).fill(password)
    with page.expect_navigation(wait_until="commit"):
        page.get_by_role("button", name=LOGIN["button"], exact=True).click()


@contextlib.contextmanager
def screenshot_on_failure(page: Page, tmp_path: Path, name: str):
    """On any failure in the block, save a full-page screenshot and name it in the error."""
    try:
        yield
    except Exception as e:
        shot = Path(tmp_path) / f"{name}.png"
        try:
            page.screenshot(path=str(shot), full_page=True)
            where = f"screenshot: {shot} (page {page.url})"
        except Exception as failed:  # the page itself may be gone
            where = f"no screenshot ({failed!r})"
        raise AssertionError(f"{e}\n{where}") from e


class ConsoleLog:
    """Errors the page writes to the console, and uncaught script errors."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({message.location.get('url', '')})")
