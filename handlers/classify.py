"""Placeholder classifier; replaced by the detection branch."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from handlers.intents import Intent, Match


@dataclass(frozen=True)
class Classification:
    intent: Intent
    rule: str | None
    keyword: str | None
    language: str | None
    normalized: str
    certain: bool


def _norm(text):
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join("".join(c if c.isalnum() or c.isspace() else " " for c in text).split())


class Classifier:
    def __init__(self, locales, default_language="en"):
        self._locales = locales
        self._default = default_language
        self._whole, self._anywhere = {}, []
        for code, locale in locales.items():
            for intent, kinds in locale.keywords.items():
                for word in kinds[Match.WHOLE]:
                    self._whole.setdefault(_norm(word), []).append((intent, code, word))
                for word in kinds[Match.ANYWHERE]:
                    self._anywhere.append((_norm(word), intent, code, word))

    @classmethod
    def from_locales(cls, locales, default_language="en"):
        return cls(locales, default_language)

    @property
    def languages(self):
        return sorted(self._locales)

    def classify(self, text):
        normalized = _norm(text)
        hits = self._whole.get(normalized)
        if hits:
            intent, code, word = hits[0]
            language = code if len({h[1] for h in hits}) == 1 else None
            return Classification(intent, f"whole_message:{code}:{word}", word, language, normalized, True)
        for phrase, intent, code, word in self._anywhere:
            if f" {phrase} " in f" {normalized} ":
                return Classification(intent, f"anywhere:{code}:{word}", word, code, normalized, True)
        return Classification(Intent.NONE, None, None, None, normalized, True)

    def reply_language(self, classification, text, wa_id, last_language):
        return classification.language or last_language or self._default

    def reply_text(self, intent, language):
        locale = self._locales.get(language) or self._locales[self._default]
        return locale.replies.get(intent) or self._locales[self._default].replies[intent]


def explain(classifier, text, wa_id=None, last_language=None):
    result = classifier.classify(text)
    language = classifier.reply_language(result, text, wa_id, last_language)
    return {"intent": result.intent.value, "rule": result.rule, "keyword": result.keyword,
            "normalized": result.normalized, "language": language, "certain": result.certain,
            "reply": classifier.reply_text(result.intent, language) if result.intent is not Intent.NONE else None}
