"""The outbox sender: sends due confirmations, never on a webhook request's path.

Under gunicorn it is a process of its own (`python -m handlers.delivery.sender`),
started and restarted by gunicorn.conf.py; tests and tools may run the same loop as
a thread (`OutboxWorker.start`) or step it (`send_due`). Several senders (a thread,
another host's process) may share one database: the lease makes sure a row is in one
sender's hands at a time. On a clean stop the current send finishes first; after a
crash, the row's lease runs out and another sender takes it. A status callback
carrying the row id (biz_opaque_callback_data) marks a row sent even when its sender
died between sending and recording.

The webhook wakes the sender of its host after queueing a reply with a datagram to a
socket named after the database (`Waker`); without it the sender finds the row at
its next poll (OPTOUT_OUTBOX_POLL_SECONDS).
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable

from handlers.consent.identity import mask
from handlers.consent.schema import migrate
from handlers.delivery import outbox
from handlers.ops import loglines, metrics
from handlers.ops.loglines import write_info
from handlers.settings import Settings, sqlite_file
from handlers.storage.db import Checkpointer, connect, shown, wait_patiently
from handlers.whatsapp.cloud_api import CloudApiClient, Disposition, SendResult

log = logging.getLogger("optout.sender")

OPERATOR_PAUSE_SECONDS = 300
CHECKPOINT_SECONDS = 1.0          # the sender process checkpoints the WAL this often (see storage/db.py)
SEND_BATCH = 50                   # rows sent between two looks at the checkpoint clock
NUMBER_RATE_PAUSE_SECONDS = 60
PAIR_RATE_DELAY_SECONDS = 7

class OutboxWorker:
    def __init__(self, settings: Settings, client: CloudApiClient | None = None,
                 on_result: Callable[[dict, SendResult], None] | None = None):
        self.settings = settings
        # its one keep-alive connection to the Cloud API (opened at the first send)
        self._client = client or CloudApiClient(settings.api_url, settings.access_token,
                                                settings.send_timeout_seconds)
        self._on_result = on_result
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="outbox-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)
        self._client.close()

    def wake(self) -> None:
        """Called after a delivery queued a reply, so it goes out without waiting for the poll."""
        self._wake.set()

    def serve(self, parent_pid: int | None = None) -> None:
        """The sender process's loop: send what is due, then sleep until woken or the poll
        interval passes. Ends on SIGTERM/SIGINT (after the current send) or when the
        process that started it (gunicorn's master) is gone."""
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: self._stop.set())
        db = connect(self.settings.database)  # its own connection (PostgreSQL: a pool of one)
        wait_patiently(db)  # for the write lock: the webhook's deliveries are the ones waited on
        migrate(db)  # a new database may not have been migrated by a worker yet
        listener = _listen(wake_address(self.settings.database))
        log.info("outbox sender serving %s (pid %d)%s", shown(self.settings.database), os.getpid(),
                 "" if listener else "; another sender holds this host's wake socket, polling only")
        checkpointer = Checkpointer(db)
        checkpointed = time.monotonic()
        try:
            while not self._stop.is_set():
                try:
                    worked = self.send_due(db, limit=SEND_BATCH)
                    if time.monotonic() - checkpointed >= CHECKPOINT_SECONDS:
                        checkpointer.run()
                        checkpointed = time.monotonic()
                except Exception:
                    log.exception("outbox sender error; retrying shortly")
                    worked = 0
                if parent_pid is not None and os.getppid() != parent_pid:
                    log.warning("the gunicorn master is gone; outbox sender stopping")
                    break
                if not worked:
                    _sleep(listener, min(self.settings.outbox_poll_seconds, CHECKPOINT_SECONDS))
        finally:
            db.close()
            self._client.close()
            if listener is not None:
                listener.close()

    def _run(self) -> None:
        db = connect(self.settings.database)
        try:
            while not self._stop.is_set():
                try:
                    worked = self.send_due(db)
                except Exception:
                    log.exception("outbox worker error; retrying shortly")
                    worked = 0
                if not worked:
                    self._wake.wait(self.settings.outbox_poll_seconds)
                    self._wake.clear()
        finally:
            db.close()

    def send_due(self, db, limit: int | None = None) -> int:
        """Send due rows until none is left (or `limit`); returns how many were attempted.
        A send's record claims the next row in the same transaction (see outbox.mark_sent),
        unless the sender stops or reaches `limit` first."""
        count = 0
        claimed: dict | None = None
        while claimed is not None or (not self._stop.is_set() and (limit is None or count < limit)):
            row = claimed or outbox.claim_next(db, self.settings.outbox_lease_seconds)
            if row is None:
                break
            count += 1
            go_on = not self._stop.is_set() and (limit is None or count < limit)
            if row["attempts"] > self.settings.outbox_max_attempts:
                # claimed again and again without an outcome recorded (a sender died or failed
                # while sending it each time): give up rather than send it on every lease
                outbox.mark_failed(db, row, f"gave up after {row['attempts'] - 1} attempts with no outcome recorded")
                metrics.count_reply("failed", row["intent"])
                claimed = None
                continue
            claimed, looked = self._deliver(db, row, go_on)
            if looked and claimed is None:
                break  # the record looked for the next row: none is due
        return count

    def _deliver(self, db, row: dict, claim_next: bool) -> tuple[dict | None, bool]:
        """Send one row and record the outcome: (the next row, claimed with the record, and
        whether the record looked for one)."""
        result = self._client.send_text(row["phone_number_id"], row["wa_id"], row["body"],
                                        callback_data=f"outbox:{row['id']}")
        looked = claim_next and result.disposition is Disposition.SENT
        claimed = None
        if looked:
            claimed = outbox.mark_sent(db, row["id"], result.message_id, claim_lease=self.settings.outbox_lease_seconds)
            outcome = "sent"
        else:
            outcome = self._record(db, row, result)
        metrics.count_reply(outcome, row["intent"])
        shown = outcome if result.disposition is Disposition.SENT else f"{outcome} ({result.reason})"
        write_info(log, f"reply {row['id']} to={mask(row['wa_id'])} intent={row['intent']} lang={row['language']} "
                        f"attempt={row['attempts']:d} -> {shown}")  # log.info's line, without its record
        if self._on_result:
            self._on_result(row, result)
        return claimed, looked

    def _record(self, db, row: dict, result: SendResult) -> str:
        max_attempts = self.settings.outbox_max_attempts
        match result.disposition:
            case Disposition.SENT:
                outbox.mark_sent(db, row["id"], result.message_id)
                return "sent"
            case Disposition.PERMANENT:
                outbox.mark_failed(db, row, result.reason)
                return "failed"
            # a rate limit is no fault of the message: it costs no attempt, however short its
            # Retry-After (twelve 429s in a minute must not fail the reply); the window still ends it
            case Disposition.PAIR_RATE_LIMIT:
                return outbox.retry_later(db, row, result.reason,
                                          result.retry_after or PAIR_RATE_DELAY_SECONDS, max_attempts,
                                          count_attempt=False)
            case Disposition.NUMBER_RATE_LIMIT:
                pause = result.retry_after or NUMBER_RATE_PAUSE_SECONDS
                outbox.pause_number(db, row["phone_number_id"], pause, result.reason)
                return outbox.retry_later(db, row, result.reason, pause, max_attempts, count_attempt=False)
            case Disposition.OPERATOR:
                log.error("Cloud API refused our credentials or account (%s); replies are kept queued",
                          result.reason)
                outbox.pause_number(db, row["phone_number_id"], OPERATOR_PAUSE_SECONDS, result.reason)
                return outbox.retry_later(db, row, result.reason, OPERATOR_PAUSE_SECONDS, max_attempts,
                                          count_attempt=False)
            case _:
                # a Retry-After may lengthen the back-off, never shorten it ("Retry-After: 0" from a
                # load balancer would spend every attempt in a few milliseconds)
                delay = max(outbox.backoff_seconds(row["attempts"]), result.retry_after or 0.0)
                return outbox.retry_later(db, row, result.reason, delay, max_attempts)


def wake_address(database: str) -> str:
    """The wake socket of a database's sender on this host (Linux abstract namespace: no file),
    named after the SQLite file, or the PostgreSQL URL: the webhook of every process on this
    host using that database wakes the one sender (another host's sender polls)."""
    path = sqlite_file(database)
    digest = hashlib.sha256((database if path is None else os.path.abspath(path)).encode()).hexdigest()[:24]
    return f"\0optout-sender-{digest}"


class Waker:
    """The webhook's side: one datagram after a delivery queued a reply. Never blocks and
    never fails a delivery: without a listening sender the datagram is dropped."""

    def __init__(self, database: str):
        self._address = wake_address(database)
        self._sock: socket.socket | None = None
        self._pid = -1

    def wake(self) -> None:
        try:
            if self._pid != os.getpid():  # made after gunicorn's fork, one per process
                self.close()
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.setblocking(False)
                self._pid = os.getpid()
            assert self._sock is not None
            self._sock.sendto(b"!", self._address)
        except OSError:
            pass  # no sender on this host, or it has wake-ups queued already: it polls anyway

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _listen(address: str) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        return None
    sock.setblocking(False)
    return sock


def _sleep(listener: socket.socket | None, seconds: float) -> None:
    if listener is None:
        threading.Event().wait(seconds)
        return
    try:
        ready, _, _ = select.select([listener], [], [], seconds)
    except InterruptedError:
        return
    if ready:
        try:
            while listener.recv(64):
                pass
        except BlockingIOError:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Send due outbox confirmations (started by gunicorn.conf.py)")
    parser.add_argument("--parent", type=int, help="stop when this process (gunicorn's master) is gone")
    args = parser.parse_args(argv)
    loglines.install("optout")   # the workers' line format, without a stack walk per line
    OutboxWorker(Settings.from_env()).serve(parent_pid=args.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
