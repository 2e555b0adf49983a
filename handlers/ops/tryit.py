"""The try-it box of the admin page, `flask keywords test` and `POST /api/keywords/test`:
what the service would make of a message from a number, explained."""
from __future__ import annotations

from handlers.consent import contacts, identity
from handlers.consent.identity import InvalidIdentity
from handlers.consent.numbers import Kind
from handlers.detection.classify import Classifier, explain
from handlers.storage.db import Database


def try_message(db: Database, classifier: Classifier, text: str, number: str | None) -> dict:
    """`explain()` for `text` as if sent from `number` (its country, read from the canonical
    form, and the last reply language help pick the reply language). Any form WhatsApp may
    send is accepted (`+5215512345678`, a user id); a value that names nobody is reported
    in `number_error`, and the text is explained without it."""
    wa_id, country_key, error = None, None, None
    if number is not None and str(number).strip():
        try:
            who = identity.find(db, number)
            wa_id = who.written
            country_key = who.canonical if who.readings.kind is Kind.PHONE else None
        except InvalidIdentity as problem:
            error = str(problem)
    result = explain(classifier, text, wa_id=country_key, last_language=contacts.last_language(db, wa_id))
    result["number_error"] = error
    return result
