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
        # the lengths of the known words starting with each character, longest first: a split
        # tries only those, not every length up to the longest word
        lengths: dict[str, set[int]] = {}
        for word in self._words:
            lengths.setdefault(word[0], set()).add(len(word))
        self._lengths = {first: tuple(sorted(sizes, reverse=True)) for first, sizes in lengths.items()}

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
            for size in self._lengths.get(run[i], ()):
                if size > n - i:
                    continue
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
JOINED_MEMO_SIZE = 10_000  # tokens whose cut is remembered


class JoinedWords:
    """Words typed without spaces in a spaced script: "removeme", "darmedebaja",
    "afmeldenaub", "tabortmig". A token is cut only when every piece is a word (or a stem
    plus a short ending) of one language's vocabulary, into the fewest pieces; a letter
    doubled at a cut and squeezed by normalisation ("stopplease" -> "stoplease") may serve
    both pieces. The pieces of a token are found once for all languages, and remembered."""

    def __init__(self, words: dict[str, set[str]], stems: dict[str, set[str]]):
        self._words: dict[str, set[str]] = {}
        for language, found in words.items():
            for word in found:
                if len(word) >= MIN_JOINED_PIECE and word.isalpha():
                    self._words.setdefault(word, set()).add(language)
        self._stems: dict[str, set[str]] = {}
        for language, found in stems.items():
            for stem in found:
                if len(stem) >= MIN_JOINED_STEM and stem.isalpha():
                    self._stems.setdefault(stem, set()).add(language)
        self._longest = max(map(len, self._words), default=1)
        self._longest_stem = max(map(len, self._stems), default=1)
        self._memo: dict[str, tuple[str, ...] | None] = {}

    def split(self, token: str) -> tuple[str, ...] | None:
        """The pieces of `token` in the language that cuts it into the fewest, or None."""
        if len(token) < MIN_JOINED_LENGTH or not token.isalpha() or has_unspaced(token):
            return None
        if token not in self._memo:
            if len(self._memo) >= JOINED_MEMO_SIZE:
                self._memo.clear()
            self._memo[token] = self._split(token)
        return self._memo[token]

    def languages_of(self, piece: str) -> set[str]:
        """The languages whose words (or a stem plus a short ending) `piece` is."""
        found = set(self._words.get(piece, ()))
        for length in range(max(MIN_JOINED_STEM, len(piece) - MAX_STEM_ENDING), min(len(piece), self._longest_stem) + 1):
            found |= self._stems.get(piece[:length], set())
        return found

    def _split(self, token: str) -> tuple[str, ...] | None:
        n = len(token)
        longest = max(self._longest, self._longest_stem + MAX_STEM_ENDING)
        # pieces[i]: (end, piece, languages) of every piece starting at i
        pieces: list[list[tuple[int, str, set[str]]]] = [[] for _ in range(n)]
        for i in range(n):
            for end in range(i + 1, min(n, i + longest) + 1):
                options = [token[i:end]] + ([token[i - 1:end]] if i > 0 else [])   # "stop|please" squeezed
                for option in options:
                    if len(option) >= MIN_JOINED_PIECE:
                        languages = self.languages_of(option)
                        if languages:
                            pieces[i].append((end, option, languages))
                            break
        candidates = set().union(*(languages for _, _, languages in pieces[0])) if pieces[0] else set()
        best: tuple[str, ...] | None = None
        for language in sorted(candidates):
            cover: list[list[str] | None] = [None] * (n + 1)
            cover[n] = []
            for i in range(n - 1, -1, -1):
                for end, piece, languages in pieces[i]:
                    rest = cover[end]
                    if language in languages and rest is not None:
                        current = cover[i]
                        if current is None or len(rest) + 1 < len(current):
                            cover[i] = [piece, *rest]
            found = cover[0]
            if found is not None and len(found) >= 2 and (best is None or len(found) < len(best)):
                best = tuple(found)
        return best
