"""Request frames: how people ask to stop in their own words.

A locale names word classes (`[words]`: stop-verb, send-verb, messages, me, ...) and
patterns that combine them (`[frames]`: "stop-verb + send-verb", "remove-verb & me").
A frame matches when each part is found in one sentence, in the order given ("+") or
in any order ("&"), with at most `max_gap` other words between neighbouring parts. The
rule of a match names the frame: `frame:ru:stop-verb+messages`.

Word class entries are words or phrases ("my number"), or stems: "envi*" is any word
starting with "envi", "*nachricht" any word ending with "nachricht". Two parts are built
in: `negation` (the locale's negations, see guards.py for what they negate) and
`@opt_out` (any opt-out keyword, e.g. in "reply STOP", a quoting frame).

Lookups are dicts: a word's classes come from its exact form, and from its prefixes and
suffixes of the lengths some stem has; patterns are found by the classes of two
neighbouring parts. The cost of a message does not grow with the number of words or
frames in the locales.
"""
from __future__ import annotations

import bisect
import functools
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from handlers.detection.normalize import normalize_text
from handlers.detection.spelling import Spellings
from handlers.detection.typos import deletions, one_edit

FRAME_KINDS = ("opt_out", "opt_in", "help", "quoting")
QUOTING = "quoting"
QUOTING_GAP = 1          # "reply STOP", "reply with STOP": a quoted keyword sits right by its verb
NEGATION = "negation"
STOP_VERB = "stop-verb"
CONTRAST = "but"         # "but", "pero", "tapi": a frame's parts do not reach across it
KEYWORD = "@opt_out"
ANY_LANGUAGE = "*"
MAX_PARTS = 4
MIN_STEM = 3
MIN_HANGUL_STEM = 2      # a Hangul syllable is a consonant-vowel block: "보내*" is a stem
WORD_MEMO_SIZE = 100_000
# One- and two-letter words Arabic and Hebrew write onto the next word (and, so, with, for,
# like; the, from, that), longest first; the rest must be this long to be looked up.
PROCLITICS = {
    "ar": ("وب", "ول", "فب", "فل", "و", "ف", "ب", "ل", "ك"),
    "he": ("וה", "וב", "ול", "ומ", "וש", "שה", "מה", "של", "שב", "כש", "ו", "ה", "ב", "ל", "מ", "ש", "כ"),
}
MIN_PROCLITIC_REST = 3
MIN_TYPO_WORD = 7        # class words this long are found with one typo ("пререстаньте")


class FrameError(ValueError):
    """A word class entry or a pattern that cannot work; the message says why."""


def check_word(entry: str) -> None:
    """A word class entry: a word, a phrase, or a stem ("envi*", "*nachricht")."""
    text = entry.strip()
    core = text.strip("*")
    if "*" in core:
        raise FrameError(f"{entry!r}: '*' goes only at the start or the end of a word")
    if text.startswith("*") and text.endswith("*"):
        raise FrameError(f"{entry!r}: a stem has its '*' at one end, not both")
    tokens = normalize_text(core).split()
    if not tokens:
        raise FrameError(f"{entry!r} has no letters or digits")
    shortest = MIN_HANGUL_STEM if tokens and all("\uac00" <= c <= "\ud7a3" for c in tokens[0]) else MIN_STEM
    if text != core and (len(tokens) != 1 or len(tokens[0]) < shortest):
        raise FrameError(f"{entry!r}: a stem is one word of at least {MIN_STEM} letters "
                         f"({MIN_HANGUL_STEM} Hangul syllables) besides the '*'")


@dataclass(frozen=True)
class Pattern:
    text: str
    parts: tuple[str, ...]
    ordered: bool
    gap: int | None = None         # "(gap 0)" after the parts: this frame's own limit
    clause_ends: frozenset[int] = frozenset()   # "yes, + send-verb": part 0 may end its clause

    @property
    def elements(self) -> tuple[str, ...]:
        return self.parts

    @property
    def name(self) -> str:
        return "+".join(self.parts)


_GAP = re.compile(r"\(gap (\d)\)\s*$")


def parse_pattern(text: str) -> Pattern:
    """ "stop-verb + messages" (in this order), "remove-verb & me" (any order), an optional
    "(gap N)" at the end (at most N words between neighbouring parts), and a comma after
    a part whose clause may end there ("yes, + send-verb" finds "Sí, mándenme las promos")."""
    gap = None
    found = _GAP.search(text)
    if found:
        gap, text_parts = int(found.group(1)), text[:found.start()]
    else:
        text_parts = text
    if "(" in text_parts or ")" in text_parts:
        raise FrameError("write a frame's own gap at its end, like \"stop-verb + this (gap 0)\"")
    text, original = text_parts, text
    if "+" in text and "&" in text:
        raise FrameError("use '+' (parts in this order) or '&' (in any order), not both")
    separator = "&" if "&" in text else "+"
    written = [part.strip() for part in text.split(separator)]
    clause_ends = frozenset(i for i, part in enumerate(written) if part.endswith(","))
    parts = tuple(part.rstrip(",").strip() for part in written)
    if any(not part for part in parts):
        raise FrameError(f"an empty part: write class names joined by '{separator}'")
    if not 2 <= len(parts) <= MAX_PARTS:
        raise FrameError(f"a frame has 2 to {MAX_PARTS} parts, like \"stop-verb + messages\"")
    if clause_ends and separator == "&":
        raise FrameError("a comma after a part (\"yes, + send-verb\") needs the order of '+'")
    if len(parts) - 1 in clause_ends:
        raise FrameError("a comma goes after a part that another part follows")
    return Pattern(original, parts, separator == "+", gap, clause_ends)


@functools.lru_cache(maxsize=4096)
def is_verb(name: str) -> bool:
    """Classes named "...-verb" (and opt-out keywords) are what a negation negates."""
    return name.endswith("-verb") or name == KEYWORD


@dataclass(frozen=True)
class Label:
    language: str
    name: str          # the class
    word: str          # the entry as the locale writes it
    typo: bool = False


class Occurrence(NamedTuple):
    """A word class (or negation, or keyword) found at tokens [start, end) of a message.
    A named tuple: a message makes dozens, and a frozen dataclass costs thrice as much to build."""
    start: int
    end: int
    language: str
    name: str
    word: str
    typo: bool = False


class WordIndex:
    """Which word classes a word (or phrase) of a message belongs to, in which languages."""

    def __init__(self) -> None:
        self._exact: dict[str, list[Label]] = {}
        self._prefix: dict[str, list[Label]] = {}
        self._suffix: dict[str, list[Label]] = {}
        self._prefix_lengths: list[int] = []
        self._suffix_lengths: list[int] = []
        self._memo: dict[str, tuple[Label, ...]] = {}
        self._typo_index: dict[str, set[str]] = {}
        self._not_typos: set[str] = set()
        self.longest_phrase = 1

    def add(self, language: str, name: str, entry: str, spellings: Spellings) -> None:
        text = entry.strip()
        core = normalize_text(text.strip("*"))
        label = Label(language, name, entry)
        if text.endswith("*"):
            _append(self._prefix, core, label)
        elif text.startswith("*"):
            _append(self._suffix, core, label)
        else:
            for variant in spellings.variants(language, tuple(core.split())):
                _append(self._exact, " ".join(variant), label)
                self.longest_phrase = max(self.longest_phrase, len(variant))

    def finish(self, spellings: Spellings, languages: list[str], not_typos: Iterable[str] = ()) -> None:
        """Spelled forms of words that a stem covers ("msg" for "mensagem" under "mensag*"),
        and the typo index of long class words."""
        self._not_typos = set(not_typos)
        for word in list(self._exact):
            if " " not in word and len(word) >= MIN_TYPO_WORD and not any(c.isdigit() for c in word):
                for variant in deletions(word) | {word}:
                    self._typo_index.setdefault(variant, set()).add(word)
        self._prefix_lengths = sorted({len(k) for k in self._prefix})
        self._suffix_lengths = sorted({len(k) for k in self._suffix})
        for language in languages:
            for typed, meant in spellings.single_words(language):
                for label in self._stem_labels(meant):
                    if label.language == language:
                        _append(self._exact, typed, label)
            # A word typed for several ("jveux" = "je veux", "menvoyer" = "m envoyer") carries
            # the classes of each of them.
            for typed, meant_words in spellings.contractions(language):
                for word in meant_words:
                    for label in [*self._exact.get(word, ()), *self._stem_labels(word)]:
                        if label.language == language:
                            _append(self._exact, typed, label)
        self._memo.clear()

    def vocabulary(self) -> list[str]:
        return [*self._exact, *self._prefix, *self._suffix]

    def labels(self, token: str) -> tuple[Label, ...]:
        found = self._memo.get(token)
        if found is None:
            found = tuple(dict.fromkeys([*self._exact.get(token, ()), *self._stem_labels(token)]))
            if not found:
                found = self._proclitic_labels(token)
            if not found and len(token) >= MIN_TYPO_WORD - 1 and token not in self._not_typos:
                found = self._typo_labels(token)
            if len(self._memo) >= WORD_MEMO_SIZE:
                self._memo.clear()
            self._memo[token] = found
        return found

    def _proclitic_labels(self, token: str) -> tuple[Label, ...]:
        """The classes a word has in Arabic or Hebrew behind a one- or two-letter proclitic
        written onto it ("واحذفوا" and, "بالرسائل" with, "ולהסיר" and to): a locale lists
        the word once, not with every letter that may join it."""
        for language, prefixes in PROCLITICS.items():
            for prefix in prefixes:
                if token.startswith(prefix) and len(token) - len(prefix) >= MIN_PROCLITIC_REST:
                    rest = token[len(prefix):]
                    found = tuple(dict.fromkeys(label for label in [*self._exact.get(rest, ()),
                                                                    *self._stem_labels(rest)]
                                                if label.language == language))
                    if found:
                        return found
        return ()

    def _typo_labels(self, token: str) -> tuple[Label, ...]:
        """The classes of a long class word one edit from `token`, marked as a typo."""
        if any(c.isdigit() for c in token):
            return ()
        candidates: set[str] = set()
        for variant in deletions(token) | {token}:
            candidates |= self._typo_index.get(variant, set())
        for word in sorted(candidates, key=lambda w: (abs(len(w) - len(token)), w)):
            # the first letter stays: "ميخوام" (I want) is no typo of "نميخوام" (I don't want)
            if word[0] == token[0] and one_edit(token, word):
                return tuple(Label(label.language, label.name, label.word, typo=True) for label in self._exact[word])
        return ()

    def _stem_labels(self, token: str) -> list[Label]:
        found: list[Label] = []
        for length in self._prefix_lengths:
            if length > len(token):
                break
            found.extend(self._prefix.get(token[:length], ()))
        for length in self._suffix_lengths:
            if length > len(token):
                break
            found.extend(self._suffix.get(token[-length:], ()))
        return found

    def occurrences(self, tokens: tuple[str, ...], clauses: tuple[int, ...]) -> list[Occurrence]:
        """Every class word and phrase of the message; a phrase stays inside one clause."""
        found: list[Occurrence] = []
        for i, token in enumerate(tokens):
            for label in self.labels(token):
                found.append(Occurrence(i, i + 1, label.language, label.name, label.word, label.typo))
            for size in range(2, min(self.longest_phrase, len(tokens) - i) + 1):
                if clauses[i + size - 1] != clauses[i]:
                    break
                for label in self._exact.get(" ".join(tokens[i:i + size]), ()):
                    found.append(Occurrence(i, i + size, label.language, label.name, label.word))
        return found


@dataclass(frozen=True)
class _Compiled:
    language: str
    kind: str
    pattern: Pattern
    sequence: tuple[str, ...]      # the parts in the order this reading looks for them
    gap: int


@dataclass(frozen=True)
class FrameMatch:
    language: str
    kind: str
    pattern: Pattern
    parts: tuple[Occurrence, ...]  # in message order

    @property
    def start(self) -> int:
        return min(p.start for p in self.parts)

    @property
    def end(self) -> int:
        return max(p.end for p in self.parts)

    @property
    def rule_name(self) -> str:
        return self.pattern.name


class FrameIndex:
    """Every pattern of every locale, found by the classes of its first two parts."""

    def __init__(self) -> None:
        # (class of part 1, class of part 2, language) -> patterns: one of a frame's first two
        # parts is a word of its own language (the other may be code-mixed, a negation or a keyword)
        self._by_pair: dict[tuple[str, str, str], list[_Compiled]] = {}
        self._any_language: dict[tuple[str, str], list[_Compiled]] = {}
        self._mixing: dict[str, frozenset[str]] = {}
        self._verb_starts: set[int] = set()
        self.widest_gap = 0

    def add(self, language: str, kind: str, pattern: Pattern, gap: int, mixing: list[str]) -> None:
        self._mixing[language] = frozenset(mixing)
        orders = [pattern.parts] if pattern.ordered else list(dict.fromkeys(itertools.permutations(pattern.parts)))
        gap = pattern.gap if pattern.gap is not None else gap
        if kind == QUOTING:
            gap = min(gap, QUOTING_GAP)
        for sequence in orders:
            compiled = _Compiled(language, kind, pattern, tuple(sequence), gap)
            self._by_pair.setdefault((sequence[0], sequence[1], language), []).append(compiled)
            self._any_language.setdefault((sequence[0], sequence[1]), []).append(compiled)
        self.widest_gap = max(self.widest_gap, gap)

    def __len__(self) -> int:
        return sum(len(v) for v in self._any_language.values())

    def match(self, occurrences: list[Occurrence], sentences: tuple[int, ...], clauses: tuple[int, ...],
              bound: dict[Occurrence, int | None]) -> list[FrameMatch]:
        """Every frame found among `occurrences` (class words, negations, keywords).

        `bound` gives, for each negation, the position of the verb it negates (None: no
        verb near it): a negation part must negate the frame's next part, so "don't
        stop sending me deals" is not the frame "negation + send-verb"."""
        if not self._by_pair:
            return []
        self._verb_starts = {o.start for o in occurrences if is_verb(o.name)}
        self._stop_starts = sorted({o.start for o in occurrences if o.name == STOP_VERB})
        self._contrasts = sorted((o.start, o.language) for o in occurrences if o.name == CONTRAST)
        by_start: dict[int, list[Occurrence]] = {}
        # A word is often in one class in many languages ("stop"): pairs are first tried by
        # class (and span), and only pairs some pattern has are tried language by language.
        groups: dict[tuple[int, int, str], list[Occurrence]] = {}
        for occurrence in occurrences:
            by_start.setdefault(occurrence.start, []).append(occurrence)
            groups.setdefault((occurrence.start, occurrence.end, occurrence.name), []).append(occurrence)
        groups_at: dict[int, list[tuple[int, str]]] = {}
        for start, end, name in groups:
            groups_at.setdefault(start, []).append((end, name))
        found: dict[tuple, FrameMatch] = {}
        for (start, end, name), firsts in groups.items():
            pairs: list[tuple[Occurrence, Occurrence]] = []
            for position in range(end, min(end + self.widest_gap + 1, len(sentences))):
                if sentences[position] != sentences[start]:
                    break
                for other_end, other_name in groups_at.get(position, ()):
                    if (name, other_name) in self._any_language:
                        pairs.extend((first, second) for first in firsts
                                     for second in groups[(position, other_end, other_name)])
            for first, second in pairs:
                if first.language == ANY_LANGUAGE and second.language == ANY_LANGUAGE:
                    candidates = self._any_language.get((first.name, second.name), ())
                else:
                    candidates = [c for language in {first.language, second.language} - {ANY_LANGUAGE}
                                  for c in self._by_pair.get((first.name, second.name, language), ())]
                for compiled in candidates:
                    if second.start - first.end > compiled.gap:
                        continue
                    if clauses[second.start] != clauses[first.end - 1] and 0 not in compiled.pattern.clause_ends:
                        continue
                    for parts in self._complete(compiled, [first, second], by_start, sentences, clauses, bound):
                        match = FrameMatch(compiled.language, compiled.kind, compiled.pattern,
                                           tuple(sorted(parts, key=lambda p: (p.start, p.end))))
                        found.setdefault((compiled.language, compiled.kind, compiled.pattern.text,
                                          match.parts), match)
        return list(found.values())

    @staticmethod
    def _following(occurrence: Occurrence, by_start: dict[int, list[Occurrence]], sentences: tuple[int, ...],
                   gap: int) -> list[Occurrence]:
        out: list[Occurrence] = []
        for start in range(occurrence.end, min(occurrence.end + gap + 1, len(sentences))):
            if sentences[start] != sentences[occurrence.start]:
                break
            out.extend(by_start.get(start, ()))
        return out

    def _complete(self, compiled: _Compiled, chosen: list[Occurrence], by_start, sentences, clauses, bound):
        if not self._fits(compiled, chosen, bound):
            return
        if len(chosen) == len(compiled.sequence):
            # Words of a code-mixed language fill at most half a frame: "will I still get my
            # order updates" is not a German frame because "will" is a German word.
            if sum(p.language == compiled.language for p in chosen) * 2 >= len(chosen):
                yield list(chosen)
            return
        wanted = compiled.sequence[len(chosen)]
        may_end = (len(chosen) - 1) in compiled.pattern.clause_ends
        for candidate in self._following(chosen[-1], by_start, sentences, compiled.gap):
            if candidate.name == wanted and (may_end or clauses[candidate.start] == clauses[chosen[-1].end - 1]):
                yield from self._complete(compiled, [*chosen, candidate], by_start, sentences, clauses, bound)

    def _fits(self, compiled: _Compiled, chosen: list[Occurrence], bound) -> bool:
        allowed = self._mixing.get(compiled.language, frozenset())
        for part in chosen if len(chosen) == 2 else chosen[-1:]:
            if part.language not in (compiled.language, ANY_LANGUAGE) and part.language not in allowed:
                return False
        last = chosen[-1]
        if len(chosen) >= 2:
            before = chosen[-2]
            if before.name == NEGATION and compiled.pattern.ordered:
                target = bound.get(before)
                if target is not None and before.end <= target < last.start:
                    return False      # the negation negates another verb, in between
            if STOP_VERB not in compiled.sequence and _any_between(self._stop_starts, before.end, last.start):
                return False          # "ما ابي اوقف الرسايل", "sitaki kuacha kupokea ofa": a frame
                #                       without a stop verb passes over one, which turns it around
            if self._contrasts and any(before.end <= start < last.start and language in (compiled.language, *allowed)
                                       for start, language in self._contrasts):
                return False          # "iptal edin ama mesajlar gelsin": cancel (something), but the
                #                       messages may come; a request does not reach across "but"
            if last.name == NEGATION and is_verb(before.name) and \
                    any(before.end <= p < last.start for p in self._verb_starts):
                return False          # "পাঠানো বন্ধ করবেন না": the negation follows "stop", not "send"
        return True


def _any_between(starts: list[int], low: int, high: int) -> bool:
    """Whether the sorted `starts` hold a position in [low, high)."""
    index = bisect.bisect_left(starts, low)
    return index < len(starts) and starts[index] < high


def _append(table: dict[str, list[Label]], key: str, label: Label) -> None:
    if key:
        entries = table.setdefault(key, [])
        if label not in entries:
            entries.append(label)
