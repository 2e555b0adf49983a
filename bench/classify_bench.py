"""Messages per second with the shipped locales, with ~50 keywords and with ~20,000 keywords
and thousands of frames; and the time one 4,096-character message takes.

    python bench/classify_bench.py [--seconds 2]

Classification uses dict lookups only (exact forms, token n-grams, stems, frames found by
the classes of two neighbouring parts, a deletion-neighbourhood index for typos), so the
figures should not fall as keywords and frames grow. Not part of the test suite.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from handlers.detection.classify import Classifier  # noqa: E402
from handlers.detection.intents import KEYWORD_INTENTS, Intent, Match  # noqa: E402
from handlers.detection.locales import Locale, load_locales  # noqa: E402
from handlers.ops.accuracy import find_corpora, load_corpus  # noqa: E402

LETTERS = "abcdefghijklmnopqrstuvwxyzáéíóúñçабвгдежзиклмнопрстуф"
CLASSES_PER_LANGUAGE = 40
WORDS_PER_CLASS = 12
FRAMES_PER_LANGUAGE = 300
LONG_MESSAGE_CHARS = 4096


def synthetic_locales(total_keywords: int, seed: int = 0) -> dict[str, Locale]:
    """English plus synthetic languages holding `total_keywords` keywords in all, each with
    word classes and frames of its own."""
    rng = random.Random(seed)
    english = load_locales(ROOT / "locales")["en"]
    locales = {"en": english}
    have = sum(len(words) for kinds in english.keywords.values() for words in kinds.values())
    per_language = 1000
    index = 0

    def word() -> str:
        return "".join(rng.choice(LETTERS) for _ in range(rng.randint(5, 11)))

    while have < total_keywords:
        count = min(per_language, total_keywords - have)
        code = f"{chr(97 + index // 26 % 26)}{chr(97 + index % 26)}"
        index += 1
        if code == "en":
            continue
        keywords: dict[Intent, dict[Match, list[str]]] = {
            intent: {Match.WHOLE: [], Match.ANYWHERE: []} for intent in KEYWORD_INTENTS}
        for n in range(count):
            intent = KEYWORD_INTENTS[n % 3]
            if n % 2:
                keywords[intent][Match.WHOLE].append(word())
            else:
                keywords[intent][Match.ANYWHERE].append(" ".join(word() for _ in range(rng.randint(1, 4))))
        names = [f"class-{n}" for n in range(CLASSES_PER_LANGUAGE)]
        words = {name: [word() + ("*" if n % 3 == 0 else "") for n in range(WORDS_PER_CLASS)] for name in names}
        frames = {"opt_out": [" + ".join(rng.sample(names, rng.randint(2, 3))) for _ in range(FRAMES_PER_LANGUAGE)]}
        replies = {intent: "reply" for intent in keywords}
        locales[code] = Locale(code, code, [], ["porfavor"], ["nope"], keywords, replies, words=words, frames=frames)
        have += count
    return locales


def keyword_count(locales: dict[str, Locale]) -> int:
    return sum(len(words) for locale in locales.values() for kinds in locale.keywords.values() for words in kinds.values())


def frame_count(locales: dict[str, Locale]) -> int:
    return sum(len(patterns) for locale in locales.values() for patterns in locale.frames.values())


def rate(classifier: Classifier, messages: list[str], seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for text in messages:
            classifier.classify(text)
        done += len(messages)
    return done / (time.perf_counter() - start)


def long_messages(messages: list[str]) -> dict[str, str]:
    """4,096-character messages: English chat, Russian, Chinese (unspaced), and a mix."""
    def fill(parts: list[str]) -> str:
        text = ""
        while len(text) < LONG_MESSAGE_CHARS:
            for part in parts:
                text += part + " "
        return text[:LONG_MESSAGE_CHARS]
    return {
        "English chat": fill(["Hello, I ordered two pairs of shoes last week and", "they have not arrived yet,"]),
        "Russian, a request inside": fill(["Добрый день, заказ пришёл без чека.", "Перестаньте мне писать."]),
        "Chinese, unspaced": fill(["你好我的订单还没有到请帮我查一下谢谢不要再给我发广告了"]),
        "every corpus message": fill(messages),
    }


def time_long(classifier: Classifier, text: str, runs: int = 30) -> float:
    classifier.classify(text)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        classifier.classify(text)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    corpora = [c for c in find_corpora(ROOT / "tests" / "corpus") if not c.blind]
    messages = [case.text for corpus in corpora for case in load_corpus(corpus.path)]
    messages.append("Hello, I ordered two pairs of shoes last week and " * 8)  # a long message too
    print(f"{len(messages)} messages (the original and dev corpora), repeated for {args.seconds:.0f} s each")
    shipped = load_locales(ROOT / "locales")
    setups = [("shipped locales", shipped)] + [(f"synthetic, {n:,} keywords", synthetic_locales(n)) for n in (50, 20_000)]
    for name, locales in setups:
        started = time.perf_counter()
        classifier = Classifier(locales)
        built = time.perf_counter() - started
        per_second = rate(classifier, messages, args.seconds)
        print(f"{name:28} {keyword_count(locales):>6} keywords {frame_count(locales):>5} frames: "
              f"{per_second:>8,.0f} messages/s  (index built in {built:.2f} s)")
    classifier = Classifier(shipped)
    for name, text in long_messages(messages).items():
        print(f"4,096 characters, {name:26} {time_long(classifier, text):6.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
