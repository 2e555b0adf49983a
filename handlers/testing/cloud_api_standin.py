"""A stand-in for the WhatsApp Cloud API's send endpoint, on loopback.

It records every `POST /{phone_number_id}/messages` and answers from a script:
by default 200 with a message id, or scripted errors (HTTP status + Meta error
code), delays ("hangs"), `Connection: close`, a connection closed or reset without an
answer, and a fixed mode for outage tests; it keeps connections alive between requests
(HTTP/1.1), counts them, and may close idle ones or speak TLS. Run it alone with
`python -m handlers.testing.cloud_api_standin --port 9999` for benchmarks and manual replay.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import queue
import socket
import ssl
import struct
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    status: int = 200
    error_code: int | None = None
    delay: float = 0.0
    retry_after: str | None = None
    close: bool = False          # answer with `Connection: close`, then close the connection
    drop: str | None = None      # "close" or "reset": read the request, then end the connection unanswered;
                                 # "reset_after_status": its status line, then a reset


@dataclass(frozen=True)
class Received:
    path: str
    authorization: str | None
    body: dict
    at: float

    @property
    def to(self) -> str | None:
        return self.body.get("to")

    @property
    def text(self) -> str | None:
        return (self.body.get("text") or {}).get("body")


class CloudApiStandIn:
    """With `callback_url` and `callback_secret`, it also behaves as Meta does after
    accepting a message: it posts a signed `sent` status carrying the message's
    `biz_opaque_callback_data` to the webhook, retrying until it is answered 200.
    `callback_url` may list several hosts, comma-separated: a failed post goes to the
    next one, as through a load balancer."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, callback_url: str | None = None,
                 callback_secret: str | None = None, idle_timeout: float | None = None,
                 tls: tuple[str, str] | None = None):
        """idle_timeout: close a kept-alive connection idle this long (as a server's
        keep-alive timeout does); tls: (certificate file, key file) to answer https."""
        self.received: list[Received] = []
        self.connections = 0                          # connections accepted
        self.requests = 0                             # POSTs read, answered or not
        self._open: set[socket.socket] = set()        # kept-alive connections, ended by stop()
        self._script: deque[Answer] = deque()
        self.default = Answer()
        self.by_recipient: dict[str, Answer] = {}   # answers for one recipient, ahead of script and default
        self.callback_url, self.callback_secret = callback_url, callback_secret
        self.callbacks_delivered = 0
        self.max_callback_lag = 0.0                   # seconds from accepting a message to its status answered 200
        self._callbacks: queue.Queue = queue.Queue()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = idle_timeout  # socketserver: the connection's timeout; idle past it, it is closed
            # The answer goes out in two writes (head, body): with Nagle's algorithm the body would
            # wait for the client's delayed ACK of the head (40 ms) on a kept-alive connection.
            disable_nagle_algorithm = True

            def setup(self):
                super().setup()
                with stand_in._lock:
                    stand_in.connections += 1
                    stand_in._open.add(self.connection)

            def finish(self):
                with stand_in._lock:
                    stand_in._open.discard(self.connection)
                super().finish()

            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with stand_in._lock:
                    stand_in.requests += 1
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_unparseable": raw.decode("utf-8", "replace")}
                answer = stand_in._next_answer(body.get("to") if isinstance(body, dict) else None)
                if answer.delay:
                    time.sleep(answer.delay)
                if answer.drop:
                    if answer.drop == "reset_after_status":
                        self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    if answer.drop.startswith("reset"):  # an RST rather than a FIN, as the last reference goes
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        self.connection.close()
                    self.close_connection = True
                    return
                if answer.status == 200:
                    with stand_in._lock:
                        stand_in.received.append(
                            Received(self.path, self.headers.get("Authorization"), body, time.time())
                        )
                    message_id = f"wamid.standin.{next(stand_in._ids)}"
                    payload = {
                        "messaging_product": "whatsapp",
                        "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
                        "messages": [{"id": message_id}],
                    }
                    if stand_in.callback_url:
                        stand_in._callbacks.put((self.path.strip("/").split("/")[0], message_id, body, time.monotonic()))
                else:
                    payload = {"error": {
                        "message": f"stand-in error {answer.error_code}", "type": "OAuthException",
                        "code": answer.error_code, "error_data": {"details": "scripted by the test"},
                        "fbtrace_id": "standin",
                    }}
                data = json.dumps(payload).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if answer.retry_after:
                    self.send_header("Retry-After", answer.retry_after)
                if answer.close:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up waiting (timeout test)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._scheme = "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host!s}:{port}"

    def script(self, *answers: Answer) -> None:
        """Answer the next requests with these, then fall back to `default`."""
        with self._lock:
            self._script.extend(answers)

    def _next_answer(self, to: str | None = None) -> Answer:
        with self._lock:
            if to in self.by_recipient:
                return self.by_recipient[to]
            return self._script.popleft() if self._script else self.default

    def _post_callbacks(self) -> None:
        """Meta's `sent` status for each accepted message, in order, each until answered 200."""
        while not self._stopping.is_set():
            try:
                phone_number_id, message_id, body, accepted_at = self._callbacks.get(timeout=0.1)
            except queue.Empty:
                continue
            status = {"id": message_id, "status": "sent", "timestamp": str(int(time.time())),
                      "recipient_id": body.get("to")}
            if body.get("biz_opaque_callback_data"):
                status["biz_opaque_callback_data"] = body["biz_opaque_callback_data"]
            delivery = {"object": "whatsapp_business_account", "entry": [{"id": "standin", "changes": [{
                "field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
                    "statuses": [status]}}]}]}
            raw = json.dumps(delivery, separators=(",", ":")).encode()
            signature = "sha256=" + hmac.new((self.callback_secret or "").encode(), raw, hashlib.sha256).hexdigest()
            urls = (self.callback_url or "").split(",")  # several hosts: the next one when one does not answer
            attempt = self.callbacks_delivered
            while not self._stopping.is_set():
                url = urls[attempt % len(urls)]
                attempt += 1
                request = urllib.request.Request(url, data=raw, method="POST", headers={
                    "Content-Type": "application/json", "X-Hub-Signature-256": signature})
                try:
                    with urllib.request.urlopen(request, timeout=5) as response:
                        if response.status == 200:
                            with self._lock:
                                self.callbacks_delivered += 1
                                self.max_callback_lag = max(self.max_callback_lag, time.monotonic() - accepted_at)
                            break
                except (urllib.error.URLError, OSError):
                    pass
                if attempt % len(urls) == 0:
                    time.sleep(0.2)

    def pending_callbacks(self) -> int:
        return self._callbacks.qsize()

    def texts_to(self, wa_id: str) -> list[str]:
        with self._lock:
            return [r.text or "" for r in self.received if r.to == wa_id]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        with self._lock:
            return list(self.received)

    def start(self) -> CloudApiStandIn:
        self._thread.start()
        if self.callback_url:
            for _ in range(4):  # Meta posts statuses concurrently, not one after another
                threading.Thread(target=self._post_callbacks, name="standin-callbacks", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening and end the open connections, as a server going away does."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            open_connections, self._open = list(self._open), set()
        for connection in open_connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9999)
    args = parser.parse_args()
    stand_in = CloudApiStandIn(port=args.port).start()
    print(f"Cloud API stand-in on {stand_in.url}; printing every message it accepts (Ctrl-C to stop)",
          flush=True)
    shown = 0
    try:
        while True:
            time.sleep(0.2)
            for received in stand_in.received[shown:]:
                print(f"{received.path} to={received.to}: {received.text}", flush=True)
            shown = len(stand_in.received)
    except KeyboardInterrupt:
        stand_in.stop()


if __name__ == "__main__":
    main()
