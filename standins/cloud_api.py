"""A stand-in for the WhatsApp Cloud API's send endpoint, on loopback.

It records every `POST /{phone_number_id}/messages` and answers from a script:
by default 200 with a message id, or scripted errors (HTTP status + Meta error
code), delays ("hangs") and a fixed mode for outage tests. Run it alone with
`python -m standins.cloud_api --port 9999` for benchmarks and manual replay.
"""
from __future__ import annotations

import argparse
import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    status: int = 200
    error_code: int | None = None
    delay: float = 0.0
    retry_after: str | None = None


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
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.received: list[Received] = []
        self._script: deque[Answer] = deque()
        self.default = Answer()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_unparseable": raw.decode("utf-8", "replace")}
                answer = stand_in._next_answer()
                if answer.delay:
                    time.sleep(answer.delay)
                if answer.status == 200:
                    with stand_in._lock:
                        stand_in.received.append(
                            Received(self.path, self.headers.get("Authorization"), body, time.time())
                        )
                    payload = {
                        "messaging_product": "whatsapp",
                        "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
                        "messages": [{"id": f"wamid.standin.{next(stand_in._ids)}"}],
                    }
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
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up waiting (timeout test)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, *answers: Answer) -> None:
        """Answer the next requests with these, then fall back to `default`."""
        with self._lock:
            self._script.extend(answers)

    def _next_answer(self) -> Answer:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    def texts_to(self, wa_id: str) -> list[str]:
        with self._lock:
            return [r.text for r in self.received if r.to == wa_id]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        with self._lock:
            return list(self.received)

    def start(self) -> "CloudApiStandIn":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9999)
    args = parser.parse_args()
    stand_in = CloudApiStandIn(port=args.port).start()
    print(f"Cloud API stand-in on {stand_in.url} (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stand_in.stop()


if __name__ == "__main__":
    main()
