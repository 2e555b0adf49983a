"""Where each kind of delivery spends its time: in-process stage timings.

    python -m bench.run --profile          (or python -m bench.profile [--count 2000])

Builds the service on a temporary database (synchronous=FULL, as deployed), wraps each
stage of the webhook path in a timer and posts pre-signed deliveries of one kind at a
time (inert statuses, ordinary messages, opt-outs) straight to the WSGI callable, each
body once. Prints, per kind, the mean microseconds and share of each stage. What it
leaves out is the HTTP server around the callable (gunicorn's accept, parsing, writing
and closing): the bare endpoint's CPU per delivery in `python -m bench.run` is that floor.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.ordinary import ordinary_text
from handlers.testing import payloads
from handlers.whatsapp.signature import sign

SECRET = "profile-secret"


class Stages:
    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, owner, name: str, stage: str) -> None:
        original = getattr(owner, name)
        seconds = self.seconds

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                seconds[stage] += time.perf_counter() - started
        setattr(owner, name, timed)

    def wrap_context(self, owner, name: str, enter_stage: str, exit_stage: str) -> None:
        original: Callable = getattr(owner, name)
        seconds = self.seconds

        @contextlib.contextmanager
        def timed(*args, **kwargs):
            started = time.perf_counter()
            manager = original(*args, **kwargs)
            manager.__enter__()
            seconds[enter_stage] += time.perf_counter() - started
            try:
                yield
            except BaseException:
                if not manager.__exit__(*sys.exc_info()):
                    raise
            else:
                started = time.perf_counter()
                manager.__exit__(None, None, None)
                seconds[exit_stage] += time.perf_counter() - started
        setattr(owner, name, timed)


def bodies(kind: str, count: int, tag: str) -> list[tuple[bytes, str]]:
    rng = random.Random(1)
    out = []
    for n in range(count):
        wa_id = f"1{rng.randrange(10**10, 10**11)}"
        if kind == "status":
            delivery = payloads.delivery(payloads.change(statuses=[
                payloads.status(f"wamid.{tag}.{n}", ("sent", "delivered", "read")[n % 3], recipient=wa_id)]))
        elif kind == "message":
            delivery = payloads.of_messages(payloads.text(ordinary_text(rng), wa_id=wa_id, id=f"wamid.{tag}.m{n}"))
        else:
            delivery = payloads.of_messages(payloads.text(rng.choice(["STOP", "BAJA", "стоп", "unsubscribe"]),
                                                          wa_id=wa_id, id=f"wamid.{tag}.c{n}"))
        body = payloads.encode(delivery)
        out.append((body, sign(body, SECRET)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Stage timings per kind of delivery, in-process")
    parser.add_argument("--count", type=int, default=2000, help="deliveries per kind (opt-outs: a quarter)")
    args = parser.parse_args(argv)

    import handlers.delivery.pipeline as pipeline
    import handlers.delivery.service as service_module
    import handlers.storage.db as db_module
    import handlers.web.webhook as webhook
    from app import create_app
    from handlers.settings import Settings

    workdir = Path(tempfile.mkdtemp(prefix="optout-profile-"))
    app = create_app({"settings": Settings(app_secret=SECRET, verify_token="v", admin_token="a",
                                           api_url="http://127.0.0.1:9", db_path=str(workdir / "optout.db"))})
    callable_: Any = app.wsgi_app  # the webhook's WSGI callable (handlers/web/webhook.py)
    devnull = open(os.devnull, "w")  # the log line is written (its cost counted), not shown
    for handler in logging.getLogger("optout").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(devnull)
    stages = Stages()
    stages.wrap(webhook.signature, "is_valid", "HMAC over the raw body")
    stages.wrap(webhook, "_json", "JSON (orjson) + depth check")
    stages.wrap(service_module, "parse_delivery", "typed parse")
    stages.wrap(pipeline, "classify_item", "classify (before the lock)")
    stages.wrap_context(db_module, "_write_lock", "wait for the write lock", "release the write lock")
    stages.wrap_context(db_module, "_immediate", "BEGIN IMMEDIATE", "COMMIT")
    stages.wrap(db_module, "fsync_wal", "fsync of the WAL (durable: after the lock)")
    stages.wrap(pipeline, "handle", "item handlers (SQL: dedupe, ledger, outbox...)")
    stages.wrap(webhook, "_log_line", "log line + metrics")
    stages.wrap(webhook, "_respond_json", "answer (JSON)")

    def start_response(status, headers):
        return None

    print("in-process stage timings: microseconds per delivery (share of the WSGI callable's time);")
    print("the write lock and BEGIN/COMMIT enclose the item handlers, so those shares overlap nothing\n")
    tag = str(int(time.time()))
    for kind, count in (("status", args.count), ("message", args.count), ("consent", max(50, args.count // 4))):
        batch = bodies(kind, count + 50, tag)
        for body, signature in batch[:50]:  # warm-up: classifier caches, connections
            callable_(_environ(body, signature), start_response)
        stages.seconds.clear()
        started = time.perf_counter()
        for body, signature in batch[50:]:
            callable_(_environ(body, signature), start_response)
        total = time.perf_counter() - started
        print(f"{kind} ({count} deliveries): {total / count * 1e6:.0f} us each")
        accounted = 0.0
        for stage, seconds in sorted(stages.seconds.items(), key=lambda item: -item[1]):
            accounted += seconds
            print(f"  {stage:<48}{seconds / count * 1e6:>8.1f} us {seconds / total:>6.0%}")
        rest = total - accounted
        print(f"  {'the rest (WSGI, body read, Result, glue)':<48}{rest / count * 1e6:>8.1f} us {rest / total:>6.0%}\n")
    app.extensions["optout"].close()
    devnull.close()
    return 0


def _environ(body: bytes, signature: str) -> dict:
    return {"REQUEST_METHOD": "POST", "PATH_INFO": "/webhook", "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)), "HTTP_X_HUB_SIGNATURE_256": signature, "wsgi.input": io.BytesIO(body),
            "QUERY_STRING": ""}


if __name__ == "__main__":
    sys.exit(main())
