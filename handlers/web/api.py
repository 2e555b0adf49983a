"""The API campaign systems ask before sending: is this number suppressed?"""
from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, current_app, request

from handlers.consent import ledger
from handlers.whatsapp import signature
from handlers.consent.identity import InvalidIdentity, normalize
from handlers.web.errors import json_error

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_CHECK = 10_000


def _service():
    return current_app.extensions["optout"]


@bp.before_request
def require_bearer_token():
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not signature.tokens_match(token.strip(), _service().settings.admin_token):
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
    row = ledger.state(_service().db, key)
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
    return {"wa_id": key, "events": ledger.history(_service().db, key)}


@bp.post("/suppressions/check")
def check_many():
    body = request.get_json(silent=True)
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
    suppressed = ledger.suppressed_among(_service().db, list(valid))
    return {
        "suppressed": sorted(suppressed),
        "not_suppressed": sorted(set(valid) - suppressed),
        "invalid": invalid,
    }


@bp.get("/suppressions.csv")
def export_csv():
    db = _service().db

    def rows():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["wa_id", "since", "source", "rule"])
        for row in ledger.suppressed_rows(db):
            writer.writerow([row["wa_id"], row["since"], row["source"], row["rule"] or ""])
            if buffer.tell() > 64_000:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return Response(rows(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=suppressions.csv"})
