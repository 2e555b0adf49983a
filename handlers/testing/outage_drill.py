"""Outage test: the Cloud API stand-in answers 500s, then rate-limit errors, then hangs,
while deliveries keep arriving. Checks and prints:

- the webhook's latency per phase (it never waits on the Cloud API, so it should not move);
- every delivery was answered 200 (none timed out while the stand-in hung);
- after the stand-in recovers, every pending confirmation goes out exactly once;
- a confirmation that can never be delivered (permanent error 131026) ends 'failed'
  with the reason, after one attempt, and is not retried.

Backoff after an outage is minutes; instead of waiting, the script advances the
clock for the outbox once the stand-in recovers (makes backed-off rows due now and
lifts number pauses) and says so.

    python -m bench.outage_test [--phase-seconds 4]

Exit status 1 on any loss, duplicate or failed request.
"""
from __future__ import annotations

import argparse
import collections
import sqlite3
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from handlers.storage import clock
from handlers.testing import payloads
from handlers.testing.cloud_api_standin import Answer, CloudApiStandIn
from handlers.testing.gunicorn import Gunicorn
from handlers.whatsapp.signature import sign

SECRET = "outage-secret"
UNDELIVERABLE = "15559990000"
HANG_SECONDS = 3.0
SEND_TIMEOUT = 1.0
CLIENT_TIMEOUT = 2.5  # below the hang: a webhook waiting on the Cloud API would time out here


def run(phase_seconds: float = 4.0, rate: float = 40.0, out=print) -> list[str]:
    workdir = Path(tempfile.mkdtemp(prefix="optout-outage-"))
    db_path = str(workdir / "optout.db")
    stand_in = CloudApiStandIn().start()
    stand_in.by_recipient[UNDELIVERABLE] = Answer(400, error_code=131026)
    service = Gunicorn("app:app", {
        "WHATSAPP_APP_SECRET": SECRET, "WHATSAPP_VERIFY_TOKEN": "v", "ADMIN_TOKEN": "a",
        "WHATSAPP_ACCESS_TOKEN": "outage", "WHATSAPP_API_URL": stand_in.url, "OPTOUT_DB": db_path,
        "OPTOUT_SEND_TIMEOUT_SECONDS": str(SEND_TIMEOUT), "OPTOUT_OUTBOX_POLL_SECONDS": "0.2",
        "OPTOUT_OUTBOX_LEASE_SECONDS": "30", "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
    }, log_path=str(workdir / "gunicorn.log"))
    opted_out: list[str] = []
    failures: list[str] = []
    latencies: dict[str, list[float]] = collections.defaultdict(list)
    counter = iter(range(1, 10**9))
    problems: list[str] = []

    def drive(phase: str, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            n = next(counter)
            if n % 5 == 0 or n == 1:
                wa_id = UNDELIVERABLE if n == 1 else f"1555{n:07d}"
                delivery = payloads.of_messages(payloads.text("STOP", wa_id=wa_id, id=f"wamid.OUT{n}"))
            else:
                delivery = payloads.delivery(payloads.change(statuses=[payloads.status(f"wamid.S{n}", "delivered")]))
                wa_id = None
            body = payloads.encode(delivery)
            request = urllib.request.Request(service.url + "/webhook", data=body, method="POST", headers={
                "Content-Type": "application/json", "X-Hub-Signature-256": sign(body, SECRET)})
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=CLIENT_TIMEOUT) as response:
                    ok = response.status == 200
            except (urllib.error.URLError, OSError) as error:
                ok = False
                failures.append(f"{phase}: {type(error).__name__}: {error}")
            latencies[phase].append((time.perf_counter() - started) * 1000)
            if ok and wa_id:
                opted_out.append(wa_id)
            time.sleep(max(0.0, 1 / rate - (time.perf_counter() - started)))

    try:
        service.start()
        drive("healthy", phase_seconds)
        for phase, answer in (("500 errors", Answer(500)),
                              ("rate limited (130429)", Answer(429, error_code=130429, retry_after="1")),
                              (f"hanging {HANG_SECONDS:g}s", Answer(503, delay=HANG_SECONDS))):
            stand_in.default = answer
            drive(phase, phase_seconds)
        during = _states(db_path)
        stand_in.default = Answer(200)
        now = clock.now_iso()
        _execute(db_path, "UPDATE outbox SET next_attempt_at = ? WHERE state = 'pending'", [now])
        _execute(db_path, "DELETE FROM send_pauses", [])
        out(f"outbox at recovery: {during}; advancing the outbox clock past its backoff")
        drive("recovered", phase_seconds)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and ({"pending", "sending"} & set(_states(db_path))):
            time.sleep(0.2)
        time.sleep(1.0)  # room for a duplicate to show up
        service.stop()

        states = _states(db_path)
        sends = collections.Counter(r.to for r in stand_in.received)
        expected = [wa_id for wa_id in opted_out if wa_id != UNDELIVERABLE]
        missing = [wa_id for wa_id in expected if sends[wa_id] == 0]
        twice = {wa_id: n for wa_id, n in sends.items() if n > 1}
        failed = _query(db_path, "SELECT wa_id, attempts, last_error FROM outbox WHERE state = 'failed'")
        out("")
        out(f"  {'phase':<24}{'deliveries':>11}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        for phase, values in latencies.items():
            values = sorted(values)
            out(f"  {phase:<24}{len(values):>11}{values[len(values) // 2]:>9.1f}"
                f"{values[min(len(values) - 1, int(len(values) * 0.99))]:>9.1f}{values[-1]:>9.1f}")
        out(f"  deliveries not answered 200 within {CLIENT_TIMEOUT}s: {len(failures)}")
        out(f"  opt-outs answered 200: {len(opted_out)}; outbox after recovery: {states}")
        out(f"  confirmations expected {len(expected)}, missing {len(missing)}, sent more than once {len(twice)}")
        out(f"  undeliverable confirmation: {failed}")
        if failures:
            problems.append(f"{len(failures)} deliveries failed: {failures[:3]}")
        if missing:
            problems.append(f"{len(missing)} confirmations never sent, e.g. {missing[:3]}")
        if twice:
            problems.append(f"confirmations sent twice: {dict(list(twice.items())[:3])}")
        if {"pending", "sending"} & set(states):
            problems.append(f"outbox not drained: {states}")
        if not (len(failed) == 1 and failed[0][0] == UNDELIVERABLE and failed[0][1] == 1 and "131026" in failed[0][2]):
            problems.append(f"the undeliverable confirmation should be failed after 1 attempt with code 131026: {failed}")
        if sends[UNDELIVERABLE]:
            problems.append("the undeliverable confirmation was accepted?")
    finally:
        service.stop()
        stand_in.stop()
    out("")
    out("FAIL: " + "; ".join(problems) if problems else "OK: webhook unaffected, every confirmation sent exactly once")
    return problems


def _states(db_path: str) -> dict:
    return dict(_query(db_path, "SELECT state, count(*) FROM outbox GROUP BY state"))


def _query(db_path: str, sql: str, params=()) -> list[tuple]:
    conn = sqlite3.connect(db_path, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _execute(db_path: str, sql: str, params) -> None:
    conn = sqlite3.connect(db_path, timeout=10)
    try:
        with conn:
            conn.execute(sql, params)
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description="Cloud API outage: webhook latency and exactly-once confirmations")
    parser.add_argument("--phase-seconds", type=float, default=4.0)
    parser.add_argument("--rate", type=float, default=40.0, help="deliveries per second")
    args = parser.parse_args()
    return 1 if run(args.phase_seconds, args.rate) else 0


if __name__ == "__main__":
    sys.exit(main())
