"""Where the server's CPU goes in a storm of one kind of delivery: workers vs the outbox sender.

    python -m bench.cpu_split [consent|message|status] [--seconds 5]

Starts the service under gunicorn.conf.py (SQLite in a temporary folder, the Cloud API
stand-in answering confirmations), posts fresh pre-signed deliveries of one kind with wrk
(2 threads x 8 connections) and prints the CPU time of the gunicorn workers divided by the
deliveries answered, and the sender process's divided by the confirmations it sent. The
machine's other load inflates both: compare runs taken in turns, not across machines.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.run import SECRET, make_bodies, wrk_load
from handlers.testing.cloud_api_standin import CloudApiStandIn
from handlers.testing.gunicorn import Gunicorn


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _is_sender(pid: int) -> bool:
    return b"handlers.delivery.sender" in Path(f"/proc/{pid}/cmdline").read_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="CPU per delivery: gunicorn workers vs the outbox sender")
    parser.add_argument("kind", nargs="?", default="consent", choices=("consent", "message", "status"))
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="optout-cpu-split-"))
    make_bodies(work / "bodies", 40_000, str(int(time.time())), only=args.kind)
    with CloudApiStandIn() as standin:
        env = {"WHATSAPP_APP_SECRET": SECRET, "PROMETHEUS_MULTIPROC_DIR": "", "WHATSAPP_VERIFY_TOKEN": "v",
               "ADMIN_TOKEN": "a", "WHATSAPP_ACCESS_TOKEN": "bench", "WHATSAPP_API_URL": standin.url,
               "OPTOUT_DB": str(work / "db" / "optout.db")}
        with Gunicorn("app:app", env, log_path=str(work / "gunicorn.log")) as server:
            time.sleep(1)
            senders = {pid for pid in server.worker_pids() if _is_sender(pid)}
            workers = set(server.worker_pids()) - senders
            before = {pid: _cpu(pid) for pid in senders | workers}
            result = wrk_load(server.url, work / "bodies", args.seconds, 2, 8)
            time.sleep(2)   # the sender catches up with the confirmations queued
            spent = {pid: _cpu(pid) - cpu for pid, cpu in before.items()}
        sent = len(standin.received)
    print(f"{result['requests']} {args.kind} deliveries at {result['rps']:.0f}/s, {sent} confirmations sent")
    print(f"gunicorn workers: {sum(spent[p] for p in workers) / max(1, result['requests']) * 1e6:.0f} us CPU "
          "per delivery (all workers together)")
    if sent:
        print(f"outbox sender:    {sum(spent[p] for p in senders) / sent * 1e6:.0f} us CPU per confirmation")
    else:
        print(f"outbox sender:    {sum(spent[p] for p in senders) / max(1, result['requests']) * 1e6:.0f} us CPU per "
              "delivery (checkpoints, polling; no confirmation to send)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
