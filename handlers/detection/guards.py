"""What turns a request that was found back into something else.

- negation: "don't stop sending me deals", "no quiero darme de baja". A negation negates
  the first verb (a "...-verb" class word or a keyword) within NEGATION_SCOPE words after
  it in its clause; a negated "want-verb" passes the negation on to the verb it governs
  ("I'm not trying to unsubscribe", "не хочу отписываться").
- another object: "cancel my order", "me quiero dar de baja del gimnasio": a word of the
  class `other-object` near the request, with none of the request's own words (messages,
  list, me, ...) in between.
- quoting: "what happens if I reply STOP?": an opt-out keyword that a quoting frame
  ("quote-verb + @opt_out") or quotation marks show to be mentioned, not used.
- a how-question: "how do I stop these messages?" asks for help; a `how-question` word
  opening the sentence turns the request into a help request.
- reported speech: "my wife says unsubscribe from everything lol, but your deals are too
  good": a `reported` word ("says", "told me to", "dice que", "diyor") shortly before or
  after the request, in its sentence, reports someone else's words; a person decides
  (review).
"""
from __future__ import annotations

import bisect

from handlers.detection.frames import NEGATION, Occurrence, is_verb

NEGATION_SCOPE = 3            # words after a negation in which it looks for its verb
NEGATION_REACH = 16           # no negation further back than this reaches a request (scope, chain, phrases)
OTHER_OBJECT_WINDOW = 4       # words around a request in which another object counts
OTHER_OBJECT = "other-object"
HOW_QUESTION = "how-question"
WHAT_QUESTION = "what-question"
WHAT_IF_REACH = 5             # "what happens if", "qué pasa si", "que se passe-t-il si"
QUESTION_WORD = "question-word"   # a question particle, for languages that need no "?" ("ไหม", "か")
NO_MORE = "no-more"
MESSAGES = "messages"          # the class of what is sent: "offers", "deals", "ads"
THIS = "this"                  # "this", "these": the messages, when nothing else is named
REPORTED = "reported"         # "says", "told me to": someone else's words
REPORT_VERB = "report-verb"   # "report", "denunciar", "signaler": a threat that makes a negation a condition
REPORTED_WINDOW = 4           # words between a reported-speech word and the request it reports
SENDING = frozenset({"send-verb", "receive-verb"})   # a request naming these is about messages
CONDITION = "condition"        # "if", "si", "wenn", "eğer": a request under a condition, asked about
CONSEQUENCE_WORDS = 2          # words after a conditional request, in its question, that ask what follows
SAID_BEFORE = "said-before"       # "already", "how many times": a keyword said again is used, not quoted
CHAIN_VERB = "want-verb"
# Languages where a negation may follow the verb it negates, when a locale file does not say
# (`negation_after_verb`): verb-second Germanic ("hör nicht auf", "sluta inte", "stop niet"),
# French without "ne" ("arrête pas"), Brazilian "pare não", compound verbs with a negated
# light verb ("قطع نکنید"), and languages that put the negation after the verb
# ("বন্ধ করবেন না", "送らないで", "보내지 마세요", "durdurma değil"). Elsewhere a negation
# after a keyword negates nothing: Malay chat writes "tak" as "x", and "unsubscribe x" is
# no "don't unsubscribe".
NEGATION_AFTER_VERB = frozenset({"de", "nl", "sv", "fr", "pt", "hi", "ur", "bn", "fa", "ta", "te", "tr", "ja", "ko"})


def negation_occurrences(tokens: tuple[str, ...], clauses: tuple[int, ...], negations: dict[str, set[str]],
                         longest: int, others: list[Occurrence]) -> list[Occurrence]:
    """The negations of a message ("no" and "no quiero" both), one per language that lists
    them, unless a longer class phrase or keyword holds them ("no more", "не присылайте")."""
    found: list[Occurrence] = []
    ends_by_start: dict[int, int] = {}
    for other in others:
        ends_by_start[other.start] = max(ends_by_start.get(other.start, 0), other.end)
    widest = max((o.end - o.start for o in others), default=0)

    def covered(i: int, size: int) -> bool:
        return any(ends_by_start.get(s, -1) >= i + size and ends_by_start[s] - s > size
                   for s in range(max(0, i - widest), i + 1))

    for i in range(len(tokens)):
        for size in range(min(longest, len(tokens) - i), 0, -1):
            if clauses[i + size - 1] != clauses[i]:
                continue
            phrase = " ".join(tokens[i:i + size])
            if phrase not in negations or covered(i, size):
                continue
            found.extend(Occurrence(i, i + size, language, NEGATION, phrase)
                         for language in sorted(negations.get(phrase, ())))
    return found


def bind(negations: list[Occurrence], verbs: list[Occurrence], clauses: tuple[int, ...]) -> dict[Occurrence, int | None]:
    """For each negation, the position of the first verb after it in its clause (or None);
    a verb of the negation's own language (or a keyword) before one of another language:
    in "nicht über WhatsApp kontaktiert werden" the English "whatsapp" is no German verb."""
    starts = sorted({v.start for v in verbs})
    languages: dict[int, set[str]] = {}
    for verb in verbs:
        languages.setdefault(verb.start, set()).add(verb.language)
    bound: dict[Occurrence, int | None] = {}
    for negation in negations:
        index = bisect.bisect_left(starts, negation.end)
        near = [s for s in starts[index:index + NEGATION_SCOPE + 1]
                if s <= negation.end + NEGATION_SCOPE and clauses[s] == clauses[negation.start]]
        own = [s for s in near if languages[s] & {negation.language, "*"}]
        bound[negation] = own[0] if own else near[0] if near else None
    return bound


def negated_positions(bound: dict[Occurrence, int | None], verbs: list[Occurrence],
                      clauses: tuple[int, ...]) -> dict[Occurrence, set[int]]:
    """Positions each negation negates: its verb, and the verb a negated want-verb governs."""
    out: dict[Occurrence, set[int]] = {}
    for negation, position in bound.items():
        if position is None:
            out[negation] = set()
            continue
        positions = _span_of(position, verbs)
        chain = [v for v in verbs if v.start == position and v.name == CHAIN_VERB]
        if chain:
            end = max(v.end for v in chain)
            following = sorted({v.start for v in verbs if end <= v.start <= end + NEGATION_SCOPE
                                and clauses[v.start] == clauses[position]})
            if following:
                positions |= _span_of(following[0], verbs)
        out[negation] = positions
    return out


def _span_of(position: int, verbs: list[Occurrence]) -> set[int]:
    """Every word of the verbs (and keywords) starting at `position`: "me désabonner" is
    negated as a whole, "désabonner" within it too."""
    return {i for v in verbs if v.start == position for i in range(v.start, v.end)} or {position}


def is_negated(parts: tuple[Occurrence, ...], negates: dict[Occurrence, set[int]],
               languages: set[str] | None = None, after_verb: frozenset[str] | set[str] = NEGATION_AFTER_VERB,
               negative: bool = False, clauses: tuple[int, ...] | None = None) -> bool:
    """A request (its parts) is negated by a negation that is not one of its parts: one
    that negates a verb of it, stands between its parts ("hört bloß nicht auf"), or, in a
    language of `after_verb`, follows one of its verbs at once in its clause ("sluta inte",
    "stop niet", "बंद मत करना"; not "मैसेज बंद कर दो, नहीं चाहिए", whose "नहीं" opens a
    clause of its own). A `negative` request (one that says "no more" itself: "ne me contactez
    plus", "stuur niks meer") is reinforced, not negated, by a negation after it ("... jamais")."""
    verb_starts = {p.start for p in parts if is_verb(p.name)} or {min(p.start for p in parts)}
    start, end = min(p.start for p in parts), max(p.end for p in parts)
    verb_ends = {p.end for p in parts if is_verb(p.name)}
    own_negation_ends = [p.end for p in parts if p.name == NEGATION]
    for negation, positions in negates.items():
        if any(negation.start < p.end and p.start < negation.end for p in parts):
            continue          # the request's own negation ("no quiero recibir"), or inside one of its words
        if negation.start in verb_ends and (negative or any(e < negation.start for e in own_negation_ends)):
            continue          # the closing half of the request's own negation: "ne veux pas recevoir"
        if languages is not None and negation.language not in languages:
            continue          # a negation of another language ("mai" is "never" in Italian only)
        if positions & verb_starts or start < negation.start < end or (
                negation.start in verb_ends and negation.language in after_verb
                and (clauses is None or clauses[negation.start] == clauses[negation.start - 1])):
            return True
    return False


def _joined(first: int, second: int, sentences: tuple[int, ...], clauses: tuple[int, ...] | None) -> bool:
    """Two words of one clause (of one sentence, where clauses are not known)."""
    return sentences[first] == sentences[second] and (clauses is None or clauses[first] == clauses[second])


CONNECTOR_LENGTH = 3     # "de", "of", "von", "do": a word this short may join an other-object to the messages


def other_object(start: int, end: int, occurrences: list[Occurrence], ours: set[str],
                 sentences: tuple[int, ...], clauses: tuple[int, ...] | None = None,
                 about_messages: bool = False, tokens: tuple[str, ...] | None = None) -> Occurrence | None:
    """An `other-object` word near the request [start, end) with nothing of ours in between;
    for a request `about_messages` (it names messages or sending), not in a clause before it."""
    sentence = sentences[start]
    messages_at = {o.start for o in occurrences if o.name == MESSAGES}
    for other in occurrences:
        if other.name != OTHER_OBJECT or sentences[other.start] != sentence:
            continue
        if (other.end in messages_at and _joined(other.start, other.end, sentences, clauses)) or (
                tokens is not None and other.end + 1 in messages_at and _joined(other.start, other.end + 1,
                                                                                 sentences, clauses)
                and len(tokens[other.end]) <= CONNECTOR_LENGTH):
            continue          # it names the messages or what they are about: "stop sending me loan offers",
            #                   "car deals", "cesen el envío de publicidad" (the sending of ads); not
            #                   across a comma: "cancel the premium plan, the messages I want to keep"
        if clauses is not None and about_messages and other.end <= start and clauses[other.start] != clauses[start]:
            continue          # "I cancelled my account, stop sending me messages": a clause before
        if start <= other.start < end:
            between = (start, other.start)            # "cancel my gym subscription"
        elif end <= other.start <= end + OTHER_OBJECT_WINDOW:
            between = (end, other.start)
        elif start - OTHER_OBJECT_WINDOW <= other.end <= start:
            between = (other.end, start)
        else:
            continue
        if not any(o.name in ours and between[0] <= o.start and o.end <= between[1] for o in occurrences):
            return other
    return None


def asks_how(start: int, end: int, occurrences: list[Occurrence], tokens: tuple[str, ...],
             sentences: tuple[int, ...], questions: frozenset[int], skippable: set[str]) -> Occurrence | None:
    """A how-question about a request [start, end): opening its sentence ("how do I stop
    these?"), or later in a question ("ये मैसेज बंद कैसे करूं?", "bu mesajları nasıl durdururum?")."""
    for occurrence in occurrences:
        if occurrence.name != HOW_QUESTION or sentences[occurrence.start] != sentences[start]:
            continue
        if occurrence.start > start and sentences[start] in questions:
            return occurrence
        if occurrence.start > start:
            continue
        first = occurrence.start
        while first > 0 and sentences[first - 1] == sentences[start] and tokens[first - 1] in skippable:
            first -= 1
        if first == 0 or sentences[first - 1] != sentences[start]:
            return occurrence
    return None


def said_before(start: int, repeated: dict[int, int], sentences: tuple[int, ...]) -> bool:
    """A `said-before` word ("already", "how many times", "já falei") earlier in the sentence
    of a quote at `start`: "I already replied STOP" repeats the request."""
    return any(position < start and sentence == sentences[start] for position, sentence in repeated.items())


def asking_sentences(occurrences: list[Occurrence], sentences: tuple[int, ...],
                     questions: frozenset[int]) -> frozenset[int]:
    """The sentences that ask something: a question mark, or a question word (a class named
    "...-question", or `question-word`). Once per message: a long one holds many quotes."""
    return questions | {sentences[o.start] for o in occurrences
                        if o.name.endswith("-question") or o.name == QUESTION_WORD}


def chain_verbs(occurrences: list[Occurrence]) -> list[Occurrence]:
    """The want-verbs of a message, for fronted_and_negated (once per message)."""
    return [o for o in occurrences if o.name == CHAIN_VERB]


def fronted_and_negated(start: int, end: int, wants: list[Occurrence], negations: list[Occurrence],
                        clauses: tuple[int, ...], language: str) -> bool:
    """A request put first and negated after the want-verb that follows it, in its clause:
    "abmelden will ich mich nicht", "afmelden wil ik niet", "avregistrera vill jag inte".
    `wants`: chain_verbs() of the message."""
    if end >= len(clauses):
        return False
    for want in wants:
        if want.language != language or not start < want.start <= end + 1 \
                or clauses[want.start] != clauses[start]:
            continue
        if any(n.language == language and want.end <= n.start <= want.end + NEGATION_SCOPE
               and clauses[n.start] == clauses[want.start] for n in negations):
            return True
    return False


def reported(start: int, end: int, occurrences: list[Occurrence], sentences: tuple[int, ...],
             clauses: tuple[int, ...]) -> Occurrence | None:
    """A `reported` word at most REPORTED_WINDOW words before a request [start, end) in its
    sentence, or after it in its clause: "mi esposa dice que me dé de baja de todo",
    "karım her yerden abonelikten çık diyor" report someone's words, they do not ask.
    "Berhenti kirim pesan, saya sudah suruh berkali-kali" asks (I told you so before)."""
    for occurrence in occurrences:
        if occurrence.name != REPORTED or sentences[occurrence.start] != sentences[start]:
            continue
        if start - REPORTED_WINDOW <= occurrence.end <= start or (
                end <= occurrence.start <= end + REPORTED_WINDOW and clauses[occurrence.start] == clauses[end - 1]):
            return occurrence
    return None


def conditional(start: int, end: int, occurrences: list[Occurrence], tokens: tuple[str, ...],
                sentences: tuple[int, ...], clauses: tuple[int, ...], questions: frozenset[int],
                skippable: set[str]) -> Occurrence | None:
    """A request [start, end) under a condition, in a question that goes on to ask what would
    follow: a conditional form of the request itself ("Listeden çıkarsam puanlarım silinir
    mi?"), or a `condition` word in the request's clause with the question asked in a
    clause after it ("Si me doy de baja, ¿pierdo mis puntos?", "If I unsubscribe, do I
    lose my points?"). Not a threat ("if you don't stop I'll report you": no question, or a
    report verb), nor a polite request: "If possible, could you stop sending me these?" (the
    condition is a clause of its own), "si pueden dejar de mandarme mensajes todos los
    días?" (nothing asked in a clause after it)."""
    sentence = sentences[start]
    if sentence not in questions:
        return None
    if any(o.name == REPORT_VERB and sentences[o.start] == sentence and not start <= o.start < end
           for o in occurrences):
        return None   # a threat; not the request's own verb ("если случайно заблокирую номер, ...?")
    on_request = [o for o in occurrences if o.name == CONDITION and start <= o.start < end]
    if on_request:
        after = [t for i, t in enumerate(tokens[end:], start=end) if sentences[i] == sentence
                 and t not in skippable]
        return on_request[0] if len(after) >= CONSEQUENCE_WORDS else None
    before = [o for o in occurrences if o.name == CONDITION and o.start < start and sentences[o.start] == sentence
              and clauses[o.start] == clauses[start]]
    if not before:
        return None
    # "What happens if I block this number?", "¿Qué pasa si me doy de baja?": asked first
    # (a word between: colloquial Spanish "¿que si pueden dejar de mandarme mensajes?" asks to stop)
    if any(o.name == WHAT_QUESTION and 1 < before[-1].start - o.start <= WHAT_IF_REACH
           and sentences[o.start] == sentence for o in occurrences):
        return before[-1]
    asked = [t for i, t in enumerate(tokens[end:], start=end) if sentences[i] == sentence
             and clauses[i] != clauses[end - 1] and t not in skippable]
    return before[-1] if len(asked) >= CONSEQUENCE_WORDS else None
