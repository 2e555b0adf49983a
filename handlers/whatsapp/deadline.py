"""The whole-send time limit of the sender's Cloud API client (cloud_api.py).

A server trickling its answer a byte at a time never trips the socket's per-read timeout,
so when a send's limit passes, the socket it is using is shut down, which ends whatever
read is waiting on it. One long-lived thread per client (a Watchdog) watches its sends,
one at a time: a threading.Timer per send cost a thread started and ended on every send.
The watchdog sleeps until the limit of the send in progress; a send that begins while it
sleeps towards an earlier send's limit does not wake it (its own limit is later), and a
send that ends does not either: when the watchdog wakes, it sees which send is on, if any.
"""
from __future__ import annotations

import http.client
import socket
import threading
import time


class Deadline:
    """One send's limit, across a resend on a new connection (`watch` the one in use)."""

    def __init__(self, seconds: float):
        self.passed = False
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self._connection: http.client.HTTPConnection | None = None

    def watch(self, connection: http.client.HTTPConnection) -> None:
        self._connection = connection
        if self.passed:
            self.expire()

    def expire(self) -> None:
        self.passed = True
        sock = self._connection.sock if self._connection is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def error(self) -> TimeoutError:
        return TimeoutError(f"timed out: no complete answer within {self.seconds:g} s")


class Watchdog:
    """Expires the Deadline of the send in progress when its time comes. Started with the
    first send (so in the process that sends), stopped by close(); a send after close()
    starts it again."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._current: Deadline | None = None
        self._sleeping_until: float | None = None   # None: idle, waiting for a send to begin
        self._thread: threading.Thread | None = None

    def begin(self, seconds: float) -> Deadline:
        deadline = Deadline(seconds)
        with self._changed:
            self._current = deadline
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._watch, name="cloud-api-deadline", daemon=True)
                self._thread.start()
            elif self._sleeping_until is None or self._sleeping_until > deadline.at:
                self._changed.notify()
        return deadline

    def end(self, deadline: Deadline) -> None:
        with self._changed:
            if self._current is deadline:
                self._current = None

    def close(self) -> None:
        with self._changed:
            thread, self._thread, self._current = self._thread, None, None
            self._changed.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(1.0)

    def _watch(self) -> None:
        me = threading.current_thread()
        with self._changed:
            while self._thread is me:
                current = self._current
                if current is None:
                    self._sleeping_until = None
                    self._changed.wait()
                    continue
                remaining = current.at - time.monotonic()
                if remaining > 0:
                    self._sleeping_until = current.at
                    self._changed.wait(remaining)
                    continue
                self._current = None
                current.expire()
