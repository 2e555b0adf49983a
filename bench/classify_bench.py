"""Messages per second with ~50 keywords and with ~20,000 keywords.

    /work/venv/bin/python bench/classify_bench.py [--seconds 2]

Classification uses dict lookups only (exact forms, token n-grams, a deletion-neighbourhood
index for typos), so both figures should be about the same. Not part of the test suite.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from handlers.detection.classify import Classifier  # noqa: E402
from handlers.detection.intents import KEYWORD_INTENTS, Intent, Match  # noqa: E402
from handlers.detection.locales import Locale, load_locales  # noqa: E402
from handlers.ops.accuracy import load_corpus  # noqa: E402

LETTERS = "abcdefghijklmnopqrstuvwxyzáéíóúñçабвгдежзиклмнопрстуф"


def synthetic_locales(total_keywords: int, seed: int = 0) -> dict[str, Locale]:
    """English plus synthetic languages holding `total_keywords` keywords in all."""
    rng = random.Random(seed)
    english = load_locales(ROOT / "locales")["en"]
    locales = {"en": english}
    have = sum(len(words) for kinds in english.keywords.values() for words in kinds.values())
    per_language = 1000
    index = 0
    while have < total_keywords:
        count = min(per_language, total_keywords - have)
        code = f"{chr(97 + index // 26 % 26)}{chr(97 + index % 26)}"
        index += 1
        if code == "en":
            continue

        def word() -> str:
            return "".join(rng.choice(LETTERS) for _ in range(rng.randint(5, 11)))
        keywords: dict[Intent, dict[Match, list[str]]] = {
            intent: {Match.WHOLE: [], Match.ANYWHERE: []} for intent in KEYWORD_INTENTS}
        for n in range(count):
            intent = KEYWORD_INTENTS[n % 3]
            if n % 2:
                keywords[intent][Match.WHOLE].append(word())
            else:
                keywords[intent][Match.ANYWHERE].append(" ".join(word() for _ in range(rng.randint(1, 4))))
        replies = {intent: "reply" for intent in keywords}
        locales[code] = Locale(code, code, [], ["porfavor"], ["nope"], keywords, replies)
        have += count
    return locales


def keyword_count(locales: dict[str, Locale]) -> int:
    return sum(len(words) for locale in locales.values() for kinds in locale.keywords.values() for words in kinds.values())


def rate(classifier: Classifier, messages: list[str], seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for text in messages:
            classifier.classify(text)
        done += len(messages)
    return done / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    messages = [case.text for case in load_corpus(ROOT / "tests" / "corpus")]
    messages.append("Hello, I ordered two pairs of shoes last week and " * 8)  # a long message too
    for target in (50, 20_000):
        locales = synthetic_locales(target)
        started = time.perf_counter()
        classifier = Classifier.from_locales(locales)
        built = time.perf_counter() - started
        per_second = rate(classifier, messages, args.seconds)
        print(f"{keyword_count(locales):>6} keywords: {per_second:>9,.0f} messages/s  (index built in {built:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
