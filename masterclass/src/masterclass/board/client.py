"""The pair's side of the results board: post what the worksheet recorded, never in the way.

:func:`masterclass.toolkit.results.record` calls :func:`post_results` after it wrote the
results file. When the values just recorded are a measurement (the test accuracy, the
test confusion matrix or the measured shares: the worksheet's prediction, accuracy and
overview cells), the whole file is posted to the board, so the pair's row appears
without any code of the pair's own. The game calls :func:`post_round`.

Posting happens in one background thread: the cell never waits for it. Each request
has a short timeout; a board that cannot be reached is tried again a few times with
growing pauses (the newest result replaces one still waiting); a refused post (400) is
not repeated. Nothing is ever printed into the notebook: what happened is logged to
``MASTERCLASS_BOARD_LOG`` (default ``/tmp/masterclass-board.log`` in the container).

It posts with the server's own token (``JUPYTERHUB_API_TOKEN``) to
``MASTERCLASS_RESULTS_URL``, both set by the hub; without them it does nothing.
"""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import os
import threading
import time
import urllib.error
import urllib.request

from masterclass.board import schema

#: Values whose recording means "a measurement was made": then the results are posted.
MEASUREMENTS = frozenset(schema.MEASUREMENTS)
#: What the board accepts from the results file (the notebook's folder is added).
FIELDS = tuple(field for field in schema.RESULT_FIELDS if field != "notebook")
#: Seconds one request may take.
TIMEOUT = 3.0
#: Pauses before the tries after a failed one (then the post is given up and logged).
RETRIES = (2.0, 5.0, 15.0, 30.0)

log = logging.getLogger("masterclass.board.client")
log.propagate = False  # never into the notebook


def _configure_log() -> None:
    """Log to ``MASTERCLASS_BOARD_LOG`` (once per path; the notebook never sees it)."""
    path = os.environ.get("MASTERCLASS_BOARD_LOG", "/tmp/masterclass-board.log")
    if any(getattr(h, "board_log", None) == path for h in log.handlers):
        return
    for old in [h for h in log.handlers if getattr(h, "board_log", None)]:
        log.removeHandler(old)
        old.close()
    try:
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=200_000, backupCount=1
        )
    except OSError:
        handler = logging.NullHandler()
    handler.board_log = path
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def board_url() -> str | None:
    """The board service's URL in this server (None outside a hub-spawned server)."""
    url = os.environ.get("MASTERCLASS_RESULTS_URL", "")
    if not url or not os.environ.get("JUPYTERHUB_API_TOKEN"):
        return None
    return url.rstrip("/") + "/"


class _Sender:
    """One background thread that posts the newest body per key, with retries."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._pending: dict[str, tuple[str, bytes, int, float]] = {}
        self._busy = 0
        self._thread: threading.Thread | None = None

    def submit(self, key: str, url: str, body: bytes) -> None:
        with self._lock:
            self._pending[key] = (url, body, 0, 0.0)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="board-post", daemon=True)
                self._thread.start()
            self._lock.notify()

    def flush(self, timeout: float) -> bool:
        """Wait until nothing is waiting to be sent (True) or *timeout* passed (False)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(min(remaining, 0.1))
        return True

    def _next(self) -> tuple[str, str, bytes, int]:
        with self._lock:
            while True:
                now = time.monotonic()
                ready = [k for k, (_, _, _, when) in self._pending.items() if when <= now]
                if ready:
                    url, body, tries, _ = self._pending.pop(ready[0])
                    self._busy += 1
                    return ready[0], url, body, tries
                waits = [when - now for (_, _, _, when) in self._pending.values()]
                self._lock.wait(min(waits) if waits else None)

    def _run(self) -> None:
        while True:
            key, url, body, tries = self._next()
            try:
                again = not _send(url, body)
            finally:
                with self._lock:
                    self._busy -= 1
                    if again and tries < len(RETRIES) and key not in self._pending:
                        later = time.monotonic() + RETRIES[tries]
                        self._pending[key] = (url, body, tries + 1, later)
                    elif again:
                        log.warning("gave up posting %s after %d tries", key, tries + 1)
                    self._lock.notify_all()


def _send(url: str, body: bytes) -> bool:
    """POST *body*; True when done (stored, or refused for good), False to try again."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Authorization": f"token {os.environ.get('JUPYTERHUB_API_TOKEN', '')}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            log.info("posted to %s: %s", url, answer.status)
            return True
    except urllib.error.HTTPError as e:
        detail = e.read(500).decode("utf-8", "replace")
        if e.code < 500 and e.code != 429:
            log.warning("the board refused the post to %s (%s): %s", url, e.code, detail)
            return True
        log.warning("the board answered %s to %s: %s", e.code, url, detail)
    except (OSError, ValueError) as e:  # no connection, timeout, bad URL
        log.warning("could not post to %s: %r", url, e)
    return False


_sender = _Sender()
atexit.register(lambda: _sender.flush(TIMEOUT))


def post_results(current: dict, recorded: dict, notebook: str) -> None:
    """Post the results file's *current* content if *recorded* held a measurement.

    Called by ``record`` with everything recorded so far, what this call recorded and
    the notebook's folder; returns at once and never raises.
    """
    try:
        if not MEASUREMENTS & set(recorded):
            return
        url = board_url()
        if url is None:
            return
        _configure_log()
        body = {key: current[key] for key in FIELDS if current.get(key) is not None}
        body["notebook"] = notebook
        _sender.submit(f"results:{notebook}", url + "api/results", json.dumps(body).encode())
    except Exception:  # the pair's cell must never see the board
        log.exception("posting the results failed")


def post_round(
    round_id: str,
    events: int,
    human_right: int,
    human_seconds: float,
    machine_right: int,
    machine_seconds: float,
) -> None:
    """Post one human-against-machine round (the same *round_id* again replaces it)."""
    try:
        url = board_url()
        if url is None:
            return
        _configure_log()
        body = {
            "round": round_id,
            "events": int(events),
            "human_right": int(human_right),
            "human_seconds": round(float(human_seconds), 3),
            "machine_right": int(machine_right),
            "machine_seconds": round(float(machine_seconds), 3),
        }
        _sender.submit(f"round:{round_id}", url + "api/rounds", json.dumps(body).encode())
    except Exception:
        log.exception("posting the game round failed")


def flush(timeout: float = TIMEOUT) -> bool:
    """Wait until every post is sent or given up (tests; the kernel's exit does it too)."""
    return _sender.flush(timeout)
