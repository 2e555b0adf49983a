"""Locale files: one TOML file per language with keywords and replies per intent,
request frames (word classes and the patterns that combine them) and spellings.

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

from handlers.detection.frames import FRAME_KINDS, QUOTING, FrameError, check_word, parse_pattern
from handlers.detection.intents import KEYWORD_INTENTS, Intent, Match
from handlers.detection.normalize import normalize_text
from handlers.settings import WHATSAPP_TEXT_LIMIT

BUTTONS_FILE = "buttons.toml"      # lives beside the locales but is not one (see buttons.py)
DEFAULT_FRAME_GAP = 3              # words allowed between two parts of a frame
MAX_FRAME_GAP = 8
_TOP_LEVEL = {"language", "name", "countries", "fillers", "negations", "negation_after_verb", "ordinary_words",
              "code_mixing", "spelling", "words", "frames", *(intent.value for intent in KEYWORD_INTENTS)}
_SECTION = {Match.WHOLE.value, Match.ANYWHERE.value, "reply"}
_FRAMES_SECTION = {*FRAME_KINDS, "max_gap", "objects"}
_CLASS_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


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
    # How people type words on their phones -> the words they stand for ("kiero" -> "quiero").
    spelling: dict[str, str] = field(default_factory=dict)
    # Word classes for the frames: name -> words, phrases and stems ("envi*").
    words: dict[str, list[str]] = field(default_factory=dict)
    # Frame patterns per kind (opt_out, opt_in, help, quoting): "stop-verb + messages".
    frames: dict[str, list[str]] = field(default_factory=dict)
    frame_gap: int = DEFAULT_FRAME_GAP
    # Classes naming what a request is about (messages, list, me): another object near a
    # request counts only when none of these stands between them.
    frame_objects: list[str] = field(default_factory=list)
    # Languages whose words may fill this language's frames ("stop" inside a Spanish sentence).
    code_mixing: list[str] = field(default_factory=list)
    # Whether a negation may follow the verb it negates ("sluta inte", "hör nicht auf",
    # "arrête pas"); None: the engine's default for the language (guards.NEGATION_AFTER_VERB).
    negation_after_verb: bool | None = None


_LOADED: dict[tuple, dict[str, Locale]] = {}


def load_locales(directory: str | Path) -> dict[str, Locale]:
    """Every `*.toml` in `directory`, validated, keyed by language code. Files unchanged
    since the last load (same names, sizes and times) are not read again."""
    paths = sorted(p for p in Path(directory).glob("*.toml") if p.name != BUTTONS_FILE)
    if not paths:
        raise LocaleError(f"{directory}: no locale files (*.toml)")
    stamp = tuple((str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    if stamp in _LOADED:
        return dict(_LOADED[stamp])
    locales: dict[str, Locale] = {}
    for path in paths:
        locale = load_locale(path)
        if locale.code in locales:
            raise LocaleError(f"{path.name}: language {locale.code!r} is already defined by another file")
        locales[locale.code] = locale
    _LOADED.clear()                 # only the latest set is kept
    _LOADED[stamp] = locales
    return dict(locales)


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
    fail.text = text  # type: ignore[attr-defined]  # the file's text, for line lookups in _spelling

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
    negations = _strings(data, "negations", fail)
    code_mixing = _strings(data, "code_mixing", fail)
    for other in code_mixing:
        if not re.fullmatch(r"[a-z]{2}", other) or other == code:
            raise fail(f"code_mixing: {other!r} must be another language's two-letter code", "code_mixing")
    after_verb = data.get("negation_after_verb")
    if after_verb is not None and not isinstance(after_verb, bool):
        raise fail("negation_after_verb must be true or false", "negation_after_verb")
    spelling = _spelling(data.get("spelling", {}), fail)
    word_classes = _word_classes(data.get("words", {}), fail)
    frames, gap, objects = _frames(data.get("frames", {}), word_classes, bool(negations), fail)
    return Locale(code=code, name=name, countries=countries,
                  fillers=_strings(data, "fillers", fail), negations=negations,
                  keywords=keywords, replies=replies, ordinary_words=_strings(data, "ordinary_words", fail),
                  spelling=spelling, words=word_classes, frames=frames, frame_gap=gap, frame_objects=objects,
                  code_mixing=code_mixing, negation_after_verb=after_verb)


def _spelling(table, fail) -> dict[str, str]:
    if not isinstance(table, dict):
        raise fail("[spelling] must be a table of typed = \"meant\" lines, like kiero = \"quiero\"", "spelling")
    for typed, meant in table.items():
        line = f"{typed} =" if f"\n{typed} =" in f"\n{fail.text}" else f'"{typed}" ='
        if not isinstance(meant, str) or not normalize_text(meant):
            raise fail(f"[spelling] {typed!r} must stand for a word, like {typed} = \"...\"", line)
        if not normalize_text(typed):
            raise fail(f"[spelling] {typed!r} has no letters or digits", line)
        if normalize_text(typed) == normalize_text(meant):
            raise fail(f"[spelling] {typed!r} = {meant!r}: both are the same word once normalised", line)
    return dict(table)


def _word_classes(table, fail) -> dict[str, list[str]]:
    if not isinstance(table, dict):
        raise fail("[words] must be a table of word classes, like stop-verb = [\"stop\", \"quit\"]", "words")
    classes: dict[str, list[str]] = {}
    for name in table:
        if not _CLASS_NAME.fullmatch(name) or name == "negation":
            raise fail(f"[words] {name!r} is not a usable class name: lowercase letters, digits and "
                       f"hyphens, like stop-verb ('negation' is the negations list)", name)
        classes[name] = _strings(table, name, fail, "[words] ")
        if not classes[name]:
            raise fail(f"[words] {name} is empty", name)
        for entry in classes[name]:
            try:
                check_word(entry)
            except FrameError as error:
                raise fail(f"[words] {name}: {error}", entry) from None
    return classes


def _frames(table, words: dict[str, list[str]], has_negations: bool,
            fail) -> tuple[dict[str, list[str]], int, list[str]]:
    if not isinstance(table, dict):
        raise fail("[frames] must be a table with opt_out = [\"stop-verb + messages\"] and the like", "frames")
    for key in table:
        if key not in _FRAMES_SECTION:
            raise fail(f"[frames]: unknown field {key!r} (expected {sorted(_FRAMES_SECTION)})", key)
    gap = table.get("max_gap", DEFAULT_FRAME_GAP)
    if not isinstance(gap, int) or isinstance(gap, bool) or not 0 <= gap <= MAX_FRAME_GAP:
        raise fail(f"[frames] max_gap must be a whole number from 0 to {MAX_FRAME_GAP}", "max_gap")
    objects = _strings(table, "objects", fail, "[frames] ")
    for name in objects:
        if name not in words:
            raise fail(f"[frames] objects: no word class {name!r} in [words]", "objects")
    frames: dict[str, list[str]] = {}
    for kind in FRAME_KINDS:
        patterns = _strings(table, kind, fail, "[frames] ")
        for text in patterns:
            try:
                pattern = parse_pattern(text)
            except FrameError as error:
                raise fail(f"[frames] {kind}: {text!r}: {error}", text) from None
            if kind == QUOTING and "@opt_out" not in pattern.parts:
                raise fail(f"[frames] quoting: {text!r}: a quoting frame names the keyword it quotes with "
                           f"'@opt_out' (\"reply-verb + @opt_out\")", text)
            if "negation" in pattern.parts and not pattern.ordered:
                raise fail(f"[frames] {kind}: {text!r}: a frame with a negation gives its order with '+' "
                           f"(the negation comes before what it negates)", text)
            for element in pattern.parts:
                if element == "negation" and not has_negations:
                    raise fail(f"[frames] {kind}: {text!r} uses 'negation' but the file lists no negations", text)
                if element not in words and element not in ("negation", "@opt_out"):
                    raise fail(f"[frames] {kind}: {text!r}: no word class {element!r} in [words]", text)
        if patterns:
            frames[kind] = patterns
    return frames, gap, objects


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
        if needle in line and not line.lstrip().startswith("#"):
            return number
    return None
