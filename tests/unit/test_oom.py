"""The OOM message: cgroup counters, the text, and what the connection sends to the cell."""

import json
import types

import pytest
from jupyter_client.session import Session

from masterclass.toolkit import oom


def test_oom_counter_cgroup_v2_and_v1(tmp_path):
    v2 = tmp_path / "memory.events"
    v2.write_text("low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\n")
    v1 = tmp_path / "memory.oom_control"
    v1.write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 5\n")
    assert oom.oom_kill_count([tmp_path / "missing", v2]) == 2
    assert oom.oom_kill_count([v1]) == 5
    assert oom.oom_kill_count([tmp_path / "missing"]) is None


def test_memory_limit(tmp_path):
    f = tmp_path / "limit"
    f.write_text(f"{8 * 2**30}\n")
    assert oom.memory_limit([f]) == 8 * 2**30
    f.write_text("9223372036854771712\n")  # cgroup v1 without a limit
    assert oom.memory_limit([f]) is None
    f.write_text("max\n")  # cgroup v2 without a limit
    assert oom.memory_limit([f]) is None


@pytest.mark.parametrize("lang", ["de", "en"])
def test_message_names_cause_limit_and_remedy(lang):
    text = oom.message(8 * 2**30, lang=lang)
    assert "8 GB" in text and "augment_events" in text and "[2, 30, 30, 30]" in text
    assert oom.message(512 * 2**20, lang=lang).count("512 MB") == 1


class Probe(oom.OOMAwareConnection):
    """An OOMAwareConnection without a kernel or websocket: records what it would send."""

    subprotocol = None
    kernel_id = "k1"
    channels: dict = {}  # noqa: RUF012
    log = types.SimpleNamespace(warning=lambda *a: None)

    def __init__(self, session):
        self.session = session
        self.sent = []
        self._oom_seen = oom.oom_kill_count()
        self._last_execute = {"msg_id": "cell-7", "msg_type": "execute_request"}

    def write_message(self, message, binary=False):
        self.sent.append(json.loads(message))


def fake_connection(monkeypatch, counts):
    counter = iter(counts)
    monkeypatch.setattr(oom, "oom_kill_count", lambda: next(counter))
    monkeypatch.setattr(oom, "memory_limit", lambda: 2**30)
    conn = Probe(Session())
    return conn, conn.sent


def test_restart_after_oom_sends_error_to_the_running_cell(monkeypatch):
    conn, sent = fake_connection(monkeypatch, [0, 1])
    conn.on_kernel_restarted()
    error, status = sent
    assert error["msg_type"] == "error" and error["channel"] == "iopub"
    assert error["parent_header"]["msg_id"] == "cell-7"
    assert "1 GB" in error["content"]["evalue"]
    assert status["content"] == {"execution_state": "restarting"}


def test_restart_for_another_reason_sends_only_the_status(monkeypatch):
    conn, sent = fake_connection(monkeypatch, [1, 1])
    conn.on_kernel_restarted()
    assert [m["msg_type"] for m in sent] == ["status"]


def test_incoming_execute_request_is_remembered(monkeypatch):
    conn, _ = fake_connection(monkeypatch, [0])
    header = {"msg_id": "cell-9", "msg_type": "execute_request"}
    monkeypatch.setattr(
        oom.ZMQChannelsWebsocketConnection, "handle_incoming_message", lambda self, m: None
    )
    conn.handle_incoming_message(json.dumps({"header": header, "channel": "shell"}))
    assert conn._last_execute == header
    conn.handle_incoming_message(json.dumps({"header": {"msg_type": "kernel_info_request"}}))
    assert conn._last_execute == header
