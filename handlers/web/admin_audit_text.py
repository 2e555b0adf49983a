"""Audit entries as sentences: what was changed, before and after in words, and for a
reply text a word-by-word difference. Never the stored JSON."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from handlers.web.admin_words import MATCH_NAMES, an_intent, intent_name, language_name


@dataclass
class Described:
    target: str
    number: str | None = None          # a wa_id the entry is about (the page links to it)
    before: str = ""
    after: str = ""
    diff: list[tuple[str, str]] = field(default_factory=list)   # ("same" | "del" | "ins", text) for texts


def describe(entry: dict) -> Described:
    action, target = entry["action"], entry["target"]
    before, after = entry["before"] or {}, entry["after"] or {}
    if "reply" in before or "reply" in after:
        return _reply(before, after)
    if "placements" in before or "placements" in after:
        data = after or before
        return Described(f"{language_name(data.get('language'))}: “{data.get('keyword')}”",
                         before=_placements(before), after=_placements(after))
    if action.startswith("consent."):
        return Described(target, number=target, before=_suppressed(before), after=_suppressed(after))
    if action == "review.undo":
        return Described(target, number=_number_or_none(target),
                         before=f"decided ({_decision(before.get('decision'))}) for {_items(before.get('count', 1))}",
                         after=f"back in the queue: {_items(after.get('back_in_queue', 0))}; "
                               f"opted back in: {after.get('opted_back_in', 0)}")
    if action.startswith("review."):
        reason = f" (reason: {after['reason']})" if after.get("reason") else ""
        many = after.get("count")
        return Described(target, number=None if many else target,
                         before=f"waiting for review{'' if not many else ': ' + _items(many)}",
                         after=f"{_decision(after.get('decision'))}{' for ' + _items(many) if many else ''}{reason}")
    if action == "import":
        return Described(f"the file {target}", before="", after=_import_counts(after))
    if action == "import.undo":
        return Described(f"the import of {target}", before=f"it had added {before.get('added', 0):,} opt-outs",
                         after=f"opted back in: {after.get('opted_back_in', 0):,} (later opt-outs stand)")
    return Described(target, before=_plain(before), after=_plain(after))


def _reply(before: dict, after: dict) -> Described:
    data = after or before
    old, new = before.get("reply", ""), after.get("reply", "")
    return Described(f"the {intent_name(data.get('intent'))} reply in {language_name(data.get('language'))}",
                     before=old, after=new, diff=text_diff(old, new))


def text_diff(old: str, new: str) -> list[tuple[str, str]]:
    """Word-level difference (spaces kept), for showing a reply edit."""
    a, b = re.findall(r"\s+|[^\s]+", old), re.findall(r"\s+|[^\s]+", new)
    parts: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(("same", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            parts.append(("del", "".join(a[i1:i2])))
        if j2 > j1:
            parts.append(("ins", "".join(b[j1:j2])))
    return parts


def _placements(data: dict) -> str:
    where = data.get("placements") or []
    if not where:
        return "not a keyword"
    return "; ".join(f"{an_intent(p['intent'])} keyword ({MATCH_NAMES.get(p['match'], p['match'])})" for p in where)


def _suppressed(data: dict) -> str:
    if not data:
        return ""
    state = "opted out" if data.get("suppressed") else "subscribed"
    return f"{state} (reason: {data['reason']})" if data.get("reason") else state


def _decision(value: str | None) -> str:
    return {"opt_out": "opt-out", "not_opt_out": "not an opt-out"}.get(value or "", value or "")


def _items(n: int) -> str:
    return f"{n:,} message{'s' if n != 1 else ''}"


def _import_counts(data: dict) -> str:
    parts = [f"{data.get('rows', 0):,} rows", f"{data.get('added', 0):,} added",
             f"{data.get('already_present', 0):,} already opted out"]
    for key, label in (("not_applied", "kept in the history only (a later opt-in stands)"),
                       ("duplicates", "repeated in the file"), ("rejected", "rejected (no usable number)"),
                       ("dates_unknown", "imported with the date unknown")):
        if data.get(key):
            parts.append(f"{data[key]:,} {label}")
    return ", ".join(parts)


def _number_or_none(target: str) -> str | None:
    return target if target.isdigit() else None


def _plain(data: dict) -> str:
    return "; ".join(f"{key.replace('_', ' ')}: {value}" for key, value in data.items())
