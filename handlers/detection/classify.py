"""Keyword detection: which intent a customer's message expresses, and in which language to answer.

Matching (see docs/detection.md):
- whole-message: after normalisation the message consists only of keywords of one intent
  and polite fillers ("stop please", "¡BAJA!", "stop stop"). A negation right before
  the keyword ("don't stop") cancels it.
- anywhere: an unambiguous phrase ("unsubscribe", "darme de baja") found as a run of
  whole tokens anywhere in the message, unless a negation comes right before it.
- typo: one edit (insertion, deletion, substitution, adjacent swap) in a keyword long
  enough to bear it; such matches are marked uncertain for review.

Everything is looked up in dicts built once from the locales: exact normalised forms,
token n-grams for phrases, and a deletion-neighbourhood (SymSpell-style) index for
typos, so a message costs the same whatever the number of keywords.
"""
from __future__ import annotations

from dataclasses import dataclass

from handlers.detection.intents import INTENT_PRIORITY, Intent, Match
from handlers.detection.language import country_of, detect_language
from handlers.detection.locales import KEYWORD_INTENTS, Locale
from handlers.detection.normalize import Normalized, normalize, normalize_text

MAX_WHOLE_MESSAGE_TOKENS = 12    # longer messages are never "just a keyword"
MAX_NGRAM = 8                    # longest keyword / filler / negation considered, in tokens
MIN_TYPO_LENGTH = 4              # keywords shorter than this take no typo at all
MIN_ANY_EDIT_LENGTH = 5          # 4-letter keywords take only a swap or an extra letter
MIN_ANYWHERE_TYPO_LENGTH = 8     # inside longer text only long phrases take a typo
TYPO_MEMO_SIZE = 100_000         # tokens whose typo lookup is remembered (see _typo_hit)


@dataclass(frozen=True)
class Classification:
    intent: Intent               # Intent.NONE when nothing matched
    rule: str | None             # e.g. "whole_message:es:baja", "anywhere:ru:отписаться", "typo:en:stop"
    keyword: str | None          # the keyword as written in the locale file
    language: str | None         # language of the keyword if it belongs to exactly one language
    normalized: str              # the normalised text
    certain: bool                # False for borderline cases a person should review


@dataclass(frozen=True)
class _Entry:
    intent: Intent
    match: Match
    language: str
    keyword: str


@dataclass(frozen=True)
class _Hit:
    """One keyword found in the message."""
    key: str
    intent: Intent
    keyword: str
    language: str | None        # None when the key is shared by several languages
    rule_language: str          # the language named in the rule (first one for shared keys)
    declared: Match             # how the locale lists it (whole_message if any locale does)
    typo: bool
    start: int
    end: int


class Classifier:
    def __init__(self, locales: dict[str, Locale], default_language: str = "en"):
        if default_language not in locales:
            raise ValueError(f"default language {default_language!r} has no locale (have {sorted(locales)})")
        self._locales = dict(locales)
        self._default = default_language
        self._entries: dict[str, list[_Entry]] = {}     # normalised keyword -> where it is declared
        self._anywhere_lengths: set[int] = set()        # token counts of anywhere phrases
        self._fillers: set[str] = set()
        self._negations: set[str] = set()
        self._ordinary: set[str] = set()
        self._typo_index: dict[str, set[str]] = {}      # deletion variant -> keywords
        self._typo_memo: dict[tuple[str, bool], str | None] = {}  # (token, whole message) -> keyword
        self._country_language: dict[str, str] = {}
        for code in sorted(locales, key=lambda c: (c != default_language, c)):
            locale = locales[code]
            for country in locale.countries:
                self._country_language.setdefault(country, code)
            self._fillers.update(filter(None, map(normalize_text, locale.fillers)))
            self._negations.update(filter(None, map(normalize_text, locale.negations)))
            self._ordinary.update(filter(None, map(normalize_text, locale.ordinary_words)))
            for intent in KEYWORD_INTENTS:
                for match, words in locale.keywords.get(intent, {}).items():
                    for word in words:
                        key = normalize_text(word)
                        if not key:
                            continue
                        self._entries.setdefault(key, []).append(_Entry(intent, Match(match), code, word))
                        if Match(match) is Match.ANYWHERE:
                            self._anywhere_lengths.add(min(len(key.split()), MAX_NGRAM))
        for key in self._entries:
            if " " not in key and len(key) >= MIN_TYPO_LENGTH and not any(c.isdigit() for c in key):
                for variant in _deletions(key) | {key}:
                    self._typo_index.setdefault(variant, set()).add(key)
        # A token longer than this is more than one edit from every keyword.
        self._longest_typo_token = max((len(k) for k in self._entries if " " not in k), default=0) + 1
        self._max_ngram = min(MAX_NGRAM, max([len(k.split()) for k in
                                              [*self._entries, *self._fillers, *self._negations]] or [1]))

    @classmethod
    def from_locales(cls, locales: dict[str, Locale], default_language: str = "en") -> Classifier:
        return cls(locales, default_language)

    @property
    def languages(self) -> list[str]:
        return sorted(self._locales)

    @property
    def default_language(self) -> str:
        return self._default

    # --- classification -------------------------------------------------------------

    def classify(self, text: str) -> Classification:
        normalized = normalize(text)
        tokens = normalized.tokens
        if not tokens:
            return Classification(Intent.NONE, None, None, None, "", True)
        if len(tokens) <= MAX_WHOLE_MESSAGE_TOKENS:
            whole = self._whole_message(normalized)
            if whole is not None:
                return whole
        anywhere = self._anywhere(normalized)
        if anywhere is not None:
            return anywhere
        # Nothing matched, but a whole-message opt-out keyword inside a longer message
        # ("can I stop by tomorrow?") is worth a person's glance.
        contained = self._contains_whole_opt_out(tokens)
        if contained:
            return Classification(Intent.NONE, f"contains:{contained.language}:{contained.keyword}",
                                  contained.keyword, None, normalized.text, certain=False)
        return Classification(Intent.NONE, None, None, None, normalized.text, certain=True)

    def _whole_message(self, normalized: Normalized) -> Classification | None:
        """The message is keywords of one intent plus fillers (and maybe a negation)."""
        tokens, clauses = normalized.tokens, normalized.clauses
        n = len(tokens)
        # best[i]: cheapest cover of tokens[i:] as (cost, segments); cost counts segments, typos dear.
        best: list[tuple[int, list[tuple[str, _Hit | None]]] | None] = [None] * (n + 1)
        best[n] = (0, [])
        for i in range(n - 1, -1, -1):
            for size in range(1, min(self._max_ngram, n - i) + 1):
                rest = best[i + size]
                if rest is None:
                    continue
                key = " ".join(tokens[i:i + size])
                options: list[tuple[int, tuple[str, _Hit | None]]] = []
                hit = self._exact_hit(key, i, i + size)
                if hit:
                    options.append((1, ("keyword", hit)))
                if key in self._fillers:
                    options.append((1, ("filler", None)))
                if key in self._negations:
                    options.append((1, ("negation", None)))
                if size == 1 and not hit:
                    typo = self._typo_hit(key, i, whole_message=True)
                    if typo:
                        options.append((10, ("keyword", typo)))
                for cost, segment in options:
                    total = cost + rest[0]
                    current = best[i]
                    if current is None or total < current[0]:
                        best[i] = (total, [segment, *rest[1]])
        cover = best[0]
        if cover is None:
            return None
        segments = cover[1]
        hits: list[_Hit] = []
        negated: list[_Hit] = []
        for index, (kind, value) in enumerate(segments):
            if kind != "keyword" or value is None:
                continue
            previous = segments[index - 1] if index else None
            if previous and previous[0] == "negation" and clauses[value.start - 1] == clauses[value.start]:
                negated.append(value)
            else:
                hits.append(value)
        if not hits and not negated:
            return None
        text = normalized.text
        if negated and not hits:
            hit = negated[0]
            return Classification(Intent.NONE, f"negated:{hit.rule_language}:{hit.keyword}", hit.keyword,
                                  hit.language, text, certain=False)
        if negated:
            return None  # "stop, don't stop": leave it to the anywhere rules and a person
        intents = {hit.intent for hit in hits}
        hit = _best(hits)
        kind = "typo" if hit.typo else hit.declared.value
        certain = len(intents) == 1 and not any(h.typo for h in hits)
        return Classification(hit.intent, f"{kind}:{hit.rule_language}:{hit.keyword}", hit.keyword,
                              hit.language, text, certain)

    def _anywhere(self, normalized: Normalized) -> Classification | None:
        """An unambiguous phrase as a run of whole tokens, not preceded by a negation."""
        tokens, clauses = normalized.tokens, normalized.clauses
        hits: list[_Hit] = []
        negated: list[_Hit] = []
        for i in range(len(tokens)):
            for size in sorted(self._anywhere_lengths, reverse=True):
                if i + size > len(tokens):
                    continue
                key = " ".join(tokens[i:i + size])
                hit = self._exact_hit(key, i, i + size, only=Match.ANYWHERE)
                if hit is None and size == 1:
                    hit = self._typo_hit(key, i, whole_message=False)
                if hit is None:
                    continue
                (negated if self._negated_before(tokens, clauses, i) else hits).append(hit)
        text = normalized.text
        if hits:
            hit = _best(hits)
            kind = "typo" if hit.typo else Match.ANYWHERE.value
            certain = not hit.typo and len({h.intent for h in hits}) == 1
            return Classification(hit.intent, f"{kind}:{hit.rule_language}:{hit.keyword}", hit.keyword,
                                  hit.language, text, certain)
        if negated:
            hit = _best(negated)
            return Classification(Intent.NONE, f"negated:{hit.rule_language}:{hit.keyword}", hit.keyword,
                                  hit.language, text, certain=False)
        return None

    def _negated_before(self, tokens: tuple[str, ...], clauses: tuple[int, ...], start: int) -> bool:
        for size in range(1, min(self._max_ngram, start) + 1):
            begin = start - size
            if clauses[begin] == clauses[start] and " ".join(tokens[begin:start]) in self._negations:
                return True
        return False

    def _exact_hit(self, key: str, start: int, end: int, only: Match | None = None) -> _Hit | None:
        entries = self._entries.get(key)
        if not entries:
            return None
        if only is not None:
            entries = [e for e in entries if e.match is only]
            if not entries:
                return None
        return _hit_from(key, entries, start, end, typo=False)

    def _typo_hit(self, token: str, start: int, whole_message: bool) -> _Hit | None:
        """A keyword one edit away from `token`, via the deletion-neighbourhood index.

        Every token of every message is looked up; the answer depends on the token
        alone, so it is remembered (up to TYPO_MEMO_SIZE tokens, then forgotten at once)."""
        if len(token) > self._longest_typo_token:
            return None
        memo_key = (token, whole_message)
        if memo_key in self._typo_memo:
            key = self._typo_memo[memo_key]
        else:
            key = self._typo_keyword(token, whole_message)
            if len(self._typo_memo) >= TYPO_MEMO_SIZE:
                self._typo_memo.clear()
            self._typo_memo[memo_key] = key
        if key is None:
            return None
        return _hit_from(key, self._typo_entries(key, whole_message), start, start + 1, typo=True)

    def _typo_keyword(self, token: str, whole_message: bool) -> str | None:
        if len(token) < MIN_TYPO_LENGTH - 1 or token in self._entries or token in self._ordinary:
            return None
        if token in self._fillers or token in self._negations or any(c.isdigit() for c in token):
            return None
        candidates: set[str] = set()
        for variant in _deletions(token) | {token}:
            candidates |= self._typo_index.get(variant, set())
        for key in sorted(candidates, key=lambda k: (abs(len(k) - len(token)), k)):
            if not whole_message and len(key) < MIN_ANYWHERE_TYPO_LENGTH:
                continue
            if self._typo_entries(key, whole_message) and _one_edit(token, key):
                return key
        return None

    def _typo_entries(self, key: str, whole_message: bool) -> list[_Entry]:
        entries = self._entries[key]
        return entries if whole_message else [e for e in entries if e.match is Match.ANYWHERE]

    def _contains_whole_opt_out(self, tokens: tuple[str, ...]) -> _Entry | None:
        """The first whole-message opt-out keyword inside a longer message, if any."""
        for i in range(len(tokens)):
            for size in range(1, min(self._max_ngram, len(tokens) - i) + 1):
                for entry in self._entries.get(" ".join(tokens[i:i + size]), ()):
                    if entry.intent is Intent.OPT_OUT:
                        return entry
        return None

    # --- reply ----------------------------------------------------------------------

    def reply_language(self, classification: Classification, text: str, wa_id: str | None,
                       last_language: str | None) -> str:
        """Keyword's own language -> langdetect (3+ words) -> number's country -> last known -> default."""
        if classification.language in self._locales:
            return classification.language
        # Count words after normalisation: "S T O P" is one word, not four.
        words = classification.normalized.split() if classification.normalized else text.split()
        detected = detect_language(text, frozenset(self._locales)) if len(words) >= 3 else None
        if detected:
            return detected
        country = country_of(wa_id)
        if country in self._country_language:
            return self._country_language[country]
        if last_language in self._locales:
            return last_language
        return self._default

    def language_for_country(self, country: str | None) -> str | None:
        return self._country_language.get(country or "")

    def reply_text(self, intent: Intent, language: str) -> str:
        """The reply for `intent` in `language`, or in the default language if it has none."""
        locale = self._locales.get(language)
        reply = locale.replies.get(intent) if locale else None
        return reply or self._locales[self._default].replies[intent]


def explain(classifier: Classifier, text: str, wa_id: str | None = None,
            last_language: str | None = None) -> dict:
    """Everything `flask keywords test` shows: intent, rule, keyword, normalised text, reply."""
    result = classifier.classify(text)
    language = classifier.reply_language(result, text, wa_id, last_language)
    return {"intent": result.intent.value, "rule": result.rule, "keyword": result.keyword,
            "normalized": result.normalized, "language": language, "certain": result.certain,
            "reply": classifier.reply_text(result.intent, language) if result.intent is not Intent.NONE else None}


def format_explanation(explanation: dict) -> str:
    """Plain-text rendering of `explain()` for `flask keywords test`: one field a line,
    each value explained where a code alone would not be."""
    certain = ("yes" if explanation.get("certain") else
               "no: the message would wait in the review queue for a person to decide")
    lines = [("intent", explanation.get("intent")), ("rule", explanation.get("rule")),
             ("keyword", explanation.get("keyword")), ("normalized", explanation.get("normalized")),
             ("language", explanation.get("language")), ("certain", certain), ("reply", explanation.get("reply"))]
    return "\n".join(f"{key + ':':12} {'—' if value is None else value}" for key, value in lines)


def _hit_from(key: str, entries: list[_Entry], start: int, end: int, typo: bool) -> _Hit:
    intent = next(i for i in INTENT_PRIORITY if any(e.intent is i for e in entries))
    chosen = [e for e in entries if e.intent is intent]
    languages = {e.language for e in chosen}
    declared = Match.WHOLE if any(e.match is Match.WHOLE for e in chosen) else Match.ANYWHERE
    return _Hit(key, intent, chosen[0].keyword, languages.pop() if len(languages) == 1 else None,
                chosen[0].language, declared, typo, start, end)


def _best(hits: list[_Hit]) -> _Hit:
    return min(hits, key=lambda h: (INTENT_PRIORITY.index(h.intent), h.typo, h.start))


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


def _one_edit(typed: str, keyword: str) -> bool:
    """Exactly one edit apart; 4-letter keywords accept only an extra letter or a swap."""
    if typed == keyword:
        return False
    short = len(keyword) < MIN_ANY_EDIT_LENGTH
    if len(typed) == len(keyword):
        diff = [i for i in range(len(typed)) if typed[i] != keyword[i]]
        if len(diff) == 2 and diff[1] == diff[0] + 1 and typed[diff[0]] == keyword[diff[1]] \
                and typed[diff[1]] == keyword[diff[0]]:
            return True
        return len(diff) == 1 and not short
    if len(typed) == len(keyword) + 1:
        return any(typed[:i] + typed[i + 1:] == keyword for i in range(len(typed)))
    if len(typed) + 1 == len(keyword) and not short:
        return any(keyword[:i] + keyword[i + 1:] == typed for i in range(len(keyword)))
    return False


def classify_words(classifier: Classifier, words: tuple[str, ...]) -> tuple[Classification, str]:
    """Classify each of the user's strings (a button's payload and its label, say) and
    return the decisive result with the text it came from. An opt-out anywhere wins,
    so a stop request is never outvoted."""
    results = [(classifier.classify(text), text) for text in words]
    for intent in INTENT_PRIORITY:
        for result, text in results:
            if result.intent is intent:
                return result, text
    uncertain = [(result, text) for result, text in results if not result.certain]
    if uncertain or results:
        return (uncertain or results)[0]
    return Classification(Intent.NONE, None, None, None, "", True), ""
