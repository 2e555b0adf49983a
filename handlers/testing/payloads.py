"""Builders for deliveries shaped as Meta sends them (see samples/ for whole files)."""
from __future__ import annotations

import itertools
import json
import time

from handlers.whatsapp import signature

BUSINESS = {"display_phone_number": "15550001111", "phone_number_id": "106540352242922"}
_ids = itertools.count(1)


def wamid() -> str:
    return f"wamid.TEST{next(_ids):08d}{int(time.time() * 1000) % 100000}"


def message(kind: str, content: dict, wa_id: str = "593991234567", id: str | None = None,
            timestamp: int | None = None, **extra) -> dict:
    return {"from": wa_id, "id": id or wamid(), "timestamp": str(timestamp or int(time.time())),
            "type": kind, kind: content, **extra}


def text(body: str, **kwargs) -> dict:
    return message("text", {"body": body}, **kwargs)


def status(id: str, state: str, recipient: str = "593991234567", errors: list | None = None,
           callback: str | None = None) -> dict:
    item: dict[str, object] = {"id": id, "status": state, "timestamp": str(int(time.time())), "recipient_id": recipient}
    if errors:
        item["errors"] = errors
    if callback:
        item["biz_opaque_callback_data"] = callback
    return item


def preference(wa_id: str, value: str, category: str = "marketing_messages", timestamp: int | None = None) -> dict:
    return {"wa_id": wa_id, "detail": f"User requested to {value} marketing messages",
            "category": category, "value": value, "timestamp": timestamp or int(time.time())}


def change(messages=(), statuses=(), preferences=None, contacts=None) -> dict:
    value = {"messaging_product": "whatsapp", "metadata": dict(BUSINESS)}
    if preferences is not None:
        value["user_preferences"] = list(preferences)
        return {"field": "user_preferences", "value": value}
    if messages:
        value["contacts"] = contacts or [
            {"profile": {"name": "Test"}, "wa_id": m.get("from")} for m in messages if m.get("from")
        ]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {"field": "messages", "value": value}


def delivery(*changes: dict, entries: int = 1) -> dict:
    """One delivery; `changes` are split round-robin over `entries` entries."""
    buckets: list[list[dict]] = [[] for _ in range(entries)]
    for index, item in enumerate(changes):
        buckets[index % entries].append(item)
    return {"object": "whatsapp_business_account",
            "entry": [{"id": f"10{n}", "changes": bucket} for n, bucket in enumerate(buckets)]}


def of_messages(*messages: dict) -> dict:
    return delivery(change(messages=messages))


def encode(payload: dict) -> bytes:
    """Meta's bytes: compact, non-ASCII escaped as \\uXXXX."""
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()


def signed_headers(body: bytes, secret: str) -> dict:
    return {"X-Hub-Signature-256": signature.sign(body, secret), "Content-Type": "application/json"}
