"""Prometheus metrics, summed across gunicorn workers.

Under gunicorn, `PROMETHEUS_MULTIPROC_DIR` (settings.metrics_dir) is set by gunicorn.conf.py before the
workers import this module, so every worker writes its counts to files there and
a scrape of any worker sums them all. Without it (tests, the CLI) the ordinary
single-process registry is used. The outbox backlog is not counted: it is read
from the database at scrape time, so it is right whichever worker answers and
after any crash.

Flask-free: the webhook and the sender call the `count_*` functions.

Counting is on every delivery's path, and under gunicorn each write to a
Prometheus value is a locked write to a memory-mapped file: a few of them cost
more than the rest of an inert status's handling. So the `count_*` functions only
add to a tally in this process's memory, which a background thread writes to the
Prometheus values once a second (FLUSH_SECONDS), and `render` and `flush` write
at once. A scrape therefore sees another worker's counts up to a second late,
and a worker killed with SIGKILL loses at most its last second of counts.
"""
from __future__ import annotations

import atexit
import bisect
import os
import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

REQUESTS = Counter(
    "optout_webhook_requests", "Webhook deliveries (POST /webhook) by HTTP status answered", ["status"]
)
ITEMS = Counter(
    "optout_delivery_items", "Items in accepted deliveries by type (message, status, user_preference, "
    "number_change, malformed) and whether they were redelivered duplicates", ["kind", "duplicate"]
)
CONSENT_CHANGES = Counter(
    "optout_consent_changes", "Suppression-list changes by action (opt_out/opt_in), source and language",
    ["action", "source", "language"]
)
REPLIES = Counter(
    "optout_replies", "Confirmation send attempts by result (sent, failed, retry) and intent", ["result", "intent"]
)
DELIVERY_ERRORS = Counter(
    "optout_delivery_errors", "`errors` Meta reported in accepted deliveries, by level (account: beside the "
    "items of a change, e.g. 130429; message: on a message) and error code", ["level", "code"]
)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LATENCY = Histogram("optout_webhook_request_seconds", "Time to answer a webhook delivery", buckets=LATENCY_BUCKETS)
FLUSH_SECONDS = 1.0


class _Pending:
    """This process's counts since the last flush (see the module docstring)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts: Tally = Tally()          # (counter, label values) -> n
        self._latency = [0] * (len(LATENCY_BUCKETS) + 1)  # per bucket, the last one is +Inf
        self._latency_sum = 0.0
        self._flusher_pid: int | None = None

    def add(self, counter: Counter, labels: tuple[str, ...], n: int = 1) -> None:
        with self._lock:
            self._counts[(counter, labels)] += n
        self._ensure_flusher()

    def add_request(self, status: int, seconds: float, counts: list[tuple[Counter, tuple[str, ...]]]) -> None:
        """One answered delivery: its status, its time and `counts` (one each), under one lock."""
        with self._lock:
            tally = self._counts
            tally[(REQUESTS, (str(status),))] += 1
            for key in counts:
                tally[key] += 1
            self._latency[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
            self._latency_sum += seconds
        self._ensure_flusher()

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, Tally()
            latency, self._latency = self._latency, [0] * len(self._latency)
            latency_sum, self._latency_sum = self._latency_sum, 0.0
        for (counter, labels), n in counts.items():
            counter.labels(*labels).inc(n)
        if any(latency):
            # Histogram.observe takes one value at a time; a second's worth of requests
            # goes straight to its bucket and sum values (prometheus-client's own layout).
            for index, n in enumerate(latency):
                if n:
                    LATENCY._buckets[index].inc(n)
            LATENCY._sum.inc(latency_sum)

    def _ensure_flusher(self) -> None:
        """One flushing thread per process, started on first use (so after gunicorn's fork)."""
        if self._flusher_pid == os.getpid():
            return
        with self._lock:
            if self._flusher_pid == os.getpid():
                return
            self._flusher_pid = os.getpid()
        threading.Thread(target=self._flush_forever, name="metrics-flush", daemon=True).start()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            self.flush()


_pending = _Pending()
atexit.register(_pending.flush)


def flush() -> None:
    """Write this process's pending counts now (a worker about to exit, a scrape)."""
    _pending.flush()


def count_request(status: int, seconds: float, outcomes: Iterable = (), errors: Iterable = ()) -> None:
    """Count one answered delivery: its status and time, its pipeline outcomes
    (handlers.delivery.pipeline.Outcome) and the `errors` Meta reported in it
    (handlers.whatsapp.parse.ErrorReport), under one lock."""
    counts: list[tuple[Counter, tuple[str, ...]]] = []
    for outcome in outcomes:
        counts.append((ITEMS, (outcome.kind, "true" if outcome.duplicate else "false")))
        if outcome.consent:
            counts.append((CONSENT_CHANGES, (outcome.consent, outcome.source or "unknown", outcome.language or "unknown")))
    for error in errors:
        counts.append((DELIVERY_ERRORS, (error.level, "unknown" if error.code is None else str(error.code))))
    _pending.add_request(status, seconds, counts)


def count_reply(result: str, intent: str | None) -> None:
    _pending.add(REPLIES, (result, intent or "unknown"))


class BacklogCollector:
    """The outbox by state, read when scraped."""

    def __init__(self, read: Callable[[], dict]):
        self._read = read

    def collect(self):
        snapshot = self._read()
        gauge = GaugeMetricFamily("optout_outbox_backlog", "Outbox rows by state, read from the database",
                                  labels=["state"])
        for state, n in snapshot["counts"].items():
            gauge.add_metric([state], n)
        yield gauge
        yield GaugeMetricFamily("optout_outbox_oldest_pending_seconds",
                                "Age of the oldest pending confirmation (0 when none)",
                                value=snapshot.get("oldest_pending_seconds") or 0)


class _Proxy:
    def __init__(self, registry):
        self._registry = registry

    def collect(self):
        return self._registry.collect()


def render(read_backlog: Callable[[], dict], multiprocess_dir: str = "") -> tuple[bytes, str]:
    """The text exposition format: this process's metrics, or all workers' when they share
    `multiprocess_dir` (settings.metrics_dir), plus the backlog."""
    flush()
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir:
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Proxy(REGISTRY))
    registry.register(BacklogCollector(read_backlog))
    return generate_latest(registry), CONTENT_TYPE_LATEST
