"""Staff edits to the keyword lists and reply texts, kept in the database over the
shipped locale files.

The files in `locales/` stay the defaults. An edit is stored as an overlay row
(`keyword_edits`: this keyword added to / removed from this intent and match kind;
`reply_overrides`: this reply text), so merging is "file, then overlay". Every
change validates first, writes its overlay, appends an `audit_log` entry (before
and after) and bumps `config_version`, all in one transaction: a refused edit
leaves everything already saved as it was, and every worker sees the new version
on its next check. Flask-free.
"""
from __future__ import annotations

import dataclasses
import json
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from handlers.detection.intents import KEYWORD_INTENTS, Intent, Match
from handlers.detection.locales import Locale
from handlers.settings import WHATSAPP_TEXT_LIMIT
from handlers.staff import audit
from handlers.storage import clock
from handlers.storage.db import Database, lock, transaction

KEYWORD_MAX_LENGTH = 200
CONFIG_LOCK = "config"  # edits validate against the current keywords: one at a time, on every host
# The audit entries this module can undo (the others: handlers/consent/undo.py).
UNDOABLE = {"keyword.add", "keyword.remove", "keyword.move", "reply.set", "undo"}


class KeywordError(ValueError):
    """An edit that is refused, with a sentence staff can act on."""


@dataclass(frozen=True)
class Change:
    """A proposed keyword change (unsaved until `apply_change`)."""
    op: str                      # add, remove, move
    language: str
    intent: Intent
    keyword: str
    match: Match = Match.WHOLE   # add/remove: this kind; move: the kind it moves TO

    @classmethod
    def parse(cls, op, language, intent, keyword, match=Match.WHOLE.value) -> Change:
        if op not in ("add", "remove", "move"):
            raise KeywordError(f"unknown operation {op!r}: use add, remove or move")
        return cls(op, str(language or "").strip(), parse_intent(intent), clean_keyword(keyword),
                   parse_match(match))


def parse_intent(value) -> Intent:
    try:
        intent = Intent(str(value).strip().lower())
    except ValueError:
        intent = None
    if intent not in KEYWORD_INTENTS:
        raise KeywordError(f"unknown intent {value!r}: use opt_out, opt_in or help")
    return intent


def parse_match(value) -> Match:
    try:
        return Match(str(value).strip().lower())
    except ValueError:
        raise KeywordError(f"unknown match kind {value!r}: use whole_message or anywhere") from None


def clean_keyword(keyword) -> str:
    text = " ".join(str(keyword or "").split())
    if not text:
        raise KeywordError("the keyword is empty: type the word or phrase to match")
    if len(text) > KEYWORD_MAX_LENGTH:
        raise KeywordError(f"the keyword is longer than {KEYWORD_MAX_LENGTH} characters")
    return text


def same_word(keyword: str) -> str:
    """How two keywords are compared for duplicates: case, width and accents of form folded."""
    return " ".join(unicodedata.normalize("NFKC", keyword).casefold().split())


# -- reading ---------------------------------------------------------------------------


def config_version(db: Database) -> int:
    row = db.execute("SELECT version FROM config_version WHERE id = 1").fetchone()
    return row[0] if row else 0


def merged_locales(db: Database, file_locales: dict[str, Locale]) -> dict[str, Locale]:
    """The shipped locales with the staff edits applied; the input is not modified."""
    edits = list(db.query("SELECT * FROM keyword_edits ORDER BY updated_at, keyword"))
    overrides = list(db.query("SELECT * FROM reply_overrides"))
    merged = {}
    for code, locale in file_locales.items():
        keywords = {intent: {kind: list(words) for kind, words in kinds.items()}
                    for intent, kinds in locale.keywords.items()}
        replies = dict(locale.replies)
        for edit in edits:
            if edit["language"] != code:
                continue
            kinds = keywords.setdefault(Intent(edit["intent"]), {m: [] for m in Match})
            words = kinds.setdefault(Match(edit["match"]), [])
            words[:] = [w for w in words if same_word(w) != same_word(edit["keyword"])]
            if edit["state"] == "added":
                words.append(edit["keyword"])
        for row in overrides:
            if row["language"] == code:
                replies[Intent(row["intent"])] = row["reply"]
        merged[code] = dataclasses.replace(locale, keywords=keywords, replies=replies)
    return merged


def placements(locale: Locale, keyword: str) -> list[tuple[Intent, Match]]:
    """Where a keyword sits in a locale: [(intent, match), ...]."""
    wanted = same_word(keyword)
    return [(intent, kind) for intent, kinds in locale.keywords.items() for kind, words in kinds.items()
            if any(same_word(w) == wanted for w in words)]


def keyword_table(locale: Locale) -> dict[str, dict[str, list[str]]]:
    return {intent.value: {kind.value: list(locale.keywords.get(intent, {}).get(kind, [])) for kind in Match}
            for intent in KEYWORD_INTENTS}


def with_change(locales: dict[str, Locale], change: Change) -> dict[str, Locale]:
    """The locales as they would be after an (unsaved) change; validates it."""
    locale = _locale(locales, change.language)
    target = _target_placements(locale, change)
    return {**locales, change.language: _with_placements(locale, change.keyword, target)}


# -- writing ---------------------------------------------------------------------------


def apply_change(db: Database, file_locales: dict[str, Locale], change: Change,
                 actor: str) -> int:
    """Validate and save a keyword change; returns the audit entry id."""
    with transaction(db):
        lock(db, CONFIG_LOCK)
        merged = merged_locales(db, file_locales)
        locale = _locale(merged, change.language)
        before = placements(locale, change.keyword)
        after = _target_placements(locale, change)
        _write_placements(db, file_locales[change.language], change.language, change.keyword, after, actor)
        return audit.record(db, actor, f"keyword.{change.op}", f"{change.language}:{change.keyword}",
                      _placement_json(change.language, change.keyword, before),
                      _placement_json(change.language, change.keyword, after), config_changed=True)


def set_reply(db: Database, file_locales: dict[str, Locale], language: str, intent,
              reply, actor: str) -> int | None:
    """Save a reply text; returns the audit entry, or None when the text is what is
    already in effect (nothing is written, nothing is audited)."""
    intent = parse_intent(intent)
    text = validate_reply(reply)
    with transaction(db):
        lock(db, CONFIG_LOCK)
        merged = merged_locales(db, file_locales)
        locale = _locale(merged, language)
        before = locale.replies.get(intent, "")
        if before == text:
            return None
        _write_reply(db, file_locales[language], language, intent, text, actor)
        return audit.record(db, actor, "reply.set", f"{language}:{intent.value} reply",
                      {"language": language, "intent": intent.value, "reply": before},
                      {"language": language, "intent": intent.value, "reply": text}, config_changed=True)


def validate_reply(reply) -> str:
    if reply is not None and not isinstance(reply, str):
        raise KeywordError(f"the reply must be text, not {type(reply).__name__}")
    text = (reply or "").replace("\r\n", "\n").strip()
    if not text:
        raise KeywordError("the reply has no text: a confirmation must say something")
    if len(text) > WHATSAPP_TEXT_LIMIT:
        raise KeywordError(
            f"the reply is {len(text)} characters; WhatsApp allows at most {WHATSAPP_TEXT_LIMIT} in a text message")
    return text


def undo(db: Database, file_locales: dict[str, Locale], entry_id: int, actor: str) -> int:
    """Put back what an audited edit changed; the undo is itself audited (and undoable)."""
    with transaction(db):
        lock(db, CONFIG_LOCK)
        rows = list(db.query("SELECT * FROM audit_log WHERE id = ?", [entry_id]))
        if not rows:
            raise KeywordError(f"no audit entry {entry_id}")
        entry = rows[0]
        if entry["action"] not in UNDOABLE:
            raise KeywordError(f"entry {entry_id} ({entry['action']}) cannot be undone here")
        if entry["undone_by"]:
            raise KeywordError(f"entry {entry_id} was already undone by entry {entry['undone_by']}")
        before = json.loads(entry["before"])
        merged = merged_locales(db, file_locales)
        if "reply" in before:
            language, intent = before["language"], Intent(before["intent"])
            _locale(merged, language)
            current = merged[language].replies.get(intent, "")
            _write_reply(db, file_locales[language], language, intent, validate_reply(before["reply"]), actor)
            now = {"language": language, "intent": intent.value, "reply": current}
        else:
            language, keyword = before["language"], before["keyword"]
            locale = _locale(merged, language)
            target = [(Intent(p["intent"]), Match(p["match"])) for p in before["placements"]]
            _check_conflicts(locale, keyword, target)
            now = _placement_json(language, keyword, placements(locale, keyword))
            _write_placements(db, file_locales[language], language, keyword, target, actor)
        new_id = audit.record(db, actor, "undo", entry["target"], now, before, undoes=entry_id, config_changed=True)
        db.execute("UPDATE audit_log SET undone_by = ? WHERE id = ?", [new_id, entry_id])
        return new_id


# -- import / export --------------------------------------------------------------------


def export_toml(locale: Locale, shipped_file: Path | None = None) -> str:
    """A locale file with the merged keywords and replies. Other keys of the shipped file
    (name, countries, fillers, ...) are kept as they are; comments are not."""
    data: dict[str, Any] = tomllib.loads(shipped_file.read_text("utf-8")) if shipped_file and shipped_file.exists() else {
        "language": locale.code, "name": locale.name, "countries": list(locale.countries),
        "fillers": list(locale.fillers), "negations": list(locale.negations)}
    for intent in KEYWORD_INTENTS:
        section = dict(data.get(intent.value, {}))
        for kind in Match:
            section[kind.value] = list(locale.keywords.get(intent, {}).get(kind, []))
        section["reply"] = locale.replies.get(intent, "")
        data[intent.value] = section
    return tomli_w.dumps(data)


def import_toml(db: Database, file_locales: dict[str, Locale], text: str, actor: str,
                language: str | None = None) -> list[int]:
    """Make a language's keywords and replies what a locale file says, as audited edits.
    All or nothing: one refused keyword refuses the file."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise KeywordError(f"not a valid locale file: {error}") from None
    code = language or data.get("language")
    if not code:
        raise KeywordError("the file names no language (language = \"es\")")
    wanted: dict[str, list[tuple[Intent, Match]]] = {}
    replies: dict[Intent, str] = {}
    for intent in KEYWORD_INTENTS:
        section = data.get(intent.value, {})
        if not isinstance(section, dict):
            raise KeywordError(f"[{intent.value}] must be a table")
        for kind in Match:
            for word in section.get(kind.value, []):
                wanted.setdefault(clean_keyword(word), []).append((intent, kind))
        if "reply" in section:
            replies[intent] = validate_reply(section["reply"])
    ids = []
    with transaction(db):
        lock(db, CONFIG_LOCK)
        merged = merged_locales(db, file_locales)
        locale = _locale(merged, code)
        by_form = {same_word(k): k for k in wanted}
        present = {same_word(w): w for kinds in locale.keywords.values() for words in kinds.values() for w in words}
        for form in set(present) | set(by_form):
            keyword = by_form.get(form) or present[form]
            target = sorted(set(wanted.get(keyword, [])))
            before = placements(locale, keyword)
            if sorted(set(before)) == target:
                continue
            _check_conflicts(locale, keyword, target)
            _write_placements(db, file_locales[code], code, keyword, target, actor)
            ids.append(audit.record(db, actor, "keyword.import", f"{code}:{keyword}",
                              _placement_json(code, keyword, before), _placement_json(code, keyword, target), config_changed=True))
        for intent, reply in replies.items():
            if locale.replies.get(intent, "") != reply:
                _write_reply(db, file_locales[code], code, intent, reply, actor)
                ids.append(audit.record(db, actor, "reply.set", f"{code}:{intent.value} reply",
                                  {"language": code, "intent": intent.value, "reply": locale.replies.get(intent, "")},
                                  {"language": code, "intent": intent.value, "reply": reply}, config_changed=True))
    return ids


# -- internals ---------------------------------------------------------------------------


def _locale(locales: dict[str, Locale], language: str) -> Locale:
    if language not in locales:
        known = ", ".join(sorted(locales)) or "none"
        raise KeywordError(f"unknown language {language!r} (known: {known})")
    return locales[language]


_INTENT_WORDS = {Intent.OPT_OUT: "an opt-out", Intent.OPT_IN: "an opt-in", Intent.HELP: "a help"}
_MATCH_WORDS = {Match.WHOLE: "whole message", Match.ANYWHERE: "anywhere in the message"}


def _target_placements(locale: Locale, change: Change) -> list[tuple[Intent, Match]]:
    current = placements(locale, change.keyword)
    shown = f"“{change.keyword}”"
    kind, where = _INTENT_WORDS[change.intent], _MATCH_WORDS[change.match]
    if change.op == "add":
        if (change.intent, change.match) in current:
            raise KeywordError(f"{shown} is already {kind} keyword ({where}) in {locale.name} ({locale.code})")
        target = current + [(change.intent, change.match)]
    elif change.op == "remove":
        if (change.intent, change.match) not in current:
            raise KeywordError(f"{shown} is not {kind} keyword ({where}) in {locale.name} ({locale.code})")
        target = [p for p in current if p != (change.intent, change.match)]
    else:
        mine = [p for p in current if p[0] is change.intent]
        if not mine:
            raise KeywordError(f"{shown} is not {kind} keyword in {locale.name} ({locale.code})")
        if mine == [(change.intent, change.match)]:
            raise KeywordError(f"{shown} already matches {where}")
        target = [p for p in current if p[0] is not change.intent] + [(change.intent, change.match)]
    _check_conflicts(locale, change.keyword, target)
    return target


def _check_conflicts(locale: Locale, keyword: str, target) -> None:
    intents = sorted({intent.value for intent, _ in target})
    if len(intents) > 1:
        names = [_INTENT_WORDS[Intent(i)].split(" ", 1)[1] for i in intents]
        raise KeywordError(
            f"“{keyword}” cannot mean both {' and '.join(names)} in {locale.name} ({locale.code}); remove it from one first")


def _with_placements(locale: Locale, keyword: str, target) -> Locale:
    keywords = {intent: {kind: [w for w in words if same_word(w) != same_word(keyword)]
                         for kind, words in kinds.items()} for intent, kinds in locale.keywords.items()}
    for intent, kind in target:
        keywords.setdefault(intent, {m: [] for m in Match}).setdefault(kind, []).append(keyword)
    return dataclasses.replace(locale, keywords=keywords)


def _write_placements(db, shipped: Locale, language: str, keyword: str, target, actor: str) -> None:
    """Store overlay rows so that file + overlay puts `keyword` exactly at `target`."""
    in_file = set(placements(shipped, keyword))
    now = clock.now_iso()
    form = same_word(keyword)
    for row in list(db.query("SELECT keyword FROM keyword_edits WHERE language = ?", [language])):
        if same_word(row["keyword"]) == form:
            db.execute("DELETE FROM keyword_edits WHERE language = ? AND keyword = ?", [language, row["keyword"]])
    for intent in KEYWORD_INTENTS:
        for kind in Match:
            wanted, shipped_there = (intent, kind) in target, (intent, kind) in in_file
            if wanted and shipped_there:
                continue  # the file already says so; nothing to store
            if wanted or shipped_there:
                db.table("keyword_edits").insert({
                    "language": language, "intent": intent.value, "match": kind.value, "keyword": keyword,
                    "state": "added" if wanted else "removed", "updated_by": actor, "updated_at": now,
                })


def _write_reply(db, shipped: Locale, language: str, intent: Intent, text: str, actor: str) -> None:
    if shipped.replies.get(intent, "") == text:
        db.execute("DELETE FROM reply_overrides WHERE language = ? AND intent = ?", [language, intent.value])
    else:
        db.table("reply_overrides").upsert({"language": language, "intent": intent.value, "reply": text,
                                      "updated_by": actor, "updated_at": clock.now_iso()},
                                     pk=("language", "intent"))


def _placement_json(language: str, keyword: str, where) -> dict:
    return {"language": language, "keyword": keyword,
            "placements": [{"intent": i.value, "match": m.value} for i, m in where]}
