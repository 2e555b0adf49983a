"""What a keyword change would do to the messages already received, before it is saved.

The pipeline keeps the words of recent inbound messages (`inbound_messages`: the
last KEEP_MESSAGES messages, none older than KEEP_DAYS days); the preview
re-classifies them with the current and the proposed classifier and lists those
whose intent or rule would change. Flask-free.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta

from handlers.detection.classify import Classifier, classify_words
from handlers.storage import clock
from handlers.storage.db import Database

KEEP_MESSAGES = 50_000
KEEP_DAYS = 90
PREVIEW_LIMIT = 50_000


@dataclass
class Impact:
    checked: int = 0
    changed: list[dict] = field(default_factory=list)

    @property
    def newly_opted_out(self) -> list[dict]:
        return [row for row in self.changed if row["after"]["intent"] == "opt_out"]

    def as_dict(self) -> dict:
        return {"checked": self.checked, "changed_count": len(self.changed), "changed": self.changed}


PRUNE_EVERY = 500


def remember(db: Database, message_id: str, wa_id: str, words: tuple[str, ...],
             intent: str, rule: str | None) -> None:
    """Keep a received message's words (inside the delivery's transaction), bounded.

    This runs for every received message, so it is one plain INSERT; the bounds are
    enforced every PRUNE_EVERY rows rather than on each one.
    """
    if not words:
        return
    now = clock.utcnow()
    cursor = db.execute(
        "INSERT OR REPLACE INTO inbound_messages (message_id, wa_id, words, received_at, intent, rule) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [message_id, wa_id, json.dumps(list(words), ensure_ascii=False), clock.iso(now), intent, rule],
    )
    if (cursor.lastrowid or 0) % PRUNE_EVERY == 0:
        prune(db, now)


def prune(db: Database, now=None) -> None:
    now = now or clock.utcnow()
    db.execute("DELETE FROM inbound_messages WHERE received_at < ?", [clock.iso(now - timedelta(days=KEEP_DAYS))])
    db.execute("DELETE FROM inbound_messages WHERE rowid <= (SELECT max(rowid) FROM inbound_messages) - ?",
               [KEEP_MESSAGES])


def preview(db: Database, before: Classifier, after: Classifier, limit: int = PREVIEW_LIMIT) -> Impact:
    impact = Impact()
    for row in db.query("SELECT * FROM inbound_messages ORDER BY received_at DESC LIMIT ?", [limit]):
        words = tuple(json.loads(row["words"]))
        old, _ = classify_words(before, words)
        new, said = classify_words(after, words)
        impact.checked += 1
        if (old.intent, old.rule, old.certain) != (new.intent, new.rule, new.certain):
            impact.changed.append({
                "message_id": row["message_id"], "wa_id": row["wa_id"], "text": " / ".join(words),
                "received_at": row["received_at"],
                "before": {"intent": old.intent.value, "rule": old.rule, "certain": old.certain},
                "after": {"intent": new.intent.value, "rule": new.rule, "certain": new.certain},
            })
    return impact
