"""The database schema with the data steps that need consent's own code: every process
migrates through `migrate()` here (storage/db.py holds the SQL; it cannot import this floor).

Migrations 6 and 7 (the schema, then the data step "persons"; issue 11) bring a database
written before persons existed up to date without rewriting a single history event
(consent_events is append-only):

1. every id in the history or the old suppression list becomes an identity, under its
   canonical key (numbers.py): `5215512345678` and `525512345678` are one person;
2. the old per-id rows (kept as `suppressions_v1`) become per-person states; where ids
   that were separate disagree, the person stays suppressed (ledger.adopt_states_before_persons);
3. user id changes the old code kept as dead letters (`user_changed_user_id`) link the old
   and the new id, so an opt-out under the old one covers the new one.
"""
from __future__ import annotations

import json
import logging

from handlers.consent import identity, ledger
from handlers.storage.db import Database
from handlers.storage.db import migrate as migrate_schema
from handlers.whatsapp.parse import IdChange, parse_delivery

log = logging.getLogger("optout.consent")


def migrate(db: Database) -> None:
    migrate_schema(db, DATA_STEPS)


def persons_from_history(db: Database) -> None:
    first_seen = db.execute(
        "SELECT wa_id, min(at) FROM (SELECT wa_id, recorded_at AS at FROM consent_events "
        "UNION ALL SELECT wa_id, updated_at FROM suppressions_v1) AS seen GROUP BY wa_id ORDER BY wa_id").fetchall()
    identity.enroll_all(db, first_seen)
    persons = ledger.adopt_states_before_persons(db)
    links = 0
    for (raw,) in db.execute("SELECT raw FROM dead_letters WHERE kind = 'message' AND raw LIKE '%user_changed_user_id%'"):
        try:
            message = json.loads(raw)
        except ValueError:
            continue
        for item in parse_delivery({"entry": [{"changes": [{"value": {"messages": [message]}}]}]}).items:
            if isinstance(item, IdChange):
                ledger.link(db, item.identities, "user_id_change")
                links += 1
    if first_seen:
        log.info("migration: %d ids, %d persons, %d user id changes from dead letters", len(first_seen), persons, links)


DATA_STEPS = {"persons": persons_from_history}
