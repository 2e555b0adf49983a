"""The endpoint Meta delivers to, as a small WSGI callable ahead of the Flask app.

`POST /webhook` and the subscription handshake (`GET /webhook`) are answered here,
doing exactly what a delivery needs: read the raw body (size-checked), check its
signature, its type and its JSON, parse it into typed values, run the pipeline,
write one log line and answer JSON. Every other request (and every other method on
/webhook) goes to the Flask app, which keeps the admin pages, the API and /healthz.
Flask-free: Flask's routing, request and response objects cost more than the rest
of an inert status's handling.

Every answer this path gives, including 413 and 500, is counted in /metrics, has its
log line and carries the app-wide security headers (handlers/web/security.py: the
Flask app's after_request hook never sees these answers).
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson

from handlers.consent.identity import mask
from handlers.delivery.service import Service
from handlers.ops import metrics, recording
from handlers.ops.loglines import write_info
from handlers.storage.db import OperationalError
from handlers.web import security
from handlers.whatsapp import signature

log = logging.getLogger("optout.webhook")

PATH = "/webhook"
JSON_TYPES = {"application/json", "text/json", ""}
# Meta's deliveries nest about ten levels deep; anything far deeper is not one, and
# would only exhaust the recursion limit of whatever walks it later (parse, dead letters).
MAX_DEPTH = 64
_TOO_DEEP = object()
READ_CHUNK = 1 << 16

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict, StartResponse], Iterable[bytes]]


class Refused(Exception):
    """A delivery answered with an error: status, the sentence for the body, the log reason."""

    def __init__(self, status: int, message: str, reason: str, headers: tuple[tuple[str, str], ...] = ()):
        super().__init__(message)
        self.status, self.message, self.reason, self.headers = status, message, reason, headers


class Webhook:
    """WSGI middleware: /webhook here, everything else to `fallback` (the Flask app's wsgi_app).

    `config` is the Flask app's config, read on each delivery for MAX_CONTENT_LENGTH
    (tests lower it on a running app)."""

    def __init__(self, fallback: WSGIApp, service: Service, config: Mapping[str, Any]):
        self.fallback = fallback
        self.service = service
        self.config = config

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == PATH:
            method = environ.get("REQUEST_METHOD")
            if method == "POST":
                return self.receive(environ, start_response)
            if method == "GET":
                return self.verify(environ, start_response)
            if method == "HEAD":  # the handshake's headers, without its body (as Werkzeug does)
                self.verify(environ, start_response)
                return []
        return self.fallback(environ, start_response)

    def verify(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        """Meta's subscription handshake: echo the challenge when the token matches."""
        args: dict[str, str] = {}
        for key, value in parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True):
            args.setdefault(key, value)
        if args.get("hub.mode") == "subscribe" and signature.tokens_match(
                args.get("hub.verify_token"), self.service.settings.verify_token):
            log.info('{"event":"subscription","status":200}')
            return _respond(start_response, 200, args.get("hub.challenge", "").encode(),
                            "text/plain; charset=utf-8")
        log.warning('{"event":"subscription","status":403,"reason":"hub.mode or hub.verify_token"}')
        return _respond_json(start_response, 403, {
            "error": "verification failed: hub.mode must be 'subscribe' and hub.verify_token must match"})

    def receive(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        try:
            result = self._deliver(environ)
        except Refused as refusal:
            _log_line(refusal.status, started, reason=refusal.reason)
            return _respond_json(start_response, refusal.status, {"error": refusal.message}, refusal.headers)
        except Exception as error:  # the last guard: an answer, a log line and a count, never a bare crash
            log.exception("delivery failed")
            _log_line(500, started, reason=f"internal error: {type(error).__name__}")
            return _respond_json(start_response, 500, {
                "error": "internal error while handling the delivery; it was not stored, retry later"})
        outcomes = [vars(outcome) for outcome in result.outcomes]
        _log_line(200, started, outcomes=result.outcomes, errors=result.errors)
        return _respond_json(start_response, 200, {
            "received": len(outcomes),
            "duplicates": result.count(duplicate=True),
            "replies_queued": result.replies_queued,
            "outcomes": outcomes,
        })

    def _deliver(self, environ: dict):
        service = self.service
        raw = self._body(environ)
        if not signature.is_valid(raw, environ.get("HTTP_X_HUB_SIGNATURE_256"), service.settings.app_secret):
            raise Refused(401, "missing or invalid signature (X-Hub-Signature-256)", "bad or missing signature")
        mimetype = _mimetype(environ.get("CONTENT_TYPE", ""))
        if mimetype not in JSON_TYPES and not mimetype.endswith("+json"):
            raise Refused(415, f"expected application/json, got {mimetype}", f"content type {mimetype}")
        payload = _json(raw)
        if not isinstance(payload, dict):
            raise Refused(400, "body must be a JSON object (a WhatsApp webhook delivery)", "not an object")
        if service.settings.record_dir:
            _record(service, raw, payload)
        try:
            return service.handle(payload)
        except OperationalError as error:
            # Nothing was committed; Meta retries a non-200 delivery, so nothing is lost.
            log.error("database unavailable, delivery refused for retry: %s", error)
            raise Refused(503, "temporarily unable to store the delivery; retry later", "database unavailable",
                          (("Retry-After", "5"),)) from None

    def _body(self, environ: dict) -> bytes:
        """The raw body, refused with 413 above the limit before it is read."""
        limit = self.config.get("MAX_CONTENT_LENGTH")
        stream = environ["wsgi.input"]
        length_text = environ.get("CONTENT_LENGTH") or ""
        if length_text:
            try:
                length = int(length_text)
            except ValueError:
                raise Refused(400, f"invalid Content-Length {length_text[:40]!r}", "invalid Content-Length") from None
            if limit is not None and length > limit:
                raise Refused(413, f"request body too large (limit {limit} bytes)", f"body of {length} bytes")
            raw = _read(stream, length)
            if len(raw) < length:
                raise Refused(400, "the body ended before its Content-Length", "client disconnected")
            return raw
        if not environ.get("wsgi.input_terminated"):
            return b""  # no length and no chunked framing: no body (as Werkzeug reads it)
        raw = _read(stream, None if limit is None else limit + 1)
        if limit is not None and len(raw) > limit:
            raise Refused(413, f"request body too large (limit {limit} bytes)", "chunked body over the limit")
        return raw


def flask_rule(app) -> None:
    """/webhook as a Flask rule too, so Flask answers what the callable leaves to it as it
    always did (OPTIONS with Allow, 405 for PUT or DELETE). GET, HEAD and POST never reach it."""
    def served_ahead_of_flask():
        return {"error": "POST /webhook is served by handlers.web.webhook.Webhook, ahead of Flask"}, 500
    app.add_url_rule(PATH, "webhook", served_ahead_of_flask, methods=["GET", "POST"])


def _read(stream, size: int | None) -> bytes:
    if size is None:
        return stream.read()
    if size <= READ_CHUNK:
        return stream.read(size)
    parts, left = [], size
    while left > 0:
        part = stream.read(min(left, READ_CHUNK))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _mimetype(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _json(raw: bytes) -> object:
    """orjson first; the standard library for what orjson refuses and JSON still allows
    (lone surrogates such as a cut emoji, "\\ud83d"; very deep nesting; integers too big
    for a double), so such a delivery is stored and its bad item kept as a dead letter
    instead of refusing it. (orjson reads an integer past 64 bits as a float: no id or
    time Meta sends is one.)"""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            payload = _json_exact(raw)
        except RecursionError:
            payload = _TOO_DEEP
        except (ValueError, UnicodeDecodeError) as error:
            raise Refused(400, f"body is not valid JSON: {error}", "malformed JSON") from None
    if payload is _TOO_DEEP or _too_deep(raw, payload):
        raise Refused(400, f"body is nested more than {MAX_DEPTH} levels deep; not a WhatsApp delivery",
                      "nested too deeply")
    return payload


def _json_exact(raw: bytes) -> object:
    """The standard library's parse; an integer of more digits than Python converts (4,300)
    stays text, so an absurd timestamp or id costs its own field, never the delivery and its
    opt-outs."""
    try:
        return json.loads(raw)
    except ValueError as error:
        if "integer string conversion" not in str(error):
            raise
    return json.loads(raw, parse_int=lambda text: int(text) if len(text) < 4000 else text)


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


def _record(service: Service, raw: bytes, payload: dict) -> None:
    settings = service.settings
    anonymizer = (
        recording.Anonymizer(settings.app_secret + ":recording") if settings.record_anonymize else None
    )
    try:
        recording.record(settings.record_dir, raw, payload, anonymizer)
    except Exception as error:  # recording is a convenience; it never costs a delivery
        log.warning("could not record delivery to %s: %s: %s", settings.record_dir, type(error).__name__, error)


def _dumps(value: object) -> bytes:
    """Compact JSON with sorted keys and a final newline, as Flask's jsonify writes it (UTF-8
    rather than \\u escapes); the standard library's escapes for what orjson refuses (a
    lone surrogate in an id)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=True).encode() + b"\n"


def _respond_json(start_response: StartResponse, status: int, value: object,
                  headers: tuple[tuple[str, str], ...] = ()) -> list[bytes]:
    return _respond(start_response, status, _dumps(value), "application/json", headers)


_REASONS = {200: "OK", 400: "BAD REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 413: "REQUEST ENTITY TOO LARGE",
            415: "UNSUPPORTED MEDIA TYPE", 500: "INTERNAL SERVER ERROR", 503: "SERVICE UNAVAILABLE"}


def _respond(start_response: StartResponse, status: int, body: bytes, content_type: str,
             headers: tuple[tuple[str, str], ...] = ()) -> list[bytes]:
    start_response(f"{status} {_REASONS.get(status, '')}".rstrip(),
                   [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers, *security.HEADER_PAIRS])
    return [body]


def _log_line(status: int, started: float, reason: str | None = None, outcomes=(), errors=()) -> None:
    """One structured line per delivery; numbers masked, no bodies, no secrets. Also counts it
    (status, time, outcomes and Meta's errors)."""
    seconds = time.perf_counter() - started
    metrics.count_request(status, seconds, outcomes, errors)
    line: dict[str, object] = {"event": "delivery", "status": status, "ms": round(seconds * 1000, 2)}
    if reason:
        line["reason"] = reason
    if outcomes:
        kinds: dict[str, int] = {}
        duplicates = replies = dead = 0
        consent = []
        for outcome in outcomes:
            kinds[outcome.kind] = kinds.get(outcome.kind, 0) + 1
            duplicates += outcome.duplicate
            if outcome.consent:
                consent.append({"wa_id": mask(outcome.wa_id), "change": outcome.consent,
                                "source": outcome.source, "lang": outcome.language})
            if outcome.reply == "queued":
                replies += 1
            if outcome.error:
                dead += 1
        line["items"] = kinds
        line["duplicates"] = duplicates
        line["consent"] = consent
        line["replies_queued"] = replies
        if dead:
            line["dead_letters"] = dead
    if errors:
        line["errors"] = [{"level": e.level, "code": e.code, "title": e.title} for e in errors]
    try:
        text = orjson.dumps(line).decode()
    except TypeError:  # a lone surrogate in a masked id: the standard library escapes it
        text = json.dumps(line)
    write_info(log, text)
