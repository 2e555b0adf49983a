"""Slow clients against the webhook: how long a signed STOP waits behind them.

    python -m bench.slow_clients [--clients 2] [--worker-class sync]

Opens `--clients` connections that announce a 100 KB body and trickle a byte every 2 s
(as the review did), then posts a signed STOP and prints how long its answer took,
under the shipped worker class (handlers.web.server.BufferingSyncWorker) or another
one given with --worker-class (e.g. `sync`, gunicorn's plain sync worker). Gives up on
the STOP after 60 s.
"""
from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from handlers.testing import payloads
from handlers.testing.cloud_api_standin import CloudApiStandIn
from handlers.testing.gunicorn import GunicornService


def run(clients: int, worker_class: str | None) -> float | None:
    workdir = Path(tempfile.mkdtemp(prefix="optout-slow-"))
    stop = threading.Event()
    extra = {"GUNICORN_CMD_ARGS": f"--worker-class {worker_class}"} if worker_class else {}
    with CloudApiStandIn() as stand_in, GunicornService(str(workdir / "slow.db"), stand_in.url,
                                                        extra_env=extra) as service:
        slow = []
        for _ in range(clients):
            sock = socket.create_connection(("127.0.0.1", service.port))
            sock.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100000\r\n\r\n{")
            slow.append(sock)

        def trickle():
            while not stop.wait(2.0):
                for sock in slow:
                    try:
                        sock.sendall(b" ")
                    except OSError:
                        pass
        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        time.sleep(1.0)
        body = payloads.encode(payloads.of_messages(payloads.text("STOP", wa_id="14155550900")))
        started = time.monotonic()
        try:
            status, _ = service.request("POST", "/webhook", body, payloads.signed_headers(body, service.app_secret),
                                        timeout=60)
            waited: float | None = time.monotonic() - started if status == 200 else None
        except OSError:
            waited = None
        stop.set()
        thread.join()
        for sock in slow:
            sock.close()
    return waited


def main() -> int:
    parser = argparse.ArgumentParser(description="How long a signed STOP waits behind slow clients")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--worker-class", default=None, help="gunicorn worker class instead of the shipped one")
    args = parser.parse_args()
    waited = run(args.clients, args.worker_class)
    name = args.worker_class or "shipped (handlers.web.server.BufferingSyncWorker)"
    if waited is None:
        print(f"{name}, {args.clients} slow clients: the STOP was not answered 200 within 60 s")
        return 1
    print(f"{name}, {args.clients} slow clients: the STOP was answered 200 after {waited * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
