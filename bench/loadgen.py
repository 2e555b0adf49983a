"""The benchmark's load generator, a separate process from the server.

Posts pre-signed bodies (one per line: signature, tab, body) to /webhook from
several processes x threads, each request on a fresh connection when the server
closes it (gunicorn's sync workers do). Two modes:
  --rate 0   closed loop: every thread sends as fast as answers come back (peak throughput);
  --rate R   open loop at R requests/s in total; latency counts from the scheduled send
             time, so a server falling behind is not hidden (no coordinated omission).
Prints one JSON line: requests, errors, seconds, latencies (ms) percentiles.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import threading
import time
from urllib.parse import urlsplit


def _worker(args, bodies, offset, stride, per_thread_rate, start_at, results):
    urls = args.url.split(",")  # several instances: threads take them in turn
    url = urlsplit(urls[offset % len(urls)])
    latencies: list[float] = []
    errors = 0
    index = offset
    connection = None
    end_at = start_at + args.seconds
    next_at = start_at
    while True:
        if per_thread_rate:
            now = time.monotonic()
            if next_at > now:
                time.sleep(next_at - now)
            scheduled = next_at
            next_at += 1.0 / per_thread_rate
        else:
            scheduled = time.monotonic()
        if scheduled >= end_at:
            break
        signature, body = bodies[index % len(bodies)]
        index += stride
        try:
            if connection is None:
                connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
            connection.request("POST", "/webhook", body=body, headers={
                "Content-Type": "application/json", "X-Hub-Signature-256": signature})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                errors += 1
            if response.getheader("Connection", "").lower() == "close" or response.will_close:
                connection.close()
                connection = None
        except (OSError, http.client.HTTPException):
            errors += 1
            if connection is not None:
                connection.close()
            connection = None
        latencies.append((time.monotonic() - scheduled) * 1000)
    results.append((latencies, errors))


def _process(args, proc_index, start_at, queue):
    bodies = []
    with open(args.bodies, "rb") as file:
        for line in file:
            signature, _, body = line.rstrip(b"\n").partition(b"\t")
            bodies.append((signature.decode(), body))
    threads_total = args.procs * args.threads
    per_thread_rate = args.rate / threads_total if args.rate else 0
    results: list = []
    threads = [
        threading.Thread(target=_worker, args=(args, bodies, args.offset + proc_index * args.threads + t, threads_total,
                                               per_thread_rate, start_at, results))
        for t in range(args.threads)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies = [ms for part, _ in results for ms in part]
    queue.put((latencies, sum(errors for _, errors in results)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--bodies", required=True)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=float, default=0)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--offset", type=int, default=0, help="first body to send (bodies before it are not sent)")
    parser.add_argument("--dump", help="also write every latency (ms), one per line, to this file")
    args = parser.parse_args()
    queue: multiprocessing.Queue = multiprocessing.Queue()
    start_at = time.monotonic() + 1.0  # every process loaded its bodies by then
    procs = [multiprocessing.Process(target=_process, args=(args, n, start_at, queue)) for n in range(args.procs)]
    for proc in procs:
        proc.start()
    parts = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    latencies = sorted(ms for part, _ in parts for ms in part)
    errors = sum(e for _, e in parts)
    if args.dump:
        with open(args.dump, "w") as file:
            file.write("".join(f"{ms:.3f}\n" for ms in latencies))

    def pct(p):
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))], 2) if latencies else None

    print(json.dumps({"requests": len(latencies), "errors": errors, "seconds": args.seconds,
                      "rps": round(len(latencies) / args.seconds, 1),
                      "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99), "max_ms": pct(100)}))


if __name__ == "__main__":
    main()
