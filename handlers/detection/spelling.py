"""How people type words on their phones, per language: "kiero" for "quiero", "msg" for
"mensagem", "otpishite" for "отпишите" (Russian in Latin letters), "wa2if" for "وقف"
(Arabic chat alphabet), "mujhe" for "मुझे" (Hindi in Latin letters).

Each locale's `[spelling]` table maps a typed form to the word(s) it stands for. The
table is a list of words, not a general transliterator: it holds what people write in
requests to stop, start or ask for help.

A spelling is read in one language only: Portuguese "n" is "não", but that says nothing
about "n" in a French message. So rather than rewriting a message (in which language?),
the classifier indexes every keyword, filler, negation and frame word of a language
under its spelled forms too: "não quero mais" is also found as "n qro mais", with the
rule naming the keyword as the locale writes it. Lookups stay one dict access per word.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable

from handlers.detection.normalize import normalize_text

MAX_VARIANTS = 48          # spelled forms indexed per phrase: enough for every mix of 3-4 spellings
MAX_MEANT_WORDS = 3        # a spelling stands for at most this many words ("xfa" = "por favor")


class Spellings:
    """Per language: meant words (a tuple of tokens) -> the typed forms that stand for them."""

    def __init__(self, tables: dict[str, dict[str, str]]):
        self._typed: dict[str, dict[tuple[str, ...], list[tuple[str, ...]]]] = {}
        for language, table in tables.items():
            by_meaning: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
            for typed, meant in table.items():
                typed_key, meant_key = tuple(normalize_text(typed).split()), tuple(normalize_text(meant).split())
                if typed_key and meant_key and typed_key != meant_key and len(meant_key) <= MAX_MEANT_WORDS:
                    by_meaning.setdefault(meant_key, []).append(typed_key)
            self._typed[language] = by_meaning

    def variants(self, language: str, tokens: tuple[str, ...]) -> list[tuple[str, ...]]:
        """`tokens` (normalised words of `language`) and the ways people may type them: the
        written form first, then every form with one spelling, then with two, and so on up to
        MAX_VARIANTS, so that a spelling of a frequent word never crowds out another one
        ("jangankirimlagi" for the whole of "jangan kirim lagi")."""
        table = self._typed.get(language)
        if not table or not tokens:
            return [tokens]
        options = [(i, size, typed) for i in range(len(tokens))
                   for size in range(1, min(MAX_MEANT_WORDS, len(tokens) - i) + 1)
                   for typed in table.get(tokens[i:i + size], ())]
        out: dict[tuple[str, ...], None] = {tokens: None}
        for count in range(1, len(tokens) + 1):
            for chosen in itertools.combinations(options, count):
                if len(out) >= MAX_VARIANTS:
                    return list(out)
                if any(a[0] + a[1] > b[0] for a, b in itertools.pairwise(chosen)):
                    continue          # two spellings of overlapping words
                variant: tuple[str, ...] = ()
                at = 0
                for i, size, typed in chosen:
                    variant += tokens[at:i] + typed
                    at = i + size
                out[variant + tokens[at:]] = None
        return list(out)

    def single_words(self, language: str) -> Iterable[tuple[str, str]]:
        """(typed, meant) pairs where both are one word: stems of the language apply to them."""
        for meant, typed_forms in self._typed.get(language, {}).items():
            if len(meant) == 1:
                for typed in typed_forms:
                    if len(typed) == 1:
                        yield typed[0], meant[0]

    def contractions(self, language: str) -> Iterable[tuple[str, tuple[str, ...]]]:
        """(typed, meant words) where one typed word stands for several ("jveux" = "je veux")."""
        for meant, typed_forms in self._typed.get(language, {}).items():
            if len(meant) > 1:
                for typed in typed_forms:
                    if len(typed) == 1:
                        yield typed[0], meant
