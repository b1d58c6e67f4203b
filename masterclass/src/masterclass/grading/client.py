"""nbgrader Exchange classes for a pair's container: fetch, list and submit through the service.

The student image registers them in its nbgrader config (``c.ExchangeFactory``), so
JupyterLab's assignment list and the ``nbgrader fetch_assignment | submit | list``
commands use them. They call the exchange service (:mod:`masterclass.grading.service`)
with the server's ``JUPYTERHUB_API_TOKEN``; the service decides who the caller is.
``--student`` and ``JUPYTERHUB_USER`` are ignored on purpose.

``python -m masterclass.grading.client autofetch`` fetches every released assignment
that is not in the home yet; the student image runs it before the server starts, so
the worksheet is already there when the pair logs in. Releases that come later reach
the running server through :mod:`masterclass.grading.autofetch`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
from nbgrader.exchange.abc import (
    ExchangeFetchAssignment as ABCFetchAssignment,
)
from nbgrader.exchange.abc import (
    ExchangeFetchFeedback as ABCFetchFeedback,
)
from nbgrader.exchange.abc import (
    ExchangeList as ABCList,
)
from nbgrader.exchange.abc import (
    ExchangeSubmit as ABCSubmit,
)
from nbgrader.exchange.abc.exchange import Exchange
from traitlets import Float, Unicode, default

from masterclass.grading import placeholder
from masterclass.grading.layout import SAFE_NAME
from masterclass.grading.service import pack, unpack

ENV_URL = "MASTERCLASS_EXCHANGE_URL"


class ServiceExchange(Exchange):
    """HTTP to the exchange service, authenticated with the server's own hub token."""

    service_url = Unicode(help=f"Base URL of the exchange service (default: ${ENV_URL}).").tag(
        config=True
    )
    request_timeout = Float(60.0, help="Seconds per request to the exchange service.").tag(
        config=True
    )

    @default("service_url")
    def _default_url(self) -> str:
        return os.environ.get(ENV_URL, "")

    def request(self, method: str, path: str, ok=(200, 201), **kw) -> httpx.Response:
        token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
        if not self.service_url or not token:
            self.fail(
                "No exchange service configured: this server was not started by the class "
                f"hub (${ENV_URL} and $JUPYTERHUB_API_TOKEN are needed)."
            )
        url = self.service_url.rstrip("/") + "/api/" + path
        try:
            response = httpx.request(
                method,
                url,
                headers={"Authorization": f"token {token}"},
                timeout=self.request_timeout,
                **kw,
            )
        except httpx.HTTPError as e:
            self.fail(f"The exchange service cannot be reached ({e}). Ask a tutor.")
        if response.status_code not in ok:
            try:
                message = response.json().get("message") or response.reason_phrase
            except ValueError:
                message = response.reason_phrase
            self.fail(f"The exchange refused ({response.status_code}): {message}")
        return response

    def overview(self) -> dict:
        return self.request("GET", "assignments").json()

    def course_ok(self, data: dict) -> None:
        wanted = self.coursedir.course_id if self.coursedir else ""
        if wanted and wanted != data["course_id"]:
            self.fail(f"This hub serves the course {data['course_id']!r}, not {wanted!r}.")

    def assignment_id(self) -> str:
        name = self.coursedir.assignment_id if self.coursedir else ""
        if not name or not SAFE_NAME.match(name):
            self.fail(f"Not an assignment name: {name!r}")
        return name

    def local_dir(self, assignment: str) -> Path:
        return Path(self.assignment_dir) / assignment


def _notebooks(folder: Path) -> list[dict]:
    return [
        {"notebook_id": p.stem, "path": str(p.resolve())} for p in sorted(folder.glob("*.ipynb"))
    ]


class ExchangeList(ServiceExchange, ABCList):
    """Released assignments, or (``--cached``) the caller's own submissions; never anyone else's."""

    def start(self):
        if self.inbound:
            self.fail("Only the tutors' collection sees the submissions of the class.")
        if self.remove:
            self.fail("Released assignments are removed by the tutors, not from here.")
        data = self.overview()
        self.course_ok(data)
        course, user = data["course_id"], data["user"]
        wanted = self.coursedir.assignment_id if self.coursedir else ""
        if self.cached:
            return self._submitted(course, user, data["submissions"], wanted)
        out = []
        for item in data["assignments"]:
            name = item["assignment_id"]
            if wanted and name != wanted:
                continue
            local = self.local_dir(name)
            # A folder with nothing but the placeholder (or nothing) is not fetched yet.
            fetched = placeholder.has_work(local)
            released = [{"notebook_id": n, "path": f"{name}/{n}.ipynb"} for n in item["notebooks"]]
            out.append(
                {
                    "course_id": course,
                    "assignment_id": name,
                    "status": "fetched" if fetched else "released",
                    "path": str(local.resolve()) if fetched else name,
                    "notebooks": _notebooks(local) if fetched else released,
                }
            )
        return out

    def _submitted(self, course: str, user: str, submissions: list[dict], wanted: str) -> list:
        grouped: dict[str, list[dict]] = {}
        for sub in submissions:
            if not wanted or sub["assignment_id"] == wanted:
                grouped.setdefault(sub["assignment_id"], []).append(sub)
        out = []
        for name, subs in sorted(grouped.items()):
            local = self.local_dir(name)
            entries = []
            for sub in subs:
                feedback = local / "feedback" / sub["timestamp"]
                notebooks = []
                for nb in _notebooks(local) if local.is_dir() else []:
                    html = feedback / f"{nb['notebook_id']}.html"
                    notebooks.append(
                        {
                            **nb,
                            "has_local_feedback": html.is_file(),
                            "has_exchange_feedback": False,
                            "local_feedback_path": str(html) if html.is_file() else None,
                            "feedback_updated": False,
                        }
                    )
                has_local = bool(notebooks) and all(n["has_local_feedback"] for n in notebooks)
                entries.append(
                    {
                        "course_id": course,
                        "student_id": user,
                        "assignment_id": name,
                        "timestamp": sub["timestamp"],
                        "status": "submitted",
                        "path": str(local),
                        "notebooks": notebooks,
                        "has_local_feedback": has_local,
                        "has_exchange_feedback": False,
                        "feedback_updated": False,
                        "local_feedback_path": str(feedback) if has_local else None,
                    }
                )
            out.append(
                {
                    "course_id": course,
                    "student_id": user,
                    "assignment_id": name,
                    "status": "submitted",
                    "submissions": entries,
                }
            )
        return out


class ExchangeFetchAssignment(ServiceExchange, ABCFetchAssignment):
    """Download the student version; an existing folder only gets the files it lacks.

    A placeholder (:mod:`masterclass.grading.placeholder`) counts as lacking: it is replaced.
    """

    def start(self):
        self.set_timestamp()
        name = self.assignment_id()
        data = self.request("GET", f"assignments/{name}/files").content
        target = self.local_dir(name)
        with tempfile.TemporaryDirectory(dir=Path(self.assignment_dir)) as tmp:
            unpack(data, Path(tmp))
            added = 0
            for path in sorted(Path(tmp).rglob("*")):
                if not path.is_file():
                    continue
                destination = target / path.relative_to(tmp)
                if placeholder.is_placeholder(destination):
                    # Its checkpoint is read-only too and would block the worksheet's.
                    stale = placeholder.checkpoint(destination)
                    if placeholder.is_placeholder(stale):
                        stale.unlink()
                elif destination.exists():
                    continue  # never overwrite the pair's own work
                destination.parent.mkdir(parents=True, exist_ok=True)
                path.replace(destination)
                added += 1
        self.log.info("Fetched %s: %d new file(s) in %s", name, added, target)
        return target


class ExchangeSubmit(ServiceExchange, ABCSubmit):
    """Upload the assignment folder (without hidden files and fetched feedback)."""

    def start(self):
        self.set_timestamp()
        name = self.assignment_id()
        folder = self.local_dir(name)
        if not folder.is_dir():
            self.fail(f"There is no folder {name}/ to submit. Fetch the assignment first.")
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / name
            for path in folder.rglob("*"):
                relative = path.relative_to(folder)
                if relative.parts[0] == "feedback" or not path.is_file():
                    continue
                (copy / relative).parent.mkdir(parents=True, exist_ok=True)
                (copy / relative).write_bytes(path.read_bytes())
            copy.mkdir(exist_ok=True)
            body = pack(copy)
        answer = self.request("POST", f"assignments/{name}/submissions", content=body).json()
        self.timestamp = answer["timestamp"]
        self.log.info("Submitted %s as %s at %s", name, "this pair", self.timestamp)
        return answer


class ExchangeFetchFeedback(ServiceExchange, ABCFetchFeedback):
    """Download the caller's feedback into ``<assignment>/feedback/<timestamp>/``."""

    def start(self):
        self.set_timestamp()
        name = self.assignment_id()
        data = self.overview()
        mine = [s for s in data["submissions"] if s["assignment_id"] == name]
        if not mine:
            self.fail(f"{name} has not been submitted yet.")
        body = self.request("GET", f"assignments/{name}/feedback").content
        target = self.local_dir(name) / "feedback" / mine[-1]["timestamp"]
        target.mkdir(parents=True, exist_ok=True)
        unpack(body, target)
        return target


def autofetch(home: Path, deadline: float = 30.0) -> list[str]:
    """Fetch every released assignment not yet in *home*; retry until *deadline* seconds."""
    from nbgrader.coursedir import CourseDirectory

    if not os.environ.get(ENV_URL) or not os.environ.get("JUPYTERHUB_API_TOKEN"):
        return []  # not started by the class hub: nothing to fetch from
    end = time.monotonic() + deadline
    while True:
        try:
            lister = ExchangeList(coursedir=CourseDirectory(), assignment_dir=str(home))
            released = lister.start()
            break
        except Exception as e:
            if time.monotonic() > end:
                print(f"autofetch: exchange not available ({e})", file=sys.stderr)
                return []
            time.sleep(2)
    fetched = []
    for item in released:
        if item["status"] != "released":
            continue
        coursedir = CourseDirectory(assignment_id=item["assignment_id"])
        ExchangeFetchAssignment(coursedir=coursedir, assignment_dir=str(home)).start()
        fetched.append(item["assignment_id"])
    return fetched


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["autofetch"]:
        print("usage: python -m masterclass.grading.client autofetch [HOME]", file=sys.stderr)
        return 2
    home = Path(argv[1]) if len(argv) > 1 else Path.home()
    try:
        names = autofetch(home, float(os.environ.get("MASTERCLASS_AUTOFETCH_WAIT", "20")))
    except Exception as e:  # the server must start even if the exchange fails
        print(f"autofetch failed: {e}", file=sys.stderr)
        return 0
    if names:
        print(f"autofetch: {', '.join(names)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
