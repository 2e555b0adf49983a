"""The review queue: messages that may be an opt-out but are not certain wait here
for a person. Certain opt-outs never wait; they are honoured at once by the pipeline.
Flask-free.
"""
from __future__ import annotations

import json

from handlers.consent import ledger
from handlers.consent.ledger import Action, ConsentChange, Source
from handlers.detection.classify import Classification
from handlers.settings import WHATSAPP_TEXT_LIMIT
from handlers.staff import audit
from handlers.storage import clock
from handlers.storage.db import Database, insert_row, lock, transaction

DECISIONS = ("opt_out", "not_opt_out")


class ReviewError(ValueError):
    pass


def add(db: Database, message_id: str, wa_id: str, text: str,
        classification: Classification, language: str | None = None) -> None:
    """Queue a message (inside the delivery's transaction); a redelivery adds nothing."""
    insert_row(db, "review_queue", {
        "message_id": message_id, "wa_id": wa_id, "text": text[:WHATSAPP_TEXT_LIMIT],
        "classification": json.dumps({
            "intent": classification.intent.value, "rule": classification.rule,
            "keyword": classification.keyword, "language": classification.language,
            "certain": classification.certain}, ensure_ascii=False),
        "language": language or classification.language, "state": "pending",
        "received_at": clock.now_iso(),
    }, ignore=True)


def pending(db: Database, limit: int = 200) -> list[dict]:
    return _rows(db, "SELECT * FROM review_queue WHERE state = 'pending' ORDER BY received_at LIMIT ?", [limit])


def decided(db: Database, limit: int = 50) -> list[dict]:
    return _rows(db, "SELECT * FROM review_queue WHERE state = 'decided' ORDER BY decided_at DESC LIMIT ?", [limit])


def get(db: Database, message_id: str) -> dict | None:
    rows = _rows(db, "SELECT * FROM review_queue WHERE message_id = ?", [message_id])
    return rows[0] if rows else None


def review_lock(message_id: str) -> str:
    """The lock (storage.db.lock) that lets one decision about a message in at a time, across hosts."""
    return f"review:{message_id}"


def decide(db: Database, message_id: str, decision: str, actor: str, reason: str) -> dict:
    """Record a person's decision; "opt_out" suppresses the sender (source staff). The
    answer is the decided item with `audit_id`, the entry that can undo it."""
    check_decision(decision)
    reason = ledger.clean_reason(reason)
    with transaction(db):
        lock(db, review_lock(message_id))
        item = get(db, message_id)
        if item is None:
            raise ReviewError(f"no message {message_id!r} in the review queue")
        if item["state"] != "pending":
            raise ReviewError(f"already decided by {item['decided_by']}: {item['decision']}")
        recorded = record_decision(db, item, decision, actor, reason, clock.now_iso())
        entry = audit.record(db, actor, f"review.{decision}", item["wa_id"],
                             {"message_id": message_id, "state": "pending"},
                             {"message_id": message_id, "decision": decision, "reason": reason,
                              "event_id": recorded.event_id if recorded else None})
        return {**(get(db, message_id) or item), "audit_id": entry}


def check_decision(decision: str) -> None:
    if decision not in DECISIONS:
        raise ReviewError(f"unknown decision {decision!r}: use opt_out or not_opt_out")


def record_decision(db: Database, item: dict, decision: str, actor: str, reason: str,
                    now: str) -> ledger.Recorded | None:
    """Mark one pending item decided (inside the caller's transaction); for an opt-out,
    record it in the consent history, under the id the message came from (the person
    behind it is who it reaches). Returns what the ledger recorded (None: not an opt-out)."""
    recorded = None
    if decision == "opt_out":
        recorded = ledger.record(db, ConsentChange(
            wa_id=item["wa_id"], action=Action.OPT_OUT, source=Source.STAFF, occurred_at=now,
            keyword=item["text"][:500], rule=item["classification"].get("rule"),
            language=item["language"], message_id=item["message_id"], actor=actor,
            reason=f"review: {reason or 'opted out after review'}",
        ))
    db.execute(
        "UPDATE review_queue SET state = 'decided', decision = ?, decided_by = ?, reason = ?, decided_at = ?"
        " WHERE message_id = ?", [decision, actor, reason or None, now, item["message_id"]])
    return recorded


def _rows(db, sql, params) -> list[dict]:
    rows = list(db.query(sql, params))
    for row in rows:
        row["classification"] = json.loads(row["classification"])
    return rows
