"""The kernel client's logic against a fake websocket: message order, other requests, deadline."""

from __future__ import annotations

import json
import time

import kernel_client
import pytest
from websocket import WebSocketConnectionClosedException, WebSocketTimeoutException


class FakeSocket:
    """Answers each request with a script of (channel, msg_type, content) messages.

    Script entries are parented to the request just sent, unless they carry their own
    ``parent``. When the script is used up, ``recv`` waits like a quiet socket (a short
    nap, then the timeout exception), or raises ``then`` if one is given.
    """

    def __init__(self, *script, then: Exception | None = None, forever=None) -> None:
        self.script = list(script)
        self.then, self.forever = then, forever
        self.sent: list[dict] = []
        self.timeouts: list[float] = []

    def send(self, payload: str) -> None:
        self.sent.append(json.loads(payload))

    def settimeout(self, timeout: float | None) -> None:
        self.timeouts.append(timeout)

    def recv(self) -> str:
        if self.script:
            entry = self.script.pop(0)
        elif self.forever:
            time.sleep(0.001)
            entry = self.forever
        elif self.then:
            raise self.then
        else:
            time.sleep(min(self.timeouts[-1], 0.01))
            raise WebSocketTimeoutException("timed out")
        channel, kind, content, *parent = entry
        parent = parent[0] if parent else self.sent[-1]["header"]["msg_id"]
        return json.dumps(
            {
                "header": {"msg_id": f"reply-{len(self.script)}", "msg_type": kind},
                "msg_type": kind,
                "parent_header": {"msg_id": parent} if parent else {},
                "content": content,
                "channel": channel,
            }
        )


REPLY = ("shell", "execute_reply", {"status": "ok"})
BUSY = ("iopub", "status", {"execution_state": "busy"})
IDLE = ("iopub", "status", {"execution_state": "idle"})


def stream(text: str, name: str = "stdout", parent=None) -> tuple:
    entry = ("iopub", "stream", {"name": name, "text": text})
    return (*entry, parent) if parent else entry


def test_the_request_is_a_cell_as_jupyterlab_sends_it():
    ws = FakeSocket(REPLY, IDLE)
    kernel_client.execute(ws, "print(6 * 7)", username="pair-01")
    (request,) = ws.sent
    assert request["channel"] == "shell"
    assert request["header"]["msg_type"] == "execute_request"
    assert request["header"]["username"] == "pair-01"
    assert request["content"]["code"] == "print(6 * 7)"


def test_output_after_the_reply_is_not_lost():
    # issue 20: the shell reply overtakes the iopub output; the cell ends at idle.
    ws = FakeSocket(BUSY, REPLY, stream("4"), stream("2\n"), IDLE)
    out = kernel_client.execute(ws, "print(survivor)")
    assert out["stdout"] == "42\n"
    assert out["status"] == "ok"
    assert out["seen"] == ["status: busy", "execute_reply", "stream", "stream", "status: idle"]
    assert not ws.script


def test_a_reply_after_idle_is_waited_for():
    ws = FakeSocket(stream("42\n"), IDLE, REPLY)
    out = kernel_client.execute(ws, "print(6 * 7)")
    assert (out["stdout"], out["status"]) == ("42\n", "ok")
    assert not ws.script


def test_other_requests_messages_are_skipped():
    ws = FakeSocket(
        stream("old\n", parent="earlier"),
        ("iopub", "status", {"execution_state": "idle"}, "earlier"),
        ("shell", "execute_reply", {"status": "ok"}, "earlier"),
        ("iopub", "status", {"execution_state": "idle"}, None),
        REPLY,
        stream("new\n"),
        IDLE,
    )
    out = kernel_client.execute(ws, "print('new')")
    assert out["stdout"] == "new\n"


def test_stderr_results_and_errors_are_kept_apart():
    ws = FakeSocket(
        stream("warning\n", "stderr"),
        stream("42\n"),
        ("iopub", "execute_result", {"data": {"text/plain": "20"}}),
        ("iopub", "error", {"ename": "StudentError", "evalue": "too big", "traceback": []}),
        ("shell", "execute_reply", {"status": "error"}),
        IDLE,
    )
    out = kernel_client.execute(ws, "5 * 4")
    assert (out["stdout"], out["stderr"], out["result"]) == ("42\n", "warning\n", "20")
    assert out["status"] == "error"
    assert [e["ename"] for e in out["errors"]] == ["StudentError"]


def test_a_restarting_kernel_ends_the_cell_with_what_it_said():
    # the memory-limit message comes as an error, then the server's parentless status
    ws = FakeSocket(
        ("iopub", "error", {"ename": "MemoryError", "evalue": "700 MB", "traceback": []}),
        ("iopub", "status", {"execution_state": "restarting"}, None),
    )
    out = kernel_client.execute(ws, "hog = b'x' * 2**31")
    assert out["restarting"]
    assert out["status"] is None
    assert [e["ename"] for e in out["errors"]] == ["MemoryError"]


def test_the_timeout_says_what_arrived_and_what_is_missing():
    ws = FakeSocket(REPLY, stream("4"), ("iopub", "status", {"execution_state": "busy"}, "x"))
    start = time.monotonic()
    with pytest.raises(kernel_client.KernelTimeout) as raised:
        kernel_client.execute(ws, "print(survivor)", timeout=0.3, explain=lambda: "HUB LOGS")
    assert time.monotonic() - start < 2
    message = str(raised.value)
    assert "'print(survivor)'" in message and "not done within 0.3 s" in message
    assert "still missing: status: idle" in message
    assert "arrived for it, in order: execute_reply, stream" in message
    assert "other messages: 1 (status: busy)" in message
    assert "stdout so far: '4'" in message
    assert message.endswith("HUB LOGS")


def test_one_deadline_even_while_other_messages_keep_coming():
    ws = FakeSocket(forever=("iopub", "status", {"execution_state": "busy"}, "someone-else"))
    start = time.monotonic()
    with pytest.raises(kernel_client.KernelTimeout, match="still missing: execute_reply"):
        kernel_client.execute(ws, "1", timeout=0.3)
    assert time.monotonic() - start < 2
    # the socket never waits past the deadline
    assert all(0 < t <= 0.3 for t in ws.timeouts)


def test_a_closed_socket_fails_at_once_with_what_arrived():
    ws = FakeSocket(stream("4"), then=WebSocketConnectionClosedException("gone"))
    start = time.monotonic()
    with pytest.raises(kernel_client.KernelGone, match="websocket closed") as raised:
        kernel_client.execute(ws, "print(42)", timeout=30)
    assert time.monotonic() - start < 2
    assert "arrived for it, in order: stream" in str(raised.value)


def test_submit_then_collect_a_long_cell():
    ws = FakeSocket()
    msg_id = kernel_client.submit(ws, "train()")
    ws.script = [
        stream("epoch 1\n", parent=msg_id),
        ("shell", "execute_reply", {"status": "ok"}, msg_id),
        ("iopub", "status", {"execution_state": "idle"}, msg_id),
    ]
    assert kernel_client.submit(ws, "print(1)") != msg_id
    out = kernel_client.collect(ws, msg_id, timeout=5)
    assert out["stdout"] == "epoch 1\n"
