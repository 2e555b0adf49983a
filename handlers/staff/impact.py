"""What a keyword change would do to the messages already received, before it is saved.

The pipeline keeps the words of recent inbound messages (`inbound_messages`: the
last KEEP_MESSAGES messages, none older than KEEP_DAYS days); the preview
re-classifies them with the current and the proposed classifier and lists those
whose intent or rule would change.

A preview is bounded, so staff can always reach Save: newest first, it stops when
it has classified PREVIEW_BUDGET characters (normalised, both classifiers, plus
PER_MESSAGE_COST a message) or after PREVIEW_SECONDS, whichever comes first, and
says how far it got; the next request continues after the last message checked
(`continue_after`). Flask-free.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import timedelta

from handlers.detection.classify import Classifier, classify_words
from handlers.settings import WHATSAPP_TEXT_LIMIT
from handlers.storage import clock
from handlers.storage.db import Database

KEEP_MESSAGES = 50_000
KEEP_DAYS = 90
PREVIEW_LIMIT = 50_000          # messages at most per request
# About 3.5-6 µs a normalised character on the reference machine (2 cores, shared): 2-4 s.
PREVIEW_BUDGET = 600_000
PER_MESSAGE_COST = 16           # a short message costs about as much as this many characters
PREVIEW_SECONDS = 5.0           # and never longer than this (the worker timeout is 30 s)


@dataclass
class Impact:
    checked: int = 0                          # messages this request classified
    changed: list[dict] = field(default_factory=list)
    total: int = 0                            # messages kept for the preview
    remaining: int = 0                        # older ones this request did not reach
    stopped: str | None = None                # "budget", "time" or "limit" when it stopped early
    continue_after: tuple[str, str] | None = None  # (received_at, message_id) of the last one checked
    cost: int = 0                             # what it spent of PREVIEW_BUDGET

    @property
    def newly_opted_out(self) -> list[dict]:
        return [row for row in self.changed if row["after"]["intent"] == "opt_out"]

    @property
    def complete(self) -> bool:
        return self.remaining == 0

    @property
    def covered(self) -> int:
        """The newest messages checked so far, by this request and the ones it continues."""
        return self.total - self.remaining

    def as_dict(self) -> dict:
        return {"checked": self.checked, "changed_count": len(self.changed), "changed": self.changed,
                "total": self.total, "covered": self.covered, "remaining": self.remaining,
                "complete": self.complete, "stopped": self.stopped,
                "continue_after": list(self.continue_after) if self.continue_after and not self.complete else None}


PRUNE_EVERY = 500


def remember(db: Database, message_id: str, wa_id: str, words: tuple[str, ...],
             intent: str, rule: str | None, at: str | None = None) -> None:
    """Keep a received message's words (inside the delivery's transaction, or a batch of
    ordinary chat's, received `at`), bounded.

    This runs for every received message, so it is one plain INSERT; the bounds are
    enforced every PRUNE_EVERY rows rather than on each one.
    """
    if not words:
        return
    now = clock.utcnow()
    cursor = db.execute(
        "INSERT OR REPLACE INTO inbound_messages (message_id, wa_id, words, received_at, intent, rule) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [message_id, wa_id, json.dumps(list(words), ensure_ascii=False), at or clock.iso(now), intent, rule],
    )
    if (cursor.lastrowid or 0) % PRUNE_EVERY == 0:
        prune(db, now)


def prune(db: Database, now=None) -> None:
    now = now or clock.utcnow()
    db.execute("DELETE FROM inbound_messages WHERE received_at < ?", [clock.iso(now - timedelta(days=KEEP_DAYS))])
    db.execute("DELETE FROM inbound_messages WHERE rowid <= (SELECT max(rowid) FROM inbound_messages) - ?",
               [KEEP_MESSAGES])


def preview(db: Database, before: Classifier, after: Classifier, *,
            continue_after: tuple[str, str] | None = None, limit: int = PREVIEW_LIMIT,
            budget: int | None = None, seconds: float | None = None) -> Impact:
    """Re-classify kept messages, newest first (older than `continue_after` when given),
    until they run out or the budget or the time is spent."""
    budget = PREVIEW_BUDGET if budget is None else budget
    deadline = time.monotonic() + (PREVIEW_SECONDS if seconds is None else seconds)
    impact = Impact(total=db.execute("SELECT count(*) FROM inbound_messages").fetchone()[0])
    older, params = "", []
    if continue_after:
        older, params = "WHERE (received_at, message_id) < (?, ?)", list(continue_after)
    rows = db.query(f"SELECT message_id, wa_id, words, received_at FROM inbound_messages {older} "
                    "ORDER BY received_at DESC, message_id DESC LIMIT ?", [*params, limit])
    last = continue_after
    for row in rows:
        if impact.checked and impact.cost >= budget:
            impact.stopped = "budget"
            break
        if impact.checked and time.monotonic() >= deadline:
            impact.stopped = "time"
            break
        words = tuple(json.loads(row["words"]))
        old, _ = classify_words(before, words)
        new, said = classify_words(after, words)
        impact.checked += 1
        impact.cost += len(old.normalized) + len(new.normalized) + 2 * PER_MESSAGE_COST
        last = (row["received_at"], row["message_id"])
        if (old.intent, old.rule, old.certain) != (new.intent, new.rule, new.certain):
            impact.changed.append({
                "message_id": row["message_id"], "wa_id": row["wa_id"],
                "text": " / ".join(words)[:WHATSAPP_TEXT_LIMIT], "received_at": row["received_at"],
                "before": {"intent": old.intent.value, "rule": old.rule, "certain": old.certain},
                "after": {"intent": new.intent.value, "rule": new.rule, "certain": new.certain},
            })
    if last is not None:
        impact.remaining = db.execute("SELECT count(*) FROM inbound_messages WHERE (received_at, message_id) < (?, ?)",
                                      list(last)).fetchone()[0]
        impact.continue_after = last
    if impact.remaining and impact.stopped is None:
        impact.stopped = "limit"
    return impact
