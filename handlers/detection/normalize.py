"""Normalisation shared by locale keywords and customer messages.

Keywords and messages go through the same pipeline, so a keyword matches whatever
a customer may type that normalises to the same tokens:

1. Unicode NFKC (full-width "ＳＴＯＰ" -> "STOP", ligatures, compatibility forms).
2. Case folding ("STOP" -> "stop", "ß" -> "ss").
3. Apostrophes dropped inside words ("don't" -> "dont"), except after a French or
   Italian elision, which becomes its own word ("n'envoyez" -> "n envoyez",
   "m'écrire" -> "m ecrire", "dall'elenco" -> "dall elenco"). Zero-width joiners
   (used inside Indic and Persian words) are dropped.
4. Tokens: runs of letters, digits and combining marks. Everything else (punctuation,
   emoji, symbols, extra whitespace) separates tokens; punctuation also ends a clause,
   so "No, stop" is not the negated "no stop", and . ! ? (and their forms in other
   scripts) end a sentence. A sentence with a question mark is remembered as a
   question, and words inside quotation marks as quoted ("what does 'STOP' mean?").
5. Per token: accents folded for Latin and Greek letters ("más" -> "mas", "çıkış" ->
   "cikis"), "ё" -> "е", Arabic diacritics and letter variants unified; Devanagari
   vowel signs are kept (they are letters there, not accents).
6. Per token: a word mixing Latin and Cyrillic lookalikes ("cтoп") is rewritten in one
   script ("стоп").
7. Runs of three or more single letters are joined ("S T O P", "S.T.O.P" -> "stop").
8. Repeated letters are squeezed to one ("stoooop" -> "stop"; keywords are squeezed
   the same way, so "annulla" is stored as "anula").
"""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from handlers.settings import WHATSAPP_TEXT_LIMIT

# What one message may cost: WhatsApp's own text limit read, and NFKC and case folding
# (U+FDFA alone becomes 18 characters) allowed to expand it to twice that, no more.
MAX_INPUT_CHARS = WHATSAPP_TEXT_LIMIT
MAX_NORMALIZED_CHARS = 2 * WHATSAPP_TEXT_LIMIT

MAX_HEADING_WORDS = 4         # words in capitals opening a message, read as a clause of their own
GREEK_QUESTION_MARK = "\u037e"   # NFKC makes it a semicolon, which asks nothing
_SPACED_WORD = re.compile(r"\S+")
# Hangul letters typed alone after a word are emoticons ("그만ㅡㅡ", "광고ㅠㅠ", "ㅋㅋ" laughter):
# NFKC makes them letters that would stick to the word. A jamo word alone ("ㄴㄴ", no no) stays.
_JAMO_AFTER_SYLLABLE = re.compile("(?<=[\uac00-\ud7a3])[\u3131-\u318e]+")
_APOSTROPHES = frozenset("'’‘ʼ`´")
_INVISIBLE = frozenset("\u200c\u200d\u00ad\ufeff\u2060")   # joiners, soft hyphen: part of the word
_SENTENCE_BREAKS = frozenset(".!?¡¿…。！？؟۔।॥\n")
_QUESTION_MARKS = frozenset("?¿؟")
_CLAUSE_BREAKS = _SENTENCE_BREAKS | frozenset(",;:、،؛|/()[]{}—–")
# Quotation marks: opening and closing ones, and those that do both.
_OPEN_QUOTES = frozenset("«“„‹「『")
_CLOSE_QUOTES = frozenset("»”›」』")
_BOTH_QUOTES = frozenset('"\'‘’`')
# French and Italian elisions: "m'envoyer" is two words, "me envoyer".
_ELISIONS = frozenset({"c", "d", "j", "l", "m", "n", "s", "t", "qu", "jusqu", "lorsqu", "puisqu",
                       "un", "dell", "dall", "nell", "all", "sull", "quell", "nessun"})
# "đ" stays: Vietnamese "đừng" (don't) and "dừng" (stop) differ by it alone.
_LETTER_MAP = {"ł": "l", "ø": "o", "ı": "i", "æ": "ae", "œ": "oe", "ð": "d", "þ": "th",
               "ё": "е", "ـ": "",  # tatweel
               "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ی": "ي", "ک": "ك"}
_LATIN_TO_CYRILLIC = {"a": "а", "b": "в", "c": "с", "e": "е", "h": "н", "k": "к", "m": "м", "n": "п", "o": "о",
                      "p": "р", "t": "т", "u": "и", "x": "х", "y": "у", "i": "і"}
# Only close lookalikes go back to Latin: "п" and "и" resemble "n" and "u" only in handwriting-like fonts.
_CYRILLIC_TO_LATIN = {cyr: lat for lat, cyr in _LATIN_TO_CYRILLIC.items() if lat not in "nu"} | {"ѕ": "s", "ј": "j", "ԁ": "d"}


@dataclass(frozen=True)
class Normalized:
    tokens: tuple[str, ...]
    clauses: tuple[int, ...]   # clause number of each token; negation never crosses clauses
    sentences: tuple[int, ...] = ()      # sentence number of each token; frames never cross sentences
    questions: frozenset[int] = frozenset()   # sentence numbers that hold a question mark
    quoted: tuple[bool, ...] = ()        # each token: inside quotation marks

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


@dataclass
class _Token:
    text: str
    clause: int
    sentence: int
    quoted: bool


def normalize(text: str, heading: bool = False) -> Normalized:
    """Tokens of a message (or keyword) after the whole pipeline, with their clauses.
    Reads at most MAX_INPUT_CHARS of `text`, expanded to at most MAX_NORMALIZED_CHARS.
    With `heading` (a message, not a keyword), words in capitals that open a message
    written otherwise ("STOP ما أبي شي منكم", "STOP STOP how many times") end a clause, as
    a comma after them would."""
    text = unicodedata.normalize("NFKC", _JAMO_AFTER_SYLLABLE.sub(" ", text[:MAX_INPUT_CHARS]).replace(
        GREEK_QUESTION_MARK, "?"))[:MAX_NORMALIZED_CHARS]
    heading_end = capitals_heading_end(text) if heading else None
    if heading_end is not None:
        heading_end = len(text[:heading_end].casefold())
    text = text.casefold()[:MAX_NORMALIZED_CHARS]
    raw: list[_Token] = []
    word: list[str] = []
    clause = sentence = 0
    questions: set[int] = set()
    in_quotes = False
    after_comma = False        # "Si escribo STOP, ¿sigo recibiendo...?": a question within the sentence

    def end_word() -> None:
        if word:
            raw.append(_Token("".join(word), clause, sentence, in_quotes))
            word.clear()

    for index, char in enumerate(text):
        if index == heading_end:
            end_word()
            clause += 1
        if char in _INVISIBLE:
            continue
        if char in _APOSTROPHES and word and index + 1 < len(text) and text[index + 1].isalpha():
            if "".join(word) in _ELISIONS:
                end_word()
            continue                      # an apostrophe inside a word: "don't" -> "dont"
        category = unicodedata.category(char)
        if category[0] in "LNM":
            word.append(char)
            after_comma = False
            continue
        end_word()
        if char in _OPEN_QUOTES:
            in_quotes = True
        elif char in _CLOSE_QUOTES:
            in_quotes = False
        elif char in _BOTH_QUOTES:
            in_quotes = not in_quotes
        if char in _CLAUSE_BREAKS:
            clause += 1
        if char in _SENTENCE_BREAKS:
            ends = bool(raw) and raw[-1].sentence == sentence and not (char == "¿" and after_comma)
            if char in _QUESTION_MARKS and char != "¿":
                questions.add(raw[-1].sentence if raw else sentence)   # "?" closes a question
            sentence += ends
            if char == "¿":
                questions.add(sentence)                                 # "¿" opens one
            in_quotes = False
        elif char in _CLAUSE_BREAKS:
            after_comma = True
    end_word()
    folded = [_Token(t, w.clause, w.sentence, w.quoted) for w in raw if (t := fold_token(w.text))]
    tokens = [_Token(squeeze(w.text), w.clause, w.sentence, w.quoted) for w in _join_spaced_letters(folded)]
    return Normalized(tuple(w.text for w in tokens), tuple(w.clause for w in tokens),
                      tuple(w.sentence for w in tokens), frozenset(questions), tuple(w.quoted for w in tokens))


@functools.lru_cache(maxsize=65536)
def normalize_text(text: str) -> str:
    """The normalised form as one string, the key under which keywords are indexed.
    Remembered: locale words are normalised when the files are checked and again when
    the index is built, and many recur across languages."""
    return normalize(text).text


MEMO_MAX_TOKEN = 64  # longer tokens are folded each time, not remembered


def fold_token(token: str) -> str:
    """Fold accents and lookalike letters of one token (steps 5 and 6).

    Pure, and words recur across messages: memoised (words up to MEMO_MAX_TOKEN
    characters, so a long run of text cannot fill memory). Plain ASCII letters and
    digits have nothing to fold."""
    if token.isascii():
        return token
    return _fold_remembered(token) if len(token) <= MEMO_MAX_TOKEN else _fold(token)


def _fold(token: str) -> str:
    out: list[str] = []
    for char in unicodedata.normalize("NFD", token):
        if unicodedata.category(char) == "Mn":
            base = out[-1] if out else ""
            if _is_latin(base) or _is_greek(base) or "\u064b" <= char <= "\u065f" or char == "\u0670":
                continue  # accent on a Latin/Greek letter, or an Arabic vowel mark
            if base == "е" and char == "\u0308":
                continue  # ё -> е
        out.append(_LETTER_MAP.get(char, char))
    return _single_script(unicodedata.normalize("NFC", "".join(out)))


_fold_remembered = functools.lru_cache(maxsize=65536)(_fold)


def capitals_heading_end(text: str) -> int | None:
    """Where the words in capitals that open `text` end, when a word not in capitals (or in
    a script without capitals) follows them; None when there are none, more than
    MAX_HEADING_WORDS, or nothing else. A word in capitals has two letters or more, all
    capitals; words of no letters (emoji, "!!") are passed over."""
    end = None
    count = 0
    for match in _SPACED_WORD.finditer(text):
        letters = [c for c in match.group() if c.isalpha()]
        if not letters:
            continue
        if len(letters) >= 2 and all(c.isupper() for c in letters):
            count += 1
            if count > MAX_HEADING_WORDS:
                return None
            end = match.end()
            continue
        return end
    return None


def squeeze(token: str) -> str:
    """Collapse repeated letters: "stoooop" -> "stop"."""
    out: list[str] = []
    for char in token:
        if out and char == out[-1] and char.isalpha():
            continue
        out.append(char)
    return "".join(out)


def _join_spaced_letters(tokens: list[_Token]) -> list[_Token]:
    out: list[_Token] = []
    i = 0
    while i < len(tokens):
        j = i
        while j < len(tokens) and len(tokens[j].text) == 1 and tokens[j].text.isalpha():
            j += 1
        if j - i >= 3:
            first = tokens[i]
            out.append(_Token("".join(t.text for t in tokens[i:j]), first.clause, first.sentence, first.quoted))
            i = j
        else:
            out.append(tokens[i])
            i += 1
    return out


def _is_latin(char: str) -> bool:
    return char.isascii() and char.isalpha() or "\u00c0" <= char <= "\u024f"


def _is_greek(char: str) -> bool:
    return "\u0370" <= char <= "\u03ff"


def _is_cyrillic(char: str) -> bool:
    return "\u0400" <= char <= "\u04ff"


def _single_script(token: str) -> str:
    """Rewrite a token that mixes Latin and Cyrillic letters in the script it mostly uses."""
    latin = sum(1 for c in token if _is_latin(c))
    cyrillic = sum(1 for c in token if _is_cyrillic(c))
    if not latin or not cyrillic:
        return token
    as_cyrillic = "".join(_LATIN_TO_CYRILLIC.get(c, c) for c in token)
    as_latin = "".join(_CYRILLIC_TO_LATIN.get(c, c) for c in token)
    cyrillic_ok = not any(_is_latin(c) for c in as_cyrillic)
    latin_ok = not any(_is_cyrillic(c) for c in as_latin)
    if cyrillic_ok and (cyrillic >= latin or not latin_ok):
        return as_cyrillic
    if latin_ok:
        return as_latin
    return token
