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
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    """A non-empty string, or a number written as one; anything else is None."""
    if type(value) is str:  # nearly every value Meta sends: ids, numbers, times, words
        return storable(value) if value and not value.isspace() else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # more digits than Python will print: nobody's id
            return None
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, str) and value.strip():
        return storable(value)
    return None


def storable(text: str) -> str:
    """Text SQLite can store. A lone surrogate (a cut emoji, "\\ud83d": a JSON escape Meta can
    send) cannot be stored or encoded: it becomes its backslash escape, so distinct ids stay
    distinct (the pipeline stores a dead letter's error text the same way)."""
    if text.isascii():
        return text  # no surrogate in it (the usual case, checked without encoding it)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _without_surrogates(value: Any) -> Any:
    """The user's words without lone surrogates: "STOP \\ud83d" is "STOP "."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "".join(ch for ch in value if not "\ud800" <= ch <= "\udfff")
    return value


# WhatsApp began in 2009: a timestamp before that, or past 2^37 s (year 6325), is a bug in
# the sender. Such a time, or one that cannot be read at all, is no time: the item counts
# as happening when it arrives (see pipeline), and its consent signal is never dropped.
EARLIEST_EPOCH = 1_230_768_000   # 2009-01-01
LATEST_EPOCH = 2**37


def _epoch(value: Any) -> int | None:
    """Meta sends message timestamps as strings and preference timestamps as integers."""
    if isinstance(value, str) and len(value) > 40:
        return None  # thousands of digits: not a time (and too long to convert cheaply)
    text = _text(value)
    if text is None:
        return None
    try:
        seconds = int(float(text))
    except (ValueError, OverflowError):
        return None
    return seconds if EARLIEST_EPOCH <= seconds < LATEST_EPOCH else None


# The label of Meta's "Stop promotions" quick-reply button on marketing templates, as it
# reads in the languages we serve (normalised: case and accents folded). Tapping it stops
# marketing only; the other words of the locales stop everything.
STOP_PROMOTIONS_LABELS = frozenset({
    "stop promotions", "detener promociones", "parar promocoes", "arreter les promotions",
    "interrompi promozioni", "hentikan promosi", "promosyonlari durdur", "promoties stoppen",
    "zatrzymaj promocje", "opreste promotiile", "werbung stoppen",
})


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("ı", "i"))
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def is_stop_promotions_label(text: str | None) -> bool:
    return bool(text) and _folded(str(text)) in STOP_PROMOTIONS_LABELS


@dataclass(frozen=True)
class Business:
    """The business number a delivery was addressed to."""
    phone_number_id: str | None
    display_phone_number: str | None


@dataclass(frozen=True)
class Button:
    """A tapped button: a template quick reply (payload + text) or an interactive reply (id + title)."""
    kind: str                     # "template" or "interactive"
    key: str | None               # the payload or id the business set
    title: str | None             # the words on the button


@dataclass(frozen=True)
class Message:
    id: str
    sender: str                   # wa_id, or the business-scoped user id when there is no number
    type: str
    words: tuple[str, ...]        # everything the user typed or tapped, most specific first
    timestamp: int | None
    business: Business
    raw: dict = field(repr=False, compare=False)
    identities: tuple[str, ...] = ()   # every id naming the sender in this delivery (number, user id, parent id)
    button: Button | None = None  # what was tapped, for button and interactive replies

    @property
    def dedupe_key(self) -> str:
        return f"message:{self.id}"

    @property
    def from_button(self) -> bool:
        return self.type in {"button", "interactive"}

    @property
    def stop_promotions(self) -> bool:
        """A tap on Meta's "Stop promotions" quick reply: it stops marketing only."""
        return self.type == "button" and any(is_stop_promotions_label(word) for word in self.words)


@dataclass(frozen=True)
class NumberChange:
    """A `system` message: the user moved to a new number; consent follows them.
    A number change also gives the user a new business-scoped id (Meta, August 2026)."""
    id: str
    old_wa_id: str | None
    new_wa_id: str | None
    timestamp: int | None
    business: Business
    raw: dict = field(repr=False, compare=False)
    new_identities: tuple[str, ...] = ()    # the new number's user id and parent id, when given

    @property
    def dedupe_key(self) -> str:
        return f"message:{self.id}"


@dataclass(frozen=True)
class IdChange:
    """The user's business-scoped id changed: a `system` message `user_changed_user_id`, or
    an item of the `user_id_update` field. The old and new ids are one person; so is the
    number, when one is given."""
    id: str | None                # the system message's id; None for user_id_update (no id)
    previous: tuple[str, ...]     # old user id, old parent id
    current: tuple[str, ...]      # new user id, new parent id
    unchanged: tuple[str, ...]    # ids that stay (the phone number)
    timestamp: int | None
    business: Business
    raw: dict = field(repr=False, compare=False)

    @property
    def dedupe_key(self) -> str | None:
        return f"message:{self.id}" if self.id else None

    @property
    def identities(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.current + self.previous + self.unchanged))


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
    identities: tuple[str, ...] = ()   # recipient_id, recipient_user_id, recipient_parent_user_id

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
    identities: tuple[str, ...] = ()

    @property
    def dedupe_key(self) -> str:
        content = json.dumps(self.raw, sort_keys=True, ensure_ascii=True, default=str)
        return "preference:" + hashlib.sha256(content.encode()).hexdigest()


@dataclass(frozen=True)
class IdentityLink:
    """A contact of a delivery naming one user by a number and a user id, that no other
    item of the delivery is about: they are one person all the same."""
    identities: tuple[str, ...]
    raw: dict = field(repr=False, compare=False)


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


Item = Message | NumberChange | IdChange | Status | PreferenceChange | IdentityLink | Malformed


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
        reports.append(ErrorReport(level, _code(error.get("code")), title[:200] if title else None))
    return reports


_ITEM_LISTS = ("messages", "statuses", "user_preferences")


def _parse_change(change: Any, errors: list[ErrorReport]) -> list[Item]:
    if not isinstance(change, dict):
        return [Malformed("change", "change is not an object", change)]
    if "value" in change and not isinstance(change["value"], dict):
        return [Malformed("change", "the change's value is not an object", change)]
    value = _dict(change.get("value"))
    shapeless = [Malformed(name, f"'{name}' is not a list", value[name]) for name in _ITEM_LISTS
                 if value.get(name) is not None and not isinstance(value[name], list)]
    errors.extend(_error_reports("account", value.get("errors")))
    for raw in _list(value.get("messages")):
        if isinstance(raw, dict):
            errors.extend(_error_reports("message", raw.get("errors")))
    metadata = _dict(value.get("metadata"))
    business = Business(_text(metadata.get("phone_number_id")), _text(metadata.get("display_phone_number")))
    items: list[Item] = list(shapeless)   # kept in dead_letters: a person can read what was sent
    contacts = _contacts(value.get("contacts"))
    for raw in _list(value.get("messages")):
        items.append(_guard("message", raw, lambda r: _parse_message(r, business, contacts)))
    for raw in _list(value.get("statuses")):
        items.append(_guard("status", raw, lambda r: _parse_status(r, business, contacts)))
    for raw in _list(value.get("user_preferences")):
        items.append(_guard("user_preference", raw, lambda r: _parse_preference(r, business, contacts)))
    updates = value.get("user_id_update")
    if updates is None and change.get("field") == "user_id_update" and "user_id" in value:
        updates = [value]  # the change's value is the update itself
    for raw in _list(updates):
        items.append(_guard("user_id_update", raw, lambda r: _parse_id_update(r, business)))
    named = {wa_id for item in items for wa_id in getattr(item, "identities", ())}
    for contact in contacts:
        if len(contact.ids) > 1 and not named.intersection(contact.ids):
            items.append(IdentityLink(contact.ids, contact.raw))
    return items


def _guard(kind: str, raw: Any, parse) -> Item:
    if not isinstance(raw, dict):
        return Malformed(kind, f"{kind} is not an object", raw)
    try:
        return parse(raw)
    except Exception as error:  # a parser bug must not cost the rest of the delivery
        return Malformed(kind, f"could not parse: {type(error).__name__}: {error}", raw)


@dataclass(frozen=True)
class _Contact:
    """One entry of a change's `contacts`: the ids it gives one user."""
    wa_id: str | None
    ids: tuple[str, ...]
    raw: dict


def _contacts(raw: Any) -> list[_Contact]:
    found = []
    for contact in _list(raw):
        contact = _dict(contact)
        wa_id = _text(contact.get("wa_id"))
        ids = _ids(wa_id, _text(contact.get("user_id")), _text(contact.get("parent_user_id")))
        if ids:
            found.append(_Contact(wa_id, ids, contact))
    return found


def _ids(*values: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(value for value in values if value))


def _with_contacts(own: tuple[str, ...], contacts: list[_Contact]) -> tuple[tuple[str, ...], str | None]:
    """Every id the item's own ids and the contacts sharing one of them give its user, and
    the phone number among them (from a contact, when the item carries none)."""
    ids, phone = list(own), None
    for contact in contacts:
        if set(contact.ids) & set(own):
            ids.extend(contact.ids)
            phone = phone or contact.wa_id
    return tuple(dict.fromkeys(ids)), phone


def _parse_message(raw: dict, business: Business, contacts: list[_Contact]) -> Item:
    message_id = _text(raw.get("id"))
    kind = _text(raw.get("type")) or "unknown"
    phone = _text(raw.get("from"))
    user_id = _text(raw.get("from_user_id")) or _text(raw.get("user_id"))
    parent_id = _text(raw.get("from_parent_user_id")) or _text(raw.get("parent_user_id"))
    identities, contact_phone = _with_contacts(_ids(phone, user_id, parent_id), contacts)
    sender = phone or contact_phone or user_id or parent_id
    timestamp = _epoch(raw.get("timestamp"))
    if message_id is None:
        return Malformed("message", "message has no id", raw)
    if kind == "system":
        system = _dict(raw.get("system"))
        system_type = _text(system.get("type"))
        if system_type in {"user_changed_number", "customer_changed_number"}:
            new = _text(system.get("wa_id")) or _text(system.get("new_wa_id"))
            new_ids = _ids(new, _text(system.get("user_id")), _text(system.get("parent_user_id")))
            return NumberChange(message_id, phone or sender, new, timestamp, business, raw, new_ids)
        if system_type == "user_changed_user_id":
            return _user_id_change(message_id, raw, system, phone, user_id, parent_id, timestamp, business)
    if sender is None:
        return Malformed("message", "message has no sender (from / from_user_id)", raw)
    return Message(message_id, sender, kind, tuple(_words(raw, kind)), timestamp, business, raw, identities,
                   _button(raw, kind))


_CHANGED_FROM_TO = re.compile(r"changed from\s+(\S+)\s+to\s+(\S+)", re.IGNORECASE)


def _user_id_change(message_id: str, raw: dict, system: dict, phone: str | None, user_id: str | None,
                    parent_id: str | None, timestamp: int | None, business: Business) -> Item:
    """`system.user_id` is the new id; the old one is `system.previous_user_id`, the
    message's own `from_user_id`, or only in the body ("… changed from US.1 to US.2")."""
    current = _ids(_text(system.get("user_id")) or _text(system.get("new_user_id")),
                   _text(system.get("parent_user_id")))
    in_body = _CHANGED_FROM_TO.search(_text(system.get("body")) or "")
    previous = _ids(_text(system.get("previous_user_id")), _text(system.get("previous_parent_user_id")),
                    user_id, parent_id, in_body.group(1).rstrip(".,;") if in_body else None)
    previous = tuple(wa_id for wa_id in previous if wa_id not in current and wa_id != phone)
    if not current or not previous:
        return Malformed("message", "user id change without the old and the new id", raw)
    return IdChange(message_id, previous, current, _ids(phone), timestamp, business, raw)


def _parse_id_update(raw: dict, business: Business) -> Item:
    """A `user_id_update` item: {user_id: {previous, current}, parent_user_id: {...}, wa_id?, timestamp}."""
    previous, current = [], []
    for name in ("user_id", "parent_user_id"):
        value = raw.get(name)
        if isinstance(value, dict):
            previous.append(_text(value.get("previous")))
            current.append(_text(value.get("current")))
        else:
            previous.append(_text(raw.get(f"previous_{name}")))
            current.append(_text(value))
    now, before = _ids(*current), _ids(*previous)
    before = tuple(wa_id for wa_id in before if wa_id not in now)
    if not now or not before:
        return Malformed("user_id_update", "user id update without the old and the new id", raw)
    return IdChange(None, before, now, _ids(_text(raw.get("wa_id"))), _epoch(raw.get("timestamp")), business, raw)


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
    elif kind == "order":
        candidates = [body.get("text")]   # the note a customer writes with a cart
    words = []
    for candidate in candidates:
        text = _text(_without_surrogates(candidate))
        if text and text not in words:
            words.append(text)
    return words


def _button(raw: dict, kind: str) -> Button | None:
    body = _dict(raw.get(kind))
    if kind == "button":
        return Button("template", _text(body.get("payload")), _text(body.get("text")))
    if kind == "interactive":
        for reply_kind in ("button_reply", "list_reply"):
            reply = _dict(body.get(reply_kind))
            if reply:
                return Button("interactive", _text(reply.get("id")), _text(reply.get("title")))
    return None


def _flow_answers(response_json: Any) -> list[Any]:
    """A flow reply's answers arrive as a JSON string; its string values are the user's words."""
    if not isinstance(response_json, str):
        return []
    try:
        answers = json.loads(response_json)
    except ValueError:
        return []
    return [value for value in _dict(answers).values() if isinstance(value, str)][:20]


def _code(value: Any) -> int | None:
    text = _text(value)
    return int(text) if text and text.isdigit() and len(text) < 10 else None


def _parse_status(raw: dict, business: Business, contacts: list[_Contact]) -> Item:
    status_id, status = _text(raw.get("id")), _text(raw.get("status"))
    if status_id is None or status is None:
        return Malformed("status", "status has no id or no status", raw)
    codes = []
    for error in _list(raw.get("errors")):
        code = _code(_dict(error).get("code"))
        if code is not None:
            codes.append(code)
    phone = _text(raw.get("recipient_id"))
    own = _ids(phone, _text(raw.get("recipient_user_id")), _text(raw.get("recipient_parent_user_id")))
    identities, contact_phone = _with_contacts(own, contacts)
    recipient = phone or contact_phone or (own[0] if own else None)
    return Status(
        status_id, status.lower(), recipient, tuple(codes), _epoch(raw.get("timestamp")),
        _text(raw.get("biz_opaque_callback_data")), business, raw, identities,
    )


def _parse_preference(raw: dict, business: Business, contacts: list[_Contact]) -> Item:
    phone = _text(raw.get("wa_id"))
    own = _ids(phone, _text(raw.get("user_id")), _text(raw.get("parent_user_id")))
    identities, contact_phone = _with_contacts(own, contacts)
    wa_id = phone or contact_phone or (own[0] if own else None)
    category, value = _text(raw.get("category")), _text(raw.get("value"))
    if wa_id is None or category is None or value is None:
        return Malformed("user_preference", "preference needs wa_id, category and value", raw)
    return PreferenceChange(wa_id, category.lower(), value.lower(), _epoch(raw.get("timestamp")), business, raw,
                            identities)
