"""Words in scripts written without spaces (Chinese, Japanese, Thai, Lao, Khmer, Burmese).

"请不要再给我发短信了" is one run of letters; matching needs its words. A run is split
with the vocabulary the locales already hold (keywords, fillers, negations, frame
words): the split that leaves the fewest characters outside known words, then the one
with the fewest words. Characters between known words stay together as one unknown
word, so a frame's window counts what lies between as one word, as a space-separated
language would. Cost: one dict lookup per character and candidate length.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from handlers.detection.normalize import Normalized

_NO_SPACE_RANGES = (
    (0x0E00, 0x0EFF),    # Thai, Lao
    (0x1000, 0x109F),    # Myanmar
    (0x1780, 0x17FF),    # Khmer
    (0x3040, 0x30FF),    # Hiragana, Katakana
    (0x31F0, 0x31FF),    # Katakana extensions
    (0x3400, 0x4DBF),    # CJK extension A
    (0x4E00, 0x9FFF),    # CJK unified ideographs
    (0xF900, 0xFAFF),    # CJK compatibility ideographs
    (0x20000, 0x2FA1F),  # CJK extensions B-F
)


_CLASS = "".join(f"{chr(low)}-{chr(high)}" for low, high in _NO_SPACE_RANGES)
_ANY_UNSPACED = re.compile(f"[{_CLASS}]")
_ALL_UNSPACED = re.compile(f"[{_CLASS}]+")


def is_unspaced(char: str) -> bool:
    return _ANY_UNSPACED.match(char) is not None


def has_unspaced(token: str) -> bool:
    return _ANY_UNSPACED.search(token) is not None


def _spaces_part(token: str) -> bool:
    """Thai, Lao, Khmer: scripts where a space parts phrases rather than words."""
    return any("\u0e00" <= char <= "\u0eff" or "\u1780" <= char <= "\u17ff" for char in token)


class Segmenter:
    def __init__(self, words: Iterable[str], keywords: Iterable[str] = ()):
        self._words = {w for w in words if w and _ALL_UNSPACED.fullmatch(w)}
        # Keywords are kept whole where they can be: "送らないでください" is "送らないで" + "ください"
        # when "送らないで" is a keyword, even though the frames know the longer form too.
        self._keywords = {w for w in keywords if w in self._words}
        self._longest = max(map(len, self._words), default=1)

    def split(self, normalized: Normalized) -> Normalized:
        """The same tokens, with every run of an unspaced script cut into words."""
        if not any(has_unspaced(token) for token in normalized.tokens):
            return normalized
        tokens, clauses, sentences, quoted = [], [], [], []
        clause, previous = -1, None
        for index, token in enumerate(normalized.tokens):
            # Thai, Lao and Khmer write a space where other languages put a comma or a full stop
            if previous is None or normalized.clauses[index] != normalized.clauses[previous] or (
                    _spaces_part(normalized.tokens[previous]) and _spaces_part(token)):
                clause += 1
            previous = index
            for piece in self._pieces(token):
                tokens.append(piece)
                clauses.append(clause)
                sentences.append(normalized.sentences[index])
                quoted.append(normalized.quoted[index])
        return Normalized(tuple(tokens), tuple(clauses), tuple(sentences), normalized.questions, tuple(quoted))

    def _pieces(self, token: str) -> list[str]:
        pieces: list[str] = []
        run: list[str] = []
        unspaced = False
        for char in token + "\0":
            if char != "\0" and is_unspaced(char) == unspaced and run:
                run.append(char)
                continue
            if run:
                text = "".join(run)
                pieces.extend(self._words_of(text) if unspaced else [text])
            run, unspaced = [char], char != "\0" and is_unspaced(char)
        return pieces

    def _words_of(self, run: str) -> list[str]:
        n = len(run)
        # best[i]: (unknown characters, -characters in keywords, words) of the best split of
        # run[i:], then the cut there and whether the piece is a known word
        best: list[tuple[int, int, int, int, bool]] = [(0, 0, 0, n, True)] * (n + 1)
        for i in range(n - 1, -1, -1):
            unknown, in_keywords, count, _, _ = best[i + 1]
            choice = (unknown + 1, in_keywords, count + 1, i + 1, False)
            for size in range(min(self._longest, n - i), 0, -1):
                piece = run[i:i + size]
                if piece in self._words:
                    after = best[i + size]
                    bonus = size if piece in self._keywords else 0
                    candidate = (after[0], after[1] - bonus, after[2] + 1, i + size, True)
                    if candidate[:3] < choice[:3]:
                        choice = candidate
            best[i] = choice
        pieces: list[str] = []
        i, pending = 0, ""
        while i < n:
            _, _, _, cut, known = best[i]
            if known:
                if pending:
                    pieces.append(pending)
                    pending = ""
                pieces.append(run[i:cut])
            else:
                pending += run[i:cut]
            i = cut
        if pending:
            pieces.append(pending)
        return pieces


MIN_JOINED_LENGTH = 6    # a shorter token is a word, not words typed without spaces
MIN_JOINED_PIECE = 2
MIN_JOINED_STEM = 4      # a stem ("abmeld*") cuts a piece only when at least this long
MAX_STEM_ENDING = 4      # letters an inflection may add after a stem inside a joined token


class JoinedWords:
    """Words typed without spaces in a spaced script: "removeme", "darmedebaja",
    "afmeldenaub", "tabortmig". A token is cut only when every piece is a word (or a stem
    plus a short ending) of one language's vocabulary, into the fewest pieces; a letter
    doubled at a cut and squeezed by normalisation ("stopplease" -> "stoplease") may serve
    both pieces."""

    def __init__(self, words: dict[str, set[str]], stems: dict[str, set[str]]):
        self._words = {language: {w for w in found if len(w) >= MIN_JOINED_PIECE and w.isalpha()}
                       for language, found in words.items()}
        self._stems = {language: {s for s in found if len(s) >= MIN_JOINED_STEM and s.isalpha()}
                       for language, found in stems.items()}
        self._longest = max((len(w) for found in self._words.values() for w in found), default=1)
        self._longest_stem = max((len(s) for found in self._stems.values() for s in found), default=1)

    def split(self, token: str) -> tuple[str, ...] | None:
        """The pieces of `token` in the language that cuts it into the fewest, or None."""
        if len(token) < MIN_JOINED_LENGTH or not token.isalpha() or has_unspaced(token):
            return None
        best: tuple[str, ...] | None = None
        for language in sorted(self._words):
            pieces = self._pieces(token, self._words[language], self._stems.get(language, set()))
            if pieces is not None and (best is None or len(pieces) < len(best)):
                best = pieces
        return best

    def _is_piece(self, piece: str, words: set[str], stems: set[str]) -> bool:
        if piece in words:
            return True
        return any(piece[:length] in stems
                   for length in range(max(MIN_JOINED_STEM, len(piece) - MAX_STEM_ENDING),
                                       min(len(piece), self._longest_stem) + 1))

    def _pieces(self, token: str, words: set[str], stems: set[str]) -> tuple[str, ...] | None:
        n = len(token)
        longest = max(self._longest, self._longest_stem + MAX_STEM_ENDING)
        # best[i]: the fewest pieces covering token[i:], each cut as (end, piece)
        best: list[list[str] | None] = [None] * (n + 1)
        best[n] = []
        for i in range(n - 1, -1, -1):
            for end in range(min(n, i + longest), i, -1):
                rest = best[end]
                if rest is None:
                    continue
                piece = token[i:end]
                options = [piece]
                if i > 0:
                    options.append(token[i - 1] + piece)     # "stop|please" squeezed to "stoplease"
                for option in options:
                    if len(option) >= MIN_JOINED_PIECE and self._is_piece(option, words, stems):
                        current = best[i]
                        if current is None or len(rest) + 1 < len(current):
                            best[i] = [option, *rest]
                        break
        found = best[0]
        return tuple(found) if found is not None and len(found) >= 2 else None
