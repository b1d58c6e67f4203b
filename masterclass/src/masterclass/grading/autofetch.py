"""Released worksheets reach a pair's running JupyterLab: a Jupyter server extension.

The student image enables it in every pair's server
(images/student/jupyter_server_config.json). When the server was started by the class
hub (``MASTERCLASS_EXCHANGE_URL`` and the server's token are set), it

- puts a placeholder (:mod:`masterclass.grading.placeholder`) at the worksheet's path
  (``MASTERCLASS_WORKSHEET``) while the worksheet is not in the home, so the pair's
  landing page shows a notice in the class language instead of "Cannot open";
- fetches every released assignment the home does not have yet, and the worksheet's
  assignment whenever the worksheet is missing: every :data:`FAST` seconds while the
  placeholder waits, every :data:`SLOW` seconds after that. A fetch replaces
  placeholders and only adds missing files, so a pair's own work is never overwritten.

The first round runs while the extension loads, before the server answers, so a
worksheet released before the start is open right after login (retrying for at most
``MASTERCLASS_AUTOFETCH_WAIT`` seconds while the exchange does not answer). It runs in
the server's own process, which imports nbgrader anyway: a separate fetch process in the
start hook cost about 2 CPU-seconds per start (issue 18, docs/operations.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from masterclass.grading import placeholder
from masterclass.messages import get_language

#: Seconds between fetches while the placeholder waits for the worksheet.
FAST = 10.0
#: Seconds between fetches once the worksheet is there (later assignments still arrive).
SLOW = 60.0
#: Where the server keeps the watcher, in its tornado settings.
SETTING = "masterclass_autofetch"


@dataclass
class Watcher:
    """Keeps the released assignments (and the worksheet, or its placeholder) in *home*."""

    home: Path
    worksheet: str = ""
    language: str | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger(__name__))
    last_error: str = ""
    task: asyncio.Task | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, home: Path, log: logging.Logger | None = None) -> Watcher | None:
        """The watcher for a server the class hub started; None anywhere else."""
        if not os.environ.get("MASTERCLASS_EXCHANGE_URL") or not os.environ.get(
            "JUPYTERHUB_API_TOKEN"
        ):
            return None
        worksheet = os.environ.get("MASTERCLASS_WORKSHEET", "").strip().strip("/")
        parts = PurePosixPath(worksheet).parts
        log = log or logging.getLogger(__name__)
        if worksheet and (len(parts) < 2 or ".." in parts or not worksheet.endswith(".ipynb")):
            log.warning(
                "MASTERCLASS_WORKSHEET=%r is not <assignment>/<notebook>.ipynb; no placeholder",
                worksheet,
            )
            worksheet = ""
        return cls(Path(home), worksheet, get_language(), log or logging.getLogger(__name__))

    @property
    def target(self) -> Path | None:
        """The worksheet's path in the home, if there is a worksheet."""
        return self.home / self.worksheet if self.worksheet else None

    @property
    def assignment(self) -> str:
        """The worksheet's assignment: the first folder of its path."""
        return PurePosixPath(self.worksheet).parts[0] if self.worksheet else ""

    def waiting(self) -> bool:
        """True while the worksheet is not in the home (missing, or only the placeholder)."""
        target = self.target
        return target is not None and (not target.exists() or placeholder.is_placeholder(target))

    def hold_place(self) -> bool:
        """Put the placeholder at the worksheet's path if nothing is there; True if written."""
        target = self.target
        if target is None or not placeholder.write(target, self.language):
            return False
        self.log.info("masterclass: placeholder at %s until the worksheet is released", target)
        return True

    def fetch(self) -> list[str]:
        """Fetch what is released and missing here; return the assignments fetched."""
        from nbgrader.coursedir import CourseDirectory

        from masterclass.grading.client import ExchangeFetchAssignment, ExchangeList

        home = str(self.home)
        released = ExchangeList(coursedir=CourseDirectory(), assignment_dir=home).start()
        fetched = []
        for item in released:
            name = item["assignment_id"]
            if item["status"] == "released" or (name == self.assignment and self.waiting()):
                coursedir = CourseDirectory(assignment_id=name)
                ExchangeFetchAssignment(coursedir=coursedir, assignment_dir=home).start()
                fetched.append(name)
        return fetched

    def step(self) -> list[str]:
        """One round: fetch, then hold the worksheet's place if it is still not there."""
        try:
            fetched = self.fetch()
        except Exception as e:  # the exchange may be restarting: try again next round
            if str(e) != self.last_error:
                self.log.warning("masterclass: fetching released assignments failed: %s", e)
            self.last_error = str(e)
            fetched = []
        else:
            self.last_error = ""
        if fetched:
            self.log.info("masterclass: fetched %s", ", ".join(fetched))
        self.hold_place()
        return fetched

    def first_round(self, wait: float) -> list[str]:
        """The round at the server's start: retry for *wait* seconds while the exchange fails."""
        end = time.monotonic() + wait
        while True:
            fetched = self.step()
            # A refusal (4xx) is an answer: waiting does not change it (a server started
            # before its pair's first login may not fetch yet); the later rounds retry.
            refused = "refused (4" in self.last_error
            if not self.last_error or refused or time.monotonic() + 2 > end:
                return fetched
            time.sleep(2)

    async def run(self, fast: float = FAST, slow: float = SLOW) -> None:
        """Fetch in rounds for as long as the server runs."""
        while True:
            await asyncio.to_thread(self.step)
            await asyncio.sleep(fast if self.waiting() else slow)


def _jupyter_server_extension_points():
    return [{"module": "masterclass.grading.autofetch"}]


def _load_jupyter_server_extension(serverapp) -> None:
    watcher = Watcher.from_env(Path(serverapp.root_dir), serverapp.log)
    if watcher is None:
        serverapp.log.info("masterclass: no exchange configured; autofetch is off")
        return
    # Before the first page: the worksheet, or at least its placeholder (the landing URL
    # must never point at nothing).
    watcher.first_round(float(os.environ.get("MASTERCLASS_AUTOFETCH_WAIT", "20")))
    serverapp.web_app.settings[SETTING] = watcher


async def _start_jupyter_server_extension(serverapp) -> None:
    watcher = serverapp.web_app.settings.get(SETTING)
    if watcher is not None:
        # Keep a reference: the event loop holds tasks only weakly.
        watcher.task = asyncio.create_task(watcher.run())
