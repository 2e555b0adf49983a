"""Write verified deliveries to a folder so real traffic can be replayed later.

With anonymisation on, phone numbers and profile names are replaced by fake
ones that are stable within a recording salt: the same user stays the same
fake user across files, so a replay still shows their opt-out then opt-in.
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

USER_KEYS = {"from", "wa_id", "recipient_id", "user_id", "from_user_id", "recipient_user_id"}
_counter_lock = threading.Lock()
_counter = 0


class Anonymizer:
    def __init__(self, salt: str):
        self._salt = salt.encode()
        self._seen: dict[str, str] = {}

    def number(self, value: str) -> str:
        """Same length, same first three digits (the country), the rest derived from an HMAC."""
        if value in self._seen:
            return self._seen[value]
        digest = hmac.new(self._salt, value.encode(), hashlib.sha256).hexdigest()
        if value.isdigit():
            keep = value[:3] if len(value) > 6 else ""
            tail = str(int(digest, 16))[: len(value) - len(keep)].rjust(len(value) - len(keep), "0")
            fake = keep + tail
        else:
            prefix, _, _ = value.partition(".")
            fake = f"{prefix}.{digest[:20]}" if "." in value else digest[:len(value)]
        self._seen[value] = fake
        return fake

    def name(self, value: str) -> str:
        return "User " + hmac.new(self._salt, value.encode(), hashlib.sha256).hexdigest()[:6]

    def payload(self, value):
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if key in USER_KEYS and isinstance(item, str):
                    out[key] = self.number(item)
                elif key == "profile" and isinstance(item, dict):
                    out[key] = {**self.payload(item), **({"name": self.name(item["name"])}
                                                        if isinstance(item.get("name"), str) else {})}
                else:
                    out[key] = self.payload(item)
            return out
        if isinstance(value, list):
            return [self.payload(item) for item in value]
        if isinstance(value, str) and self._seen:
            # Numbers also appear inside text, e.g. a system message's "changed from X to Y".
            return re.sub(r"\+?\d{7,15}", lambda m: self._replace_known(m.group(0)), value)
        return value

    def _replace_known(self, text: str) -> str:
        digits = text.lstrip("+")
        return text.replace(digits, self._seen[digits]) if digits in self._seen else text


def record(directory: str, raw: bytes, payload: dict, anonymizer: Anonymizer | None) -> Path:
    """Store one delivery; returns the file written. Names sort in arrival order."""
    global _counter
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    with _counter_lock:
        _counter += 1
        sequence = _counter
    stamp = clock.now_iso().replace(":", "").replace("-", "").replace(".", "")
    path = folder / f"{stamp}-{os.getpid()}-{sequence:06d}.json"
    if anonymizer is None:
        data = raw
    else:
        _walk_numbers_first(anonymizer, payload)
        data = json.dumps(anonymizer.payload(payload), ensure_ascii=True, indent=1).encode()
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
    return path


def _walk_numbers_first(anonymizer: Anonymizer, value) -> None:
    """Learn every user number of the delivery before rewriting text that mentions them."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in USER_KEYS and isinstance(item, str):
                anonymizer.number(item)
            else:
                _walk_numbers_first(anonymizer, item)
    elif isinstance(value, list):
        for item in value:
            _walk_numbers_first(anonymizer, item)
