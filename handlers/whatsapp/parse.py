"""Parse a delivery once into small typed values.

Meta's payloads are trusted only after the signature check, and even then
their shape is not: every accessor here tolerates a missing key or a wrong
type, and anything that cannot be understood becomes a `Malformed` value
(kept, with its raw JSON) instead of an exception. One odd item never costs
the other items of the same delivery.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    """A non-empty string, or a number written as one; anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def _epoch(value: Any) -> int | None:
    """Meta sends message timestamps as strings and preference timestamps as integers."""
    text = _text(value)
    if text is None:
        return None
    try:
        seconds = int(float(text))
    except (ValueError, OverflowError):
        return None
    return seconds if 0 <= seconds < 2**37 else None


@dataclass(frozen=True)
class Business:
    """The business number a delivery was addressed to."""
    phone_number_id: str | None
    display_phone_number: str | None


@dataclass(frozen=True)
class Message:
    id: str
    sender: str                   # wa_id, or the business-scoped user id when there is no number
    type: str
    words: tuple[str, ...]        # everything the user typed or tapped, most specific first
    timestamp: int | None
    business: Business
    raw: dict = field(repr=False, compare=False)

    @property
    def dedupe_key(self) -> str:
        return f"message:{self.id}"

    @property
    def from_button(self) -> bool:
        return self.type in {"button", "interactive"}


@dataclass(frozen=True)
class NumberChange:
    """A `system` message: the user moved to a new number; consent follows them."""
    id: str
    old_wa_id: str | None
    new_wa_id: str | None
    timestamp: int | None
    business: Business
    raw: dict = field(repr=False, compare=False)

    @property
    def dedupe_key(self) -> str:
        return f"message:{self.id}"


@dataclass(frozen=True)
class Status:
    id: str
    status: str
    recipient: str | None
    error_codes: tuple[int, ...]
    timestamp: int | None
    callback_data: str | None     # biz_opaque_callback_data we set when sending
    business: Business
    raw: dict = field(repr=False, compare=False)

    @property
    def dedupe_key(self) -> str:
        return f"status:{self.id}:{self.status}"


@dataclass(frozen=True)
class PreferenceChange:
    """Meta's own opt-out signal (`user_preferences`): category + stop/resume. Has no id."""
    wa_id: str
    category: str
    value: str
    timestamp: int | None
    business: Business
    raw: dict = field(repr=False, compare=False)

    @property
    def dedupe_key(self) -> str:
        content = json.dumps(self.raw, sort_keys=True, ensure_ascii=True, default=str)
        return "preference:" + hashlib.sha256(content.encode()).hexdigest()


@dataclass(frozen=True)
class Malformed:
    """Something in the delivery we could not understand; stored, never raised."""
    kind: str
    reason: str
    raw: Any = field(repr=False, compare=False)


@dataclass(frozen=True)
class ErrorReport:
    """An `errors` entry Meta sent: account-level (beside the messages and statuses of a
    change, e.g. 130429 throughput) or on a message (e.g. 131051 on `unsupported`).
    Nothing to store; the webhook logs and counts it."""
    level: str                    # "account" or "message"
    code: int | None
    title: str | None


Item = Message | NumberChange | Status | PreferenceChange | Malformed


@dataclass(frozen=True)
class Delivery:
    items: tuple[Item, ...]
    errors: tuple[ErrorReport, ...] = ()

    def of_type(self, kind: type) -> list:
        return [item for item in self.items if isinstance(item, kind)]


def parse_delivery(payload: Any) -> Delivery:
    items: list[Item] = []
    errors: list[ErrorReport] = []
    if not isinstance(payload, dict):
        return Delivery((Malformed("delivery", "top level is not a JSON object", payload),))
    entries = payload.get("entry")
    if not isinstance(entries, list):
        if entries is not None:
            items.append(Malformed("delivery", "'entry' is not a list", entries))
        return Delivery(tuple(items))
    for entry in entries:
        if not isinstance(entry, dict):
            items.append(Malformed("entry", "entry is not an object", entry))
            continue
        for change in _list(entry.get("changes")):
            items.extend(_parse_change(change, errors))
    return Delivery(tuple(items), tuple(errors))


def _error_reports(level: str, raw: Any) -> list[ErrorReport]:
    reports = []
    for error in _list(raw)[:100]:
        error = _dict(error)
        title = _text(error.get("title")) or _text(error.get("message"))
        reports.append(ErrorReport(level, _epoch(error.get("code")), title[:200] if title else None))
    return reports


def _parse_change(change: Any, errors: list[ErrorReport]) -> list[Item]:
    if not isinstance(change, dict):
        return [Malformed("change", "change is not an object", change)]
    value = _dict(change.get("value"))
    errors.extend(_error_reports("account", value.get("errors")))
    for raw in _list(value.get("messages")):
        if isinstance(raw, dict):
            errors.extend(_error_reports("message", raw.get("errors")))
    metadata = _dict(value.get("metadata"))
    business = Business(_text(metadata.get("phone_number_id")), _text(metadata.get("display_phone_number")))
    items: list[Item] = []
    contacts = _contacts_by_user_id(value.get("contacts"))
    for raw in _list(value.get("messages")):
        items.append(_guard("message", raw, lambda r: _parse_message(r, business, contacts)))
    for raw in _list(value.get("statuses")):
        items.append(_guard("status", raw, lambda r: _parse_status(r, business)))
    for raw in _list(value.get("user_preferences")):
        items.append(_guard("user_preference", raw, lambda r: _parse_preference(r, business)))
    return items


def _guard(kind: str, raw: Any, parse) -> Item:
    if not isinstance(raw, dict):
        return Malformed(kind, f"{kind} is not an object", raw)
    try:
        return parse(raw)
    except Exception as error:  # a parser bug must not cost the rest of the delivery
        return Malformed(kind, f"could not parse: {type(error).__name__}: {error}", raw)


def _contacts_by_user_id(raw: Any) -> dict[str, str]:
    """Map a business-scoped user id to the phone wa_id when a contact carries both."""
    mapping = {}
    for contact in _list(raw):
        contact = _dict(contact)
        user_id, wa_id = _text(contact.get("user_id")), _text(contact.get("wa_id"))
        if user_id and wa_id:
            mapping[user_id] = wa_id
    return mapping


def _parse_message(raw: dict, business: Business, contacts: dict[str, str]) -> Item:
    message_id = _text(raw.get("id"))
    kind = _text(raw.get("type")) or "unknown"
    user_id = _text(raw.get("from_user_id")) or _text(raw.get("user_id"))
    sender = _text(raw.get("from")) or (contacts.get(user_id) if user_id else None) or user_id
    timestamp = _epoch(raw.get("timestamp"))
    if message_id is None:
        return Malformed("message", "message has no id", raw)
    if kind == "system":
        system = _dict(raw.get("system"))
        if _text(system.get("type")) in {"user_changed_number", "customer_changed_number"}:
            new = _text(system.get("wa_id")) or _text(system.get("new_wa_id"))
            return NumberChange(message_id, sender, new, timestamp, business, raw)
    if sender is None:
        return Malformed("message", "message has no sender (from / from_user_id)", raw)
    return Message(message_id, sender, kind, tuple(_words(raw, kind)), timestamp, business, raw)


def _words(raw: dict, kind: str) -> list[str]:
    """The user's own words, wherever this message type keeps them."""
    body = _dict(raw.get(kind))
    candidates: list[Any] = []
    if kind == "text":
        candidates = [body.get("body")]
    elif kind == "button":
        candidates = [body.get("payload"), body.get("text")]
    elif kind == "interactive":
        for reply_kind in ("button_reply", "list_reply"):
            reply = _dict(body.get(reply_kind))
            candidates += [reply.get("id"), reply.get("title"), reply.get("description")]
        nfm = _dict(body.get("nfm_reply"))
        candidates += [nfm.get("body")] + _flow_answers(nfm.get("response_json"))
    elif kind in {"image", "video", "document", "audio", "sticker"}:
        candidates = [body.get("caption")]
    words = []
    for candidate in candidates:
        text = _text(candidate)
        if text and text not in words:
            words.append(text)
    return words


def _flow_answers(response_json: Any) -> list[Any]:
    """A flow reply's answers arrive as a JSON string; its string values are the user's words."""
    if not isinstance(response_json, str):
        return []
    try:
        answers = json.loads(response_json)
    except ValueError:
        return []
    return [value for value in _dict(answers).values() if isinstance(value, str)][:20]


def _parse_status(raw: dict, business: Business) -> Item:
    status_id, status = _text(raw.get("id")), _text(raw.get("status"))
    if status_id is None or status is None:
        return Malformed("status", "status has no id or no status", raw)
    codes = []
    for error in _list(raw.get("errors")):
        code = _epoch(_dict(error).get("code"))
        if code is not None:
            codes.append(code)
    recipient = _text(raw.get("recipient_id")) or _text(raw.get("recipient_user_id"))
    return Status(
        status_id, status.lower(), recipient, tuple(codes), _epoch(raw.get("timestamp")),
        _text(raw.get("biz_opaque_callback_data")), business, raw,
    )


def _parse_preference(raw: dict, business: Business) -> Item:
    wa_id = _text(raw.get("wa_id")) or _text(raw.get("user_id"))
    category, value = _text(raw.get("category")), _text(raw.get("value"))
    if wa_id is None or category is None or value is None:
        return Malformed("user_preference", "preference needs wa_id, category and value", raw)
    return PreferenceChange(wa_id, category.lower(), value.lower(), _epoch(raw.get("timestamp")), business, raw)
