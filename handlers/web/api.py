"""The API campaign systems ask before sending: is this number suppressed?"""
from __future__ import annotations

from flask import Blueprint, Response, request

from handlers import current
from handlers.consent import ledger
from handlers.consent.identity import InvalidIdentity, normalize
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


@bp.get("/suppressions/<path:wa_id>")
def suppression(wa_id: str):
    key = normalize(wa_id)
    row = ledger.state(current.service().db, key)
    suppressed = bool(row and row["suppressed"])
    return {
        "wa_id": key,
        "suppressed": suppressed,
        "since": row["since"] if row else None,
        "source": row["source"] if row else None,
    }


@bp.get("/suppressions/<path:wa_id>/history")
def suppression_history(wa_id: str):
    key = normalize(wa_id)
    return {"wa_id": key, "events": ledger.history(current.service().db, key)}


@bp.post("/suppressions/check")
def check_many():
    body = read_json()
    numbers = body.get("wa_ids") if isinstance(body, dict) else body
    if not isinstance(numbers, list):
        return json_error(400, 'expected a JSON list of numbers, or {"wa_ids": [...]}')
    if len(numbers) > MAX_CHECK:
        return json_error(413, f"at most {MAX_CHECK} numbers per request, got {len(numbers)}")
    valid, invalid = {}, []
    for number in numbers:
        try:
            valid[normalize(number)] = number
        except InvalidIdentity as error:
            invalid.append({"wa_id": number if isinstance(number, str) else repr(number), "error": str(error)})
    suppressed = ledger.suppressed_among(current.service().db, list(valid))
    return {
        "suppressed": sorted(suppressed),
        "not_suppressed": sorted(set(valid) - suppressed),
        "invalid": invalid,
    }


@bp.get("/suppressions.csv")
def export_csv():
    return Response(ledger.suppressions_csv(current.service().db), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=suppressions.csv"})
