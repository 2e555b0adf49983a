"""The endpoint Meta delivers to: verify, then hand the delivery to the pipeline."""
from __future__ import annotations

import json
import logging
import time

from flask import Blueprint, request

from handlers import current
from handlers.consent.identity import mask
from handlers.ops import metrics, recording
from handlers.storage.db import OperationalError
from handlers.web.errors import json_error
from handlers.whatsapp import signature

bp = Blueprint("webhook", __name__)
log = logging.getLogger("optout.webhook")

JSON_TYPES = {"application/json", "text/json", ""}
# Meta's deliveries nest about ten levels deep; anything far deeper is not one, and
# would only exhaust the recursion limit of whatever walks it later (parse, dead letters).
MAX_DEPTH = 64
_TOO_DEEP = object()


@bp.get("/webhook")
def verify_subscription():
    """Meta's subscription handshake: echo the challenge when the token matches."""
    args = request.args
    if args.get("hub.mode") == "subscribe" and signature.tokens_match(
        args.get("hub.verify_token"), current.service().settings.verify_token
    ):
        return args.get("hub.challenge", ""), 200, {"Content-Type": "text/plain; charset=utf-8"}
    return json_error(403, "verification failed: hub.mode must be 'subscribe' and hub.verify_token must match")


@bp.post("/webhook")
def receive_delivery():
    started = time.perf_counter()
    service = current.service()
    raw = request.get_data(cache=True)
    if not signature.is_valid(raw, request.headers.get("X-Hub-Signature-256"), service.settings.app_secret):
        _log_line(401, started, reason="bad or missing signature")
        return json_error(401, "missing or invalid signature (X-Hub-Signature-256)")
    if request.mimetype not in JSON_TYPES and not request.mimetype.endswith("+json"):
        _log_line(415, started, reason=f"content type {request.mimetype}")
        return json_error(415, f"expected application/json, got {request.mimetype}")
    try:
        payload = _json(raw)
    except (ValueError, UnicodeDecodeError) as error:
        _log_line(400, started, reason="malformed JSON")
        return json_error(400, f"body is not valid JSON: {error}")
    except RecursionError:
        payload = _TOO_DEEP
    if payload is _TOO_DEEP or _too_deep(raw, payload):
        _log_line(400, started, reason="nested too deeply")
        return json_error(400, f"body is nested more than {MAX_DEPTH} levels deep; not a WhatsApp delivery")
    if not isinstance(payload, dict):
        _log_line(400, started, reason="not an object")
        return json_error(400, "body must be a JSON object (a WhatsApp webhook delivery)")
    if service.settings.record_dir:
        _record(service, raw, payload)
    try:
        result = service.handle(payload)
    except OperationalError as error:
        # Nothing was committed; Meta retries a non-200 delivery, so nothing is lost.
        log.error("database unavailable, delivery refused for retry: %s", error)
        _log_line(503, started, reason="database unavailable")
        response = json_error(503, "temporarily unable to store the delivery; retry later")
        response.headers["Retry-After"] = "5"
        return response
    outcomes = [vars(outcome) for outcome in result.outcomes]
    metrics.count_outcomes(result.outcomes)
    _log_line(200, started, outcomes=result.outcomes)
    return {
        "received": len(outcomes),
        "duplicates": result.count(duplicate=True),
        "replies_queued": result.replies_queued,
        "outcomes": outcomes,
    }


def _json(raw: bytes) -> object:
    """The delivery; an integer of more digits than Python converts (4,300) stays text, so
    an absurd timestamp or id costs its own field, never the delivery and its opt-outs."""
    try:
        return json.loads(raw)
    except ValueError as error:
        if "integer string conversion" not in str(error):
            raise
    return json.loads(raw, parse_int=lambda text: int(text) if len(text) < 4000 else text)


def _record(service, raw: bytes, payload: dict) -> None:
    settings = service.settings
    anonymizer = (
        recording.Anonymizer(settings.app_secret + ":recording") if settings.record_anonymize else None
    )
    try:
        recording.record(settings.record_dir, raw, payload, anonymizer)
    except OSError as error:  # recording is a convenience; it never costs a delivery
        log.warning("could not record delivery to %s: %s", settings.record_dir, error)


def _too_deep(raw: bytes, document: object) -> bool:
    """Iteratively, so the check itself cannot hit the recursion limit."""
    if raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH:
        return False  # each level opens a bracket: a body with few brackets cannot be deep
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(value, dict):
            stack.extend((child, depth + 1) for child in value.values() if isinstance(child, (dict, list)))
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in value if isinstance(child, (dict, list)))
    return False


def _log_line(status: int, started: float, reason: str | None = None, outcomes=()) -> None:
    """One structured line per delivery; numbers masked, no bodies, no secrets. Also counts it."""
    seconds = time.perf_counter() - started
    metrics.count_request(status, seconds)
    line = {"event": "delivery", "status": status, "ms": round(seconds * 1000, 2)}
    if reason:
        line["reason"] = reason
    if outcomes:
        kinds: dict[str, int] = {}
        for outcome in outcomes:
            kinds[outcome.kind] = kinds.get(outcome.kind, 0) + 1
        line["items"] = kinds
        line["duplicates"] = sum(o.duplicate for o in outcomes)
        line["consent"] = [
            {"wa_id": mask(o.wa_id), "change": o.consent, "source": o.source, "lang": o.language}
            for o in outcomes if o.consent
        ]
        line["replies_queued"] = sum(o.reply == "queued" for o in outcomes)
        errors = [o.error for o in outcomes if o.error]
        if errors:
            line["dead_letters"] = len(errors)
    log.info(json.dumps(line, ensure_ascii=False))
