"""Tell a pair, in the notebook, that its kernel was killed by the memory limit.

When a pair's training needs more memory than its container may use, the kernel
(the largest process) is killed by the kernel's OOM killer and JupyterLab only says
"the kernel appears to have died". The Jupyter server itself survives and restarts
the kernel. This module swaps in a kernel websocket connection that, when the
kernel dies, checks the container's cgroup OOM counter and, if the memory limit
was the cause, sends an error output to the cell that was running: what happened
and what to change. The hub enables it for every pair with

    --ServerApp.kernel_websocket_connection_class=masterclass.toolkit.oom.OOMAwareConnection

(``c.Spawner.args`` in hub/jupyterhub_config.py). It runs in the pair's Jupyter server
process, not in the kernel, and imports no TensorFlow.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from jupyter_client.jsonutil import json_default
from jupyter_server.services.kernels.connection.base import (
    deserialize_msg_from_ws_v1,
    serialize_msg_to_ws_v1,
)
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

from masterclass.messages import LANGUAGES, get_language, text

V1 = "v1.kernel.websocket.jupyter.org"

# cgroup v2 (memory.events) and v1 (memory.oom_control) both count OOM kills.
OOM_COUNTERS = (
    Path("/sys/fs/cgroup/memory.events"),
    Path("/sys/fs/cgroup/memory/memory.oom_control"),
)
LIMIT_FILES = (
    Path("/sys/fs/cgroup/memory.max"),
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
)


def oom_kill_count(paths=OOM_COUNTERS) -> int | None:
    """How often the OOM killer struck in this container's cgroup; None if unknown."""
    for path in paths:
        try:
            content = Path(path).read_text()
        except OSError:
            continue
        match = re.search(r"^oom_kill (\d+)$", content, re.MULTILINE)
        if match:
            return int(match.group(1))
    return None


def memory_limit(paths=LIMIT_FILES) -> int | None:
    """The container's memory limit in bytes; None if there is none or it is unknown."""
    for path in paths:
        try:
            content = Path(path).read_text().strip()
        except OSError:
            continue
        # cgroup v1 reports "no limit" as a huge number near 2**63.
        if content.isdigit() and int(content) < 2**60:
            return int(content)
    return None


def message(limit: int | None = None, lang: str | None = None) -> str:
    """The message for a kernel killed by the memory limit, in the class language.

    Examples
    --------
    >>> print(message(2**30, lang="en"))  # doctest: +ELLIPSIS
    Out of memory: the kernel was stopped because your program needed more than 1 GB ...
    """
    lang = lang if lang in LANGUAGES else get_language()
    if limit:
        size = f"{limit / 2**30:.0f} GB" if limit >= 2**30 else f"{limit / 2**20:.0f} MB"
    else:
        size = text("oom.limit_unknown", language=lang)
    return text("oom.killed", language=lang, limit=size)


class OOMAwareConnection(ZMQChannelsWebsocketConnection):
    """A kernel websocket connection that explains a kernel killed by the memory limit."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._oom_seen = oom_kill_count()
        self._last_execute = None

    def handle_incoming_message(self, incoming_msg) -> None:
        """Remember the latest execute request, so the message lands in that cell."""
        try:
            header = self._incoming_header(incoming_msg)
        except Exception:  # a malformed message is the base class's to report
            header = None
        if header and header.get("msg_type") == "execute_request":
            self._last_execute = header
        super().handle_incoming_message(incoming_msg)

    def _incoming_header(self, incoming_msg) -> dict | None:
        if self.subprotocol == V1:
            _, msg_list = deserialize_msg_from_ws_v1(incoming_msg)
            return self.session.unpack(msg_list[0])
        if isinstance(incoming_msg, bytes):
            return None
        return json.loads(incoming_msg).get("header")

    def on_kernel_restarted(self) -> None:
        """Before the usual "restarting" status, send the OOM message if that was the cause."""
        count = oom_kill_count()
        if count is not None and self._oom_seen is not None and count > self._oom_seen:
            self.log.warning("kernel %s was killed by the memory limit", self.kernel_id)
            self._send_oom_error()
        self._oom_seen = count
        super().on_kernel_restarted()

    def _send_oom_error(self) -> None:
        # Deliver what the dead kernel still printed first, then our message.
        iopub = self.channels.get("iopub")
        if iopub is not None and not iopub.closed():
            iopub.flush()
        text = message(memory_limit())
        content = {"ename": "MemoryError", "evalue": text, "traceback": [text]}
        msg = self.session.msg("error", content, parent=self._last_execute or {})
        if self.subprotocol == V1:
            self.write_message(serialize_msg_to_ws_v1(msg, "iopub", self.session.pack), binary=True)
        else:
            msg["channel"] = "iopub"
            self.write_message(json.dumps(msg, default=json_default))
