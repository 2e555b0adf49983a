"""Replay deliveries: find payload files, build one from a sentence, summarise outcomes.

Flask-free; `handlers.cli/replay.py` is the command line around it.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from handlers.consent.identity import InvalidIdentity, read
from handlers.consent.numbers import Kind

SAMPLE_BUSINESS = {"display_phone_number": "15550001111", "phone_number_id": "106540352242922"}


class ReplayError(ValueError):
    pass


def payload_files(paths: list[str]) -> list[Path]:
    """Files as given, folders expanded to their *.json files (sorted, so runs repeat)."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.json") if p.name != "expected.json"))
        elif path.is_file():
            files.append(path)
        else:
            raise ReplayError(f"no such file or folder: {name}")
    return files


def text_delivery(text: str, sender: str, name: str = "Replay User") -> dict:
    """A realistic single-text delivery, as Meta would send it now, from `sender` as
    written (digits of any form, e.g. +5215512345678 as WhatsApp reports a Mexican mobile,
    or a user id for a username user). Raises ReplayError for anything else."""
    try:
        found = read(sender)
    except InvalidIdentity as error:
        raise ReplayError(f"--from: {error}") from None
    if found.kind is Kind.OTHER:
        raise ReplayError(f"--from: not a phone number or WhatsApp user id: {sender!r}")
    now = int(time.time())
    message_id = f"wamid.REPLAY{now}{uuid.uuid4().hex[:12].upper()}"
    key = "from" if found.kind is Kind.PHONE else "from_user_id"
    contact = {"wa_id" if found.kind is Kind.PHONE else "user_id": found.written}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": dict(SAMPLE_BUSINESS),
            "contacts": [{"profile": {"name": name}, **contact}],
            "messages": [{key: found.written, "id": message_id, "timestamp": str(now),
                          "type": "text", "text": {"body": text}}],
        }}]}],
    }


def restamp(payload: object, now: int | None = None) -> object:
    """Move every timestamp to now, as if the delivery arrived today (keeps types)."""
    now = now or int(time.time())
    if isinstance(payload, dict):
        out: dict[str, object] = {}
        for key, value in payload.items():
            if key == "timestamp" and isinstance(value, str) and value.isdigit():
                out[key] = str(now)
            elif key == "timestamp" and isinstance(value, int) and not isinstance(value, bool):
                out[key] = now
            else:
                out[key] = restamp(value, now)
        return out
    if isinstance(payload, list):
        return [restamp(item, now) for item in payload]
    return payload


def encode(payload: object) -> bytes:
    """Meta's bytes: compact JSON with non-ASCII escaped."""
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()


@dataclass
class Row:
    """One delivery's line in the replay table."""
    name: str
    status: int
    messages: list[str] = field(default_factory=list)   # "opt_out/es", "none", "dup"
    changes: list[str] = field(default_factory=list)    # "5939****67 opt_out (keyword)"
    unchanged: list[str] = field(default_factory=list)  # "5215****78 no change: already suppressed (all)"
    replies: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


def summarise(name: str, status: int, answer: object, mask) -> Row:
    row = Row(name, status)
    if status != 200:
        row.error = answer.get("error") if isinstance(answer, dict) else str(answer)[:200]
        return row
    for outcome in answer.get("outcomes", []) if isinstance(answer, dict) else []:
        if outcome.get("duplicate"):
            row.messages.append(f"{outcome['kind']}: duplicate")
        elif outcome.get("error"):
            row.messages.append(f"{outcome['kind']}: kept in dead_letters ({outcome['error'][:60]})")
        elif outcome["kind"] == "message":
            intent = outcome.get("intent") or "none"
            row.messages.append(intent + (f"/{outcome['language']}" if outcome.get("language") else ""))
        else:
            row.messages.append(outcome["kind"])
        if outcome.get("consent"):
            row.changes.append(f"{mask(outcome.get('wa_id'))} {outcome['consent']} ({outcome.get('source')})")
        elif outcome.get("state") and not outcome.get("duplicate"):
            row.unchanged.append(f"{mask(outcome.get('wa_id'))} no change: already {outcome['state']}")
        if outcome.get("reply") == "queued":
            row.replies += 1
    return row
