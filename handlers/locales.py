"""Placeholder loader; replaced by the detection branch."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from handlers.intents import Intent, Match


class LocaleError(ValueError):
    pass


@dataclass
class Locale:
    code: str
    name: str
    countries: list
    fillers: list
    negations: list
    keywords: dict
    replies: dict


def load_locales(directory) -> dict[str, Locale]:
    locales = {}
    for path in sorted(Path(directory).glob("*.toml")):
        data = tomllib.loads(path.read_text("utf-8"))
        keywords, replies = {}, {}
        for intent in (Intent.OPT_OUT, Intent.OPT_IN, Intent.HELP):
            section = data.get(intent.value, {})
            keywords[intent] = {m: list(section.get(m.value, [])) for m in Match}
            replies[intent] = section.get("reply", "")
        locales[data["language"]] = Locale(
            data["language"], data.get("name", ""), data.get("countries", []),
            data.get("fillers", []), data.get("negations", []), keywords, replies,
        )
    return locales
