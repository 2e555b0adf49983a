"""Benchmark: the full service vs a bare Flask endpoint and a pywa peer, all under gunicorn.conf.py.

    python -m bench.run [--seconds 10] [--only status|message|consent] [--profile]
    python -m bench.run --database postgresql://...   (the service on a scratch schema there)

Three targets run side by side, each its own gunicorn under gunicorn.conf.py: the bare
endpoint (bench/bare_app.py: reads the body, answers 200), the peer (bench/peer_pywa.py:
pywa's Flask integration, signature check, typed updates, a handler per update, no
database) and the full service (SQLite, the outbox sender process, the Cloud API
stand-in answering confirmations). Deliveries are pre-signed, about 70% statuses
(sent/delivered/read), 25% ordinary messages, 5% opt-outs and opt-ins (or one part with
--only), shaped as Meta sends them in 2026. The targets take turns in short bursts
(--burst, 2 s), the order rotating each round, so the machine's other load falls on all
three alike; every burst posts bodies no earlier burst or phase posted.

- peak: wrk (Debian package `wrk`), 2 threads x 8 connections, closed loop, with
  bench/wrk_bodies.lua posting each body once; the server's CPU time (master, workers,
  sender) over the peak phase divided by the deliveries answered is printed beside the rate;
- half rate, twice: wrk again, paced (bench/wrk_bodies.lua with BENCH_RATE: each thread sends
  on a fixed schedule, 32 connections, so a free connection is there at every slot; the
  sends that found none are counted as "late"), at half the target's own peak, latency from
  the send; then bench/loadgen.py, open loop at the same rate, latency from each request's
  scheduled time. The paced wrk figure is the one to judge: the Python generator's own CPU
  per request, on the same two cores, makes much of the tail it measures;
- peak memory: the summed RSS of gunicorn's master and children, sampled every 0.2 s.

On a 2-core machine the load generator and the server share the cores; the ratios
are what to read, not the rates. --profile prints where each kind of delivery spends
its time, in-process (bench/profile.py).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from bench.ordinary import ordinary_text
from bench.shared_db import Fleet, ScratchSchema
from handlers.testing import payloads
from handlers.testing.cloud_api_standin import CloudApiStandIn
from handlers.testing.gunicorn import PROJECT, Gunicorn
from handlers.whatsapp.signature import sign

SECRET = "bench-secret"


AUDIENCE = 2_000   # people a business is writing to during the run (and who write back); see make_bodies


def make_bodies(path: Path, count: int, run_tag: str, seed: int = 7, only: str | None = None,
                warm: bool = False) -> dict[str, int]:
    """`count` signed deliveries, one per line, in a realistic mix (or only the `only` kind
    of it); returns the mix. Shaped as Meta sends them in 2026 (contacts carry the
    business-scoped user id, statuses carry contacts), which the pywa peer requires."""
    rng = random.Random(seed)
    mix = {"status": 0, "message": 0, "consent": 0}
    # The business's audience: statuses and replies come from the people it writes to, the same
    # AUDIENCE people in every phase; a message's sent/delivered/read go to one recipient.
    audience = [f"1{10**10 + 7919 * i}" for i in range(AUDIENCE)]
    stopped: set[str] = set()
    with open(path, "wb") as file:
        n = -1
        while sum(mix.values()) < count:
            n += 1
            roll = rng.random()
            kind = "status" if roll < 0.70 else "message" if roll < 0.95 else "consent"
            if only and kind != only:
                continue
            wa_id = rng.choice(audience)
            if roll < 0.70:
                # the warm-up meets everyone once (as a running service has), then a message's three statuses share one
                wa_id = audience[n % AUDIENCE] if warm else audience[zlib.crc32(f"{run_tag}.{n // 3}".encode()) % AUDIENCE]
                state = ("sent", "delivered", "read")[n % 3]
                item = payloads.status(f"wamid.{run_tag}.{n // 3}", state, recipient=wa_id)
                delivery = payloads.delivery(payloads.change(statuses=[item]))
                mix["status"] += 1
            elif roll < 0.95:
                delivery = payloads.of_messages(payloads.text(ordinary_text(rng), wa_id=wa_id, id=f"wamid.{run_tag}.m{n}"))
                mix["message"] += 1
            else:
                wa_id = f"1999{rng.randrange(10**6, 10**7)}"
                word = "START" if wa_id in stopped else rng.choice(["STOP", "BAJA", "стоп", "unsubscribe"])
                stopped.symmetric_difference_update({wa_id})
                delivery = payloads.of_messages(payloads.text(word, wa_id=wa_id, id=f"wamid.{run_tag}.c{n}"))
                mix["consent"] += 1
            value = delivery["entry"][0]["changes"][0]["value"]
            value["contacts"] = [{"profile": {"name": "Bench"}, "wa_id": wa_id, "user_id": f"US.{wa_id}0"}]
            body = payloads.encode(delivery)
            file.write(sign(body, SECRET).encode() + b"\t" + body + b"\n")
    return mix


def wrk_load(url: str, bodies: Path, seconds: float, threads: int, connections: int, offset: int = 0,
             rate: float | None = None, dump: Path | None = None) -> dict:
    """wrk from body `offset` on, closed loop (peak) or paced at `rate` requests/s in all; returns
    requests, errors, rps, latency (ms) and the paced sends that went late. With `dump`, wrk
    writes its latency histogram there (microseconds and count a line)."""
    env = {**os.environ, "BENCH_BODIES": str(bodies), "BENCH_THREADS": str(threads), "BENCH_OFFSET": str(offset)}
    if rate:
        env["BENCH_RATE"] = f"{rate:.1f}"
    if dump:
        env["BENCH_LATENCY_DUMP"] = str(dump)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "10s",
         "-s", str(PROJECT / "bench" / "wrk_bodies.lua"), url + "/webhook"],
        capture_output=True, text=True, env=env, check=True,
    )
    line = next(text for text in out.stdout.splitlines() if text.startswith("WRK_JSON "))
    raw = json.loads(line.removeprefix("WRK_JSON "))
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["status"] + raw["timeout"]
    return {"requests": raw["requests"], "errors": errors, "seconds": raw["duration_us"] / 1e6,
            "rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
            "p50_ms": raw["p50_us"] / 1000, "p99_ms": raw["p99_us"] / 1000, "max_ms": raw["max_us"] / 1000,
            "late": raw["late"]}


def load(url: str, bodies: Path, seconds: float, rate: float, procs: int, threads: int, offset: int = 0,
         dump: Path | None = None) -> dict:
    command = [sys.executable, "-m", "bench.loadgen", "--url", url, "--bodies", str(bodies), "--seconds", str(seconds),
               "--rate", str(rate), "--procs", str(procs), "--threads", str(threads), "--offset", str(offset)]
    if dump:
        command += ["--dump", str(dump)]
    out = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, check=True)
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


def cpu_seconds(server: Gunicorn) -> float:
    """CPU time (user + system) of gunicorn's master and its children so far."""
    ticks = 0
    for pid in ([server.process.pid] if server.process else []) + server.worker_pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Target:
    name: str
    server: Gunicorn
    requests: int = 0
    seconds: float = 0.0
    errors: int = 0
    cpu: float = 0.0
    p50s: list[float] = field(default_factory=list)
    p99s: list[float] = field(default_factory=list)
    half_requests: int = 0          # half rate, the Python open-loop generator
    half_seconds: float = 0.0
    half_latencies: list[float] = field(default_factory=list)
    paced_requests: int = 0         # half rate, wrk paced
    paced_seconds: float = 0.0
    paced_late: int = 0
    paced_histogram: dict[int, int] = field(default_factory=dict)   # latency in µs -> requests
    memory: MemorySampler | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float:
        return self.cpu / max(1, self.requests) * 1e6

    def half_pct(self, p: float) -> float:
        values = sorted(self.half_latencies)
        return values[min(len(values) - 1, int(p / 100 * len(values)))] if values else float("nan")

    def paced_pct(self, p: float) -> float:
        """Percentile p (ms) of every paced burst's latencies together."""
        total = sum(self.paced_histogram.values())
        if not total:
            return float("nan")
        rank, seen = p / 100 * total, 0
        for micros in sorted(self.paced_histogram):
            seen += self.paced_histogram[micros]
            if seen >= rank:
                return micros / 1000
        return max(self.paced_histogram) / 1000


def run_interleaved(targets: list[Target], bodies: dict[str, Path], counts: dict[str, int], workdir: Path,
                    args) -> None:
    """Short bursts, the targets taking turns (the order rotating each round), so a change in
    the machine's other load falls on all of them alike: peak bursts with wrk, then half-rate
    bursts with wrk paced and with the Python open-loop generator, each burst on bodies no
    earlier burst sent."""
    rounds = max(1, round(args.seconds / args.burst))
    for target in targets:
        wrk_load(target.server.url, bodies["warm"], 2, 2, args.connections)
    peak_slice, half_slice, open_slice = counts["peak"] // rounds, counts["half"] // rounds, counts["open"] // rounds
    cpu_before = {target.name: cpu_seconds(target.server) for target in targets}
    for r in range(rounds):
        for target in targets[r % len(targets):] + targets[:r % len(targets)]:
            result = wrk_load(target.server.url, bodies["peak"], args.burst, 2, args.connections, offset=r * peak_slice)
            if result["requests"] > peak_slice:
                print(f"warning: {target.name} took {result['requests']} requests from a slice of {peak_slice} bodies: "
                      "some were duplicates (raise --bodies)")
            target.requests += result["requests"]
            target.seconds += result["seconds"]
            target.errors += result["errors"]
            target.p50s.append(result["p50_ms"])
            target.p99s.append(result["p99_ms"])
    for target in targets:
        target.cpu = cpu_seconds(target.server) - cpu_before[target.name]
    for r in range(rounds):
        for target in targets[r % len(targets):] + targets[:r % len(targets)]:
            histogram = workdir / "histogram.txt"
            paced = wrk_load(target.server.url, bodies["half"], args.burst, 2, args.paced_connections,
                             offset=r * half_slice, rate=target.rps / 2, dump=histogram)
            target.paced_requests += paced["requests"]
            target.paced_seconds += paced["seconds"]
            target.paced_late += paced["late"]
            target.errors += paced["errors"]
            for line in histogram.read_text().splitlines():
                micros, count = map(int, line.split())
                target.paced_histogram[micros] = target.paced_histogram.get(micros, 0) + count
            dump = workdir / "latencies.txt"
            result = load(target.server.url, bodies["open"], args.burst, target.rps / 2, args.procs, args.threads * 2,
                          offset=r * open_slice, dump=dump)
            target.half_requests += result["requests"]
            target.half_seconds += result["seconds"]
            target.errors += result["errors"]
            target.half_latencies += [float(line) for line in dump.read_text().split()]
    for target in targets:
        process = target.server.process
        if process is None or process.poll() is not None:
            raise SystemExit(f"{target.name}: gunicorn exited during the run (code {process and process.returncode}); "
                             f"see {target.server.log_path}")


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmark the service against a bare Flask endpoint and a pywa peer")
    parser.add_argument("--seconds", type=float, default=10, help="per target and phase, in bursts of --burst")
    parser.add_argument("--burst", type=float, default=2, help="seconds of one burst (targets take turns)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (peak)")
    parser.add_argument("--paced-connections", type=int, default=32, help="wrk connections (half rate, paced)")
    parser.add_argument("--procs", type=int, default=2, help="loadgen processes (half rate)")
    parser.add_argument("--threads", type=int, default=4, help="loadgen threads per process (x2 at half rate)")
    parser.add_argument("--bodies", type=int, default=70000, help="distinct signed deliveries for the peak phase")
    parser.add_argument("--only", choices=["status", "message", "consent"],
                        help="send only this part of the mix (to see what each costs)")
    parser.add_argument("--database", metavar="postgresql://...",
                        help="run the service on PostgreSQL (a scratch schema on this server, dropped afterwards)")
    parser.add_argument("--profile", action="store_true", help="print where each kind of delivery spends its time")
    parser.add_argument("--worker-class", help="run every target with this gunicorn worker class instead of the "
                                               "shipped one (e.g. sync), to measure what the buffering front costs")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers (finally blocks) when stopped
    if args.profile:
        from bench import profile
        return profile.main([])
    if shutil.which("wrk") is None:
        print("bench.run needs wrk: apt-get install wrk (Debian/Ubuntu)", file=sys.stderr)
        return 2
    try:
        import pywa  # noqa: F401
    except ImportError:
        print("bench.run needs pywa for the peer: pip install -e '.[bench]' (or pip install pywa)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="optout-bench-"))
    print(f"machine: {os.cpu_count()} cpus, {_cpu_model()}, Python {platform.python_version()}; work dir {workdir}")
    tag = str(int(time.time()))
    counts = {"warm": 8000, "peak": args.bodies, "half": args.bodies // 2, "open": args.bodies // 2}
    bodies = {phase: workdir / f"{phase}.bodies" for phase in counts}
    for seed, (phase, count) in enumerate(counts.items()):
        mix = make_bodies(bodies[phase], count, tag + phase[0], seed=7 + seed, only=args.only, warm=phase == "warm")
    total = sum(mix.values())
    print("mix: " + ", ".join(f"{k} {v / total:.0%}" for k, v in mix.items()))

    common = {"WHATSAPP_APP_SECRET": SECRET, "PROMETHEUS_MULTIPROC_DIR": ""}
    if args.worker_class:
        common["GUNICORN_CMD_ARGS"] = f"--worker-class {args.worker_class}"
    with contextlib.ExitStack() as stack:
        stand_in = stack.enter_context(CloudApiStandIn())
        database = {}
        if args.database:
            scratch = stack.enter_context(ScratchSchema(args.database))
            database = {"OPTOUT_DATABASE_URL": scratch.url}
            print(f"database: PostgreSQL, scratch schema {scratch.name}")
        targets = [
            Target("bare Flask endpoint", Gunicorn("bench.bare_app:app", {
                **common, "OPTOUT_DB": str(workdir / "bare" / "x.db")}, log_path=str(workdir / "bare.log"))),
            Target("pywa peer (Flask)", Gunicorn("bench.peer_pywa:app", {
                **common, "OPTOUT_DB": str(workdir / "peer" / "x.db")}, log_path=str(workdir / "peer.log"))),
            Target("full service", Gunicorn("app:app", {
                **common, "WHATSAPP_VERIFY_TOKEN": "v", "ADMIN_TOKEN": "a", "WHATSAPP_ACCESS_TOKEN": "bench",
                "WHATSAPP_API_URL": stand_in.url, "OPTOUT_DB": str(workdir / "service" / "optout.db"), **database,
            }, log_path=str(workdir / "service.log"))),
        ]
        for target in targets:
            stack.enter_context(target.server)
            target.memory = stack.enter_context(MemorySampler(target.server))
        run_interleaved(targets, bodies, counts, workdir, args)
        time.sleep(2)  # the sender's last confirmations
        confirmations = len(stand_in.received)

    bare_r, peer_r, full_r = targets
    print()
    print(f"{'':<22}{'peak (wrk, closed loop)':^44}|{'half rate, wrk paced':^34}|{'half rate, Python open loop':^28}|")
    print(f"{'target':<22}{'peak/s':>9}{'CPU us/dlv':>11}{'errors':>8}{'p50 ms':>8}{'p99 ms':>8}|"
          f"{'rate/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'late':>9} |{'rate/s':>8}{'p50 ms':>8}{'p99 ms':>11} |"
          f"{'peak RSS MB':>12}")
    for t in targets:
        print(f"{t.name:<22}{t.rps:>9.0f}{t.cpu_us:>11.0f}{t.errors:>8}{statistics.median(t.p50s):>8.2f}"
              f"{max(t.p99s):>8.2f}|{t.paced_requests / max(t.paced_seconds, 1e-9):>8.0f}{t.paced_pct(50):>8.2f}"
              f"{t.paced_pct(99):>8.2f}{t.paced_late / max(1, t.paced_requests):>9.1%} |"
              f"{t.half_requests / max(t.half_seconds, 1e-9):>8.0f}{t.half_pct(50):>8.2f}{t.half_pct(99):>11.2f} |"
              f"{(t.memory.peak if t.memory else 0) / 2**20:>12.1f}")
    ratio_bare, ratio_peer = full_r.rps / bare_r.rps, full_r.rps / peer_r.rps
    print()
    print(f"full service / bare endpoint throughput: {ratio_bare:.2f}x "
          f"(server CPU per delivery {full_r.cpu_us:.0f} vs {bare_r.cpu_us:.0f} us: {bare_r.cpu_us / full_r.cpu_us:.2f}x)")
    print(f"full service / pywa peer throughput:     {ratio_peer:.2f}x "
          f"(peer CPU per delivery {peer_r.cpu_us:.0f} us: {peer_r.cpu_us / full_r.cpu_us:.2f}x)")
    print(f"full service p99 at half its peak rate:  {full_r.paced_pct(99):.2f} ms with wrk paced (target < 25 ms; "
          f"the bare endpoint's {bare_r.paced_pct(99):.2f} ms), {full_r.half_pct(99):.2f} ms with the Python "
          f"open-loop generator (the bare endpoint's {bare_r.half_pct(99):.2f} ms)")
    for t in targets:
        if t.paced_late > 0.01 * max(1, t.paced_requests):
            print(f"warning: {t.name}: {t.paced_late / max(1, t.paced_requests):.1%} of its paced sends went late (no "
                  "free connection at their time: the machine was busy); its wrk-paced figures understate the wait")
    print(f"confirmations accepted by the Cloud API stand-in: {confirmations}")
    print(f"(peak: {max(1, round(args.seconds / args.burst))} interleaved wrk bursts of {args.burst:g} s per target; "
          "p50 is the median of the bursts', p99 the worst burst's; half rate: the same number of bursts with each "
          "generator, percentiles over all of them; late: paced sends that found no free connection at their "
          "time, whose wait wrk does not count)")
    with open(workdir / "results.json", "w") as file:
        print(json.dumps({"targets": [{"name": t.name, "rps": t.rps, "cpu_us": t.cpu_us, "errors": t.errors,
                                       "half_p99_ms_wrk_paced": t.paced_pct(99), "paced_late": t.paced_late,
                                       "half_p99_ms_python": t.half_pct(99)} for t in targets],
                          "ratio_bare": ratio_bare, "ratio_peer": ratio_peer}), file=file)
    failed = sum(t.errors for t in targets)
    if failed:
        print(f"{failed} requests failed: these figures are not valid (logs in {workdir})")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
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
