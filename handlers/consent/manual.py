"""Consent changed by a person (admin page, API), and undoing such a change.

It goes through ledger.record, the only writer, with source staff and the actor;
a change that changed something is also in the audit log. (Imports from a file:
importer.py.) Flask-free.
"""
from __future__ import annotations

import logging

from handlers.consent import ledger
from handlers.consent.identity import mask
from handlers.consent.ledger import Action, ConsentChange, Source
from handlers.staff import audit
from handlers.storage import clock
from handlers.storage.db import Database, lock, transaction

log = logging.getLogger("optout.consent")


def set_by_hand(db: Database, wa_id: str, action: Action, actor: str, reason: str) -> bool:
    """Opt a number out or back in by hand; True when its state changed."""
    return change_by_hand(db, wa_id, action, actor, reason) is not None


def change_by_hand(db: Database, wa_id: str, action: Action, actor: str, reason: str) -> int | None:
    """As set_by_hand; returns the audit entry of the change (None: nothing changed)."""
    reason = ledger.clean_reason(reason)
    if not reason:
        raise ValueError("a reason is required")
    entry = None
    with transaction(db):
        lock(db, ledger.consent_lock(wa_id))
        before = ledger.state(db, wa_id)
        recorded = ledger.record(db, ConsentChange(
            wa_id=wa_id, action=action, source=Source.STAFF, occurred_at=clock.now_iso(),
            actor=actor, reason=reason))
        if recorded.changed:
            entry = audit.record(db, actor, f"consent.{action.value}", wa_id,
                                 {"suppressed": bool(before and before["suppressed"])},
                                 {"suppressed": action is Action.OPT_OUT, "reason": reason})
    log.info("consent %s by hand for %s by %s (changed: %s)", action.value, mask(wa_id), actor, recorded.changed)
    return entry


def undo(db: Database, entry: dict, actor: str) -> int:
    """Undo a change by hand (an audited consent.opt_out / consent.opt_in): the opposite
    change by hand, while the number is still in the state that change left it in. In
    the caller's transaction; returns the new audit entry (itself undoable)."""
    wa_id, was_out = entry["target"], entry["action"] == f"consent.{Action.OPT_OUT.value}"
    current = ledger.state(db, wa_id)
    if current is None or bool(current["suppressed"]) != was_out:
        raise ValueError(f"{wa_id} has changed since entry {entry['id']}: see its page and change it by hand")
    reason = f"undo of audit entry #{entry['id']}"
    action = Action.OPT_IN if was_out else Action.OPT_OUT
    ledger.record(db, ConsentChange(wa_id=wa_id, action=action, source=Source.STAFF, occurred_at=clock.now_iso(),
                                    actor=actor, reason=reason))
    return audit.record(db, actor, f"consent.{action.value}", wa_id, {"suppressed": was_out},
                        {"suppressed": not was_out, "reason": reason}, undoes=entry["id"])
