"""Request detection: which intent a customer's message expresses, and in which language to answer.

Matching (see docs/detection.md):
- whole-message: after normalisation the message consists only of keywords of one intent
  and polite fillers ("stop please", "¡BAJA!", "stop stop"). A negation right before
  the keyword ("don't stop") cancels it. A clause made only of such words inside a
  longer message ("Wrong number. STOP") counts too.
- anywhere: an unambiguous phrase ("unsubscribe", "darme de baja") found as a run of
  whole tokens anywhere in the message.
- frames: a request in the customer's own words, found as word classes combined by a
  locale's patterns ("Перестаньте мне писать": stop-verb + send-verb), see frames.py.
- typo: one edit (insertion, deletion, substitution, adjacent swap) in a keyword long
  enough to bear it; such matches are marked uncertain for review.
- guards (guards.py): a negation, another object, quoting or a how-question turn a
  request found by the rules above into none, review or help.

Everything is looked up in dicts built once from the locales: exact normalised forms,
token n-grams for phrases, stems, frames by the classes of two neighbouring parts, and
a deletion-neighbourhood (SymSpell-style) index for typos, so a message costs the same
whatever the number of keywords and frames.
"""
from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from handlers.detection import guards
from handlers.detection.buttons import ButtonReply, ButtonRules
from handlers.detection.frames import (
    KEYWORD,
    NEGATION,
    FrameIndex,
    FrameMatch,
    Occurrence,
    WordIndex,
    is_verb,
    parse_pattern,
)
from handlers.detection.intents import INTENT_PRIORITY, Intent, Match
from handlers.detection.language import country_of, detect_language
from handlers.detection.locales import KEYWORD_INTENTS, Locale
from handlers.detection.normalize import Normalized, capitals_heading_end, normalize, normalize_text
from handlers.detection.segment import JoinedWords, Segmenter
from handlers.detection.spelling import Spellings
from handlers.detection.typos import deletions, one_edit

MAX_WHOLE_MESSAGE_TOKENS = 12    # longer messages are never "just a keyword"
MAX_NGRAM = 8                    # longest keyword / filler / negation considered, in tokens
MIN_TYPO_LENGTH = 4              # keywords shorter than this take no typo at all
MIN_ANYWHERE_TYPO_LENGTH = 8     # inside longer text only long phrases take a typo
TYPO_MEMO_SIZE = 100_000         # tokens whose typo lookup is remembered (see _typo_hit)
MAX_READ_CHARS = 16_384          # a message is read this far: a request sits at its start, not
                                 # after 16,000 characters (and 2.5 MB of "stop stop ..." stays cheap)
MAX_PARTIAL_SENTENCE = 3         # a stop word heading a sentence this short is worth a person's glance
OPT_IN_DOUBTS = frozenset({"what-question", "who-question"})   # "why do you keep sending...?" is no opt-in
FRAME_INTENTS = {"opt_out": Intent.OPT_OUT, "opt_in": Intent.OPT_IN, "help": Intent.HELP}
CLASSIFIERS_KEPT = 3             # built classifiers remembered by the contents they were built from
QUOTING = "quoting"
MAX_JOINED_MESSAGE_TOKENS = 4    # words typed without spaces are looked for in messages this short
REMEMBERED_TEXT_CHARS = 200      # classify_remembered keeps results for texts this short ("ok", "Gracias!", "STOP")
REMEMBERED_TEXTS = 4096          # ... this many, least recently used first out (about 3 MB of everyday replies)


@dataclass(frozen=True)
class Classification:
    intent: Intent               # Intent.NONE when nothing matched
    rule: str | None             # e.g. "whole_message:es:baja", "frame:ru:stop-verb+send-verb", "typo:en:stop"
    keyword: str | None          # the keyword (or the frame's words) as written in the locale file
    language: str | None         # language of the keyword if it belongs to exactly one language
    normalized: str              # the normalised text
    certain: bool                # False for borderline cases a person should review
    languages: frozenset[str] = frozenset()   # when `language` is None: the languages the match may be in


_UNSEEN = object()
_BUILT: dict[str, Classifier] = {}
_BUILT_LOCK = threading.Lock()


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
    languages: frozenset[str] = frozenset()   # every language listing the key


@dataclass
class _Evidence:
    """A request found in a message (a keyword, a frame, a keyword-only clause), and what
    may stand against it."""
    intent: Intent
    kind: str                   # anywhere, typo, frame, clause
    name: str                   # the keyword or the frame's name, for the rule
    keyword: str
    language: str | None
    rule_language: str
    start: int
    end: int
    parts: tuple[Occurrence, ...]
    guard: str | None = None    # negated, other-object, quoted, question, how, reported
    guard_word: str | None = None
    guard_at: Occurrence | None = None   # the other object that guards it
    refused: bool = False       # reported or quoted, and refused by a negation after it ("... but no")
    uncertain: bool = False
    asked: bool = False         # quoted in a question: "what happens if I reply STOP?"
    complains: bool = False     # a keyword clause before words about another object ("Enough. Wrong size again")
    languages: frozenset[str] = frozenset()   # when `language` is None: the languages sharing the match

    @property
    def rule(self) -> str:
        return f"{self.kind}:{self.rule_language}:{self.name}"


@dataclass
class _Reading:
    """What the sentence rules find in one message."""
    normalized: Normalized
    evidence: list[_Evidence] = field(default_factory=list)


class Classifier:
    def __init__(self, locales: dict[str, Locale], default_language: str = "en", buttons: ButtonRules | None = None):
        if default_language not in locales:
            raise ValueError(f"default language {default_language!r} has no locale (have {sorted(locales)})")
        self._locales = dict(locales)
        self._default = default_language
        self.buttons = buttons or ButtonRules()
        # One instance per set of locales, immutable once built: what it said of a text holds
        # for as long as it is the classifier; a keyword edit builds another, with its own.
        self._remembered: OrderedDict[str, Classification] = OrderedDict()
        self._remembered_lock = threading.Lock()
        self._spellings = Spellings({code: locale.spelling for code, locale in locales.items()})
        self._entries: dict[str, list[_Entry]] = {}     # normalised keyword (and spelled forms) -> declarations
        self._fillers: set[str] = set()
        self._negations: set[str] = set()
        # Within sentences a negation negates in its own languages only: Italian "mai" (never) is
        # Romanian "more", Spanish "ni" is Swedish "you".
        self._negation_languages: dict[str, set[str]] = {}
        self._ordinary: set[str] = set()
        self._typo_index: dict[str, set[str]] = {}      # deletion variant -> keywords
        self._typo_memo: dict[tuple[str, bool], str | None] = {}  # (token, whole message) -> keyword
        self._country_language: dict[str, str] = {}
        self._words = WordIndex()
        self._keyword_languages: dict[str, list[tuple[str, str]]] = {}
        self._frames = FrameIndex()
        self._ours: set[str] = set()                   # classes that are a request's own objects
        self._mixing = {code: tuple(locale.code_mixing) for code, locale in locales.items()}
        self._mixed_into: dict[str, set[str]] = {}      # language -> the languages that mix it in
        for code, mixed in self._mixing.items():
            for other in mixed:
                self._mixed_into.setdefault(other, set()).add(code)
        # Languages where a negation may follow the verb it negates ("sluta inte"): the file
        # says, or the engine's default for the language.
        self._after_verb = frozenset(code for code, locale in locales.items() if (
            locale.negation_after_verb if locale.negation_after_verb is not None
            else code in guards.NEGATION_AFTER_VERB))
        self._opening_verbs: set[tuple[str, str]] = set()   # (language, verb class) opening an opt-out frame
        self._request_words: set[tuple[str, str]] = set()   # (language, class) of any opt-out frame
        written: set[str] = set()                      # keywords as written (typos are read against these)
        for code in sorted(locales, key=lambda c: (c != default_language, c)):
            locale = locales[code]
            for country in locale.countries:
                self._country_language.setdefault(country, code)
            self._fillers.update(self._spelled(code, locale.fillers))
            written_negations = set(filter(None, map(normalize_text, locale.negations)))
            self._negations.update(written_negations)
            for phrase in self._spelled(code, locale.negations):
                self._negation_languages.setdefault(phrase, set()).add(code)
            self._ordinary.update(filter(None, map(normalize_text, locale.ordinary_words)))
            for intent in KEYWORD_INTENTS:
                for match, words in locale.keywords.get(intent, {}).items():
                    for word in words:
                        key = normalize_text(word)
                        if not key:
                            continue
                        written.add(key)
                        for variant in self._spelled(code, [word]):
                            self._entries.setdefault(variant, []).append(_Entry(intent, Match(match), code, word))
            for name, entries in locale.words.items():
                for entry in entries:
                    self._words.add(code, name, entry, self._spellings)
            for kind, patterns in locale.frames.items():
                for text in patterns:
                    pattern = parse_pattern(text)
                    self._frames.add(code, kind, pattern, locale.frame_gap, locale.code_mixing)
                    if kind == "opt_out":
                        self._request_words.update((code, part) for part in pattern.parts
                                                   if part not in (KEYWORD, "negation", guards.OTHER_OBJECT))
                        if is_verb(pattern.parts[0]) and pattern.parts[0] != KEYWORD:
                            self._opening_verbs.add((code, pattern.parts[0]))
            self._ours.update(locale.frame_objects)
        self._words.finish(self._spellings, sorted(locales), self._ordinary)
        for key in written:
            if " " not in key and len(key) >= MIN_TYPO_LENGTH and not any(c.isdigit() for c in key):
                for variant in deletions(key) | {key}:
                    self._typo_index.setdefault(variant, set()).add(key)
        # A token longer than this is more than one edit from every keyword.
        self._longest_typo_token = max((len(k) for k in written if " " not in k), default=0) + 1
        self._max_ngram = min(MAX_NGRAM, max([len(k.split()) for k in
                                              [*self._entries, *self._fillers, *self._negations]] or [1]))
        self._skippable = {f for f in self._fillers if " " not in f}
        vocabulary = [*self._entries, *self._fillers, *self._negations, *self._words.vocabulary(), *self._ordinary]
        self._joined = JoinedWords(*_joined_vocabulary(locales))
        # Languages written in another script, whose locales also read them in Latin letters
        # (Arabizi, Hinglish, Greeklish, romanised Russian): told by their opt-out reply.
        self._romanised = frozenset(code for code, locale in locales.items()
                                    if not _mostly_latin(locale.replies.get(Intent.OPT_OUT, "")))
        self._known = set(vocabulary)
        self._segmenter = Segmenter((word for phrase in vocabulary for word in phrase.split()),
                                    (word for phrase in self._entries for word in phrase.split()))

    def _spelled(self, language: str, phrases: list[str]) -> set[str]:
        """Normalised phrases of a language with the forms its [spelling] table allows."""
        out: set[str] = set()
        for phrase in phrases:
            key = normalize_text(phrase)
            if key:
                out.update(" ".join(v) for v in self._spellings.variants(language, tuple(key.split())))
        return out

    @classmethod
    def from_locales(cls, locales: dict[str, Locale], default_language: str = "en",
                     buttons: ButtonRules | None = None) -> Classifier:
        """A classifier for these locales; the same contents give the same (immutable once
        built) classifier, so the CLI, tests and workers built alike do not index twice."""
        key = repr((default_language, sorted(locales.items()), buttons))
        with _BUILT_LOCK:
            built = _BUILT.pop(key, None)
            if built is None:
                built = cls(locales, default_language, buttons)
            _BUILT[key] = built
            while len(_BUILT) > CLASSIFIERS_KEPT:
                _BUILT.pop(next(iter(_BUILT)))
        return built

    @property
    def languages(self) -> list[str]:
        return sorted(self._locales)

    @property
    def default_language(self) -> str:
        return self._default

    @property
    def frame_count(self) -> int:
        return len(self._frames)

    # --- classification -------------------------------------------------------------

    def classify_remembered(self, text: str) -> Classification:
        """classify(text), remembered for short texts: the replies a business receives over
        and over ("ok", "thanks", "👍", "STOP") are read once per process and classifier.
        The webhook's path; classify() itself always reads (the accuracy and speed
        benchmarks, `flask keywords test`)."""
        if len(text) > REMEMBERED_TEXT_CHARS:
            return self.classify(text)
        with self._remembered_lock:
            found = self._remembered.get(text)
            if found is not None:
                self._remembered.move_to_end(text)
                return found
        result = self.classify(text)
        # A short text can normalise long (U+FDFA is 18 letters): only what stays short is kept,
        # so a sender of such texts cannot make the memory hold more than its bound.
        if len(result.normalized) <= REMEMBERED_TEXT_CHARS:
            with self._remembered_lock:
                self._remembered[text] = result
                while len(self._remembered) > REMEMBERED_TEXTS:
                    self._remembered.popitem(last=False)
        return result

    def classify(self, text: str) -> Classification:
        normalized = self._filler_clauses_joined(self._segmenter.split(normalize(text[:MAX_READ_CHARS])))
        if not normalized.tokens:
            return Classification(Intent.NONE, None, None, None, "", True)
        found = self._classify(normalized)
        if (found.intent is Intent.NONE or not found.certain) and len(normalized.tokens) <= MAX_JOINED_MESSAGE_TOKENS:
            # "removeme", "darmedebaja", "afmeldenaub": words typed without spaces (read before a typo)
            spaced = self._joined_split(normalized)
            if spaced is not None:
                again = self._classify(spaced)
                if again.intent is not Intent.NONE and (found.intent is Intent.NONE or again.certain):
                    return again
        if found.intent is Intent.NONE and (found.rule is None or found.rule.startswith("partial:")):
            return self._heading_opt_out(text[:MAX_READ_CHARS]) or found
        return found

    def _heading_opt_out(self, text: str) -> Classification | None:
        """Words in capitals opening a message otherwise written ("STOP ما أبي شي منكم",
        "STOP STOP STOP how many times do I have to say it") read as a clause of their own,
        as if a comma followed them, when they are an opt-out keyword and the message says
        nothing else a rule understands. "DONT stop sending me deals" keeps its negation
        ("dont" is no keyword); "STOP लिखने से क्या होगा?" stays a question about STOP."""
        if capitals_heading_end(text) is None:
            return None
        headed = self._filler_clauses_joined(self._segmenter.split(normalize(text, heading=True)))
        size = headed.clauses.count(headed.clauses[0])
        if size >= len(headed.tokens):
            return None
        head = Normalized(headed.tokens[:size], headed.clauses[:size], headed.sentences[:size], frozenset(),
                          headed.quoted[:size])
        whole = self._whole_message(head)
        if whole is None or whole.intent is not Intent.OPT_OUT or not whole.certain:
            return None
        found = self._classify(headed)
        if found.intent is Intent.OPT_OUT:
            return found
        if found.rule is not None and found.rule.startswith("partial:") and not headed.questions:
            # "STOP أرجوك", "СТОП я сказал": beside words no rule reads, the keyword in
            # capitals is still applied, and a person looks ("BAJA California tiene envíos?"
            # asks something: not applied)
            return Classification(Intent.OPT_OUT, "clause:" + found.rule.split(":", 1)[1], found.keyword,
                                  found.language, found.normalized, certain=False, languages=found.languages)
        return None

    def _joined_split(self, normalized: Normalized) -> Normalized | None:
        """The message with each unknown token that is words typed without spaces cut into
        them, or None when there is none."""
        tokens: list[str] = []
        clauses: list[int] = []
        sentences: list[int] = []
        quoted: list[bool] = []
        cut = False
        for index, token in enumerate(normalized.tokens):
            pieces = None
            if token not in self._known and all(label.typo for label in self._words.labels(token)):
                pieces = self._joined.split(token)
            cut |= pieces is not None
            for piece in pieces or (token,):
                tokens.append(piece)
                clauses.append(normalized.clauses[index])
                sentences.append(normalized.sentences[index])
                quoted.append(normalized.quoted[index])
        if not cut:
            return None
        return Normalized(tuple(tokens), tuple(clauses), tuple(sentences), normalized.questions, tuple(quoted))

    def _classify(self, normalized: Normalized) -> Classification:
        tokens = normalized.tokens
        short = normalized if len(tokens) <= MAX_WHOLE_MESSAGE_TOKENS else _without_repeats(normalized)
        if len(short.tokens) <= MAX_WHOLE_MESSAGE_TOKENS:
            whole = self._whole_message(short)
            if whole is not None:
                return whole
        return self._decide(self._read(normalized))

    def _filler_clauses_joined(self, normalized: Normalized) -> Normalized:
        """A clause of nothing but fillers joins the clause before it in its sentence (and the
        one after): in "Удалите, пожалуйста, мой номер" the commas around "please" do not
        part the verb from its object, and "Para, por favor" after a complaint is one
        request, as it is alone. A filler opening a sentence ("No gracias, prefiero no
        recibir...") stays apart: its "no" would negate what follows."""
        clauses = list(normalized.clauses)
        if len(set(clauses)) < 2:
            return normalized
        tokens, sentences = normalized.tokens, normalized.sentences
        i = 0
        while i < len(tokens):
            j = i
            while j < len(tokens) and clauses[j] == clauses[i]:
                j += 1
            before = 0 < i and sentences[i - 1] == sentences[i]
            after = j < len(tokens) and sentences[j] == sentences[i]
            if before and " ".join(tokens[i:j]) in self._fillers:
                joined, following = clauses[i - 1], clauses[j] if after else clauses[i]
                k = i
                while k < len(tokens) and clauses[k] in (clauses[i], following):
                    clauses[k] = joined
                    k += 1
                j = k
            i = j
        return Normalized(tokens, tuple(clauses), sentences, normalized.questions, normalized.quoted)

    def _read(self, normalized: Normalized) -> _Reading:
        """Keywords, frames and keyword-only clauses of a message, each with its guard."""
        tokens, clauses, sentences = normalized.tokens, normalized.clauses, normalized.sentences
        reading = _Reading(normalized)
        anywhere_hits, keyword_parts = self._keywords_in(tokens)
        classes = self._words.occurrences(tokens, clauses)
        anywhere_parts = [Occurrence(h.start, h.end, "*", KEYWORD, h.keyword) for h in anywhere_hits]
        negations = guards.negation_occurrences(tokens, clauses, self._negation_languages, self._max_ngram,
                                                classes + anywhere_parts)
        verbs = [o for o in classes + keyword_parts if is_verb(o.name)]
        bound = guards.bind(negations, verbs, clauses)
        negates = guards.negated_positions(bound, verbs, clauses)
        matches = self._frames.match(classes + negations + keyword_parts, sentences, clauses, bound)
        known: list[dict[str, int]] = []

        def support() -> dict[str, int]:
            """_language_support of this message, counted once when first needed."""
            if not known:
                known.append(self._language_support(tokens))
            return known[0]

        if any(m.language in self._romanised or self._mixed(m) for m in matches):
            matches = [m for m in matches if not self._romanised_elsewhere(m, tokens, support())
                       and not self._mixed_into_the_other(m, tokens, support())]
        if any(m.kind == QUOTING for m in matches):
            # "Stop send me message": no Hindi "STOP send" (send STOP) when every word the
            # message has in Hindi is English too; "STOP send kar diya galti se" stays quoted
            requests = [(h.start, h.end, h.rule_language) for h in anywhere_hits if h.intent is Intent.OPT_OUT]
            requests += [(m.start, m.end, m.language) for m in matches if FRAME_INTENTS.get(m.kind) is Intent.OPT_OUT]
            matches = [m for m in matches if m.kind != QUOTING or not self._quoted_in_a_language_not_there(
                m, tokens, requests)]
        # "I already said STOP", "how many times do I have to say stop": a request repeated, not mentioned
        repeated = {o.start: sentences[o.start] for o in classes if o.name == guards.SAID_BEFORE}
        matches = [m for m in matches if m.kind != QUOTING or not guards.said_before(m.start, repeated, sentences)]
        quoted = {(p.start, p.end) for m in matches if m.kind == QUOTING for p in m.parts if p.name == KEYWORD}
        quoted |= {(p.start, p.end) for p in keyword_parts if all(normalized.quoted[p.start:p.end])
                   and not guards.said_before(p.start, repeated, sentences)}

        for hit in anywhere_hits:
            part = Occurrence(hit.start, hit.end, "*", KEYWORD, hit.keyword)
            reading.evidence.append(_Evidence(hit.intent, "typo" if hit.typo else Match.ANYWHERE.value, hit.keyword,
                                              hit.keyword, hit.language, hit.rule_language, hit.start, hit.end,
                                              (part,), uncertain=hit.typo, languages=hit.languages))
        alike: dict[tuple, list[FrameMatch]] = {}
        for match in matches:
            alike.setdefault((match.kind, match.parts), []).append(match)
        for match in matches:
            if match.kind in FRAME_INTENTS:
                reading.evidence.append(self._frame_evidence(match, alike[(match.kind, match.parts)]))
            elif match.kind == QUOTING:
                # "what happens if I reply STOP?": the keyword is mentioned, and a person looks
                keyword = next(p for p in match.parts if p.name == KEYWORD)
                reading.evidence.append(_Evidence(Intent.OPT_OUT, "quoted", keyword.word, keyword.word, None,
                                                  match.language, keyword.start, keyword.end, match.parts,
                                                  guard="quoted"))
        reading.evidence.extend(self._keyword_clauses(normalized, classes))
        classes.sort(key=lambda o: o.start)
        class_starts = [o.start for o in classes]
        negations.sort(key=lambda o: o.start)
        negation_starts = [n.start for n in negations]
        wants = guards.chain_verbs(classes)
        # "how many times do I have to say...": a said-before phrase asks nothing
        hows = [o for o in classes if o.name == guards.HOW_QUESTION and not any(
            r.name == guards.SAID_BEFORE and r.start <= o.start < r.end for r in classes)]
        reading.evidence.extend(self._stop_words_heading(normalized, keyword_parts, classes))
        doubting: dict[int, set[str]] = {}      # sentence -> languages of its why/who words
        for o in classes:
            if o.name in OPT_IN_DOUBTS:
                doubting.setdefault(sentences[o.start], set()).add(o.language)
        negated_at = set().union(*negates.values())
        for evidence in reading.evidence:
            if evidence.guard is not None:
                continue
            languages = None if evidence.language is None else {
                evidence.language, *self._mixing.get(evidence.language, ())}
            low = bisect.bisect_left(negation_starts, evidence.start - guards.NEGATION_REACH)
            high = bisect.bisect_right(negation_starts, evidence.end)
            near = {n: negates[n] for n in negations[low:high]}
            if languages is not None and any(n.language not in languages for n in near) and self._latin(
                    evidence, tokens):
                # "Stop niet met die deals hoor": an English frame in a Dutch message is negated
                # in Dutch (the languages the message is more of, in Latin-letter words)
                own = support().get(evidence.rule_language, 0)
                languages |= {n.language for n in near if support().get(n.language, 0) > own}
            if evidence.kind != "clause" and guards.is_negated(evidence.parts, near, languages, self._after_verb,
                                                               self._says_no_more(evidence.parts), clauses):
                evidence.guard = "negated"
            elif evidence.rule_language in self._after_verb and not self._says_no_more(evidence.parts) \
                    and guards.fronted_and_negated(evidence.start, evidence.end, wants, negations, clauses,
                                                   evidence.rule_language):
                evidence.guard = "negated"      # "abmelden will ich mich nicht": the request fronted
            if evidence.guard == "negated" and evidence.intent is Intent.OPT_OUT and self._threatened(
                    evidence, classes, tokens, clauses, sentences, negated_at, list(near)):
                evidence.guard = None           # "Si no dejan de mandarme mensajes los voy a denunciar"
            if evidence.guard is not None:
                pass                            # negated: the checks below are for a request not negated
            elif evidence.intent is Intent.OPT_OUT and any(
                    start < evidence.end and evidence.start < end and (evidence.kind != "frame" or any(
                        p.start < end and start < p.end and is_verb(p.name) for p in evidence.parts))
                    for start, end in quoted):
                evidence.guard = "quoted"      # "I replied STOP by mistake": the stop is mentioned
            elif evidence.intent is Intent.OPT_OUT and evidence.kind == "clause" and (
                    sentences[evidence.start] in normalized.questions):
                evidence.guard = "question"      # "STOP?" asks; "Why do you send these every day? STOP" does not
            elif evidence.intent is Intent.OPT_IN and evidence.kind == "frame" and sentences[evidence.start] in (
                    normalized.questions) and doubting.get(sentences[evidence.start], set()) & {
                    evidence.rule_language, *self._mixing.get(evidence.rule_language, ())}:
                # "Why do you keep sending these?" complains, it asks for nothing; a why/who word
                # of another language does not ("j'ai" is no Vietnamese "ai", who)
                evidence.guard = "question"
            if evidence.guard is None and evidence.intent is not Intent.HELP:
                languages = {evidence.rule_language, *self._mixing.get(evidence.rule_language, ())}
                low = bisect.bisect_left(class_starts, evidence.start - guards.OTHER_OBJECT_WINDOW - MAX_NGRAM)
                high = bisect.bisect_right(class_starts, evidence.end + guards.OTHER_OBJECT_WINDOW)
                window = classes[low:high]
                if any(o.name == guards.OTHER_OBJECT and o.language not in languages for o in window):
                    nearby = self._own_kind(evidence, window, tokens, support)
                else:
                    nearby = window if evidence.language is None else [o for o in window if o.language in languages]
                # a word the request's own language reads otherwise is not another language's
                # object: the Italian verb "mandate" is no English "mandate"
                read = {o.start for o in window if o.language == evidence.rule_language and o.name != guards.OTHER_OBJECT}
                nearby = [o for o in nearby if o.name != guards.OTHER_OBJECT or o.language == evidence.rule_language
                          or o.start not in read]
                about = any(p.name in self._ours or p.name in guards.SENDING for p in evidence.parts) or any(
                    (o.name in self._ours and clauses[o.start] == clauses[evidence.start])
                    or (o.name in guards.SENDING and evidence.start <= o.start < evidence.end) for o in nearby)
                other = guards.other_object(evidence.start, evidence.end, nearby, self._ours, sentences, clauses,
                                            about, tokens)
                if other is not None:
                    evidence.guard, evidence.guard_word, evidence.guard_at = guards.OTHER_OBJECT, other.word, other
            if evidence.guard is None and (evidence.kind == "partial" or evidence.complains):
                evidence.guard = "partial"
            if evidence.guard is None and evidence.intent is Intent.OPT_OUT:
                low = bisect.bisect_left(class_starts, evidence.start - guards.REPORTED_WINDOW - MAX_NGRAM)
                high = bisect.bisect_right(class_starts, evidence.end + guards.REPORTED_WINDOW)
                said = guards.reported(evidence.start, evidence.end, self._own_kind(
                    evidence, classes[low:high], tokens, support), sentences, clauses)
                if said is not None:
                    evidence.guard, evidence.guard_word = guards.REPORTED, said.word
            if evidence.guard is None and evidence.intent is not Intent.HELP:
                # "If I unsubscribe, do I lose my points?", "Если случайно заблокирую номер, баллы
                # сгорят?" (not the "by mistake" opt-in): asked about, not requested
                low = bisect.bisect_left(class_starts, evidence.start - guards.NEGATION_REACH)
                high = bisect.bisect_right(class_starts, evidence.end + guards.NEGATION_REACH)
                condition = guards.conditional(evidence.start, evidence.end, self._own_kind(
                    evidence, classes[low:high], tokens, support), tokens, sentences, clauses,
                    normalized.questions, self._skippable)
                if condition is not None:
                    evidence.guard, evidence.guard_word = guards.CONDITION, condition.word
            if evidence.guard is None and evidence.intent is Intent.OPT_OUT:
                how = guards.asks_how(evidence.start, evidence.end, hows, tokens, sentences,
                                      normalized.questions, self._skippable)
                if how is not None:
                    evidence.guard, evidence.guard_word = "how", how.word
        # "No need to unsubscribe me": a keyword negated in its language is negated in another
        # language's frame built on the same words (Hindi "me" is English "me")
        negated_verbs = {(i, e.rule_language) for e in reading.evidence if e.guard == "negated"
                         and e.intent is Intent.OPT_OUT and e.kind != "frame" and not self._says_no_more(e.parts)
                         for i in range(e.start, e.end)}
        for evidence in reading.evidence:
            if evidence.guard is None and evidence.intent is Intent.OPT_OUT and evidence.kind == "frame" \
                    and not self._says_no_more(evidence.parts) and any(
                        position == i and language != evidence.rule_language for position, language in negated_verbs
                        for p in evidence.parts if is_verb(p.name) for i in range(p.start, p.end)):
                evidence.guard = "negated"
        # "I want to cancel my subscription to the gym": the other object one language sees
        # guards another language's frame on the same verb ("cancel" inside a Tagalog frame)
        # (when it is an object this frame's language would meet: not the Vietnamese "món",
        # folded to "mon", that a Romanian "anulez" meets in "Annulez mon inscription")
        elsewhere = {(p.start, e.rule_language): e.guard_at for e in reading.evidence
                     if e.guard == guards.OTHER_OBJECT and e.guard_at is not None for p in e.parts if is_verb(p.name)}
        for evidence in reading.evidence:
            if evidence.guard is None and evidence.intent is Intent.OPT_OUT and evidence.kind == "frame":
                seen = [other for (start, language), other in elsewhere.items() if language != evidence.rule_language
                        and any(p.start == start and is_verb(p.name) for p in evidence.parts)]
                if seen:
                    met = self._own_kind(evidence, seen, tokens, support)
                    if met:
                        evidence.guard, evidence.guard_word, evidence.guard_at = guards.OTHER_OBJECT, met[0].word, met[0]
        # "my husband says I should unsubscribe lol, but no", "Suami suruh unsubscribe wkwk tapi
        # gak deh": a request reported or mentioned, and a negation of the sender's own after it
        # (not at once: "unsubscribe not" is no refusal) refuses it; a person need not look
        for evidence in reading.evidence:
            if evidence.guard in (guards.REPORTED, "quoted"):
                later = [n for n in negations if n.start > evidence.end and not n.typo]
                evidence.refused = bool(later) and bool(self._own_kind(evidence, later, tokens, support))
        quotes = [evidence for evidence in reading.evidence if evidence.guard == "quoted"]
        if quotes:
            asking = guards.asking_sentences(classes, sentences, normalized.questions)
            for evidence in quotes:
                evidence.asked = sentences[evidence.start] in asking
        return reading

    @staticmethod
    def _latin(evidence: _Evidence, tokens: tuple[str, ...]) -> bool:
        return all(_mostly_latin(tokens[i]) for p in evidence.parts for i in range(p.start, p.end))

    def _own_kind(self, evidence: _Evidence, window: list[Occurrence], tokens: tuple[str, ...],
                  support: Callable[[], dict[str, int]]) -> list[Occurrence]:
        """The class words near a request that may guard it: those of its language and the
        languages it mixes with; in Latin letters also those of a language the message is more
        of ("me cancelan la cuenta": a Portuguese frame in a Spanish message), and for a keyword
        several languages share, of each language the message is as much of (not the German
        "*karte" in Hinglish "msg karte ho, band kro", nor the Bengali "bole" in Malay "bole tak
        jangan hantar lagi"). Counted in Latin-letter words (`support`), as for code-mixed frames;
        a shared keyword in another script meets every language's words."""
        languages = {evidence.rule_language, *self._mixing.get(evidence.rule_language, ())}
        if not any(o.language not in languages for o in window):
            return window
        if not self._latin(evidence, tokens):
            return window if evidence.language is None else [o for o in window if o.language in languages]
        counts = support()
        own = counts.get(evidence.rule_language, 0)
        shared = evidence.language is None
        return [o for o in window if o.language in languages or o.language == "*" or counts.get(o.language, 0) > own
                or (shared and counts.get(o.language, 0) == own)]

    def _romanised_elsewhere(self, match: FrameMatch, tokens: tuple[str, ...], support: dict[str, int]) -> bool:
        """Whether a frame of a language written in another script, found in Latin letters
        only, sits in a message that is more another language's, written in Latin letters:
        "Por favor me envíe la factura por email" holds the Arabizi "la" (no) and "email",
        but it is Spanish. Counted in words each language knows (`support`); a tie keeps the
        frame ("la tb3tli rasayel", "mujhe message mat bhejo")."""
        if match.language not in self._romanised or not all(
                _mostly_latin(tokens[i]) for p in match.parts for i in range(p.start, p.end)):
            return False
        own = support.get(match.language, 0)
        return any(count > own for language, count in support.items() if language not in self._romanised)

    def _threatened(self, evidence: _Evidence, classes: list[Occurrence], tokens: tuple[str, ...],
                    clauses: tuple[int, ...], sentences: tuple[int, ...], negated_at: set[int],
                    negations: list[Occurrence]) -> bool:
        """Whether a negated request is the condition of a threat: "if you don't stop sending
        me messages I'll report you", "Si no dejan de mandarme mensajes los voy a denunciar".
        The negation does not open its clause (a condition has words before it: "if you",
        "si", "wenn Sie"; "Don't stop the deals, I'd report you if you did" forbids), and a
        report verb of the request's language (or one it mixes with) stands in its sentence,
        outside it and not negated itself ("I won't report you, but don't stop the deals")."""
        clause = clauses[evidence.start]
        own = [n.start for n in negations if clauses[n.start] == clause]
        if not own:
            return False
        first = min(own)
        opening = next((i for i in range(first) if clauses[i] == clause), first)
        if all(token in self._skippable for token in tokens[opening:first]):
            return False
        languages = {evidence.rule_language, *self._mixing.get(evidence.rule_language, ())}
        sentence = sentences[evidence.start]
        return any(o.name == guards.REPORT_VERB and o.language in languages and sentences[o.start] == sentence
                   and not evidence.start <= o.start < evidence.end and o.start not in negated_at and not o.typo
                   for o in classes)

    @staticmethod
    def _mixed(match: FrameMatch) -> bool:
        return any(p.language not in (match.language, "*") for p in match.parts)

    def _mixed_into_the_other(self, match: FrameMatch, tokens: tuple[str, ...], support: dict[str, int]) -> bool:
        """Whether a code-mixed frame (some of its words from a language its locale lets
        mix in) sits in a message that is more that other language's, in Latin letters:
        in "Will it cancel my account too?" the English "cancel" and the Polish "to" (it)
        make no Polish request. A mixed frame in a message at least as much its own
        language's stays ("Proszę unsubscribe mnie", "cancel mera number")."""
        if not self._mixed(match) or not all(
                _mostly_latin(tokens[i]) for p in match.parts for i in range(p.start, p.end)):
            return False
        own = support.get(match.language, 0)
        return any(support.get(p.language, 0) > own for p in match.parts if p.language not in (match.language, "*"))

    def _quoted_in_a_language_not_there(self, match: FrameMatch, tokens: tuple[str, ...],
                                        requests: list[tuple[int, int, str]]) -> bool:
        """Whether a quoting frame in Latin letters lies inside another language's request
        (a keyword phrase or frame, `requests`: start, end, language) in a message with no
        word of the quoting frame's language that the request's language lacks: the words
        that make it ("STOP" + "send") are loanwords its locale lists."""
        around = {language for start, end, language in requests
                  if language != match.language and start <= match.start and match.end <= end}
        if not around or not all(_mostly_latin(tokens[i]) for p in match.parts for i in range(p.start, p.end)):
            return False
        known: dict[str, set[str]] = {}
        for token in set(tokens):
            if _mostly_latin(token):
                for language in self._joined.languages_of(token):
                    known.setdefault(language, set()).add(token)
        own = known.get(match.language, set())
        return any(own <= known.get(language, set()) for language in around)

    def _language_support(self, tokens: tuple[str, ...]) -> dict[str, int]:
        """For each language, how many of the message's distinct Latin-letter words it knows."""
        support: dict[str, int] = {}
        for token in set(tokens):
            if _mostly_latin(token):
                for language in self._joined.languages_of(token):
                    support[language] = support.get(language, 0) + 1
        return support

    def _says_no_more(self, parts: tuple[Occurrence, ...]) -> bool:
        """Whether a request is negative itself: a negation or `no-more` part, or a keyword
        holding a negation ("ne me contactez plus", "no me escriban")."""
        return any(p.name in (NEGATION, guards.NO_MORE) or (
            p.name == KEYWORD and any(word in self._negations for word in normalize_text(p.word).split()))
            for p in parts)

    def _frame_evidence(self, match: FrameMatch, same: list[FrameMatch]) -> _Evidence:
        # The same words may make a frame in several languages ("stop" is everywhere):
        # the language named is the one with most of its own words in the match.
        own = {m.language: sum(p.language == m.language for p in m.parts) for m in same}
        best = max(own.values())
        languages = sorted(language for language, count in own.items() if count == best)
        words = " … ".join(p.word for p in match.parts)
        return _Evidence(FRAME_INTENTS[match.kind], "frame", match.rule_name, words,
                         languages[0] if len(languages) == 1 else None, match.language,
                         match.start, match.end, match.parts, uncertain=any(p.typo for p in match.parts),
                         languages=frozenset(languages))

    def _keyword_clauses(self, normalized: Normalized, classes: list[Occurrence]) -> list[_Evidence]:
        """Clauses of a longer message that are nothing but keywords of one intent and
        fillers: "Wrong number. STOP", "Ich habe mich nie angemeldet, bitte austragen"."""
        found: list[_Evidence] = []
        tokens, clauses = normalized.tokens, normalized.clauses
        start = 0
        while start < len(tokens):
            end = start
            while end < len(tokens) and clauses[end] == clauses[start]:
                end += 1
            if end - start < len(tokens) and end - start <= MAX_WHOLE_MESSAGE_TOKENS:
                part = Normalized(tokens[start:end], clauses[start:end], normalized.sentences[start:end],
                                  frozenset(), normalized.quoted[start:end])
                whole = self._whole_message(part)
                if whole is None or whole.rule is None or whole.keyword is None:
                    pass
                elif whole.rule.startswith("negated:"):
                    keyword_part = Occurrence(start, end, "*", KEYWORD, whole.keyword)
                    found.append(_Evidence(Intent.OPT_OUT, "clause", whole.keyword, whole.keyword, whole.language,
                                           whole.rule.split(":")[1], start, end, (keyword_part,), guard="negated"))
                elif whole.intent is not Intent.NONE and whole.certain:
                    language = whole.rule.split(":")[1]
                    keyword_part = Occurrence(start, end, "*", KEYWORD, whole.keyword)
                    evidence = _Evidence(whole.intent, "clause", whole.keyword, whole.keyword, whole.language,
                                         language, start, end, (keyword_part,), languages=whole.languages)
                    if end < len(tokens) and not self._about_requests(classes, end, normalized, language):
                        evidence.guard = "partial"   # "Arrête, il est trop beau ce manteau": a person looks
                    elif end < len(tokens):
                        evidence.complains = self._about_other(classes, end, language)
                    found.append(evidence)
            start = end
        return found

    def _about_requests(self, classes: list[Occurrence], start: int, normalized: Normalized, language: str) -> bool:
        """Whether the words from `start` on speak of messages, lists, the customer or
        sending: what makes "Stop, I never signed up for your list" a request and
        "Arrête, il est trop beau ce manteau" not. A word read as a typo does not count
        ("Basta, qué precio": "precio" is no misspelt "preciso", I need), nor a "this" in a
        question ("¡Para! ¿Es real este precio?": this price, not these messages): in a
        question only the messages, a list, the number or sending count ("Arrête!! c'est
        vraiment ce prix là ??": "la" is no "them"; "STOP! Why do you keep sending this?" is
        a request). Only words of the keyword's language, those it mixes with and those that
        mix it in count: in "Para! Esse preço é real?" the folded "é" is no Vietnamese "me";
        in "stop, reklama ne nuzhna" the Russian words do (Russian mixes English in)."""
        sentences, questions = normalized.sentences, normalized.questions
        languages = {language, *self._mixing.get(language, ()), *self._mixed_into.get(language, ())}
        pointing = {o.start for o in classes if o.name == guards.THIS}    # "this", also where a locale lists it as messages
        return any(o.start >= start and not o.typo and o.language in languages and (
            (o.name in self._ours or (o.language, o.name) in self._request_words) if sentences[o.start] not in questions
            else (o.name in self._ours and o.start not in pointing) or o.name in guards.SENDING) for o in classes)

    def _about_other(self, classes: list[Occurrence], start: int, language: str) -> bool:
        """Whether the words from `start` on name an `other-object` of the keyword's language (or
        those it mixes with), and no messages: "Enough, second time you sent the wrong size. I
        want a refund" complains about an order ("Stop, I never signed up" names no other
        object; "BAJA las promociones diario" names the messages)."""
        languages = {language, *self._mixing.get(language, ())}
        after = [o for o in classes if o.start >= start and o.language in languages]
        # a "this"/"that" a locale also lists as messages points at the other object named
        # ("Mir stinkt's, das Paket ist schon wieder nicht da")
        pointing = {o.start for o in after if o.name == guards.THIS}
        return any(o.name == guards.OTHER_OBJECT for o in after) and not any(
            o.name == guards.MESSAGES and o.start not in pointing for o in after)

    def _stop_words_heading(self, normalized: Normalized, keyword_parts: list[Occurrence],
                            classes: list[Occurrence]) -> list[_Evidence]:
        """Partial evidence for review: a whole-message opt-out keyword or an opt-out frame's
        verb heading a short sentence that is not a question ("Stop it already"), with
        nothing to complete a frame. In a longer sentence or a question such a word
        ("alto", "para", "end", "хватит ли...?") is ordinary and stays out of the queue."""
        tokens, sentences = normalized.tokens, normalized.sentences
        found: list[_Evidence] = []
        heads = [p for p in keyword_parts] + [o for o in classes if (o.language, o.name) in self._opening_verbs]
        spans: dict[int, list[int]] = {}
        for i, s in enumerate(sentences):
            spans.setdefault(s, []).append(i)
        for part in heads:
            sentence = spans[sentences[part.start]]
            if len(sentence) > MAX_PARTIAL_SENTENCE:
                continue
            if " ".join(tokens[sentence[0]:sentence[-1] + 1]) in self._fillers:
                continue                  # "Terima kasih" is thanks, whatever "terima" may head
            first = part.start
            while first > 0 and sentences[first - 1] == sentences[part.start] and tokens[first - 1] in self._skippable:
                first -= 1
            if first > 0 and sentences[first - 1] == sentences[part.start]:
                continue
            if sentences[part.start] not in normalized.questions:
                found.append(_Evidence(Intent.OPT_OUT, "partial", part.word, part.word, None,
                                       part.language if part.language != "*" else self._default,
                                       part.start, part.end, (part,)))
        return found

    def _decide(self, reading: _Reading) -> Classification:
        text = reading.normalized.text
        evidence = reading.evidence
        free = [e for e in evidence if e.guard is None]
        if any(e.guard == "negated" and e.intent is Intent.OPT_OUT for e in evidence):
            # "Не стоп, пишіть далі": don't stop is no request to start again
            free = [e for e in free if e.intent is not Intent.OPT_IN]
        for intent in INTENT_PRIORITY:
            chosen = [e for e in free if e.intent is intent]
            if intent is Intent.OPT_OUT and not chosen:
                how = [e for e in evidence if e.guard == "how"]
                if how:
                    best = _best_evidence(how)
                    return Classification(Intent.HELP, f"frame:{best.rule_language}:how-question+{best.name}",
                                          best.keyword, best.language, text, certain=True)
            if intent is Intent.HELP:
                # "What happens if I reply STOP?": a question about a keyword gets the help text,
                # which says what each keyword does
                asked = [e for e in evidence if e.guard == "quoted" and e.asked]
                if asked:
                    best = self._quote_named(asked)
                    return Classification(Intent.HELP, f"quoted:{best.rule_language}:{best.name}", best.keyword,
                                          best.language, text, certain=True)
            if chosen:
                best = _best_evidence(chosen)
                contested = len({e.intent for e in free}) > 1 or any(
                    e.intent is Intent.OPT_OUT and e.guard == "negated" and (e.end <= best.start or best.end <= e.start)
                    for e in evidence)
                certain = not best.uncertain and not (contested and intent is Intent.OPT_OUT)
                return Classification(intent, best.rule, best.keyword, best.language, text, certain,
                                      best.languages)
        for guard in ("quoted", "question", "partial", guards.REPORTED):
            held = [e for e in evidence if e.guard == guard]
            if held:
                best = self._quote_named(held) if guard == "quoted" else _best_evidence(held)
                # someone else's advice the sender refuses asks nothing: no person need look
                certain = guard in (guards.REPORTED, "quoted") and all(e.refused for e in held)
                return Classification(Intent.NONE, f"{guard}:{best.rule_language}:{best.name}", best.keyword,
                                      best.language, text, certain=certain)
        held = [e for e in evidence if e.guard in ("negated", guards.OTHER_OBJECT, guards.CONDITION)]
        if held:
            best = _best_evidence(held)
            word = best.guard_word or best.name
            return Classification(Intent.NONE, f"{best.guard}:{best.rule_language}:{word}", best.keyword,
                                  best.language, text, certain=True)
        return Classification(Intent.NONE, None, None, None, text, certain=True)

    def _quote_named(self, quoted: list[_Evidence]) -> _Evidence:
        """The quote a rule names: the quoting frame itself ("reply STOP") before a request it
        holds, in its own language's words, the default language on a tie."""
        return min(quoted, key=lambda e: (e.kind != "quoted", -_own_share(e), e.rule_language != self._default,
                                          e.start, e.rule_language))

    def _keywords_in(self, tokens: tuple[str, ...]) -> tuple[list[_Hit], list[Occurrence]]:
        """Anywhere keywords (and long ones with a typo), and every opt-out keyword as a
        frame part (`@opt_out`, for quoting frames)."""
        hits: list[_Hit] = []
        parts: list[Occurrence] = []
        for i in range(len(tokens)):
            for size in range(1, min(self._max_ngram, len(tokens) - i) + 1):
                key = " ".join(tokens[i:i + size])
                entries = self._entries.get(key)
                if entries is None:
                    continue
                for language, keyword in self._opt_out_keyword_languages(key, entries):
                    parts.append(Occurrence(i, i + size, language, KEYWORD, keyword))
                hit = self._exact_hit(key, i, i + size, only=Match.ANYWHERE)
                if hit is not None:
                    hits.append(hit)
        # A word inside a keyword found as written ("vreau să mă dezabonez") is no typo of another.
        covered = {i for p in parts for i in range(p.start, p.end)} | {i for h in hits for i in range(h.start, h.end)}
        for i, token in enumerate(tokens):
            if i not in covered:
                typo = self._typo_hit(token, i, whole_message=False)
                if typo is not None:
                    hits.append(typo)
        return hits, parts

    def _opt_out_keyword_languages(self, key: str, entries: list[_Entry]) -> list[tuple[str, str]]:
        """(language, keyword as written) of each language listing `key` as an opt-out."""
        found = self._keyword_languages.get(key)
        if found is None:
            found = [(language, next(e.keyword for e in entries if e.language == language))
                     for language in dict.fromkeys(e.language for e in entries if e.intent is Intent.OPT_OUT)]
            self._keyword_languages[key] = found
        return found

    def _whole_message(self, normalized: Normalized) -> Classification | None:
        """The message is keywords of one intent plus fillers (and maybe a negation)."""
        tokens, clauses = normalized.tokens, normalized.clauses
        n = len(tokens)
        # best[i]: cheapest cover of tokens[i:] as (cost, segments); cost counts segments, typos dear.
        best: list[tuple[int, list[tuple[str, _Hit | str]]] | None] = [None] * (n + 1)
        best[n] = (0, [])
        for i in range(n - 1, -1, -1):
            for size in range(1, min(self._max_ngram, n - i) + 1):
                rest = best[i + size]
                if rest is None:
                    continue
                key = " ".join(tokens[i:i + size])
                options: list[tuple[int, tuple[str, _Hit | str]]] = []
                hit = self._exact_hit(key, i, i + size)
                if hit:
                    options.append((1, ("keyword", hit)))
                if key in self._fillers:
                    options.append((1, ("filler", key)))
                if key in self._negations:
                    options.append((1, ("negation", key)))
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
            if kind != "keyword" or not isinstance(value, _Hit):
                continue
            previous = segments[index - 1] if index else None
            following = segments[index + 1] if index + 1 < len(segments) else None
            if previous and previous[0] == "negation" and clauses[value.start - 1] == clauses[value.start]:
                negated.append(value)
            elif following and following[0] == "negation" and value.end < len(tokens) \
                    and clauses[value.end] == clauses[value.start] and self._negates_after(value, str(following[1])) \
                    and not self._says_no_more((Occurrence(value.start, value.end, "*", KEYWORD, value.key),)):
                negated.append(value)     # "Sluta inte", "Hör nicht auf": the negation follows the verb
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
            return None  # "stop, don't stop": leave it to the sentence rules and a person
        intents = {hit.intent for hit in hits}
        hit = _best(hits)
        kind = "typo" if hit.typo else hit.declared.value
        certain = len(intents) == 1 and not any(h.typo for h in hits)
        language = _main_language(hits) if len({h.language for h in hits}) > 1 else hit.language
        if language and language != hit.language:
            hit = _best([h for h in hits if h.language == language]) if any(
                h.language == language for h in hits) else hit
        return Classification(hit.intent, f"{kind}:{hit.rule_language}:{hit.keyword}", hit.keyword,
                              language, text, certain, hit.languages)

    def _negates_after(self, hit: _Hit, negation: str) -> bool:
        """Whether `negation`, right after the keyword of `hit`, negates it: only in a language
        whose negation may follow its verb, and of the keyword's language (or one that mixes
        it in): "sluta inte" is negated, "unsubscribe x" (Malay "x" = "tak") is not."""
        for language in self._negation_languages.get(negation, ()):
            if language in self._after_verb and (
                    language in hit.languages or any(m in hit.languages for m in self._mixing.get(language, ()))):
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
        if any(not label.typo for label in self._words.labels(token)):
            return None        # a word the frames know is itself, not a typo
        candidates: set[str] = set()
        for variant in deletions(token) | {token}:
            candidates |= self._typo_index.get(variant, set())
        for key in sorted(candidates, key=lambda k: (abs(len(k) - len(token)), k)):
            if not whole_message and len(key) < MIN_ANYWHERE_TYPO_LENGTH:
                continue
            if self._typo_entries(key, whole_message) and one_edit(token, key):
                return key
        return None

    def _typo_entries(self, key: str, whole_message: bool) -> list[_Entry]:
        entries = self._entries[key]
        return entries if whole_message else [e for e in entries if e.match is Match.ANYWHERE]

    # --- reply ----------------------------------------------------------------------

    def reply_language(self, classification: Classification, text: str, wa_id: str | None,
                       last_language: str | None) -> str:
        """Keyword's own language -> langdetect (3+ words) -> number's country -> last known -> default.

        A match several languages share (Hindi and Urdu "msg mat bhejo") takes langdetect's
        guess only if it is one of them: langdetect reads Latin-letter Hindi as Swahili or
        Indonesian, and the number's country (India: Hindi) decides instead."""
        if classification.language in self._locales:
            return classification.language
        # Count words after normalisation: "S T O P" is one word, not four.
        words = classification.normalized.split() if classification.normalized else text.split()
        detected = detect_language(text, frozenset(self._locales)) if len(words) >= 3 else None
        if detected and (not classification.languages or detected in classification.languages):
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
    return _Hit(key, intent, chosen[0].keyword, next(iter(languages)) if len(languages) == 1 else None,
                chosen[0].language, declared, typo, start, end, frozenset(languages))


def _best(hits: list[_Hit]) -> _Hit:
    return min(hits, key=lambda h: (INTENT_PRIORITY.index(h.intent), h.typo, h.start))


_KIND_ORDER = ("anywhere", "typo", "frame", "clause")


def _without_repeats(normalized: Normalized) -> Normalized:
    """The message with a word repeated in a row said once: "STOP STOP STOP … STOP" (however
    many) is as much just a keyword as "STOP"."""
    keep = [i for i, token in enumerate(normalized.tokens) if i == 0 or token != normalized.tokens[i - 1]]
    if len(keep) == len(normalized.tokens):
        return normalized
    return Normalized(tuple(normalized.tokens[i] for i in keep), tuple(normalized.clauses[i] for i in keep),
                      tuple(normalized.sentences[i] for i in keep) if normalized.sentences else (),
                      normalized.questions,
                      tuple(normalized.quoted[i] for i in keep) if normalized.quoted else ())


def _best_evidence(evidence: list[_Evidence]) -> _Evidence:
    """The evidence a rule names: whole keywords before frames, longer before shorter, a
    frame made of its own language's words before one filled with borrowed words."""
    return min(evidence, key=lambda e: (e.uncertain, _KIND_ORDER.index(e.kind) if e.kind in _KIND_ORDER else 9,
                                        -_own_share(e), -(e.end - e.start), e.start))


def _own_share(evidence: _Evidence) -> float:
    """How much of a frame is words of its own language (keywords count as their own)."""
    own = sum(p.language in (evidence.rule_language, "*") for p in evidence.parts)
    return own / len(evidence.parts) if evidence.parts else 1.0


def _main_language(hits: list[_Hit]) -> str | None:
    """The language most of a message's keywords belong to ("please stop, ya no me manden
    nada" is Spanish though "stop" is English); None when no language leads."""
    words: dict[str, int] = {}
    for hit in hits:
        if hit.language:
            words[hit.language] = words.get(hit.language, 0) + hit.end - hit.start
    if not words:
        return None
    ranked = sorted(words.items(), key=lambda item: -item[1])
    return ranked[0][0] if len(ranked) == 1 or ranked[0][1] > ranked[1][1] else None


_BUTTON_SECTION = {Intent.OPT_OUT: "opt_out", Intent.OPT_IN: "opt_in", Intent.NONE: "ignore"}


def classify_words(classifier: Classifier, words: tuple[str, ...],
                   button: ButtonReply | None = None) -> tuple[Classification, str]:
    """Classify each of the user's strings (a button's payload and its label, say) and
    return the decisive result with the text it came from. An opt-out anywhere wins,
    so a stop request is never outvoted. A button that buttons.toml names means what
    that file says ("Stop promotions" always opts out; a flow's "Cancel" never does)."""
    meaning = classifier.buttons.meaning(button)
    if meaning is not None and button is not None:
        said = button.title or button.key or ""
        return Classification(meaning.intent, f"button:{_BUTTON_SECTION[meaning.intent]}:{meaning.matched}",
                              meaning.matched, None, normalize_text(said), certain=True), said
    results = [(classifier.classify_remembered(text), text) for text in words]
    for intent in INTENT_PRIORITY:
        for result, text in results:
            if result.intent is intent:
                return result, text
    uncertain = [(result, text) for result, text in results if not result.certain]
    if uncertain or results:
        return (uncertain or results)[0]
    return Classification(Intent.NONE, None, None, None, "", True), ""


def _mostly_latin(text: str) -> bool:
    """Whether most of the letters of `text` are Latin ones (ASCII or with accents)."""
    letters = [c for c in text if c.isalpha()]
    return sum(c < "\u0250" for c in letters) * 2 > len(letters) if letters else False


def _joined_vocabulary(locales: dict[str, Locale]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Per language, the words (keywords, fillers, negations, class words, typed forms) and
    the class stems ("abmeld*") that words typed without spaces are cut into."""
    words: dict[str, set[str]] = {}
    stems: dict[str, set[str]] = {}
    for code, locale in locales.items():
        phrases = [*locale.fillers, *locale.negations, *locale.spelling, *locale.spelling.values()]
        for by_match in locale.keywords.values():
            for listed in by_match.values():
                phrases.extend(listed)
        for entries in locale.words.values():
            for entry in entries:
                entry = entry.strip()
                if entry.endswith("*"):
                    stems.setdefault(code, set()).update(normalize_text(entry.strip("*")).split()[:1])
                elif not entry.startswith("*"):
                    phrases.append(entry)
        words[code] = {word for phrase in phrases for word in normalize_text(phrase).split()}
    return words, stems
