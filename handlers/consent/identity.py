"""Who a user is: a phone number's wa_id (digits, no '+') or a business-scoped user id."""
from __future__ import annotations

import re

import phonenumbers

# Business-scoped user ids (2026 usernames), e.g. "US.13491208655302741918".
_USER_ID = re.compile(r"^[A-Z]{2}\.[0-9A-Za-z]{6,64}$")
_PHONE_PUNCTUATION = re.compile(r"[\s\-().]")


class InvalidIdentity(ValueError):
    pass


def normalize(value: object) -> str:
    """Turn '+593 99-123-4567', '593991234567' or a user id into the stored key.

    Raises InvalidIdentity with a reason a caller can show.
    """
    if not isinstance(value, str) and not isinstance(value, int):
        raise InvalidIdentity("expected a phone number or user id as a string")
    text = str(value).strip()
    if not text:
        raise InvalidIdentity("empty")
    if _USER_ID.match(text):
        return text
    compact = _PHONE_PUNCTUATION.sub("", text)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not compact.startswith("+"):
        compact = "+" + compact
    if not compact[1:].isdigit():
        raise InvalidIdentity(f"not a phone number or user id: {mask(text)}")
    try:
        number = phonenumbers.parse(compact, None)
    except phonenumbers.NumberParseException as error:
        raise InvalidIdentity(f"not a phone number: {mask(text)} ({error})") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidIdentity(f"not a possible phone number: {mask(text)}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]


def mask(value: str | None) -> str:
    """Keep enough of a number to tell numbers apart in a log, not enough to dial it."""
    if not value:
        return "-"
    text = str(value)
    if len(text) <= 6:
        return "*" * len(text)
    return text[:4] + "*" * (len(text) - 6) + text[-2:]
