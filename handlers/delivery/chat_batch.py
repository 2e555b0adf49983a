"""Ordinary chat's rows, written in batches rather than one transaction per delivery.

A delivery made only of messages classified as certainly nothing ("ok", "see you at
five") changes no consent, queues no reply and goes to no review queue: all it leaves is
its dedupe key (`processed`) and its words for staff's keyword-edit preview
(`inbound_messages`). Each of those deliveries took the write lock, wrote six B-tree
pages and committed, which cost a worker more than the rest of the delivery together
(the 2-core benchmark: 0.50x the bare endpoint with it, 0.78x without any write). Here
such a delivery answers after a read (is the key in the database, or in this batch?)
and leaves its rows in this process's batch; a thread writes the batch in one
transaction (not fsynced) once its oldest row has waited `chat_batch_seconds` (0.2 s by
default), and at once past MAX_ROWS. While the database takes no write (a failed
fsync's marker, a lock held past the busy timeout) the rows wait; past MAX_WAITING the
webhook answers 503 and Meta keeps the deliveries.

What it costs, on purpose (docs/operations.md, "Durability and the write lock"): a
redelivery that reaches another worker before the batch is written is classified again
(in this worker, a waiting row or one being written is a duplicate); a worker killed
with SIGKILL loses the rows still waiting, and a power cut whatever no fsync has carried
to the disk yet. No consent, reply, review item or dead letter is ever in a batch (those
deliveries keep their own fsynced transaction), so such a loss means: a redelivery of
one of those messages is classified again (still nothing, or, after a keyword edit, what
it means now) rather than answered as a duplicate, and the preview misses a few
messages. A graceful stop (gunicorn's SIGTERM, a restart, `Service.close()`) writes the
batch first.

`chat_batch_seconds = 0` writes each delivery's rows in its own transaction, as before.
"""
from __future__ import annotations

import atexit
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from handlers.consent import dedupe
from handlers.staff import impact
from handlers.storage import clock
from handlers.storage.db import Database, OperationalError, fsync_wal, insert_row, savepoint, transaction

log = logging.getLogger("optout.chat_batch")

MAX_ROWS = 500          # this many waiting rows wake the writer at once
MAX_WAITING = 50_000    # past this many (the database takes no write), deliveries of chat are refused (503)
RETRY_SECONDS = 1.0     # after a failed write (e.g. the database locked past its busy timeout)


@dataclass(frozen=True)
class ChatRow:
    """One ordinary message, as the delivery's own transaction would have written it."""
    key: str                        # the message's dedupe key
    message_id: str
    wa_id: str
    words: tuple[str, ...]
    intent: str
    rule: str | None
    received_at: str                # when it was answered, not when the batch is written


class ChatBatch:
    """This process's ordinary chat rows not yet written, and the thread that writes them."""

    def __init__(self, db_for_this_thread: Callable[[], Database], seconds: float):
        self._db = db_for_this_thread
        self.seconds = seconds
        self._rows: dict[str, ChatRow] = {}       # waiting
        self._writing: dict[str, ChatRow] = {}    # taken by a write not committed yet (still answered as seen)
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()       # one write at a time (the thread, a full batch, close)
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._oldest = 0.0
        self._failures = 0

    @property
    def enabled(self) -> bool:
        return self.seconds > 0

    def holds(self, key: str) -> bool:
        """Whether a message with this dedupe key waits in the batch, or is being written (answered already)."""
        return key in self._rows or key in self._writing

    def add(self, row: ChatRow) -> None:
        with self._lock:
            waiting = len(self._rows) + len(self._writing)
            if waiting >= MAX_WAITING:
                raise sqlite3.OperationalError(   # answered 503 + Retry-After, as a locked database
                    f"{waiting} rows of ordinary chat wait for the database, which takes no write: refused until "
                    "it does")
            first = not self._rows
            if first:
                self._oldest = time.monotonic()
            self._rows.setdefault(row.key, row)
            full = len(self._rows) >= MAX_ROWS
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(target=self._run, name="chat-batch", daemon=True)
                self._thread.start()
                atexit.register(self.close)   # a CLI command or a tool that never closes its Service
        if first or full:
            self._wake.set()   # the writer times this batch from now, or writes it at once

    def write(self, db: Database) -> int:
        """Write every waiting row in one transaction (not fsynced: the next durable commit or
        checkpoint takes it to the disk); returns how many. On failure the rows wait again.
        Until the commit, the rows stay visible to holds()."""
        with self._write_lock:
            with self._lock:
                rows, self._rows = self._rows, {}
                self._writing = rows
            if not rows:
                return 0
            broken = 0
            try:
                with transaction(db, durable=False):
                    for row in rows.values():
                        try:
                            with savepoint(db):
                                if dedupe.claim(db, row.key, "message", at=row.received_at):
                                    impact.remember(db, row.message_id, row.wa_id, row.words, row.intent, row.rule,
                                                    at=row.received_at)
                        except OperationalError:
                            raise   # the database, not the row: the whole batch waits and is tried again
                        except Exception as error:   # one row must not hold back the others, again and again
                            log.exception("a row of ordinary chat could not be written; kept in dead_letters")
                            _dead_letter(db, row, error)
                            broken += 1
            except BaseException:
                with self._lock:
                    rows.update(self._rows)   # rows added meanwhile stay
                    self._rows, self._writing = rows, {}
                    self._oldest = min(self._oldest, time.monotonic())   # overdue: retried after RETRY_SECONDS
                raise
            with self._lock:
                self._writing = {}
            if broken:
                fsync_wal(db)   # a dead letter must last, as a delivery's own does
            return len(rows)

    def _due_in(self) -> float | None:
        """Seconds until the waiting rows are due (0: now), None when none wait."""
        with self._lock:
            if not self._rows:
                return None
            if len(self._rows) >= MAX_ROWS:
                return 0.0
            return max(0.0, self._oldest + self.seconds - time.monotonic())

    def _run(self) -> None:
        retry_at = 0.0
        while not self._stopping:
            due_in = self._due_in()
            if due_in is not None:
                due_in = max(due_in, retry_at - time.monotonic())
            if due_in is None or due_in > 0:
                self._wake.wait(due_in)
                self._wake.clear()
                continue
            try:
                written = self.write(self._db())
            except Exception as error:
                self._failures += 1
                retry_at = time.monotonic() + RETRY_SECONDS
                if self._failures == 1:
                    log.exception("ordinary chat's rows could not be written; trying again every %.0f s", RETRY_SECONDS)
                else:
                    log.warning("ordinary chat's rows still not written (try %d): %s", self._failures, error)
            else:
                if self._failures:
                    log.warning("ordinary chat's %d waiting rows written after %d failed tries", written, self._failures)
                self._failures, retry_at = 0, 0.0

    def close(self) -> None:
        """Stop the thread and write what waits (a graceful stop loses nothing the database takes)."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            atexit.unregister(self.close)
            self._thread.join(timeout=15)
        if not self._rows:
            return
        try:
            self.write(self._db())
        except Exception:
            log.exception("ordinary chat's last %d rows could not be written at shutdown: their redeliveries, if "
                          "any, will be classified again", len(self._rows))


def _dead_letter(db: Database, row: ChatRow, error: Exception) -> None:
    """What the delivery's own transaction would have kept of a message its handler failed on."""
    raw = {"id": row.message_id, "from": row.wa_id, "words": list(row.words), "received_at": row.received_at}
    insert_row(db, "dead_letters", {
        "received_at": clock.now_iso(), "kind": "message", "error": f"{type(error).__name__}: {error}"[:1000],
        "raw": json.dumps(raw, ensure_ascii=True),
    })


def row_for(key: str, message_id: str, wa_id: str, words: tuple[str, ...], intent: str,
            rule: str | None) -> ChatRow:
    return ChatRow(key, message_id, wa_id, words, intent, rule, clock.now_iso())
