"""The try-it box of the admin page, `flask keywords test` and `POST /api/keywords/test`:
what the service would make of a message from a number, explained."""
from __future__ import annotations

from handlers.consent import contacts
from handlers.consent.identity import InvalidIdentity, normalize
from handlers.detection.classify import Classifier, explain
from handlers.storage.db import Database


def try_message(db: Database, classifier: Classifier, text: str, number: str | None) -> dict:
    """`explain()` for `text` as if sent from `number` (its country and last reply language
    help pick the reply language). A number that cannot be read is reported in
    `number_error`, and the text is explained without it."""
    wa_id, error = None, None
    if number and str(number).strip():
        try:
            wa_id = normalize(number)
        except InvalidIdentity as problem:
            error = str(problem)
    result = explain(classifier, text, wa_id=wa_id if wa_id and wa_id.isdigit() else None,
                     last_language=contacts.last_language(db, wa_id))
    result["number_error"] = error
    return result
