"""Run code in a Jupyter kernel over its websocket and collect everything the cell said.

The one reader of kernel messages for the tests and the benchmarks (``hub_fixtures.Kernel``
and ``benchmarks/classday.py`` use it; ``pythonpath = tests`` in pytest.ini).

Jupyter sends a cell's answer on two channels that it does not order against each other:
the ``execute_reply`` on the shell channel, the output (``stream``, ``execute_result``,
``error``) and the ``status`` messages on iopub. On iopub the output of a request always
comes before its ``status: idle``. So a cell is done only when both its ``execute_reply``
and its ``idle`` have arrived; returning at the reply alone loses output that is still on
its way (issue 20: ``print(survivor)`` gave ``''`` after a hub restart).

One exception: when the kernel restarts (it died, for example killed by the memory
limit), neither may ever come. A ``status: restarting`` ends the cell with
``restarting=True`` and whatever arrived before it (the OOM message among it).

Everything has one deadline. When it passes, :class:`KernelTimeout` lists every message
that did arrive and the output so far, so a failure says which half was missing.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Protocol

from websocket import WebSocketConnectionClosedException, WebSocketTimeoutException


class Socket(Protocol):
    """What the client needs of ``websocket.WebSocket`` (unit tests pass a fake)."""

    def send(self, payload: str) -> Any: ...
    def recv(self) -> str | bytes: ...
    def settimeout(self, timeout: float | None) -> None: ...


class KernelTimeout(TimeoutError):
    """The deadline passed before the cell's ``execute_reply`` and ``idle`` both arrived."""


class KernelGone(ConnectionError):
    """The websocket closed, or the kernel died, before the cell was done."""


def execute_request(code: str, username: str = "test") -> dict:
    """The ``execute_request`` JupyterLab sends for a cell (protocol 5.3, JSON framing)."""
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "msg_type": "execute_request",
            "username": username,
            "session": uuid.uuid4().hex,
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
        "channel": "shell",
    }


def submit(ws: Socket, code: str, username: str = "test") -> str:
    """Send ``code`` for execution without waiting; returns the request's msg_id."""
    msg = execute_request(code, username)
    ws.send(json.dumps(msg))
    return msg["header"]["msg_id"]


def collect(ws: Socket, msg_id: str, timeout: float, explain=lambda: "", label: str = "") -> dict:
    """Read messages until request ``msg_id`` is done; return what it said.

    The result: ``stdout`` and ``stderr`` (the ``stream`` texts), ``result`` (the
    ``text/plain`` of an ``execute_result``, or None), ``errors`` (the ``error`` contents),
    ``status`` (the reply's ``ok``/``error``/``aborted``), ``restarting`` and ``seen``
    (the types of this request's messages, in arrival order). Messages of other requests
    are skipped. A failure's message names ``label`` (the code) and ends with ``explain()``
    (a stack's logs).
    """
    cell = Cell(msg_id, label)
    deadline = time.monotonic() + timeout
    while not cell.done:
        left = deadline - time.monotonic()
        if left <= 0:
            raise KernelTimeout(cell.report(f"not done within {timeout:g} s", explain))
        ws.settimeout(left)
        try:
            raw = ws.recv()
        except (WebSocketTimeoutException, TimeoutError):
            continue
        except (WebSocketConnectionClosedException, OSError) as e:
            raise KernelGone(cell.report(f"the websocket closed ({e!r})", explain)) from e
        cell.add(json.loads(raw))
        if cell.dead:
            raise KernelGone(cell.report("the kernel died", explain))
    return cell.result()


def execute(
    ws: Socket, code: str, timeout: float = 120, username: str = "test", explain=lambda: ""
) -> dict:
    """Run ``code`` and return what it said once it is done (see :func:`collect`)."""
    return collect(ws, submit(ws, code, username), timeout, explain, label=code)


class Cell:
    """What arrived so far for one request."""

    def __init__(self, msg_id: str, label: str = "") -> None:
        self.msg_id, self.label = msg_id, label
        self.stdout = ""
        self.stderr = ""
        self.result_text: str | None = None
        self.errors: list[dict] = []
        self.status: str | None = None
        self.idle = False
        self.restarting = False
        self.dead = False
        self.seen: list[str] = []
        self.others: list[str] = []

    @property
    def done(self) -> bool:
        return (self.status is not None and self.idle) or self.restarting

    def add(self, msg: dict) -> None:
        kind = msg.get("msg_type") or msg["header"]["msg_type"]
        content = msg.get("content", {})
        state = content.get("execution_state") if kind == "status" else None
        name = f"status: {state}" if state else kind
        # The server's own restart status has no parent: it ends any running cell.
        if state in ("restarting", "dead"):
            self.seen.append(name)
            self.restarting = state == "restarting"
            self.dead = state == "dead"
            return
        if (msg.get("parent_header") or {}).get("msg_id") != self.msg_id:
            self.others.append(name)
            return
        self.seen.append(name)
        if kind == "stream":
            if content.get("name") == "stderr":
                self.stderr += content["text"]
            else:
                self.stdout += content["text"]
        elif kind == "execute_result":
            self.result_text = content["data"].get("text/plain")
        elif kind == "error":
            self.errors.append(content)
        elif kind == "execute_reply":
            self.status = content["status"]
        elif state == "idle":
            self.idle = True

    def result(self) -> dict:
        return {
            "stdout": self.stdout,
            "stderr": self.stderr,
            "result": self.result_text,
            "errors": self.errors,
            "status": self.status,
            "restarting": self.restarting,
            "seen": self.seen,
        }

    def report(self, what: str, explain=lambda: "") -> str:
        arrived = {"execute_reply": self.status is not None, "status: idle": self.idle}
        missing = [name for name, ok in arrived.items() if not ok]
        lines = [
            f"request {self.msg_id} ({self.label[:80]!r}): {what}",
            f"still missing: {', '.join(missing) or 'nothing'}",
            f"arrived for it, in order: {', '.join(self.seen) or 'nothing'}",
            f"other messages: {len(self.others)} ({', '.join(self.others[-10:])})",
            f"stdout so far: {self.stdout[-2000:]!r}",
            f"stderr so far: {self.stderr[-2000:]!r}",
        ]
        lines += [f"error: {e.get('ename')}: {e.get('evalue')}" for e in self.errors]
        extra = explain()
        return "\n".join([*lines, extra] if extra else lines)
