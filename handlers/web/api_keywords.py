"""The staff tools as JSON under /api (bearer token): keywords, replies, try-it,
impact preview, audit log and undo, the review queue and consent by hand."""
from __future__ import annotations

from flask import Blueprint, request
from werkzeug.exceptions import BadRequest

from handlers import current
from handlers.consent import ledger, review
from handlers.consent import manual as manual_consent
from handlers.consent import undo as consent_undo
from handlers.consent.identity import InvalidIdentity
from handlers.consent.ledger import Action
from handlers.detection.classify import explain
from handlers.detection.intents import KEYWORD_INTENTS
from handlers.ops.tryit import try_message
from handlers.staff import audit, keyword_store
from handlers.staff.impact import preview as impact_preview
from handlers.staff.keyword_store import Change, KeywordError
from handlers.web import api
from handlers.web.errors import json_error
from handlers.web.jsonbody import read_json

bp = Blueprint("api_keywords", __name__, url_prefix="/api")
bp.before_request(api.require_bearer_token)


def _body() -> dict:
    """The request's JSON object; an empty body is an empty object, anything else a 400."""
    try:
        body = read_json(empty={})
    except BadRequest as error:
        raise KeywordError(f"the request body must be a JSON object: {error.description}") from None
    if not isinstance(body, dict):
        raise KeywordError('the request body must be a JSON object, e.g. {"language": "es", ...}')
    return body


def _actor(body: dict) -> str:
    name = str(body.get("actor") or "").strip()[:64]
    return f"api:{name}" if name else "api"


def _change(body: dict, op: str) -> Change:
    return Change.parse(op, body.get("language"), body.get("intent"), body.get("keyword"),
                        body.get("match", "whole_message"))


@bp.errorhandler(KeywordError)
@bp.errorhandler(review.ReviewError)
@bp.errorhandler(audit.UndoError)
def refused(error):
    return json_error(400, str(error))


@bp.get("/keywords")
def list_keywords():
    service = current.service()
    service.refresh(force=True)
    locales = service.locales
    language = request.args.get("language")
    codes = [language] if language else sorted(locales)
    if language and language not in locales:
        return json_error(404, f"unknown language {language!r}")
    return {"languages": {code: {"keywords": keyword_store.keyword_table(locales[code]),
                                 "replies": {i.value: locales[code].replies.get(i, "")
                                             for i in KEYWORD_INTENTS}}
                          for code in codes}}


def _save(op: str):
    service = current.service()
    body = _body()
    change = _change(body, op)
    entry = keyword_store.apply_change(service.db, service.file_locales, change, _actor(body))
    service.refresh(force=True)
    return {"saved": True, "audit_id": entry, "language": change.language, "keyword": change.keyword,
            "intent": change.intent.value, "match": change.match.value, "op": op}


@bp.post("/keywords")
def add_keyword():
    return _save("add"), 201


@bp.post("/keywords/remove")
def remove_keyword():
    return _save("remove")


@bp.post("/keywords/move")
def move_keyword():
    return _save("move")


@bp.put("/replies/<language>/<intent>")
def set_reply(language: str, intent: str):
    service = current.service()
    body = _body()
    entry = keyword_store.set_reply(service.db, service.file_locales, language, intent, body.get("reply"),
                                    _actor(body))
    service.refresh(force=True)
    return {"saved": entry is not None, "audit_id": entry,
            **({} if entry else {"note": "the reply is unchanged; nothing was saved"})}


@bp.post("/keywords/preview")
def preview():
    """The impact of an unsaved change: {op, language, intent, keyword, match[, text, continue_after]}.
    Bounded: when `complete` is false, post again with the `continue_after` it returned."""
    service = current.service()
    body = _body()
    change = _change(body, str(body.get("op", "add")))
    proposed = service.build_classifier(keyword_store.with_change(service.locales, change))
    resume = body.get("continue_after")
    if resume is not None and not (isinstance(resume, list) and len(resume) == 2
                                   and all(isinstance(part, str) for part in resume)):
        raise KeywordError("continue_after must be the [received_at, message_id] a previous preview returned")
    answer = impact_preview(service.db, service.classifier, proposed,
                            continue_after=(resume[0], resume[1]) if resume else None).as_dict()
    if body.get("text"):
        answer["try"] = {"before": explain(service.classifier, str(body["text"])),
                         "after": explain(proposed, str(body["text"]))}
    return answer


@bp.post("/keywords/test")
def test_text():
    body = _body()
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        return json_error(400, 'expected {"text": "...", "wa_id": "+593..."}')
    service = current.service()
    result = try_message(service.db, service.classifier, text, body.get("wa_id"))
    error = result.pop("number_error")
    if error:
        return json_error(400, f"invalid wa_id: {error}")
    return result


AUDIT_MAX_LIMIT = 1000


@bp.get("/audit")
def audit_log():
    text = request.args.get("limit", "200")
    digits = text.strip()
    limit = int(digits) if digits.isascii() and digits.isdigit() and len(digits) <= 6 else 0
    if not 1 <= limit <= AUDIT_MAX_LIMIT:
        return json_error(400, f"limit must be a whole number from 1 to {AUDIT_MAX_LIMIT}, got {text[:40]!r}")
    return {"entries": audit.entries(current.service().db, limit=limit)}


@bp.post("/audit/<int:entry_id>/undo")
def undo(entry_id: int):
    service = current.service()
    new_id = consent_undo.undo(service.db, service.file_locales, entry_id, _actor(_body()))
    service.refresh(force=True)
    return {"undone": entry_id, "audit_id": new_id}


@bp.get("/review")
def review_queue():
    return {"pending": review.pending(current.service().db)}


# Message ids are base64 and may hold "/" (even "//"): the whole rest of the path is the id.
@bp.post("/review/<path:message_id>", merge_slashes=False)
def decide(message_id: str):
    body = _body()
    return review.decide(current.service().db, message_id, str(body.get("decision", "")), _actor(body),
                         str(body.get("reason", "")))


@bp.post("/suppressions/<path:wa_id>/<any('opt-out', 'opt-in'):action>")
def consent_by_hand(wa_id: str, action: str):
    """Staff by hand: stamped now, always takes effect, for every category."""
    body = _body()
    reason = ledger.clean_reason(body.get("reason"))
    if not reason:
        return json_error(400, 'a reason is required: {"reason": "asked by phone", "actor": "ana"}')
    try:
        who, recorded, _ = manual_consent.change_by_hand(current.service().db, wa_id, Action(action.replace("-", "_")),
                                                         _actor(body), reason)
    except InvalidIdentity as error:
        return json_error(400, f"invalid wa_id: {error}")
    state = recorded.after
    return {"wa_id": who.written, "canonical": who.canonical, "changed": recorded.changed,
            "suppressed": bool(state and state.suppressed), "scope": state.scope.value if state and state.scope else None}
