"""Consent changed by a person (admin page, API), and undoing such a change.

One function changes consent by hand, `change_by_hand`, for every caller (the admin
number page, the API, the undo of an earlier change). It accepts what a person types for
anyone WhatsApp may send us (any form of a number, a user id, or an id a delivery stored)
and records it under that id: the person behind it is who it reaches (see identity.py).
It goes through ledger.record, the only writer, with source staff and the actor; a staff
action is stamped now and always takes effect, and one that changed something is also in
the audit log. (Imports from a file: importer.py.) Flask-free.
"""
from __future__ import annotations

import contextlib
import logging
from typing import NamedTuple

from handlers.consent import identity, ledger
from handlers.consent.identity import InvalidIdentity, Who, mask
from handlers.consent.ledger import Action, ConsentChange, Recorded, Source
from handlers.staff import audit
from handlers.storage import clock
from handlers.storage.db import Database, in_transaction, transaction

log = logging.getLogger("optout.consent")


class HandChange(NamedTuple):
    """What a change by hand did: who it reached, what the ledger recorded, and the
    audit entry that can undo it (None: nothing changed, so nothing to undo)."""
    who: Who
    recorded: Recorded
    audit_id: int | None

    @property
    def changed(self) -> bool:
        return self.recorded.changed


def change_by_hand(db: Database, value: object, action: Action, actor: str, reason: str, *,
                   undoes: int | None = None) -> HandChange:
    """Opt the person `value` names out (of everything) or back in: the one way consent
    changes by hand. In a transaction of its own, or in the caller's when one is open (an
    undo: undo.py holds the write lock). `undoes`: the audit entry this change undoes (it is
    audited even if, for a moment, it changes nothing: it still marks the entry undone).
    Raises InvalidIdentity for a value that names nobody (or a number as dialled at home),
    ValueError without a reason."""
    reason = ledger.clean_reason(reason)
    if not reason:
        raise ValueError("a reason is required")
    with contextlib.nullcontext(db) if in_transaction(db) else transaction(db):
        who = identity.international(identity.find(db, value))
        recorded = ledger.record(db, ConsentChange(
            wa_id=who.written, action=action, source=Source.STAFF, occurred_at=clock.now_iso(),
            actor=actor, reason=reason))
        entry = None
        if recorded.changed or undoes is not None:
            entry = audit.record(db, actor, f"consent.{action.value}", who.written,
                                 {"suppressed": bool(recorded.before and recorded.before.suppressed)},
                                 {"suppressed": action is Action.OPT_OUT, "reason": reason,
                                  "event_id": recorded.event_id}, undoes=undoes)
    log.info("consent %s by hand for %s by %s (changed: %s)", action.value, mask(who.written), actor,
             recorded.changed)
    return HandChange(who, recorded, entry)


def undo(db: Database, entry: dict, actor: str) -> int:
    """Undo a change by hand (an audited consent.opt_out / consent.opt_in): the opposite
    change by hand, while the change is still what decides the person's state (an entry
    from before event ids were audited: while the state is still the one it left). In the
    caller's transaction; returns the new audit entry (itself undoable)."""
    wa_id, was_out = entry["target"], entry["action"] == f"consent.{Action.OPT_OUT.value}"
    event_id = (entry["after"] or {}).get("event_id")
    if event_id:
        still = ledger.Decision.of(db, [event_id]).decides(db, wa_id) is not None
    else:
        current = ledger.state_of_id(db, wa_id) or ledger.state_for(db, wa_id)
        still = current is not None and current.suppressed == was_out
    if not still:
        raise ValueError(f"{wa_id} has changed since entry {entry['id']}: see its page and change it by hand")
    action = Action.OPT_IN if was_out else Action.OPT_OUT
    try:
        change = change_by_hand(db, wa_id, action, actor, f"undo of audit entry #{entry['id']}", undoes=entry["id"])
    except InvalidIdentity as error:
        raise ValueError(f"{wa_id} cannot be changed by hand: {error}") from None
    assert change.audit_id is not None
    return change.audit_id
