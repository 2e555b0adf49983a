"""Write verified deliveries to a folder so real traffic can be replayed later.

With anonymisation on, everything that names or reaches a person is replaced by a
fake that is stable within a recording salt: numbers and user ids (in every field
and inside text), profile names and usernames, shared contact cards, names in
system messages, e-mail addresses and shared locations. The same user stays the
same fake user across files, so a replay still shows their opt-out then opt-in.
Files are written 0600 in a folder created 0700.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import threading
from pathlib import Path

from handlers.storage import clock

# Keys whose string value is a user's number or id; and the dicts that pair an old and a
# new id (`user_id_update`: {"previous": ..., "current": ...}).
USER_KEYS = {"from", "wa_id", "recipient_id", "user_id", "from_user_id", "recipient_user_id", "new_wa_id",
             "customer", "parent_user_id", "recipient_parent_user_id"}
ID_PAIR_KEYS = {"user_id", "parent_user_id"}
# Meta's own values: ids, times, the business's number, codes. Never rewritten (a message
# id is base64 and may hold a run of digits; replay and dedupe need it as it is).
STRUCTURAL_KEYS = {"id", "timestamp", "phone_number_id", "display_phone_number", "object", "field",
                   "messaging_product", "type", "status", "code", "mime_type", "sha256", "category", "value",
                   "expiration_timestamp", "biz_opaque_callback_data", "created_timestamp", "hash"}
# A phone number written inside text: 7-15 digits, perhaps with a + and single separators.
_PHONE_IN_TEXT = re.compile(r"(?<![\w+])\+?\d(?:[ \-().]?\d){6,14}(?!\w)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_SYSTEM_ID = re.compile(r"^\+?\d{7,15}$|^[A-Z]{2}(?:\.[A-Z]{3})?\.[0-9A-Za-z]{6,128}$")
# The words of Meta's system message bodies ("User X changed from A to B"); any other
# word there is taken for a name.
_SYSTEM_WORDS = {"user", "changed", "from", "to", "their", "phone", "number", "a", "new", "the", "id", "has",
                 "is", "now", "username", "business", "account", "and", "of"}
_counter_lock = threading.Lock()
_counter = 0


class Anonymizer:
    """Stable fakes for everything in a delivery that names or reaches a person: numbers and
    user ids (wherever they appear, text included), profile names and usernames, contact
    cards, names in system messages, e-mail addresses and shared locations."""

    def __init__(self, salt: str):
        self._salt = salt.encode()
        self._seen: dict[str, str] = {}

    def _digest(self, kind: str, value: str) -> str:
        return hmac.new(self._salt, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()

    def number(self, value: str) -> str:
        """Same length, same first three digits (the country), the rest derived from an HMAC.
        A user id keeps its prefix ("US.", "US.ENT.")."""
        if value in self._seen:
            return self._seen[value]
        digest = hmac.new(self._salt, value.encode(), hashlib.sha256).hexdigest()
        if value.isdigit():
            keep = value[:3] if len(value) > 6 else ""
            tail = str(int(digest, 16))[: len(value) - len(keep)].rjust(len(value) - len(keep), "0")
            fake = keep + tail
        else:
            prefix, dot, _ = value.rpartition(".")
            fake = f"{prefix}.{digest[:20]}" if dot else digest[:len(value)]
        self._seen[value] = fake
        return fake

    def name(self, value: str) -> str:
        return "User " + hmac.new(self._salt, value.encode(), hashlib.sha256).hexdigest()[:6]

    def username(self, value: str) -> str:
        return "user_" + self._digest("username", value)[:10]

    def text(self, value: str) -> str:
        """Phone numbers (formatting kept, digits faked as `number` fakes them) and e-mail
        addresses replaced inside free text."""
        value = _EMAIL.sub(lambda m: f"user-{self._digest('email', m.group(0))[:8]}@example.invalid", value)
        return _PHONE_IN_TEXT.sub(lambda m: self._fake_formatted(m.group(0)), value)

    def _fake_formatted(self, written: str) -> str:
        fake = iter(self.number("".join(c for c in written if c.isdigit())))
        return "".join(next(fake) if c.isdigit() else c for c in written)

    def system_body(self, body: str) -> str:
        """Meta's sentence with its ids faked and every other word taken for a name."""
        out: list[str] = []
        name: list[str] = []
        for word in body.split():
            bare = word.strip(".,;:!?")
            if _SYSTEM_ID.match(bare) or bare.lower() in _SYSTEM_WORDS or not bare:
                if name:
                    out.append("Person " + self._digest("name", " ".join(name))[:6])
                    name = []
                fake = self._fake_formatted(bare) if bare.lstrip("+").isdigit() else (
                    self.number(bare) if _SYSTEM_ID.match(bare) else bare)
                out.append(word.replace(bare, fake) if bare else word)
            else:
                name.append(bare)
        if name:
            out.append("Person " + self._digest("name", " ".join(name))[:6])
        return " ".join(out)

    def contact_card(self, card: dict) -> dict:
        """A shared contact (a `contacts` message): every name, number, address and link faked."""
        label = self._digest("card", json.dumps(card, sort_keys=True, ensure_ascii=True))[:6]
        out: dict = {}
        for key, item in card.items():
            if key == "name" and isinstance(item, dict):
                out[key] = {part: f"Contact {label}" if part == "formatted_name" else f"{part.split('_')[0]}-{label}"
                            for part in item}
            elif key == "phones" and isinstance(item, list):
                out[key] = [{k: (self.number(v) if k == "wa_id" else self.text(v) if k == "phone" else v)
                             if isinstance(v, str) else v for k, v in phone.items()} if isinstance(phone, dict) else phone
                            for phone in item]
            elif key == "birthday":
                out[key] = "2000-01-01"
            else:
                out[key] = self._redact(item, label)
        return out

    def _redact(self, value, label: str):
        """Every string inside (but `type` labels such as HOME or WORK) made a fake one."""
        if isinstance(value, dict):
            return {k: v if k == "type" else self._redact(v, label) for k, v in value.items()}
        if isinstance(value, list):
            return [self._redact(item, label) for item in value]
        if isinstance(value, str):
            if "@" in value:
                return f"contact-{label}@example.invalid"
            if value.startswith(("http://", "https://")):
                return "https://example.invalid/"
            return f"redacted-{label}"
        return value

    def location(self, place: dict) -> dict:
        """A shared location keeps its shape, not its place."""
        out: dict = {}
        for key, item in place.items():
            if key in ("latitude", "longitude"):
                out[key] = 0.0
            elif isinstance(item, str):
                out[key] = "https://example.invalid/" if key == "url" else f"Place {self._digest('place', item)[:6]}"
            else:
                out[key] = item
        return out

    def payload(self, value, key: str | None = None):
        if isinstance(value, dict):
            if isinstance(value.get("name"), dict) or "phones" in value:
                return self.contact_card(value)
            out: dict = {}
            for child_key, item in value.items():
                if child_key in USER_KEYS and isinstance(item, str):
                    out[child_key] = self.number(item)
                elif child_key in ID_PAIR_KEYS and isinstance(item, dict):
                    out[child_key] = {k: self.number(v) if isinstance(v, str) else self.payload(v, k)
                                      for k, v in item.items()}
                elif child_key == "profile" and isinstance(item, dict):
                    out[child_key] = {k: self.name(v) if k == "name" and isinstance(v, str) else
                                      self.username(v) if k == "username" and isinstance(v, str) else
                                      self.payload(v, k) for k, v in item.items()}
                elif child_key == "system" and isinstance(item, dict):
                    out[child_key] = {k: self.system_body(v) if k == "body" and isinstance(v, str) else
                                      self.payload({k: v})[k] for k, v in item.items()}
                elif child_key == "location" and isinstance(item, dict):
                    out[child_key] = self.location(item)
                else:
                    out[child_key] = self.payload(item, child_key)
            return out
        if isinstance(value, list):
            return [self.payload(item, key) for item in value]
        if isinstance(value, str) and key not in STRUCTURAL_KEYS:
            return self.text(value)
        return value


def record(directory: str, raw: bytes, payload: dict, anonymizer: Anonymizer | None) -> Path:
    """Store one delivery; returns the file written. Names sort in arrival order."""
    global _counter
    folder = Path(directory)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _counter_lock:
        _counter += 1
        sequence = _counter
    stamp = clock.now_iso().replace(":", "").replace("-", "").replace(".", "")
    path = folder / f"{stamp}-{os.getpid()}-{sequence:06d}.json"
    if anonymizer is None:
        data = raw
    else:
        data = json.dumps(anonymizer.payload(payload), ensure_ascii=True, indent=1).encode()
    temporary = path.with_suffix(".tmp")
    # Readable by the service's user only: even anonymised, a recording is what users wrote.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.replace(temporary, path)
    return path

