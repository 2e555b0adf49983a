"""What the benchmarks send as ordinary messages (chat that is neither an opt-out, an
opt-in nor a help request).

Half are the short replies every business receives over and over ("ok", "Gracias!",
"👍"); half are texts the service has not seen before: two of the 467 lines of everyday
chat that writers who never saw the rules wrote as replies to marketing, in 32 languages
(`tests/corpus/dev/`, `dev2/`, label `none`, category `chat`), one after the other, about
218,000 pairs, so that a run seldom sends the same one twice. With only repeated texts, a
service that remembers what it read of short texts (it does) would hardly classify at
all; the new half keeps the benchmark honest about that. The corpora's hard
non-opt-outs (another object, negations, quoting), which those writers were asked to make
hard, are left out: two of them in one message go to the review queue far more often than
everyday chat does.
"""
from __future__ import annotations

import random
from functools import cache
from pathlib import Path

from handlers.detection.intents import Intent
from handlers.ops.accuracy import load_corpus

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus"
COMMON = ["Hola, ¿a qué hora abren mañana?", "Where is my order #4411?", "Gracias!", "Привет, есть доставка?",
          "Can I change the delivery address?", "ok", "👍", "Do you ship to Baja California?", "Ok", "thanks",
          "Thank you!", "Obrigado", "Спасибо", "🙏", "Sí", "yes", "Merci", "Danke", "ok gracias", "Hola"]
COMMON_SHARE = 0.5


@cache
def varied() -> tuple[str, ...]:
    """The corpora's everyday chat, in a fixed order."""
    return tuple(case.text for folder in ("dev", "dev2") for case in load_corpus(CORPUS / folder)
                 if case.intent is Intent.NONE and case.category == "chat")


def ordinary_text(rng: random.Random) -> str:
    """One ordinary message: a common short reply or a new one, half and half."""
    if rng.random() < COMMON_SHARE:
        return rng.choice(COMMON)
    first, second = rng.sample(varied(), 2)
    return f"{first} {second}"
