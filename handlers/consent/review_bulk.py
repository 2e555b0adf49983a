"""Decisions on many review items at once (a selection, or everything a rule caught),
and undoing a decision. A bulk decision is one audit entry naming every item it
decided, so a thousand decisions do not bury the rest of the audit log. Flask-free.
"""
from __future__ import annotations

from dataclasses import dataclass

from handlers.consent import ledger, review
from handlers.consent.ledger import Action, ConsentChange, Source
from handlers.staff import audit
from handlers.storage import clock
from handlers.storage.db import Database, lock, transaction

MAX_BULK = 20_000


@dataclass(frozen=True)
class BulkResult:
    decided: int
    skipped: int            # already decided by someone else meanwhile, or gone
    audit_id: int | None
    opted_out: int = 0      # persons whose state changed to opted out


def decide_many(db: Database, message_ids: list[str], decision: str, actor: str, reason: str,
                description: str = "") -> BulkResult:
    """Decide every listed item that is still pending, in one transaction and one audit entry."""
    review.check_decision(decision)
    reason = ledger.clean_reason(reason)
    wanted = list(dict.fromkeys(message_ids))
    if not wanted:
        raise review.ReviewError("no items selected: tick the messages to decide, or choose a rule")
    if len(wanted) > MAX_BULK:
        raise review.ReviewError(f"{len(wanted):,} items is more than {MAX_BULK:,} at once: narrow the filter")
    decided: list[dict] = []
    opted_out = 0
    with transaction(db):
        lock(db, *(review.review_lock(message_id) for message_id in wanted))
        now = clock.now_iso()
        for message_id in wanted:
            item = review.get(db, message_id)
            if item is None or item["state"] != "pending":
                continue
            recorded = review.record_decision(db, item, decision, actor, reason, now)
            opted_out += bool(recorded and recorded.changed)
            decided.append({"message_id": message_id, "wa_id": item["wa_id"],
                            "event_id": recorded.event_id if recorded else None})
        if not decided:
            return BulkResult(0, len(wanted), None)
        if len(decided) == 1:
            one = decided[0]
            entry = audit.record(db, actor, f"review.{decision}", one["wa_id"],
                                 {"message_id": one["message_id"], "state": "pending"},
                                 {"message_id": one["message_id"], "decision": decision, "reason": reason,
                                  "event_id": one["event_id"]})
        else:
            entry = audit.record(db, actor, f"review.bulk_{decision}", description or f"{len(decided)} review items",
                                 {"state": "pending", "count": len(decided)},
                                 {"decision": decision, "reason": reason, "count": len(decided),
                                  "items": decided})
    return BulkResult(len(decided), len(wanted) - len(decided), entry, opted_out)


def undo(db: Database, entry: dict, actor: str) -> int:
    """Put the items an audited decision decided back in the queue. An opt-out it made
    is lifted (a staff opt-in) only while it still decides the person's state: a later
    decision, by the customer or anyone, stands (ledger.Decision). Runs in the
    caller's transaction."""
    after = entry["after"]
    items = after.get("items") or [{"message_id": after["message_id"], "wa_id": entry["target"],
                                    "event_id": after.get("event_id")}]
    reopened = lifted = 0
    now = clock.now_iso()
    decision = ledger.Decision.of(db, [item.get("event_id") for item in items])
    for item in items:
        row = review.get(db, item["message_id"])
        if row and row["state"] == "decided":
            db.execute("UPDATE review_queue SET state = 'pending', decision = NULL, decided_by = NULL, "
                       "reason = NULL, decided_at = NULL WHERE message_id = ?", [item["message_id"]])
            reopened += 1
        current = decision.decides(db, item["wa_id"]) if item.get("event_id") else None
        if current and current.suppressed:
            ledger.record(db, ConsentChange(
                wa_id=item["wa_id"], action=Action.OPT_IN, source=Source.STAFF, occurred_at=now, actor=actor,
                reason=f"undo of review decision (audit entry #{entry['id']})"))
            lifted += 1
    return audit.record(db, actor, "review.undo", entry["target"],
                        {"decision": after.get("decision"), "count": len(items)},
                        {"back_in_queue": reopened, "opted_back_in": lifted}, undoes=entry["id"])
