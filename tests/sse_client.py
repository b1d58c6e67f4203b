"""A Server-Sent Events reader for the tests: the board's event stream, read in a thread.

Shared by the unit tier (the board service against a stand-in hub) and the integration
tier (through the real proxy). Every event lands in a queue with the time it arrived, so
a test can say how long a change took to reach a board.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time

import httpx


class EventStream:
    """``GET url`` as an event stream; :meth:`wait_for` returns the first event that matches."""

    def __init__(self, client: httpx.Client, url: str, **request) -> None:
        self.events: queue.Queue = queue.Queue()
        self.status: int | None = None
        self.headers: httpx.Headers | None = None
        self._client, self._url, self._request = client, url, request
        self._stop = threading.Event()
        self._response: httpx.Response | None = None
        #: When the event being checked arrived (time.monotonic()).
        self.arrived = 0.0
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        if not self._opened.wait(30):
            raise AssertionError(f"the event stream {url} did not answer within 30 s")

    def _read(self) -> None:
        try:
            with self._client.stream(
                "GET", self._url, timeout=httpx.Timeout(30, read=None), **self._request
            ) as r:
                self.status, self.headers, self._response = r.status_code, r.headers, r
                self._opened.set()
                event, data = "message", []
                for line in r.iter_lines():
                    if self._stop.is_set():
                        return
                    if line == "":
                        if data:
                            self.events.put((time.monotonic(), event, "\n".join(data)))
                        event, data = "message", []
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
        except Exception as e:  # the stream ended; the tests see it as no more events
            self.events.put((time.monotonic(), "closed", repr(e)))
        finally:
            self._opened.set()
            self.events.put((time.monotonic(), "closed", ""))

    def wait_for(self, check=lambda event, data: event == "board", timeout: float = 10.0):
        """``(arrival time, event, data)`` of the first event with ``check(event, parsed data)``."""
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                arrived, event, data = self.events.get(
                    timeout=max(0.01, deadline - time.monotonic())
                )
            except queue.Empty:
                break
            try:
                parsed = json.loads(data) if data else None
            except ValueError:
                parsed = data
            seen.append(event)
            self.arrived = arrived  # for a check that wants to know when this event came
            if check(event, parsed):
                return arrived, event, parsed
        raise AssertionError(f"no matching event within {timeout:.0f}s (seen: {seen[-20:]})")

    def close(self) -> None:
        self._stop.set()
        if self._response is not None:
            with contextlib.suppress(Exception):  # already closed by the other side
                self._response.close()
