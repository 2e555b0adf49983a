"""Confirmations waiting to be sent.

The webhook only inserts rows (inside the delivery's transaction); a worker
claims them one at a time with a lease, sends, and records the outcome. The
unique event_key makes 'one confirmation per event' a database fact, whatever
Meta redelivers; the lease lets another worker pick up a row whose sender died.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from handlers.storage import clock
from handlers.storage.db import Database, needs_locks, skip_locked, transaction

LEASE_SECONDS = 60
MAX_BACKOFF_SECONDS = 3600


@dataclass(frozen=True)
class Reply:
    event_key: str
    wa_id: str
    phone_number_id: str
    intent: str
    language: str
    body: str
    deadline: str


def enqueue(db: Database, reply: Reply, skip_reason: str | None = None) -> bool:
    """Queue a reply (or record why it is not sent). False if this event already has one."""
    now = clock.now_iso()
    cursor = db.execute(
        """INSERT OR IGNORE INTO outbox
           (event_key, wa_id, phone_number_id, intent, language, body, state,
            attempts, next_attempt_at, deadline, last_error, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)""",
        [
            reply.event_key, reply.wa_id, reply.phone_number_id, reply.intent, reply.language,
            reply.body, "skipped" if skip_reason else "pending", now, reply.deadline, skip_reason, now,
        ],
    )
    return cursor.rowcount == 1


def claim_next(db: Database, lease_seconds: float = LEASE_SECONDS) -> dict | None:
    """Take the next due row for this sender, or None. Rows of a paused number wait.

    The lease must outlast a send (its timeout) plus the time Meta takes to post the
    `sent` status that confirms it (see confirm_by_callback); a shorter one resends.

    Durable, fsynced once the write lock is released, before the row is sent: a delivery
    commits before its own fsync (see db.transaction), so the row may be visible before
    the opt-out that queued it is on disk; the claim's fsync carries both there, and a
    power cut cannot take an opt-out whose confirmation already went out. (The next row,
    claimed by mark_sent, goes to disk with the record of the send.)
    On PostgreSQL the row is taken FOR UPDATE SKIP LOCKED: senders on other hosts pass
    over it instead of waiting, and none can take it until its lease runs out."""
    now = clock.now_iso()
    if db.execute(_ANY_DUE, {"now": now}).fetchone() is None:
        return None  # nothing due: no write lock taken (the webhook's deliveries wait for it)
    with transaction(db):
        return _claim(db, now, lease_seconds)


def _claim(db: Database, now: str, lease_seconds: float) -> dict | None:
    """Inside a write transaction: lease the first due row (by next_attempt_at, id), if any."""
    sql = _CLAIM if not needs_locks(db) else (
        f"{_LEASE}(SELECT id FROM outbox WHERE {_DUE_EITHER} ORDER BY next_attempt_at, id LIMIT 1"
        f"{skip_locked(db)}) RETURNING *")
    rows = list(db.query(sql, {"now": now, "lease": clock.later(lease_seconds)}))
    return rows[0] if rows else None


# Rows a sender may take at :now: pending and due, or held by a sender whose lease ran out,
# of a number not paused. Each kind is read on its own from the index outbox_due(state,
# next_attempt_at), whose entries run in (next_attempt_at, id) order within a state: the
# first of each comes without sorting every due row, as an OR of the two would (a backlog
# of thousands during an opt-out storm, sorted on every claim).
_NOT_PAUSED = "phone_number_id NOT IN (SELECT phone_number_id FROM send_pauses WHERE until > :now)"
_FIRST_PENDING = ("SELECT id, next_attempt_at FROM outbox WHERE state = 'pending' AND next_attempt_at <= :now "
                  f"AND {_NOT_PAUSED} ORDER BY next_attempt_at, id LIMIT 1")
_FIRST_LEASE_OVER = ("SELECT id, next_attempt_at FROM outbox WHERE state = 'sending' AND lease_until <= :now "
                     f"AND {_NOT_PAUSED} ORDER BY next_attempt_at, id LIMIT 1")
# claim_next reads whether there is one before it takes the write lock (both databases):
# a sender looks after every poll, and mostly finds none.
_ANY_DUE = (f"SELECT 1 FROM ({_FIRST_PENDING}) AS pending UNION ALL SELECT 1 FROM ({_FIRST_LEASE_OVER}) AS lapsed "
            "LIMIT 1")
_LEASE = "UPDATE outbox SET state = 'sending', lease_until = :lease, attempts = attempts + 1 WHERE id = "
_CLAIM = (_LEASE + f"(SELECT id FROM (SELECT * FROM ({_FIRST_PENDING}) AS pending UNION ALL "
          f"SELECT * FROM ({_FIRST_LEASE_OVER}) AS lapsed) AS due ORDER BY next_attempt_at, id LIMIT 1) RETURNING *")
# PostgreSQL: one SELECT, FOR UPDATE SKIP LOCKED (it cannot lock the rows of a UNION).
_DUE_EITHER = ("((state = 'pending' AND next_attempt_at <= :now) OR (state = 'sending' AND lease_until <= :now)) "
               f"AND {_NOT_PAUSED}")


def mark_sent(db: Database, row_id: int, provider_message_id: str | None,
              claim_lease: float | None = None) -> dict | None:
    """Record a send; with `claim_lease`, also claim the next due row (as claim_next, with
    that lease) in the same transaction, and return it: a sender that goes on sending
    takes the write lock once per send rather than twice.

    Durable before the sender goes on to the next row (and the next row's claim with it);
    on SQLite fsynced once the write lock is released, as every durable transaction is, so
    the webhook's deliveries waiting for that lock need not wait for the sender's fsync."""
    now = clock.now_iso()
    with transaction(db):
        db.execute(
            "UPDATE outbox SET state = 'sent', provider_message_id = ?, sent_at = ?, lease_until = NULL, "
            "last_error = NULL WHERE id = ? AND state = 'sending'",
            [provider_message_id, now, row_id],
        )
        claimed = None if claim_lease is None else _claim(db, now, claim_lease)
    return claimed


def mark_failed(db: Database, row: dict, reason: str) -> None:
    """Only while this sender still holds the row (see `_HELD`)."""
    with transaction(db):
        db.execute(
            "UPDATE outbox SET state = 'failed', last_error = ?, lease_until = NULL WHERE " + _HELD,
            [reason, row["id"], row["attempts"]],
        )


# A sender may only change the row it claimed, as it claimed it: still 'sending' and
# with the attempt count of its claim. A status callback may have marked it sent, or
# another sender may have taken it over after the lease ran out; then it is theirs.
_HELD = "id = ? AND state = 'sending' AND attempts = ?"


def retry_later(db: Database, row: dict, reason: str, delay: float | None = None,
                max_attempts: int = 42, count_attempt: bool = True) -> str:
    """Put a row back with exponential backoff, or give up past its attempts or its deadline.

    count_attempt=False for failures that are not the message's fault (a rate limit, our
    credentials, the account): the row keeps its attempts for when the limit lifts or the
    operator has fixed them; its deadline (the reply's window) still ends it.
    """
    if delay is None:
        delay = backoff_seconds(row["attempts"])
    next_at = clock.later(delay)
    if next_at > row["deadline"] or (count_attempt and row["attempts"] >= max_attempts):
        mark_failed(db, row, f"gave up after {row['attempts']} attempts: {reason}")
        return "failed"
    with transaction(db):
        db.execute(
            "UPDATE outbox SET state = 'pending', next_attempt_at = ?, last_error = ?, lease_until = NULL, "
            "attempts = attempts - ? WHERE " + _HELD,
            [next_at, reason, 0 if count_attempt else 1, row["id"], row["attempts"]],
        )
    return "retry"


def pause_number(db: Database, phone_number_id: str, seconds: float, reason: str) -> None:
    """Hold every send from one business number (throughput limits apply per number)."""
    with transaction(db):
        db.table("send_pauses").upsert(
            {"phone_number_id": phone_number_id, "until": clock.later(seconds), "reason": reason},
            pk="phone_number_id",
        )


def confirm_by_callback(db: Database, callback_data: str | None, provider_message_id: str,
                        recipients: tuple[str, ...] = ()) -> None:
    """A status callback names the outbox row we sent: proof it went out, even if its sender died
    before recording so, when it names the row's recipient too (a status redelivered after a
    database restore, whose row id now belongs to another reply, proves nothing). Must run
    inside the caller's transaction."""
    if not callback_data or not callback_data.startswith("outbox:") or not recipients:
        return
    try:
        row_id = int(callback_data.split(":", 1)[1])
    except ValueError:
        return
    marks = ", ".join("?" * len(recipients))
    db.execute(
        "UPDATE outbox SET state = 'sent', provider_message_id = COALESCE(provider_message_id, ?), "
        "sent_at = COALESCE(sent_at, ?), lease_until = NULL WHERE id = ? AND state IN ('sending', 'pending') "
        f"AND wa_id IN ({marks})",
        [provider_message_id, clock.now_iso(), row_id, *recipients],
    )


def backoff_seconds(attempts: int) -> float:
    base = min(MAX_BACKOFF_SECONDS, 2 ** max(0, attempts - 1) * 2)
    return base * random.uniform(0.8, 1.2)


def oldest_pending_seconds(db: Database) -> float | None:
    row = db.execute("SELECT min(created_at) FROM outbox WHERE state = 'pending'").fetchone()
    if not row or not row[0]:
        return None
    return max(0.0, (clock.utcnow() - clock.parse_iso(row[0])).total_seconds())


def backlog(db: Database) -> dict[str, int]:
    counts = {state: 0 for state in ("pending", "sending", "sent", "failed", "skipped")}
    for row in db.query("SELECT state, count(*) AS n FROM outbox GROUP BY state"):
        counts[row["state"]] = row["n"]
    return counts
