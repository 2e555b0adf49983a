"""The admin pages in plain words: language names, intents, consent sources, matched
rules, history events and audit entries as a support-staff member reads them, never
as the codes the database stores ("whole_message:es:baja", "meta_status_131050")."""
from __future__ import annotations

from handlers.detection.intents import Intent

LANGUAGE_NAMES = {
    "ar": "Arabic", "bn": "Bengali", "cs": "Czech", "de": "German", "el": "Greek", "en": "English",
    "es": "Spanish", "fa": "Persian", "fr": "French", "he": "Hebrew", "hi": "Hindi", "id": "Indonesian",
    "it": "Italian", "ja": "Japanese", "ko": "Korean", "ms": "Malay", "nl": "Dutch", "pl": "Polish",
    "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sv": "Swedish", "sw": "Swahili", "ta": "Tamil",
    "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu",
    "vi": "Vietnamese", "zh": "Chinese",
}
RIGHT_TO_LEFT = frozenset({"ar", "he", "fa", "ur"})

INTENT_NAMES = {Intent.OPT_OUT.value: "opt-out", Intent.OPT_IN.value: "opt-in", Intent.HELP.value: "help",
                Intent.NONE.value: "nothing"}
MATCH_NAMES = {"whole_message": "whole message", "anywhere": "anywhere in the message"}
SOURCE_NAMES = {
    "keyword": "their message", "button": "a button they tapped", "meta_preference": "WhatsApp's marketing setting",
    "meta_status_131050": "WhatsApp refused a marketing message", "staff": "staff", "import": "an imported list",
    "number_change": "a change of number",
}
ACTION_NAMES = {"opt_out": "Opted out", "opt_in": "Opted back in"}
SCOPE_NAMES = {"all": "of everything", "marketing": "of marketing"}
LINK_REASONS = {
    "message": "a message carried both", "status": "a delivery report carried both",
    "contact": "a contact card carried both", "user_preference": "a marketing-setting change carried both",
    "user_id_change": "a change of user id", "number_change": "a change of number",
}
AUDIT_KINDS = {
    "keyword": "Keyword changes", "reply": "Reply texts", "review": "Review decisions",
    "consent": "Consent by hand", "import": "Imports", "undo": "Undos",
}
AUDIT_ACTIONS = {
    "keyword.add": "Added a keyword", "keyword.remove": "Removed a keyword", "keyword.move": "Moved a keyword",
    "keyword.import": "Keyword from a locale file", "reply.set": "Changed a reply", "undo": "Undid",
    "consent.opt_out": "Opted a number out", "consent.opt_in": "Opted a number back in",
    "review.opt_out": "Review: opt-out", "review.not_opt_out": "Review: not an opt-out",
    "review.bulk_opt_out": "Review: opt-out (several)", "review.bulk_not_opt_out": "Review: not an opt-out (several)",
    "review.undo": "Undid a review decision", "import": "Imported opt-outs", "import.undo": "Undid an import",
}


def language_name(code: str | None, native: str | None = None) -> str:
    """'Spanish (Español)', 'Arabic (العربية)', or the code when the language is unknown."""
    if not code:
        return "unknown language"
    english = LANGUAGE_NAMES.get(code)
    if english and native and native != english:
        return f"{english} ({native})"
    return english or native or code


def text_direction(code: str | None) -> str:
    return "rtl" if code in RIGHT_TO_LEFT else "ltr"


def intent_name(value: str | None) -> str:
    return INTENT_NAMES.get(value or "", value or "")


def an_intent(value: str | None) -> str:
    """'an opt-out', 'a help'."""
    name = intent_name(value)
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}" if name else ""


def source_name(value: str | None) -> str:
    return SOURCE_NAMES.get(value or "", value or "")


def quoted(words: str | None) -> str:
    """“words”, isolated for the Unicode bidi algorithm, so Arabic or Hebrew words keep
    their quotes in an English sentence (and the sentence keeps its order)."""
    return f"“\u2068{words or ''}\u2069”"


def first_upper(text: str | None) -> str:
    """'WhatsApp's setting' stays as it is; 'their message' -> 'Their message'."""
    return text[:1].upper() + text[1:] if text else ""


def rule_text(rule: str | None) -> str:
    """'whole_message:es:baja' -> 'the Spanish keyword “baja” (whole message)'."""
    if not rule:
        return ""
    kind, _, rest = rule.partition(":")
    language, _, keyword = rest.partition(":")
    if not keyword:
        return rule
    if kind == "button":   # button:<opt_out|opt_in|ignore>:<what buttons.toml matched>
        meaning = {"opt_out": "opt-out", "opt_in": "opt-in"}.get(language, "ignored")
        return f"the {meaning} button {quoted(keyword)} (locales/buttons.toml)"
    name = LANGUAGE_NAMES.get(language, language)
    if kind == "frame":    # frame:<lang>:<parts joined by + or &>
        parts = keyword.replace("&", " + ").replace("+", " + ").replace("  ", " ").replace("-", " ")
        return f"a {name} request ({parts})"
    if kind == "clause":
        return f"the {name} keyword {quoted(keyword)} as a sentence of its own"
    if kind == "typo":
        return f"a misspelling of the {name} keyword {quoted(keyword)}"
    if kind == "reported":
        return f"the {name} request {quoted(keyword)} in someone else's words (“my wife says …”)"
    if kind == "negated":
        return f"the {name} keyword {quoted(keyword)} after a negation (“don't …”)"
    return f"the {name} keyword {quoted(keyword)} ({MATCH_NAMES.get(kind, kind)})"


def event_how(event: dict) -> str:
    """How a consent event came about, in one sentence."""
    source, words, rule = event.get("source"), event.get("keyword"), rule_text(event.get("rule"))
    matched = f", which matched {rule}" if rule else ""
    reason = event.get("reason") or ""
    if source == "keyword":
        return f"They wrote {quoted(words)}{matched}."
    if source == "button":
        return f"They tapped the button {quoted(words)}{matched}."
    if source == "meta_preference":
        turned = "off" if event.get("action") == "opt_out" else "back on"
        return f"They turned marketing messages {turned} in WhatsApp."
    if source == "meta_status_131050":
        return "WhatsApp refused a marketing message to them: they had stopped marketing messages (error 131050)."
    if source == "number_change":
        return f"Their opt-out followed them to this number ({reason})." if reason else "Their opt-out followed them to this number."
    if source == "import":
        return f"Imported from {event.get('actor') or 'a file'}{': ' + reason if reason else ''}."
    if source == "staff":
        who = event.get("actor") or "staff"
        if reason.startswith("review: "):
            said = f" They wrote {quoted(words)}{matched}." if words else ""
            return f"Decided in the review queue by {who}: {reason.removeprefix('review: ')}.{said}"
        return f"Changed by hand by {who}: {reason}."
    return reason or source or ""


def change_name(event: dict) -> str:
    """'Opted out of everything', 'Opted out of marketing', 'Opted back in'."""
    action = event.get("action") or ""
    name = ACTION_NAMES.get(action, action)
    if action == "opt_out" and event.get("scope") in SCOPE_NAMES:
        return f"{name} {SCOPE_NAMES[event['scope']]}"
    return name


def link_text(linked: str) -> str:
    """identity.identities_of's 'message with US.1349…' -> 'a message carried both (with US.1349…)'."""
    reason, _, other = linked.partition(" with ")
    shown = f"+{other}" if other.isdigit() else other
    return f"{LINK_REASONS.get(reason, reason)} (with {shown})" if other else LINK_REASONS.get(reason, reason)


def audit_action(value: str) -> str:
    return AUDIT_ACTIONS.get(value, value)


def count(n: int, one: str, many: str | None = None) -> str:
    """'1 number', '1,240 numbers'."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"
