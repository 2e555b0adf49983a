"""Languages from outside the words: the country of a phone number, langdetect for longer texts."""
from __future__ import annotations

import phonenumbers
from langdetect import DetectorFactory, detect_langs
from langdetect.lang_detect_exception import LangDetectException

from handlers.settings import WHATSAPP_TEXT_LIMIT

DetectorFactory.seed = 0  # repeatable results

MIN_WORDS_FOR_DETECTION = 3


def country_of(wa_id: str | None) -> str | None:
    """ISO country of a WhatsApp id made of digits (E.164 without '+'); None otherwise."""
    if not wa_id or not wa_id.isdigit():
        return None
    try:
        number = phonenumbers.parse("+" + wa_id, None)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.region_code_for_number(number)


def detect_language(text: str, allowed: set[str] | frozenset[str]) -> str | None:
    """langdetect's best guess among `allowed`, only for texts of 3 words or more.

    langdetect calls "стоп" Macedonian and "baja" Indonesian; one or two words never reach it.
    Reads at most WhatsApp's text limit, as normalisation does.
    """
    text = text[:WHATSAPP_TEXT_LIMIT]
    if len([w for w in text.split() if any(c.isalpha() for c in w)]) < MIN_WORDS_FOR_DETECTION:
        return None
    DetectorFactory.seed = 0
    try:
        guesses = detect_langs(text)
    except LangDetectException:
        return None
    for guess in guesses:  # best first
        if guess.lang in allowed:
            return guess.lang
    return None
