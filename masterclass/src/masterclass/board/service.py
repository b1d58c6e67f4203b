"""The results board service: pairs post their results, the board shows them live.

It runs in the hub container as a JupyterHub-managed service (``/services/results/``),
like the exchange service, and learns who calls **only** from the hub's answer to the
token or the login cookie it was given: a pair's server posts with its own
``JUPYTERHUB_API_TOKEN`` and can only ever write its own row.

Who sees what (docs/board.md):

- tutors and organisers (the scope ``custom:results:projector``) open the projector
  page and work the tutor switch (freeze and reveal, names shown or hidden);
- a pair opens the pair page: its own row named and highlighted, the others anonymous;
  the projector page and the switch answer a pair with 403.

Routes (below the service prefix)::

    GET  /                  the projector (tutors) or the pair page (pairs)
    GET  projector | pair   the two pages (HTML; scripts, styles and fonts from static/)
    GET  events             the viewer's board as Server-Sent Events (a ping every few seconds)
    GET  api/board          the viewer's board as JSON
    POST api/results        the caller's result (JSON, checked: 400 says why)
    POST api/rounds         the caller's human-against-machine round
    POST api/switch         {"frozen": bool, "names": bool} (tutors and organisers)
    GET  oauth_callback     the end of the hub's login (OAuth)

The store is read back whenever any of its files changes, also by another process
(``python -m masterclass.board.store purge``), so the board follows a purge at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

from masterclass.board.schema import MAX_BODY, Invalid, check_control, parse_body
from masterclass.board.store import DEFAULT_ROOT, Store
from masterclass.board.views import pair_view, projector_view, shown
from masterclass.messages import LANGUAGES, table
from masterclass.names import is_pair

log = logging.getLogger("masterclass.board")

HERE = Path(__file__).resolve().parent
#: The scope that opens the projector and the tutor switch (a custom scope of the hub).
PROJECTOR_SCOPE = "custom:results:projector"
#: Largest body the service reads at all; up to it a too-large post gets a 400 that says why.
MAX_READ = 1024 * 1024
#: Milliseconds a browser waits before it reconnects a lost event stream.
RETRY_MS = 2000
#: Seconds between looks at the store for changes made by another process.
WATCH_SECONDS = 1.0
#: Seconds a burst of posts is gathered before the boards are sent the new state.
GATHER_SECONDS = 0.2

#: The pages' Content-Security-Policy: everything from the service itself, nothing else.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


class Board:
    """What the service knows: the store's content, the tutor switch, the open event streams."""

    def __init__(self, store: Store, heartbeat: float) -> None:
        self.store = store
        self.heartbeat = heartbeat
        self.streams: dict[object, tuple[str, str]] = {}
        self.seq = 0
        self._pending = False
        # Writes (flushed to disk, slow on a busy machine) run one at a time in a thread
        # of their own, so the event loop keeps answering and sending boards meanwhile.
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="board-store")
        self.reload()

    async def write(self, function, *args):
        """Run one of the store's writing methods in the writer thread; its result."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, function, *args)

    def reload(self) -> None:
        self.signature = self.store.signature()
        self.results = self.store.results()
        self.rounds = self.store.rounds()
        self.settings = self.store.board()
        self.seq += 1

    def watch(self) -> None:
        """Read the store back if another process changed it (a purge), and tell the boards."""
        if self.store.signature() != self.signature:
            log.info("the store changed outside the service; reading it again")
            self.changed()

    def changed(self) -> None:
        """The store has new content: read it, and send every board the new state shortly."""
        self.reload()
        if not self._pending:
            self._pending = True
            asyncio.get_running_loop().call_later(GATHER_SECONDS, self._broadcast)

    def view(self, viewer: tuple[str, str], state=None) -> dict:
        kind, name = viewer
        state = state or shown(self.results, self.rounds, self.settings)
        data = (
            projector_view(state, self.settings)
            if kind == "projector"
            else pair_view(state, self.settings, name)
        )
        # "sent": when the service sent this view (to tell its own delay from the network's).
        return {**data, "seq": self.seq, "me": name, "sent": round(time.time(), 3)}

    def _broadcast(self) -> None:
        self._pending = False
        state = shown(self.results, self.rounds, self.settings)
        payloads: dict[tuple[str, str], str] = {}
        for stream, viewer in list(self.streams.items()):
            if viewer not in payloads:
                payloads[viewer] = json.dumps(self.view(viewer, state), separators=(",", ":"))
            stream.send("board", payloads[viewer])

    def ping(self) -> None:
        data = json.dumps({"time": time.time(), "seq": self.seq})
        for stream in list(self.streams):
            stream.send("ping", data)


def make_app(board: Board, prefix: str, lang: str, hub_auth=None):
    """The tornado application (imports jupyterhub only here: the pairs' side has no need).

    *hub_auth* is JupyterHub's ``HubOAuth`` configured from the environment the hub gives
    its managed services (``JUPYTERHUB_API_URL``, ``..._API_TOKEN``, ...) unless given.
    """
    from jupyterhub.services.auth import (
        HubOAuthCallbackHandler,
        HubOAuthenticated,
        UserNotAllowed,
    )
    from tornado import escape, web

    base = prefix.rstrip("/")
    # The board's texts, and the channels' names for the charts' titles.
    texts = table("board", lang) | {f"channel_{k}": v for k, v in table("categories", lang).items()}

    class Handler(HubOAuthenticated, web.RequestHandler):
        _hub_auth = hub_auth

        async def prepare(self) -> None:
            # The hub checks the token (header) or the login cookie; its answer is the caller.
            model = await self.hub_auth.get_user(self, sync=False)
            self._hub_auth_user_cache = None
            if model:
                try:
                    self._hub_auth_user_cache = self.check_hub_user(model)
                except UserNotAllowed:
                    raise web.HTTPError(403, f"{model['name']} may not use the board") from None

        def viewer(self) -> tuple[str, str]:
            """``("projector", name)`` for tutors and organisers, ``("pair", name)`` for pairs."""
            model = self.current_user
            if not model:
                raise web.HTTPError(403, "no valid login or token for the results board")
            if model.get("kind", "user") != "user":
                raise web.HTTPError(403, "only users have a view of the board")
            if self.hub_auth.check_scopes(PROJECTOR_SCOPE, model):
                return "projector", model["name"]
            if is_pair(model["name"]):
                return "pair", model["name"]
            raise web.HTTPError(403, f"{model['name']} has no view of the results board")

        def pair(self) -> str:
            kind, name = self.viewer()
            if kind != "pair":
                raise web.HTTPError(403, "only pairs post results, each for itself")
            return name

        def set_default_headers(self) -> None:
            self.set_header("Content-Security-Policy", CSP)
            self.set_header("X-Content-Type-Options", "nosniff")
            self.set_header("Referrer-Policy", "same-origin")
            self.set_header("Cache-Control", "no-store")

        def send_json(self, data, status: int = 200) -> None:
            self.set_status(status)
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.finish(json.dumps(data))

        def error_message(self, **kwargs) -> str:
            error = kwargs.get("exc_info", (None, None))[1]
            if isinstance(error, web.HTTPError) and error.log_message:
                return error.log_message % error.args if error.args else error.log_message
            return self._reason

        def write_error(self, status_code: int, **kwargs) -> None:
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.finish(
                json.dumps({"status": status_code, "message": self.error_message(**kwargs)})
            )

    class PageHandler(Handler):
        def initialize(self, kind: str) -> None:
            self.kind = kind

        def write_error(self, status_code: int, **kwargs) -> None:
            # A page for people: in the class language, with the way to the pair's own view.
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.render(
                "error.html",
                lang=lang,
                texts=texts,
                status=status_code,
                message=self.error_message(**kwargs),
                pair_url=f"{base}/pair",
            )

        @web.authenticated
        def get(self) -> None:
            viewer, name = self.viewer()
            if self.kind == "index" or viewer != self.kind:
                if self.kind == "projector" and viewer == "pair":
                    raise web.HTTPError(403, "the projector is for tutors and organisers")
                self.redirect(f"{base}/{viewer}")
                return
            self.set_header("Content-Type", "text/html; charset=utf-8")
            config = {
                "kind": viewer,
                "me": name,
                "lang": lang,
                "events": f"{base}/events",
                "board": f"{base}/api/board",
                "switch": f"{base}/api/switch",
                "xsrf": self.xsrf_token.decode(),
                "heartbeat": board.heartbeat,
                "retry": RETRY_MS,
                "texts": texts,
            }
            self.render(
                "board.html",
                kind=viewer,
                lang=lang,
                texts=texts,
                config=escape.json_encode(config),
            )

    class EventsHandler(Handler):
        async def get(self) -> None:
            viewer = self.viewer()
            self.set_header("Content-Type", "text/event-stream; charset=utf-8")
            # No proxy may hold events back or change them (Caddy and nginx honour these).
            self.set_header("Cache-Control", "no-cache, no-store, no-transform")
            self.set_header("X-Accel-Buffering", "no")
            self._closed = asyncio.Event()
            board.streams[self] = viewer
            try:
                self.write(f"retry: {RETRY_MS}\n\n")
                self.send("board", json.dumps(board.view(viewer), separators=(",", ":")))
                await self._closed.wait()
            finally:
                board.streams.pop(self, None)

        def send(self, event: str, data: str) -> None:
            if self._closed.is_set():
                return
            self.write(f"event: {event}\ndata: {data}\n\n")
            self.flush().add_done_callback(self._flushed)

        def _flushed(self, future) -> None:
            if future.exception() is not None:
                self._closed.set()

        def on_connection_close(self) -> None:
            self._closed.set()

        def on_finish(self) -> None:
            board.streams.pop(self, None)

    class BoardHandler(Handler):
        def get(self) -> None:
            self.send_json(board.view(self.viewer()))

    @web.stream_request_body
    class PostHandler(Handler):
        """A JSON post of at most MAX_BODY bytes; bigger ones get a 400 that says so.

        The body is read to its end (up to MAX_READ) and only then refused: a server that
        answers while the client is still sending makes many clients see a reset instead.
        """

        async def prepare(self) -> None:
            self._body, self._size = bytearray(), 0
            await super().prepare()

        def data_received(self, chunk: bytes) -> None:
            self._size += len(chunk)
            if self._size <= MAX_BODY:
                self._body += chunk

        def body(self) -> dict:
            if self._size > MAX_BODY:
                raise Invalid(f"the body has {self._size} bytes, at most {MAX_BODY} are accepted")
            return parse_body(bytes(self._body))

    class ResultsHandler(PostHandler):
        async def post(self) -> None:
            pair = self.pair()
            try:
                record = await board.write(board.store.put_result, pair, self.body())
            except Invalid as e:
                log.info("result of %s refused: %s", pair, e)
                raise web.HTTPError(400, f"result refused: {e}") from e
            log.info("result of %s (%s) stored", pair, record["notebook"])
            board.changed()
            label = board.store.board()["labels"].get(pair)
            self.send_json({"pair": pair, "label": label, "received": record["received"]}, 201)

    class RoundsHandler(PostHandler):
        async def post(self) -> None:
            pair = self.pair()
            try:
                stored = await board.write(board.store.put_round, pair, self.body())
            except Invalid as e:
                log.info("game round of %s refused: %s", pair, e)
                raise web.HTTPError(400, f"round refused: {e}") from e
            log.info("game round %s of %s stored", stored["round"], pair)
            board.changed()
            self.send_json({"pair": pair, "round": stored["round"]}, 201)

    class SwitchHandler(PostHandler):
        async def post(self) -> None:
            kind, name = self.viewer()
            if kind != "projector":
                raise web.HTTPError(403, "the switch is for tutors and organisers")
            try:
                wanted = check_control(self.body())
            except Invalid as e:
                raise web.HTTPError(400, f"switch refused: {e}") from e
            settings = await board.write(lambda: board.store.set_switch(**wanted))
            log.info("%s set the board: %s", name, wanted)
            board.changed()
            self.send_json({"names": settings["names"], "frozen": bool(settings["frozen"])})

    return web.Application(
        [
            (rf"{base}/?", PageHandler, {"kind": "index"}),
            (rf"{base}/projector", PageHandler, {"kind": "projector"}),
            (rf"{base}/pair", PageHandler, {"kind": "pair"}),
            (rf"{base}/events", EventsHandler),
            (rf"{base}/api/board", BoardHandler),
            (rf"{base}/api/results", ResultsHandler),
            (rf"{base}/api/rounds", RoundsHandler),
            (rf"{base}/api/switch", SwitchHandler),
            (rf"{base}/oauth_callback", HubOAuthCallbackHandler),
        ],
        cookie_secret=board.store.cookie_secret(),
        template_path=str(HERE / "templates"),
        static_path=str(HERE / "static"),
        static_url_prefix=f"{base}/static/",
        max_body_size=MAX_READ,
    )


def main(argv: list[str] | None = None) -> None:
    """Run the service with the address and prefix the hub hands to managed services."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(DEFAULT_ROOT), help="the store")
    parser.add_argument("--lang", default="de", choices=LANGUAGES, help="the class language")
    parser.add_argument(
        "--heartbeat", type=float, default=10.0, help="seconds between pings on the event stream"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="[results %(asctime)s] %(message)s")
    log.setLevel(logging.INFO)
    asyncio.run(serve(args.root, args.lang, args.heartbeat))


async def serve(root: Path, lang: str, heartbeat: float) -> None:
    from tornado.ioloop import PeriodicCallback

    url = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10103"))
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/results/")
    os.umask(0o077)
    board = Board(Store(root), heartbeat)
    app = make_app(board, prefix, lang)
    app.listen(url.port or 80, url.hostname or "127.0.0.1", xheaders=True)
    PeriodicCallback(board.ping, heartbeat * 1000).start()
    PeriodicCallback(board.watch, WATCH_SECONDS * 1000).start()
    log.info("results board (%s) on %s%s, store %s", lang, url.geturl(), prefix, root)
    await asyncio.Event().wait()


if __name__ == "__main__":
    main()
