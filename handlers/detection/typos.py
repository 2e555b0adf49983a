"""One-edit typos, found through a deletion neighbourhood (SymSpell-style): a word and
a keyword are one edit apart when they share a form with one letter deleted, so a
lookup costs a few dict accesses whatever the number of keywords."""
from __future__ import annotations

MIN_ANY_EDIT_LENGTH = 5          # 4-letter words take only a swap or an extra letter


def deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


def one_edit(typed: str, keyword: str) -> bool:
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
