"""Operations endpoints for load balancers and Prometheus: /healthz and /metrics.

Neither shows a phone number or a secret. /healthz has no authentication (a load
balancer must reach it); /metrics asks for a bearer token only when
OPTOUT_METRICS_TOKEN is set. Neither is meant to be exposed to the internet:
route only /webhook (and /api for campaign systems) through the public proxy.
"""
from __future__ import annotations

from flask import Blueprint, Response, request

from handlers import current
from handlers.delivery import outbox
from handlers.ops import metrics
from handlers.storage.db import Error, refuse_after_failed_fsync
from handlers.web.errors import json_error
from handlers.whatsapp import signature

bp = Blueprint("ops", __name__)


def _backlog() -> dict:
    db = current.service().db
    refuse_after_failed_fsync(db)   # a failed fsync stopped every write: not healthy
    return {"counts": outbox.backlog(db), "oldest_pending_seconds": outbox.oldest_pending_seconds(db)}


@bp.get("/healthz")
def healthz():
    try:
        snapshot = _backlog()
    except Error as error:
        return {"status": "unavailable", "database": f"error: {type(error).__name__}: {error}"}, 503
    counts = snapshot["counts"]
    oldest = snapshot["oldest_pending_seconds"]
    return {
        "status": "ok",
        "database": "ok",
        "outbox": {**counts, "oldest_pending_seconds": round(oldest, 1) if oldest is not None else None},
    }


@bp.get("/metrics")
def prometheus_metrics():
    token = current.service().settings.metrics_token
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not signature.tokens_match(given.strip(), token):
            response = json_error(401, "missing or invalid bearer token (Authorization: Bearer <OPTOUT_METRICS_TOKEN>)")
            response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    try:
        body, content_type = metrics.render(_backlog, current.service().settings.metrics_dir)
    except Error as error:
        return json_error(503, f"database unavailable: {error}")
    return Response(body, content_type=content_type)
