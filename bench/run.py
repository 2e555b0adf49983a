"""Benchmark: the full service vs a bare Flask endpoint, both under gunicorn.conf.py.

    python -m bench.run [--seconds 10] [--procs 2] [--threads 4]
    python -m bench.run --database postgresql://... [--instances 2]

The service runs on its SQLite default (WAL, synchronous=FULL for consent changes)
with the Cloud API stand-in answering confirmations. The load generator
(bench/loadgen.py) is a separate process posting pre-signed deliveries: about 70%
statuses (sent/delivered/read), 25% ordinary messages, 5% opt-outs and opt-ins.
Each target gets a closed-loop peak phase, then an open-loop phase at half that peak
for p99 latency. Peak memory is the summed RSS of gunicorn's master and workers,
sampled every 0.2 s. On a 2-core machine the generator and the server share the
cores, so every figure here is a lower bound for the server alone.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.shared_db import Fleet, ScratchSchema
from handlers.testing import payloads
from handlers.testing.cloud_api_standin import CloudApiStandIn
from handlers.testing.gunicorn import PROJECT, Gunicorn
from handlers.whatsapp.signature import sign

SECRET = "bench-secret"
ORDINARY = ["Hola, ¿a qué hora abren mañana?", "Where is my order #4411?", "Gracias!", "Привет, есть доставка?",
            "Can I change the delivery address?", "ok", "👍", "Do you ship to Baja California?"]


def make_bodies(path: Path, count: int, run_tag: str, seed: int = 7, only: str | None = None) -> dict[str, int]:
    """`count` signed deliveries, one per line, in a realistic mix (or only the `only` kind
    of it); returns the mix."""
    rng = random.Random(seed)
    mix = {"status": 0, "message": 0, "consent": 0}
    stopped: set[str] = set()
    with open(path, "wb") as file:
        n = -1
        while sum(mix.values()) < count:
            n += 1
            roll = rng.random()
            kind = "status" if roll < 0.70 else "message" if roll < 0.95 else "consent"
            if only and kind != only:
                continue
            wa_id = f"1{rng.randrange(10**10, 10**11)}"
            if roll < 0.70:
                state = ("sent", "delivered", "read")[n % 3]
                item = payloads.status(f"wamid.{run_tag}.{n // 3}", state, recipient=wa_id)
                delivery = payloads.delivery(payloads.change(statuses=[item]))
                mix["status"] += 1
            elif roll < 0.95:
                delivery = payloads.of_messages(payloads.text(rng.choice(ORDINARY), wa_id=wa_id, id=f"wamid.{run_tag}.m{n}"))
                mix["message"] += 1
            else:
                user = f"1999{rng.randrange(10**6, 10**7)}"
                word = "START" if user in stopped else rng.choice(["STOP", "BAJA", "стоп", "unsubscribe"])
                stopped.symmetric_difference_update({user})
                delivery = payloads.of_messages(payloads.text(word, wa_id=user, id=f"wamid.{run_tag}.c{n}"))
                mix["consent"] += 1
            body = payloads.encode(delivery)
            file.write(sign(body, SECRET).encode() + b"\t" + body + b"\n")
    return mix


def load(url: str, bodies: Path, seconds: float, rate: float, procs: int, threads: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", "--url", url, "--bodies", str(bodies), "--seconds", str(seconds),
         "--rate", str(rate), "--procs", str(procs), "--threads", str(threads)],
        cwd=PROJECT, capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


class MemorySampler:
    def __init__(self, server: Gunicorn | Fleet):
        self.server, self.peak = server, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.server.rss_bytes())
            time.sleep(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def bench_target(name: str, server: Gunicorn | Fleet, peak_bodies: Path, half_bodies: Path, args) -> dict:
    server.start()
    try:
        load(server.url, peak_bodies, 2, 0, args.procs, args.threads)  # warm-up
        with MemorySampler(server) as memory:
            peak = load(server.url, peak_bodies, args.seconds, 0, args.procs, args.threads)
            half = load(server.url, half_bodies, args.seconds, peak["rps"] / 2, args.procs, args.threads * 2)
        process = server.process
        if process is None or process.poll() is not None:
            raise SystemExit(f"{name}: gunicorn exited during the run (code {process and process.returncode}); "
                             f"see {server.log_path}")
        return {"name": name, "peak": peak, "half": half, "rss_mb": memory.peak / 2**20}
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmark the service against a bare Flask endpoint")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--procs", type=int, default=2, help="load generator processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per generator process (closed loop)")
    parser.add_argument("--bodies", type=int, default=30000, help="distinct signed deliveries per phase")
    parser.add_argument("--only", choices=["status", "message", "consent"],
                        help="send only this part of the mix (to see what each costs)")
    parser.add_argument("--database", metavar="postgresql://...",
                        help="run the service on PostgreSQL (a scratch schema on this server, dropped afterwards)")
    parser.add_argument("--instances", type=int, default=1,
                        help="gunicorn instances of each target (PostgreSQL only beyond 1), the load spread over them")
    args = parser.parse_args()
    if args.instances > 1 and not args.database:
        parser.error("--instances > 1 needs --database postgresql://... (SQLite cannot be shared between instances)")
    if args.database:
        with ScratchSchema(args.database) as scratch:
            print(f"database: PostgreSQL, scratch schema {scratch.name}; {args.instances} instance(s) of each target")
            return _run(args, scratch.url)
    return _run(args, None)


def _run(args, database: str | None) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="optout-bench-"))
    print(f"machine: {os.cpu_count()} cpus, {_cpu_model()}, Python {platform.python_version()}; work dir {workdir}")
    tag = str(int(time.time()))
    mix = make_bodies(workdir / "peak.bodies", args.bodies, tag + "p", only=args.only)
    make_bodies(workdir / "half.bodies", args.bodies, tag + "h", seed=8, only=args.only)
    total = sum(mix.values())
    print("mix: " + ", ".join(f"{k} {v / total:.0%}" for k, v in mix.items()))

    bare: Gunicorn | Fleet = Gunicorn("bench.bare_app:app", {"OPTOUT_DB": str(workdir / "bare" / "x.db")},
                                      log_path=str(workdir / "bare.log"))
    if database:
        bare = Fleet.of(args.instances, "bench.bare_app:app", {}, None, str(workdir / "bare"))
    results = [bench_target("bare Flask endpoint", bare, workdir / "peak.bodies", workdir / "half.bodies", args)]
    with CloudApiStandIn() as stand_in:
        service: Gunicorn | Fleet = Gunicorn("app:app", {
            "WHATSAPP_APP_SECRET": SECRET, "WHATSAPP_VERIFY_TOKEN": "v", "ADMIN_TOKEN": "a",
            "WHATSAPP_ACCESS_TOKEN": "bench", "WHATSAPP_API_URL": stand_in.url,
            "OPTOUT_DB": str(workdir / "service" / "optout.db"),
        }, log_path=str(workdir / "service.log"))
        if database:
            service = Fleet.of(args.instances, "app:app", {
                "WHATSAPP_APP_SECRET": SECRET, "WHATSAPP_VERIFY_TOKEN": "v", "ADMIN_TOKEN": "a",
                "WHATSAPP_ACCESS_TOKEN": "bench", "WHATSAPP_API_URL": stand_in.url}, database, str(workdir / "service"))
        results.append(bench_target("full service", service, workdir / "peak.bodies", workdir / "half.bodies", args))
        confirmations = len(stand_in.received)

    bare_r, full_r = results
    ratio = full_r["peak"]["rps"] / bare_r["peak"]["rps"]
    print()
    print(f"{'target':<22}{'peak/s':>9}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'half-rate/s':>13}{'p50 ms':>9}{'p99 ms':>9}{'peak RSS MB':>13}")
    for r in results:
        p, h = r["peak"], r["half"]
        print(f"{r['name']:<22}{p['rps']:>9.0f}{p['errors'] + h['errors']:>8}{p['p50_ms']:>9.2f}{p['p99_ms']:>9.2f}"
              f"{h['rps']:>13.0f}{h['p50_ms']:>9.2f}{h['p99_ms']:>9.2f}{r['rss_mb']:>13.1f}")
    print()
    print(f"full service / bare endpoint throughput: {ratio:.0%} (target >= 70%)")
    print(f"full service p99 at half its peak rate: {full_r['half']['p99_ms']:.2f} ms (target < 25 ms)")
    print(f"confirmations accepted by the Cloud API stand-in: {confirmations}")
    with open(workdir / "results.json", "w") as file:
        print(json.dumps({"results": results, "ratio": ratio}), file=file)
    failed = sum(r["peak"]["errors"] + r["half"]["errors"] for r in results)
    if failed:
        print(f"{failed} requests failed: these figures are not valid (logs in {workdir})")
        return 1
    return 0


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
