"""Button replies whose meaning does not depend on their words.

`locales/buttons.toml` says which button payloads, ids and titles mean opt-out or opt-in
whatever the locale keywords say (Meta's marketing opt-out quick reply, "Stop promotions",
in every language a template uses), and which of a business's own reply buttons never
mean consent (a flow's "Cancel" is not a request to stop marketing). Buttons it does not
name are read like any other words. Loaded and validated at start-up like the locales.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from handlers.detection.intents import Intent
from handlers.detection.normalize import normalize_text

SECTIONS = {"opt_out": Intent.OPT_OUT, "opt_in": Intent.OPT_IN, "ignore": Intent.NONE}
FIELDS = ("payloads", "ids", "titles")


class ButtonsError(ValueError):
    """buttons.toml is invalid; the message says where."""


@dataclass(frozen=True)
class ButtonReply:
    """What a tapped button sends: a template quick reply (payload + text) or an
    interactive reply (id + title)."""
    kind: str                 # "template" or "interactive"
    key: str | None           # the payload or id the business set
    title: str | None         # the words on the button


@dataclass(frozen=True)
class ButtonMeaning:
    intent: Intent            # Intent.NONE for an ignored button
    matched: str              # the entry of buttons.toml that matched, as written


@dataclass
class ButtonRules:
    keys: dict[str, ButtonMeaning] = field(default_factory=dict)     # payloads and ids, exact
    titles: dict[str, ButtonMeaning] = field(default_factory=dict)   # titles, normalised

    def meaning(self, button: ButtonReply | None) -> ButtonMeaning | None:
        """What buttons.toml says about this button, if anything (its key first)."""
        if button is None:
            return None
        if button.key and button.key.strip().casefold() in self.keys:
            return self.keys[button.key.strip().casefold()]
        if button.title and normalize_text(button.title) in self.titles:
            return self.titles[normalize_text(button.title)]
        return None


def load_buttons(path: str | Path) -> ButtonRules:
    """buttons.toml, validated; a missing file means no special buttons."""
    path = Path(path)
    if not path.exists():
        return ButtonRules()
    try:
        text = path.read_text("utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ButtonsError(f"{path.name}: cannot read: {error}") from None
    return buttons_from_dict(data, path.name, text)


def buttons_from_dict(data: dict, source: str = "buttons.toml", text: str = "") -> ButtonRules:
    def fail(message: str, needle: str) -> ButtonsError:
        line = next((n for n, row in enumerate(text.splitlines(), 1)
                     if needle in row and not row.lstrip().startswith("#")), None)
        return ButtonsError(f"{source}{f', line {line}' if line else ''}: {message}")

    rules = ButtonRules()
    seen: dict[str, str] = {}
    for section, table in data.items():
        if section not in SECTIONS:
            raise fail(f"unknown section [{section}] (expected {', '.join(f'[{s}]' for s in SECTIONS)})",
                       f"[{section}]")
        if not isinstance(table, dict):
            raise fail(f"[{section}] must be a table", section)
        for name, entries in table.items():
            if name not in FIELDS:
                raise fail(f"[{section}]: unknown field {name!r} (expected {', '.join(FIELDS)})", name)
            if not isinstance(entries, list) or not all(isinstance(e, str) and e.strip() for e in entries):
                raise fail(f"[{section}] {name} must be a list of non-empty strings", name)
            for entry in entries:
                is_title = name == "titles"
                form = normalize_text(entry) if is_title else entry.strip().casefold()
                if not form:
                    raise fail(f"[{section}] {name}: {entry!r} has no letters or digits", entry)
                where = f"{'title' if is_title else 'key'}:{form}"
                if where in seen and seen[where] != section:
                    raise fail(f"{entry!r} is in [{section}] and in [{seen[where]}]", entry)
                seen[where] = section
                meaning = ButtonMeaning(SECTIONS[section], entry)
                (rules.titles if is_title else rules.keys)[form] = meaning
    return rules
