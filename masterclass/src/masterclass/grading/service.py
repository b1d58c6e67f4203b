"""The exchange service: releases and submissions over HTTP, identity from the hub's token check.

It runs in the hub container as a JupyterHub-managed service (``/services/exchange/``)
and keeps nbgrader's own exchange layout in the exchange volume, so that the grader
container can use nbgrader's ``collect`` on it unchanged::

    <root>/<course>/outbound/<assignment>/...                       released student version
    <root>/<course>/inbound/<user>+<assignment>+<timestamp>+<random>/ one submission each
    <root>/<course>/feedback/<user>/<assignment>/*.html              feedback for that pair

A pair's server calls it with its ``JUPYTERHUB_API_TOKEN``. The user name comes only
from the hub's answer to that token: nothing the client sends (``--student``,
``JUPYTERHUB_USER``, a form field) can change whose submission it writes or lists.
No route reads another user's submission, and the course source never reaches this
volume (the grader generates the student version and copies only that to ``outbound``).

Routes (below the service prefix)::

    GET  api/assignments                        released assignments + the caller's submissions
    GET  api/assignments/<a>/files              the student version as tar.gz
    POST api/assignments/<a>/submissions        a submission (tar.gz body) of the caller
    GET  api/assignments/<a>/feedback           the caller's feedback as tar.gz
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gzip
import io
import json
import logging
import os
import secrets
import shutil
import tarfile
import zlib
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from masterclass.grading.course import Course
from masterclass.grading.layout import SAFE_NAME, inbound_glob, inbound_name, parse_inbound

log = logging.getLogger("masterclass.exchange")

#: Largest submission (compressed body and unpacked sum): a worksheet with plots is ~2 MB.
MAX_BYTES = 50 * 1024 * 1024
#: The reply to a body over MAX_BYTES.
TOO_LARGE = f"it is larger than {MAX_BYTES // 2**20} MB"
#: Most files in one submission.
MAX_FILES = 200
#: Most entries (files and folders) in one archive.
MAX_MEMBERS = 2 * MAX_FILES
#: Most bytes one compressed byte may unpack to (a notebook compresses 2-10 times)...
MAX_RATIO = 100
#: ...beyond the first MiB (a tiny archive is mostly tar's own padding).
RATIO_FLOOR = 2**20
#: Tar's own headers and padding on top of the files' bytes.
TAR_OVERHEAD = 2 * 512 * (MAX_MEMBERS + 2) + 20 * 1024
#: Most submissions one pair keeps in the exchange (each new one is kept: nbgrader
#: collects the latest), and their most bytes in all.
MAX_SUBMISSIONS = 20
MAX_USER_BYTES = 2 * MAX_BYTES
#: nbgrader's default timestamp format (ExchangeSubmit writes the same).
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"


class BadArchive(ValueError):
    """A tar upload that is not a plain folder of files, or is too large."""


def now_timestamp() -> str:
    return datetime.datetime.now(datetime.UTC).strftime(TIMESTAMP_FORMAT)


def pack(directory: Path, skip_hidden: bool = True) -> bytes:
    """A tar.gz of the files below *directory* (relative names; hidden files left out)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(directory.rglob("*")):
            relative = path.relative_to(directory)
            if skip_hidden and any(part.startswith(".") for part in relative.parts):
                continue
            if path.is_file() and not path.is_symlink():
                tar.add(path, arcname=str(relative), recursive=False)
    return buffer.getvalue()


class _Inflated(io.RawIOBase):
    """The gunzipped bytes of *data*, read as a stream that refuses to grow past *limit*.

    The limit is checked while decompressing, so a gzip bomb costs at most *limit* bytes
    of work, never the size it claims (nor a tar header that claims gigabytes).
    """

    def __init__(self, data: bytes, limit: int, why: str) -> None:
        self._gzip = gzip.GzipFile(fileobj=io.BytesIO(data))
        self._limit, self._why = limit, why
        self.total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            count = self._gzip.readinto(buffer)
        except (OSError, EOFError, zlib.error) as e:
            raise BadArchive(f"not a tar.gz archive ({e})") from e
        self.total += count
        if self.total > self._limit:
            raise BadArchive(self._why)
        return count


def _inflation_limit(compressed: int) -> tuple[int, str]:
    """How many bytes a body of *compressed* bytes may unpack to, and the reason if not."""
    by_ratio = max(RATIO_FLOOR, MAX_RATIO * compressed)
    if by_ratio < MAX_BYTES + TAR_OVERHEAD:
        return by_ratio, f"it unpacks to more than {MAX_RATIO} times its own size"
    return MAX_BYTES + TAR_OVERHEAD, f"it unpacks to more than {MAX_BYTES // 2**20} MB"


def unpack(data: bytes, target: Path) -> list[str]:
    """Unpack a tar.gz of plain files into *target*; refuse links, absolute paths, '..', bulk.

    The archive is read as a stream, member by member: sizes, counts and the expansion
    are checked before anything is written and while decompressing, so a refused
    archive costs a bounded amount of work. Every refusal says why (BadArchive).
    """
    if len(data) > MAX_BYTES:
        raise BadArchive(TOO_LARGE)
    limit, why = _inflation_limit(len(data))
    stream = io.BufferedReader(_Inflated(data, limit, why), buffer_size=64 * 1024)
    try:
        tar = tarfile.open(fileobj=stream, mode="r|")  # noqa: SIM115 (closed below)
    except tarfile.TarError as e:
        raise BadArchive(f"not a tar.gz archive ({e})") from e
    names, members, total = [], 0, 0
    with tar:
        while True:
            try:
                member = tar.next()
            except tarfile.TarError as e:
                raise BadArchive(f"not a tar.gz archive ({e})") from e
            if member is None:
                break
            members += 1
            if members > MAX_MEMBERS:
                raise BadArchive(f"it has more than {MAX_MEMBERS} entries")
            name = PurePosixPath(member.name)
            if member.isdir():
                continue
            if not member.isfile():
                raise BadArchive(f"{member.name}: only plain files are accepted")
            if name.is_absolute() or ".." in name.parts or not name.parts:
                raise BadArchive(f"{member.name}: not a relative path inside the folder")
            if len(names) >= MAX_FILES:
                raise BadArchive(f"it has more than {MAX_FILES} files")
            total += member.size
            if total > MAX_BYTES:
                raise BadArchive(f"it unpacks to more than {MAX_BYTES // 2**20} MB")
            destination = target.joinpath(*name.parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            try:
                with open(destination, "wb") as out:
                    shutil.copyfileobj(source, out)
            except tarfile.TarError as e:
                raise BadArchive(f"not a tar.gz archive ({e})") from e
            names.append(str(name))
    return names


class Store:
    """The exchange volume in nbgrader's layout; every method takes the *verified* user."""

    def __init__(self, root: Path, course_id: str) -> None:
        self.root = root
        self.course_id = course_id
        self.course = root / course_id
        for part in ("outbound", "inbound", "feedback"):
            (self.course / part).mkdir(parents=True, exist_ok=True)

    def released(self) -> list[dict]:
        out = []
        for folder in sorted((self.course / "outbound").iterdir()):
            if folder.is_dir() and SAFE_NAME.match(folder.name):
                notebooks = sorted(p.stem for p in folder.glob("*.ipynb"))
                out.append({"assignment_id": folder.name, "notebooks": notebooks})
        return out

    def release_dir(self, assignment: str) -> Path | None:
        folder = self.course / "outbound" / assignment
        return folder if SAFE_NAME.match(assignment) and folder.is_dir() else None

    def submissions(self, user: str) -> list[dict]:
        """The *user*'s own submissions, oldest first (the glob is anchored on the name)."""
        out = []
        for folder in (self.course / "inbound").glob(inbound_glob(user=user)):
            parsed = parse_inbound(folder.name)
            if parsed is not None and parsed.user == user:
                out.append({"assignment_id": parsed.assignment, "timestamp": parsed.timestamp})
        return sorted(out, key=lambda s: (s["assignment_id"], s["timestamp"]))

    def usage(self, user: str) -> tuple[int, int]:
        """(submissions, bytes) the *user* keeps in the exchange."""
        folders = [
            f
            for f in (self.course / "inbound").glob(inbound_glob(user=user))
            if (parsed := parse_inbound(f.name)) is not None and parsed.user == user
        ]
        size = sum(p.stat().st_size for f in folders for p in f.rglob("*") if p.is_file())
        return len(folders), size

    def submit(self, user: str, assignment: str, data: bytes) -> str:
        """Store one submission atomically (a hidden folder renamed into place).

        A pair keeps at most MAX_SUBMISSIONS submissions of MAX_USER_BYTES in all: the
        exchange shares the server's disk with every other pair (BadArchive says which).
        """
        count, used = self.usage(user)
        if count >= MAX_SUBMISSIONS:
            raise BadArchive(
                f"this pair has submitted {count} times already, the most the exchange keeps"
            )
        timestamp = now_timestamp()
        inbound = self.course / "inbound"
        staging = inbound / f".incoming-{secrets.token_hex(8)}"
        staging.mkdir()
        try:
            unpack(data, staging)
            added = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())
            if used + added > MAX_USER_BYTES:
                raise BadArchive(
                    f"this pair's submissions would hold more than {MAX_USER_BYTES // 2**20} MB "
                    f"in all ({used // 2**20} MB so far)"
                )
            (staging / "timestamp.txt").write_text(timestamp, encoding="utf-8")
            final = inbound / inbound_name(user, assignment, timestamp, secrets.token_hex(4))
            staging.rename(final)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        log.info("submission of %s by %s at %s", assignment, user, timestamp)
        return timestamp

    def feedback_dir(self, user: str, assignment: str) -> Path | None:
        folder = self.course / "feedback" / user / assignment
        return folder if folder.is_dir() else None


def make_app(store: Store, prefix: str, workers: int = 2):
    """The tornado application (imports jupyterhub only here: the client side has no need).

    Everything that touches more than a folder listing (unpacking a submission, packing
    a release or feedback, the hub's token check) runs in a small thread pool, so the
    event loop keeps answering the other pairs while one upload is unpacked or refused.
    """
    from concurrent.futures import ThreadPoolExecutor

    from jupyterhub.services.auth import HubAuthenticated
    from tornado import web

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="exchange")

    def in_pool(function, *args):
        return asyncio.get_running_loop().run_in_executor(pool, function, *args)

    class Handler(HubAuthenticated, web.RequestHandler):
        async def prepare(self) -> None:
            # The hub's token check may call the hub (cached for minutes): not on the loop.
            await in_pool(self.get_current_user)

        def check_xsrf_cookie(self) -> None:
            # API clients authenticate with a token header, never with a cookie.
            return

        def user(self) -> str:
            model = self.get_current_user()
            if not model or model.get("kind", "user") != "user":
                raise web.HTTPError(403, "a user's token with access to this service is needed")
            name = model["name"]
            if not SAFE_NAME.match(name):
                raise web.HTTPError(403, "this user name cannot use the exchange")
            return name

        def send_json(self, data, status: int = 200) -> None:
            self.set_status(status)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(data))

        async def send_tar(self, directory: Path) -> None:
            self.set_header("Content-Type", "application/gzip")
            self.finish(await in_pool(pack, directory))

        def write_error(self, status_code: int, **kwargs) -> None:
            # The reply says why (the HTTPError's message), not only "Bad Request".
            error = kwargs.get("exc_info", (None, None, None))[1]
            message = self._reason
            if isinstance(error, web.HTTPError) and error.log_message:
                message = error.log_message % error.args if error.args else error.log_message
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"status": status_code, "message": message}))

        def get_login_url(self) -> str:
            raise web.HTTPError(403, "no valid token")

    class ListHandler(Handler):
        def get(self) -> None:
            user = self.user()
            self.send_json(
                {
                    "course_id": store.course_id,
                    "user": user,
                    "assignments": store.released(),
                    "submissions": store.submissions(user),
                }
            )

    class FilesHandler(Handler):
        async def get(self, assignment: str) -> None:
            self.user()
            folder = store.release_dir(assignment)
            if folder is None:
                raise web.HTTPError(404, f"{assignment} has not been released")
            await self.send_tar(folder)

    @web.stream_request_body
    class SubmitHandler(Handler):
        async def prepare(self) -> None:
            await super().prepare()
            self.chunks, self.size = [], 0
            # A body over the limit is refused before it is read, with the reason.
            length = self.request.headers.get("Content-Length", "0")
            if not length.isdigit() or int(length) > MAX_BYTES:
                raise web.HTTPError(413, f"submission refused: {TOO_LARGE}")

        def data_received(self, chunk: bytes) -> None:
            self.size += len(chunk)
            if self.size <= MAX_BYTES:
                self.chunks.append(chunk)

        async def post(self, assignment: str) -> None:
            user = self.user()
            if self.size > MAX_BYTES:
                raise web.HTTPError(413, f"submission refused: {TOO_LARGE}")
            if store.release_dir(assignment) is None:
                raise web.HTTPError(404, f"{assignment} has not been released")
            body, self.chunks = b"".join(self.chunks), []
            try:
                timestamp = await in_pool(store.submit, user, assignment, body)
            except BadArchive as e:
                log.warning("submission of %s by %s refused: %s", assignment, user, e)
                raise web.HTTPError(400, f"submission refused: {e}") from e
            self.send_json({"assignment_id": assignment, "timestamp": timestamp}, 201)

    class FeedbackHandler(Handler):
        async def get(self, assignment: str) -> None:
            user = self.user()
            folder = store.feedback_dir(user, assignment) if SAFE_NAME.match(assignment) else None
            if folder is None:
                raise web.HTTPError(404, "no feedback yet")
            await self.send_tar(folder)

    name = r"([A-Za-z0-9_][A-Za-z0-9_.-]{0,63})"
    base = prefix.rstrip("/")
    return web.Application(
        [
            (rf"{base}/api/assignments", ListHandler),
            (rf"{base}/api/assignments/{name}/files", FilesHandler),
            (rf"{base}/api/assignments/{name}/submissions", SubmitHandler),
            (rf"{base}/api/assignments/{name}/feedback", FeedbackHandler),
        ],
        max_body_size=MAX_BYTES,
    )


def main(argv: list[str] | None = None) -> None:
    """Run the service with the address and prefix the hub hands to managed services."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="the exchange directory")
    parser.add_argument("--course-file", type=Path, required=True, help="hub/course/course.toml")
    args = parser.parse_args(argv)
    course_id = Course.load(args.course_file).course_id
    logging.basicConfig(level=logging.WARNING, format="[exchange %(asctime)s] %(message)s")
    log.setLevel(logging.INFO)
    from tornado.ioloop import IOLoop

    url = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10102"))
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/exchange/")
    os.umask(0o077)
    app = make_app(Store(args.root, course_id), prefix)
    app.listen(url.port or 80, url.hostname or "127.0.0.1", xheaders=True)
    log.info("exchange for course %s on %s%s", course_id, url.geturl(), prefix)
    IOLoop.current().start()


if __name__ == "__main__":
    main()
