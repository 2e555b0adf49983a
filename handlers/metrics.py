"""Prometheus metrics, summed across gunicorn workers.

Under gunicorn, `PROMETHEUS_MULTIPROC_DIR` is set by gunicorn.conf.py before the
workers import this module, so every worker writes its counts to files there and
a scrape of any worker sums them all. Without it (tests, the CLI) the ordinary
single-process registry is used. The outbox backlog is not counted: it is read
from the database at scrape time, so it is right whichever worker answers and
after any crash.

Flask-free: the webhook and the sender call the `count_*` functions.
"""
from __future__ import annotations

import os
from collections import Counter as Tally
from collections.abc import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

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
LATENCY = Histogram(
    "optout_webhook_request_seconds", "Time to answer a webhook delivery",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def count_request(status: int, seconds: float) -> None:
    REQUESTS.labels(str(status)).inc()
    LATENCY.observe(seconds)


def count_outcomes(outcomes: Iterable) -> None:
    """Count one delivery's pipeline outcomes (handlers.pipeline.Outcome)."""
    items: Tally = Tally()
    changes: Tally = Tally()
    for outcome in outcomes:
        items[(outcome.kind, "true" if outcome.duplicate else "false")] += 1
        if outcome.consent:
            changes[(outcome.consent, outcome.source or "unknown", outcome.language or "unknown")] += 1
    for labels, n in items.items():
        ITEMS.labels(*labels).inc(n)
    for labels, n in changes.items():
        CONSENT_CHANGES.labels(*labels).inc(n)


def count_reply(result: str, intent: str | None) -> None:
    REPLIES.labels(result, intent or "unknown").inc()


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


def render(read_backlog: Callable[[], dict]) -> tuple[bytes, str]:
    """The text exposition format: this process's (or all workers') metrics plus the backlog."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Proxy(REGISTRY))
    registry.register(BacklogCollector(read_backlog))
    return generate_latest(registry), CONTENT_TYPE_LATEST
