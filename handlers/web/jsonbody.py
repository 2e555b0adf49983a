"""JSON request bodies of the API: parsed once, depth-bounded, and a 400 with the reason
when they cannot be read (never a RecursionError's 500)."""
from __future__ import annotations

import json

from flask import request
from werkzeug.exceptions import BadRequest

# The API's bodies are a list of numbers or a flat object; nothing legitimate nests deeper.
MAX_DEPTH = 32


def read_json(empty: object = None) -> object:
    """The request body as JSON, whatever its Content-Type; `empty` for an empty body.

    Refused with 400 (BadRequest, answered as JSON by handlers.web.errors): not JSON,
    not UTF-8, or nested more than MAX_DEPTH levels (a body deep enough to exhaust
    the parser's recursion limit is refused the same way)."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if empty is not None:
            return empty
        raise BadRequest("the request body is empty: send JSON")
    try:
        value = json.loads(raw)
    except RecursionError:
        raise BadRequest(f"the body is nested more than {MAX_DEPTH} levels deep") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(f"the body is not valid JSON: {error}") from None
    if too_deep(raw, value):
        raise BadRequest(f"the body is nested more than {MAX_DEPTH} levels deep")
    return value


def too_deep(raw: bytes, value: object, limit: int = MAX_DEPTH) -> bool:
    """Iteratively, so the check itself cannot exhaust the recursion limit."""
    if raw.count(b"{") + raw.count(b"[") <= limit:
        return False  # each level opens a bracket: a body with few brackets cannot be deep
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values() if isinstance(child, (dict, list)))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))
    return False
