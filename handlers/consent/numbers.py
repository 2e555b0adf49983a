"""Which written forms of a WhatsApp identity are one person: the canonical key.

One pure function, `readings()`, turns anything a delivery, a campaign system, a
staff member or an import file calls a user into

- `written`: the key as given, reduced (digits only for a number: `+`, `00`, spaces and
  punctuation gone; the id for a business-scoped user id; the trimmed text otherwise),
- `canonical`: the key of the person it denotes, after the country rules in `RULES`,
- `alternatives`: other canonical keys it might denote, where a form is ambiguous
  (`8 4912 34-56-78` is a Russian landline written with 8 for 7, or a Vietnamese mobile).
  Consent answers *suppressed* if any of them is.

Nothing here refuses a key: a form no rule understands is its own canonical key, so
whatever WhatsApp sent can be stored, looked up and shown exactly as it came. The
phone-number library only helps (country codes, the Argentine "15" form, validity where
two readings compete, display); its "impossible number" never decides anything.

No database, no Flask: `identity.py` stores what this computes, `ledger.py` answers with it.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers


class Kind(StrEnum):
    PHONE = "phone"        # digits: a WhatsApp wa_id or a number as people write it
    USER_ID = "user_id"    # a business-scoped user id, e.g. US.13491208655302741918 or US.ENT.118…
    OTHER = "other"        # anything else: a key only if a delivery stored it


class Unreadable(ValueError):
    """Not a string or a number, or nothing left once spaces are gone."""


@dataclass(frozen=True)
class Readings:
    written: str
    kind: Kind
    canonical: str
    alternatives: tuple[str, ...] = ()
    rule: str | None = None           # the name (in RULES) of the rule that changed it

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.canonical, *self.alternatives)


# A business-scoped user id: country, dot, [ENT. for a parent id,] up to 128 letters and digits.
USER_ID = re.compile(r"^([A-Za-z]{2})\.(?:(ENT)\.)?([0-9A-Za-z]{1,128})$", re.IGNORECASE)
_PHONE_LIKE = re.compile(r"^\+?[\d\s\-().\/]*\d[\d\s\-().\/]*$")
_SCHEME = re.compile(r"^(?:tel|whatsapp|wa):\s*", re.IGNORECASE)


def reduce(value: object) -> tuple[str, Kind]:
    """The written key and its kind: '+52 (55) 1234-5678' -> ('525512345678', PHONE)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise Unreadable("expected a phone number or user id as a string")
    try:
        text = str(value)
    except ValueError:  # an integer of thousands of digits
        raise Unreadable("a number far too long to be a phone number") from None
    if text.isascii():
        if text.isdigit():
            return text, Kind.PHONE  # the usual case: a wa_id as WhatsApp sends it
        cleaned = text.strip()
    else:
        cleaned = "".join(c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c) != "Cf").strip()
    if not cleaned:
        if text.strip():
            return text, Kind.OTHER  # only invisible characters: a key only as stored
        raise Unreadable("empty")
    if USER_ID.match(cleaned):
        return cleaned, Kind.USER_ID
    unschemed = _SCHEME.sub("", cleaned)
    if _PHONE_LIKE.match(unschemed):
        digits = "".join(str(unicodedata.digit(c)) for c in unschemed if c.isdigit())
        if digits.startswith("00") and len(digits) > 2:
            digits = digits[2:]  # the international call prefix, as in 0052 55 1234 5678
        return digits, Kind.PHONE
    return cleaned, Kind.OTHER


def readings(value: object, *, delivered: bool = False) -> Readings:
    """Everything `value` may denote: see the module docstring. Raises Unreadable only for
    what is no key at all (not text, or empty). `delivered`: the id a WhatsApp delivery
    came from, which no rule for forms people type (`typed_only`) applies to."""
    if type(value) is str and len(value) <= CACHED_LENGTH:
        return _readings_of_text(value, delivered)
    return _readings(value, delivered)


CACHED_LENGTH = 160  # any number or user id (at most 128 characters after the country); longer text is read afresh


@functools.lru_cache(maxsize=4096)
def _readings_of_text(value: str, delivered: bool) -> Readings:
    """A delivery reads its sender's id several times (the link between their ids, the
    person whose consent changes), each reading some 30 us, a phone-number parse among
    them; the readings of an id never change (Readings is frozen, RULES fixed)."""
    return _readings(value, delivered)


def _readings(value: object, delivered: bool) -> Readings:
    written, kind = reduce(value)
    if kind is Kind.USER_ID:
        match = USER_ID.match(written)
        assert match is not None
        country, parent, rest = match.groups()
        return Readings(written, kind, f"{country.upper()}.{'ENT.' if parent else ''}{rest}")
    if kind is Kind.OTHER:
        return Readings(written, kind, written)
    for rule in RULES:
        if delivered and rule.typed_only:
            continue
        found = rule.apply(written) if rule.apply else None
        if found:
            canonical, *others = found
            alternatives = tuple(dict.fromkeys(key for key in others if key != canonical))
            return Readings(written, kind, canonical, alternatives, rule.name)
    return Readings(written, kind, written)


def canonical(value: object) -> str:
    return readings(value).canonical


# -- the country rules ---------------------------------------------------------------------


def _valid(digits: str) -> bool:
    """Whether the phone-number library calls +digits a valid number (used only to choose
    between two readings of one form, never to refuse one)."""
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse("+" + digits, None))
    except phonenumbers.NumberParseException:
        return False


def _country_code(digits: str) -> str | None:
    """The ITU country code a string of digits starts with (codes are prefix-free)."""
    for size in (1, 2, 3):
        if int(digits[:size] or 0) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE and len(digits) > size:
            return digits[:size]
    return None


def _russia_kazakhstan_8(digits: str) -> tuple[str, ...] | None:
    # 8 + 10 digits is how Russia and Kazakhstan write +7 at home; their numbers begin 3, 4, 8, 9
    # (Russia) or 6, 7 (Kazakhstan). If the 8... form is also a valid number of a country
    # whose code begins with 8 (Vietnam 84, China 86, ...), it might be either: both readings.
    if len(digits) != 11 or digits[0] != "8" or digits[1] not in "346789":
        return None
    seven = "7" + digits[1:]
    return (digits, seven) if _valid(digits) else (seven,)


def _mexico_521(digits: str) -> tuple[str, ...] | None:
    # WhatsApp still reports Mexican mobiles as 521 + 10 digits; Mexico dropped the mobile
    # "1" in 2019 and businesses hold 52 + 10. No Mexican number begins with 1.
    if len(digits) == 13 and digits.startswith("521"):
        return ("52" + digits[3:],)
    return None


def _argentina(digits: str) -> tuple[str, ...] | None:
    # Mobiles are 549 + 10 digits from abroad (what WhatsApp reports), 54 + 10 in many
    # address books, and at home 0 + area code + 15 + local number. The 10 digits name one
    # line, mobile or not, so the key is 54 + 10.
    if not digits.startswith("54") or len(digits) < 12:
        return None
    if len(digits) == 13 and digits[2] == "9" and digits[3] != "0":
        return ("54" + digits[3:],)
    if len(digits) == 12 and digits[2] != "0":
        return None  # already 54 + 10
    # Longer: a "15" after the area code (and maybe a 9 before it too), or a trunk 0. The
    # library knows every area code, so it can find the "15".
    rest = digits[3:] if digits[2] == "9" else digits[2:]
    try:
        national = str(phonenumbers.parse("+54" + rest, None).national_number)
    except phonenumbers.NumberParseException:
        return None
    if len(national) == 11 and national[0] == "9":
        national = national[1:]
    return ("54" + national,) if len(national) == 10 else None


def _brazil_ninth_digit(digits: str) -> tuple[str, ...] | None:
    # Since 2016 every Brazilian mobile is 9 + 8 digits; WhatsApp accounts from before keep
    # 55 + area code + 8 digits. An 8-digit local number beginning 6-9 was a mobile
    # (landlines begin 2-5), so it is the same line with the 9.
    if len(digits) == 12 and digits.startswith("55") and digits[2] != "0" and digits[4] in "6789":
        return (digits[:4] + "9" + digits[4:],)
    return None


# Ivory Coast, 31 January 2021: every number got its operator's two digits in front
# (ARTCI). Which operator an 8-digit number belonged to shows in its first digits.
_CI_MOBILE = {
    "07": ("07", "08", "09", "47", "48", "49", "57", "58", "59", "67", "68", "69", "77", "78", "79", "87", "88",
           "89", "97", "98"),                                                       # Orange
    "05": ("04", "05", "06", "44", "45", "46", "54", "55", "56", "64", "65", "66", "74", "75", "76", "84", "85",
           "86", "94", "95", "96"),                                                 # MTN
    "01": ("01", "02", "03", "40", "41", "42", "43", "50", "51", "52", "53", "70", "71", "72", "73"),  # Moov
}
_CI_MOBILE_PREFIX = {old: new for new, olds in _CI_MOBILE.items() for old in olds}


def _ivory_coast_10_digits(digits: str) -> tuple[str, ...] | None:
    # Old WhatsApp accounts keep 225 + 8 digits. Landlines (2x, 3x) went to 21 (Moov, third
    # digit 8), 25 (MTN, third digit 0) or 27 (Orange); mobiles by the table above. A range
    # no operator is known for may be any of the three: all three readings.
    if len(digits) != 11 or not digits.startswith("225"):
        return None
    old = digits[3:]
    if old[0] in "23":
        prefix: str | None = {"8": "21", "0": "25"}.get(old[2], "27")
        candidates = ("21", "25", "27")
    else:
        prefix = _CI_MOBILE_PREFIX.get(old[:2])
        candidates = ("07", "05", "01")
    if prefix:
        return ("225" + prefix + old,)
    return (digits, *("225" + candidate + old for candidate in candidates))


def _trunk_zero(digits: str) -> tuple[str, ...] | None:
    # +44 (0)20 7946 0018: the national trunk 0 written after the country code. Dropped
    # when the library reads the number as valid without it; countries whose numbers
    # begin with 0 (Italy, Ivory Coast) keep it.
    if "0" not in digits[1:4]:
        return None  # the usual case, answered without a look at the code table
    code = _country_code(digits)
    if code is None or digits[len(code)] != "0":
        return None
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
    return (e164,) if e164 != digits and phonenumbers.is_valid_number(number) else None


@dataclass(frozen=True)
class Rule:
    """One row of the table in the README (API, "One person, many forms")."""
    name: str
    country: str
    forms: str                        # the written forms that are one person
    key: str                          # what the canonical key is
    examples: tuple[tuple[str, tuple[str, ...]], ...]   # written -> (canonical, *alternatives)
    apply: Callable[[str], tuple[str, ...] | None] | None   # digits -> (canonical, *alternatives)
    typed_only: bool = False          # a form people type, never one WhatsApp reports


RULES: tuple[Rule, ...] = (
    Rule("punctuation", "any",
         "`+`, a leading `00`, spaces, dashes, dots, brackets, `tel:`/`whatsapp:`, invisible marks",
         "the digits",
         (("+52 (55) 1234-5678", ("525512345678",)), ("0052 55 1234 5678", ("525512345678",)),
          ("whatsapp:+14155550123", ("14155550123",))),
         None),
    Rule("russia-kazakhstan-8", "Russia, Kazakhstan (7)",
         "`8` + 10 digits written for `7` + 10 digits",
         "`7` + 10 digits; when the `8…` form is also a valid number elsewhere (e.g. Vietnam 84…), both; "
         "never for the id a delivery came from (WhatsApp writes `7`: its `84…` is Vietnam)",
         (("8 916 123-45-67", ("79161234567",)), ("87011234567", ("77011234567",)),
          ("84912345678", ("84912345678", "74912345678"))),
         _russia_kazakhstan_8, typed_only=True),
    Rule("mexico-521", "Mexico (52)",
         "`521` + 10 digits (what WhatsApp reports) and `52` + 10 digits",
         "`52` + 10 digits",
         (("5215512345678", ("525512345678",)), ("+52 1 55 1234 5678", ("525512345678",)),
          ("+52 55 1234 5678", ("525512345678",))),
         _mexico_521),
    Rule("argentina-549", "Argentina (54)",
         "`549` + 10 digits (what WhatsApp reports), `54` + 10 digits, and the national form with "
         "a trunk `0` and the mobile `15` after the area code",
         "`54` + 10 digits",
         (("5491112345678", ("541112345678",)), ("541112345678", ("541112345678",)),
          ("+54 11 15 1234-5678", ("541112345678",)), ("+54 (011) 15-1234-5678", ("541112345678",)),
          ("+54 9 351 123-4567", ("543511234567",)), ("+54 9 11 15 1234 5678", ("541112345678",))),
         _argentina),
    Rule("brazil-ninth-digit", "Brazil (55)",
         "`55` + area code + 8 digits beginning 6–9 (mobiles before the ninth digit) and `55` + area code + `9` + 8 digits",
         "with the `9`",
         (("551187654321", ("5511987654321",)), ("5511987654321", ("5511987654321",)),
          ("551132654321", ("551132654321",))),
         _brazil_ninth_digit),
    Rule("ivory-coast-10-digits", "Ivory Coast (225)",
         "`225` + 8 digits (before 2021) and `225` + operator prefix + the same 8 digits",
         "`225` + 10 digits, the prefix read from the old number (mobiles: Orange `07`, MTN `05`, "
         "Moov `01`; landlines `27`, `25`, `21`); an old range of no known operator answers for all three",
         (("22507123456", ("2250707123456",)), ("22505123456", ("2250505123456",)),
          ("22501123456", ("2250101123456",)), ("22520212345", ("2252720212345",)),
          ("22560123456", ("22560123456", "2250760123456", "2250560123456", "2250160123456"))),
         _ivory_coast_10_digits),
    Rule("trunk-zero", "any",
         "a trunk `0` written after the country code",
         "without it, when the number is valid so (numbers that begin with 0, as in Italy, keep it)",
         (("+44 (0)20 7946 0018", ("442079460018",)), ("+39 06 1234 5678", ("390612345678",))),
         _trunk_zero),
)


def display(key: str | None) -> str:
    """A key as a person reads it: '+52 55 1234 5678' for a number, the id otherwise."""
    if not key:
        return ""
    if key.isdigit() and 8 <= len(key) <= 15:
        try:
            number = phonenumbers.parse("+" + key, None)
        except phonenumbers.NumberParseException:
            return "+" + key
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        return "+" + key
    return key
