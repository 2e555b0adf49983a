"""Locale files: one TOML file per language with keywords and replies per intent.

`load_locales` reads and validates a directory of them at start-up; a broken file
raises `LocaleError` naming the file and, where it can, the line and field.
`Locale` is a plain value, so merged data (files plus staff edits stored elsewhere)
can build one in code and pass it to `Classifier.from_locales`.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from handlers.detection.intents import KEYWORD_INTENTS, Intent, Match
from handlers.detection.normalize import normalize_text
from handlers.settings import WHATSAPP_TEXT_LIMIT

_TOP_LEVEL = {"language", "name", "countries", "fillers", "negations", "ordinary_words",
              *(intent.value for intent in KEYWORD_INTENTS)}
_SECTION = {Match.WHOLE.value, Match.ANYWHERE.value, "reply"}


class LocaleError(ValueError):
    """A locale file (or in-code Locale) is invalid; the message says which and where."""


@dataclass(frozen=True)
class Locale:
    code: str
    name: str
    countries: list[str]
    fillers: list[str]
    negations: list[str]
    keywords: dict[Intent, dict[Match, list[str]]]
    replies: dict[Intent, str]
    # Real words one typo away from a keyword ("shop" for "stop"): never read as a typo.
    ordinary_words: list[str] = field(default_factory=list)


def load_locales(directory: str | Path) -> dict[str, Locale]:
    """Every `*.toml` in `directory`, validated, keyed by language code."""
    locales: dict[str, Locale] = {}
    paths = sorted(Path(directory).glob("*.toml"))
    if not paths:
        raise LocaleError(f"{directory}: no locale files (*.toml)")
    for path in paths:
        locale = load_locale(path)
        if locale.code in locales:
            raise LocaleError(f"{path.name}: language {locale.code!r} is already defined by another file")
        locales[locale.code] = locale
    return locales


def load_locale(path: str | Path) -> Locale:
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise LocaleError(f"{path.name}: cannot read: {error}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise LocaleError(f"{path.name}: not valid TOML: {error}") from None
    return locale_from_dict(data, source=path.name, text=text, expected_code=path.stem)


def locale_from_dict(data: dict, source: str = "<locale>", text: str = "",
                     expected_code: str | None = None) -> Locale:
    """Build and validate a Locale from the parsed contents of a locale file."""
    def fail(message: str, needle: str | None = None) -> LocaleError:
        line = _line_of(text, needle) if needle else None
        where = f"{source}, line {line}" if line else source
        return LocaleError(f"{where}: {message}")

    for key in data:
        if key not in _TOP_LEVEL:
            raise fail(f"unknown field {key!r} (expected one of {sorted(_TOP_LEVEL)})", key)
    code = data.get("language")
    if not isinstance(code, str) or not re.fullmatch(r"[a-z]{2}", code):
        raise fail("field 'language' must be a two-letter ISO 639-1 code such as \"es\"", "language")
    if expected_code and code != expected_code:
        raise fail(f"language = {code!r} but the file is named {expected_code}.toml", "language")
    name = data.get("name", code)
    if not isinstance(name, str) or not name.strip():
        raise fail("field 'name' must be a non-empty string", "name")
    countries = _strings(data, "countries", fail)
    for country in countries:
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise fail(f"countries: {country!r} is not a two-letter ISO country code such as \"MX\"", country)

    keywords: dict[Intent, dict[Match, list[str]]] = {}
    replies: dict[Intent, str] = {}
    owner: dict[str, tuple[Intent, str]] = {}
    for intent in KEYWORD_INTENTS:
        section = data.get(intent.value)
        if not isinstance(section, dict):
            raise fail(f"missing section [{intent.value}]")
        for key in section:
            if key not in _SECTION:
                raise fail(f"[{intent.value}]: unknown field {key!r} (expected {sorted(_SECTION)})", key)
        keywords[intent] = {}
        for match in Match:
            words = _strings(section, match.value, fail, f"[{intent.value}] ")
            for word in words:
                key = normalize_text(word)
                if not key:
                    raise fail(f"[{intent.value}] {match.value}: {word!r} has no letters or digits", word)
                if key in owner and owner[key][0] is not intent:
                    other_intent, other_word = owner[key]
                    raise fail(f"keyword {word!r} in [{intent.value}] is the same as {other_word!r} in "
                               f"[{other_intent.value}] (both normalise to {key!r})", word)
                owner[key] = (intent, word)
            keywords[intent][match] = words
        reply = section.get("reply")
        if not isinstance(reply, str) or not reply.strip():
            raise fail(f"[{intent.value}] reply must be a non-empty string", f"[{intent.value}]")
        if len(reply) > WHATSAPP_TEXT_LIMIT:
            raise fail(f"[{intent.value}] reply is {len(reply)} characters; WhatsApp allows {WHATSAPP_TEXT_LIMIT}",
                       f"[{intent.value}]")
        replies[intent] = reply
    return Locale(code=code, name=name, countries=countries,
                  fillers=_strings(data, "fillers", fail), negations=_strings(data, "negations", fail),
                  keywords=keywords, replies=replies, ordinary_words=_strings(data, "ordinary_words", fail))


def _strings(data: dict, key: str, fail, prefix: str = "") -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise fail(f"{prefix}{key} must be a list of strings, like [\"stop\", \"end\"]", key)
    for item in value:
        if not item.strip():
            raise fail(f"{prefix}{key} contains an empty string", key)
    return list(value)


def _line_of(text: str, needle: str) -> int | None:
    """First line of the file mentioning `needle`: good enough to point staff at the spot."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return None
