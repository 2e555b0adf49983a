"""What the request-frame tables share: the shipped classifier (built once per session) and
the one check of a row: a message, the intent it must get and how its rule must start."""
from __future__ import annotations

from pathlib import Path

import pytest

from handlers.detection.classify import Classifier
from handlers.detection.intents import Intent
from handlers.detection.locales import load_locales

ROOT = Path(__file__).resolve().parent.parent
OUT, IN, HELP, NONE = Intent.OPT_OUT, Intent.OPT_IN, Intent.HELP, Intent.NONE


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    """The classifier of the shipped locale files (a module may define its own)."""
    return Classifier.from_locales(load_locales(ROOT / "locales"))


def check(classifier: Classifier, text: str, intent: Intent, rule_prefix: str, certain: bool | None = None) -> None:
    result = classifier.classify(text)
    assert (result.intent, (result.rule or "")[:len(rule_prefix)]) == (intent, rule_prefix), result
    if certain is not None:
        assert result.certain is certain, result
