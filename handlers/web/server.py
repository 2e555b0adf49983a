"""gunicorn's sync worker with a buffering front: a slow client cannot hold a worker.

A plain sync worker reads a request's headers and body inside the worker, blocking:
two clients that announce 100 KB and trickle a byte every 2 s hold both workers, and a
signed STOP waits behind them. This worker first reads each connection's whole request
(headers, then Content-Length bytes, or a chunked body to its last chunk) without
blocking, for many connections at once, and hands a request to the application only
once it is all there. A client that has not sent its whole request within
REQUEST_READ_SECONDS is disconnected. The sync worker's speed is kept: a small request
is usually complete on the first read after accept, and is handled at once.

After the answer, a connection whose request was read whole is closed at once instead
of lingering up to 2 s for the client's FIN (gunicorn 27's graceful close, which exists
to keep unread request bytes from turning the close into a reset: there are none).

Behind a buffering proxy (nginx with its default proxy_request_buffering, a cloud load
balancer) requests arrive whole and this front costs one extra non-blocking read.
"""
from __future__ import annotations

import errno
import os
import re
import select
import socket
import time
from collections import OrderedDict

from gunicorn.workers.sync import StopWaiting, SyncWorker

from handlers.settings import DEFAULT_MAX_BODY_BYTES, server_value

REQUEST_READ_SECONDS = 30.0       # a client has this long to send its whole request
MAX_PENDING = 256                 # connections a worker reads at once; the oldest goes beyond it
MAX_HEADER_BYTES = 64 * 1024      # past this without the end of the headers, gunicorn's parser decides
RECV_BYTES = 256 * 1024
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[^\r\n]*chunked", re.IGNORECASE)
_EXPECT_CONTINUE = re.compile(rb"\r\nexpect:[ \t]*100-continue", re.IGNORECASE)


class _Buffered:
    """A connection whose request has been (or is being) read ahead; once handed to
    gunicorn, its recv() serves the bytes read ahead first."""

    def __init__(self, sock: socket.socket, addr, listener, deadline: float):
        self._sock, self.addr, self.listener, self.deadline = sock, addr, listener, deadline
        self._data = b""
        self.received = 0
        self.complete = False
        self._closing = False

    # -- reading ahead (worker's loop, non-blocking) ---------------------------
    def feed(self, max_body: int) -> bool:
        """Read what is there; True when the request is whole (or must go on as it is)."""
        try:
            chunk = self._sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return False
        if not chunk:  # the client closed: let gunicorn see what it sent (or nothing)
            return True
        self._data += chunk
        self.received += len(chunk)
        return self._whole(max_body)

    def _whole(self, max_body: int) -> bool:
        data = self._data
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return len(data) > MAX_HEADER_BYTES
        head = data[:end + 2]
        body = len(data) - end - 4
        if _EXPECT_CONTINUE.search(head):
            return True  # the client waits for gunicorn's "100 Continue" before it sends the body
        length = _CONTENT_LENGTH.search(head)
        if _CHUNKED.search(head):
            if data.endswith(b"0\r\n\r\n"):
                self.complete = True
                return True
            return body > max_body  # over the limit: the application refuses it at once
        if length is None:
            self.complete = True
            return True
        wanted = int(length.group(1))
        if wanted > max_body:
            return True  # the application answers 413 without reading it
        if body >= wanted:
            self.complete = body == wanted
            return True
        return False

    def fileno(self) -> int:
        return self._sock.fileno()

    # -- what gunicorn's parser, response and close use -------------------------
    def recv(self, size: int, *flags) -> bytes:
        if self._data:
            data, self._data = self._data[:size], self._data[size:]
            return data
        if self._closing and self.complete:
            return b""  # nothing more will come: no need to linger for the client's FIN
        return self._sock.recv(size, *flags)

    def shutdown(self, how: int) -> None:
        self._closing = True
        self._sock.shutdown(how)

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


class BufferingSyncWorker(SyncWorker):
    """A sync worker that hands the application whole requests only (see the module doc)."""

    def init_process(self) -> None:
        self._pending: OrderedDict[int, _Buffered] = OrderedDict()
        self._max_body = int(server_value("OPTOUT_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))
        super().init_process()

    def accept(self, listener) -> None:
        client, addr = listener.accept()
        if self.cfg.is_ssl:  # TLS is read by the ssl module; leave it to the plain sync worker
            client.setblocking(True)
            self.handle(listener, client, addr)
            return
        client.setblocking(False)
        os.set_inheritable(client.fileno(), False)
        conn = _Buffered(client, addr, listener, time.monotonic() + REQUEST_READ_SECONDS)
        try:
            whole = conn.feed(self._max_body)
        except OSError:  # reset before its first byte was read
            self._drop(conn)
            return
        if whole:  # usually the whole request is there already
            self._dispatch(conn)
        else:
            self._pending[conn.fileno()] = conn
            while len(self._pending) > MAX_PENDING:
                _, oldest = self._pending.popitem(last=False)
                self._drop(oldest)
        if self._pending:
            # gunicorn calls accept() again and again while connections queue, and wait() only
            # when none does: under steady load, a pending request must not wait for a lull.
            try:
                ready = select.select(list(self._pending), [], [], 0)[0]
            except OSError:
                ready = []
            self._serve(ready)

    def wait(self, timeout: float):
        pending = self._pending
        if pending:
            soonest = min(conn.deadline for conn in pending.values())
            timeout = max(0.0, min(timeout, soonest - time.monotonic()))
        try:
            self.notify()
            ready = select.select(self.wait_fds + list(pending), [], [], timeout)[0]
        except OSError as e:
            if e.args[0] == errno.EINTR:
                return self.sockets
            if e.args[0] == errno.EBADF:
                if self.nr < 0:
                    return self.sockets
                raise StopWaiting from None
            raise
        listeners = []
        for fd in ready:
            if fd not in pending:
                if fd == self.PIPE[0]:
                    os.read(self.PIPE[0], 1)
                listeners.append(fd)
        self._serve([fd for fd in ready if fd in pending])
        return listeners

    def _serve(self, ready: list) -> None:
        """Read what the ready pending connections sent; hand over the whole requests; drop
        the connections past their deadline."""
        pending = self._pending
        for fd in ready:
            conn = pending.get(fd)
            if conn is None:
                continue
            try:
                whole = conn.feed(self._max_body)
            except OSError:
                del pending[fd]
                self._drop(conn)
                continue
            if whole:
                del pending[fd]
                self._dispatch(conn)
        now = time.monotonic()
        for fd in [fd for fd, conn in pending.items() if conn.deadline <= now]:
            self.log.info("client %s sent %d bytes in %.0f s, not a whole request: disconnected",
                          pending[fd].addr, pending[fd].received, REQUEST_READ_SECONDS)
            self._drop(pending.pop(fd))

    def _dispatch(self, conn: _Buffered) -> None:
        conn._sock.setblocking(True)
        self.handle(conn.listener, conn, conn.addr)

    @staticmethod
    def _drop(conn: _Buffered) -> None:
        try:
            conn._sock.close()
        except OSError:
            pass
