"""The API campaign systems ask before sending: may this user get a message of this category?

Any form of a number, a user id or an id a delivery stored is accepted and reduced the way
consent is stored (see consent/numbers.py and the README's identity rules): a suppression
under any form or linked id answers for all of them.
"""
from __future__ import annotations

from flask import Blueprint, Response, request

from handlers import current
from handlers.consent import identity, ledger
from handlers.consent.identity import InvalidIdentity
from handlers.consent.ledger import Category
from handlers.web.errors import json_error
from handlers.web.jsonbody import read_json
from handlers.whatsapp import signature

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_CHECK = 10_000


@bp.before_request
def require_bearer_token():
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not signature.tokens_match(token.strip(), current.service().settings.admin_token):
        response = json_error(401, "missing or invalid bearer token (Authorization: Bearer <ADMIN_TOKEN>)")
        response.headers["WWW-Authenticate"] = 'Bearer realm="optout"'
        return response
    return None


@bp.errorhandler(InvalidIdentity)
def invalid_identity(error: InvalidIdentity):
    return json_error(400, f"invalid wa_id: {error}")


class _BadCategory(ValueError):
    pass


@bp.errorhandler(_BadCategory)
def bad_category(error: _BadCategory):
    return json_error(400, str(error))


def _category(value: object) -> Category:
    try:
        return Category.parse(value)
    except ValueError as error:
        raise _BadCategory(str(error)) from None


@bp.get("/suppressions/<path:wa_id>")
def suppression(wa_id: str):
    """`?category=utility|authentication|marketing` (default marketing)."""
    return ledger.lookup(current.service().db, wa_id, _category(request.args.get("category"))).as_dict()


@bp.get("/suppressions/<path:wa_id>/history")
def suppression_history(wa_id: str):
    db = current.service().db
    who = identity.find(db, wa_id)
    return {"wa_id": who.written, "canonical": who.canonical, "events": ledger.history(db, who)}


@bp.post("/suppressions/check")
def check_many():
    body = read_json()
    numbers = body.get("wa_ids") if isinstance(body, dict) else body
    if not isinstance(numbers, list):
        return json_error(400, 'expected a JSON list of numbers, or {"wa_ids": [...], "category": "marketing"}')
    if len(numbers) > MAX_CHECK:
        return json_error(413, f"at most {MAX_CHECK} numbers per request, got {len(numbers)}")
    category = _category(body.get("category") if isinstance(body, dict) else request.args.get("category"))
    checked = ledger.check_many(current.service().db, numbers, category)
    return {"category": category.value, "suppressed": checked.suppressed, "not_suppressed": checked.not_suppressed,
            "invalid": checked.invalid}


@bp.get("/suppressions.csv")
def export_csv():
    return Response(ledger.suppressions_csv(current.service().db), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=suppressions.csv"})
