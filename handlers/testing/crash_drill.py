"""Crash test: opt-outs pour in while gunicorn's workers, then the whole service, are SIGKILLed
and restarted, again and again. With `--database postgresql://...` and `--hosts 2`, two
services (two "hosts", each its own gunicorn) share the database: the first host's
workers are killed, and the whole second host. Afterwards:

- every opt-out that was answered 200 is in the suppression list;
- the consent history holds exactly one opt-out per user (no duplicates);
- every confirmation reached the Cloud API exactly once (counted at the stand-in),
  and every outbox row ended 'sent'.

The load generator behaves as Meta does: a delivery not answered 200 is sent again,
the same bytes, until it is. The Cloud API stand-in posts a signed `sent` status with
the message's biz_opaque_callback_data after accepting each message, as Meta does,
retrying while the service is down.

    python -m bench.crash_test [--cycles 3] [--clients 4] [--cycle-seconds 3] [--database URL --hosts 2]

The load generator stands in for Meta and a load balancer: when a host does not
answer, the same delivery goes to the next one.

Exit status 1 on any loss or duplicate.
"""
from __future__ import annotations

import argparse
import collections
import itertools
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from handlers.storage.db import connect
from handlers.testing import payloads
from handlers.testing.cloud_api_standin import CloudApiStandIn
from handlers.testing.gunicorn import Gunicorn, database_env
from handlers.whatsapp.signature import sign

SECRET = "crash-secret"


def _post_until_200(urls: list[str], body: bytes, stop: threading.Event, first: int = 0) -> bool:
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, SECRET)}
    attempt = first
    while True:
        url = urls[attempt % len(urls)]
        attempt += 1
        try:
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=10) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass  # refused, reset or a non-200: Meta would retry, so do we
        if stop.is_set():
            return False
        time.sleep(0.05)


def run(cycles: int = 3, clients: int = 4, cycle_seconds: float = 3.0, lease_seconds: float = 8.0,
        workers: int = 2, out=print, database: str | None = None, hosts: int = 1) -> list[str]:
    """Run the crash test; returns the problems found (empty when none). `database`: a
    PostgreSQL URL shared by `hosts` services (default: one service on a new SQLite file)."""
    workdir = Path(tempfile.mkdtemp(prefix="optout-crash-"))
    database = database or str(workdir / "optout.db")
    services = []
    for host in range(hosts):
        env = {"PROMETHEUS_MULTIPROC_DIR": str(workdir / f"metrics-{host}"), **database_env(database, str(workdir))}
        if hosts == 1:
            env["PROMETHEUS_MULTIPROC_DIR"] = str(workdir / "metrics")
        services.append(Gunicorn("app:app", {
            "WHATSAPP_APP_SECRET": SECRET, "WHATSAPP_VERIFY_TOKEN": "v", "ADMIN_TOKEN": "a",
            "WHATSAPP_ACCESS_TOKEN": "crash-access",
            "OPTOUT_OUTBOX_LEASE_SECONDS": str(lease_seconds), "OPTOUT_SEND_TIMEOUT_SECONDS": "2",
            "OPTOUT_OUTBOX_POLL_SECONDS": "0.2", **env,
        }, log_path=str(workdir / f"gunicorn-{host}.log"), workers=workers))
    service, whole = services[0], services[-1]   # whose workers are killed; which host is killed whole
    urls = [s.url + "/webhook" for s in services]
    stand_in = CloudApiStandIn(callback_url=",".join(urls), callback_secret=SECRET).start()
    for each in services:
        each.env["WHATSAPP_API_URL"] = stand_in.url
    stop = threading.Event()
    answered: list[str] = []
    numbers = itertools.count(1)
    lock = threading.Lock()

    def client() -> None:
        while not stop.is_set():
            n = next(numbers)
            wa_id = f"1555{n:07d}"
            body = payloads.encode(payloads.of_messages(payloads.text("STOP", wa_id=wa_id, id=f"wamid.CRASH{n}")))
            if _post_until_200(urls, body, stop, first=n):
                with lock:
                    answered.append(wa_id)

    problems: list[str] = []
    try:
        for each in services:
            each.start()
        threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
        for thread in threads:
            thread.start()
        worker_kills = full_kills = 0
        for cycle in range(1, cycles + 1):
            time.sleep(cycle_seconds)
            killed = service.kill_workers()
            worker_kills += len(killed)
            out(f"cycle {cycle}: SIGKILL workers {killed} ({len(answered)} opt-outs answered so far)")
            time.sleep(cycle_seconds)
            whole.kill_all()
            full_kills += 1
            out(f"cycle {cycle}: SIGKILL master and workers{' of the second host' if hosts > 1 else ''}; restarting")
            whole.start()
        time.sleep(cycle_seconds)
        stop.set()
        for thread in threads:
            thread.join(15)
        out(f"load stopped: {len(answered)} opt-outs answered 200; waiting for the outbox to drain "
            f"(up to lease {lease_seconds:g}s + 30s)")
        deadline = time.monotonic() + lease_seconds + 30
        while time.monotonic() < deadline:
            states = dict(_query(database, "SELECT state, count(*) FROM outbox GROUP BY state"))
            if set(states) <= {"sent"} and stand_in.pending_callbacks() == 0:
                break
            time.sleep(0.5)
        time.sleep(1.5)  # room for a duplicate to show up
        for each in services:
            each.stop()

        suppressed = {row[0] for row in _query(database, "SELECT wa_id FROM suppressions WHERE suppressed = 1")}
        missing = [wa_id for wa_id in answered if wa_id not in suppressed]
        history_dupes = _query(database, "SELECT wa_id, count(*) FROM consent_events GROUP BY wa_id, action "
                                        "HAVING count(*) > 1")
        states = dict(_query(database, "SELECT state, count(*) FROM outbox GROUP BY state"))
        outbox_per_user = dict(_query(database, "SELECT wa_id, count(*) FROM outbox GROUP BY wa_id"))
        sends_to = collections.Counter(r.to for r in stand_in.received)
        sends_per_row = collections.Counter(r.body.get("biz_opaque_callback_data") for r in stand_in.received)
        not_confirmed = [wa_id for wa_id in answered if sends_to[wa_id] == 0]
        twice = {wa_id: n for wa_id, n in sends_to.items() if n > 1}
        rows_twice = {key: n for key, n in sends_per_row.items() if n > 1}
        unanswered_but_stored = len(suppressed) - len(set(answered) & suppressed)

        out("")
        out(f"  hosts: {hosts}; workers SIGKILLed: {worker_kills}; whole {'host' if hosts > 1 else 'service'} "
            f"SIGKILLed: {full_kills}")
        out(f"  opt-outs answered 200:                 {len(answered)}")
        out(f"  ... in the suppression list:           {len(answered) - len(missing)}  (missing: {len(missing)})")
        out(f"  stored but cut off before the answer:  {unanswered_but_stored}  (allowed: Meta would redeliver)")
        out(f"  users with a duplicate history event:  {len(history_dupes)}")
        out(f"  outbox rows by state:                  {states}")
        out(f"  users with more than one outbox row:   {sum(1 for n in outbox_per_user.values() if n > 1)}")
        out(f"  confirmations accepted by the API:     {len(stand_in.received)}")
        out(f"  answered opt-outs never confirmed:     {len(not_confirmed)}")
        out(f"  users confirmed more than once:        {len(twice)}")
        out(f"  outbox rows sent more than once:       {len(rows_twice)}")
        out(f"  'sent' callbacks delivered by the stand-in: {stand_in.callbacks_delivered} "
            f"(slowest {stand_in.max_callback_lag:.1f}s after acceptance; outbox lease {lease_seconds:g}s)")
        if not answered:
            problems.append("no opt-out was answered 200: the test proved nothing")
        if missing:
            problems.append(f"{len(missing)} answered opt-outs are not suppressed, e.g. {missing[:3]}")
        if history_dupes:
            problems.append(f"duplicate history events: {history_dupes[:3]}")
        if set(states) - {"sent"}:
            problems.append(f"outbox rows not sent: {states}")
        if not_confirmed:
            problems.append(f"{len(not_confirmed)} answered opt-outs were never confirmed, e.g. {not_confirmed[:3]}")
        if twice or rows_twice:
            problems.append(f"confirmations sent twice: {dict(list(twice.items())[:3])} {dict(list(rows_twice.items())[:3])}")
    finally:
        stop.set()
        for each in services:
            each.stop()
        stand_in.stop()
    out("")
    out("FAIL: " + "; ".join(problems) if problems else "OK: no loss, no duplicate")
    return problems


def _query(database: str, sql: str) -> list[tuple]:
    db = connect(database)
    try:
        return [tuple(row) for row in db.execute(sql).fetchall()]
    finally:
        db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description="SIGKILL the service under opt-out load; check for loss and duplicates")
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--cycle-seconds", type=float, default=3.0)
    parser.add_argument("--lease-seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database", help="a PostgreSQL URL the hosts share (default: a new SQLite file)")
    parser.add_argument("--hosts", type=int, default=1, help="services sharing the database (PostgreSQL only)")
    args = parser.parse_args()
    if args.hosts > 1 and not args.database:
        parser.error("--hosts > 1 needs --database postgresql://... (SQLite cannot be shared between hosts)")
    problems = run(args.cycles, args.clients, args.cycle_seconds, args.lease_seconds, args.workers,
                   database=args.database, hosts=args.hosts)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
