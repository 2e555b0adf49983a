"""The keywords page: keyword lists and reply texts per language, try-it, and the
preview of a keyword change with its impact on messages already received.

Replies: the three reply boxes of a language belong to one form and each has its own
Save button, so saving one reply keeps the unsaved text of the others on the page.
A refused edit comes back with the text as typed and the error beside its box."""
from __future__ import annotations

import logging

from flask import redirect, render_template, request, url_for

from handlers import current
from handlers.detection.intents import KEYWORD_INTENTS, Intent, Match
from handlers.ops.tryit import try_message
from handlers.settings import WHATSAPP_TEXT_LIMIT
from handlers.staff import keyword_store
from handlers.staff.impact import preview as impact_preview
from handlers.staff.keyword_store import Change, KeywordError
from handlers.web.admin import bp
from handlers.web.admin_forms import actor, done
from handlers.web.admin_words import MATCH_NAMES, an_intent, intent_name, language_name

log = logging.getLogger("optout.admin")

INTENTS = [intent.value for intent in KEYWORD_INTENTS]
MATCHES = [kind.value for kind in Match]


def _try(classifier, text: str, number: str) -> dict | None:
    return try_message(current.service().db, classifier, text, number) if text.strip() else None


def _language_arg(locales) -> str:
    language = request.values.get("language") or ("es" if "es" in locales else next(iter(sorted(locales)), ""))
    return language if language in locales else next(iter(sorted(locales)), "")


def _page(status: int = 200, *, drafts: dict | None = None, reply_errors: dict | None = None,
          add_error: str = "", add_values: dict | None = None, language: str | None = None):
    service = current.service()
    locales = service.locales
    language = language if language in locales else _language_arg(locales)
    locale = locales.get(language)
    saved = {intent: locale.replies.get(Intent(intent), "") if locale else "" for intent in INTENTS}
    replies = {intent: (drafts or {}).get(intent, saved[intent]) for intent in INTENTS}
    try_text, try_from = request.args.get("try_text", ""), request.args.get("try_from", "")
    return render_template(
        "admin/keywords.html", languages=[(code, language_name(code, locales[code].name)) for code in sorted(locales)],
        language=language, language_label=language_name(language, locale.name if locale else None),
        table=keyword_store.keyword_table(locale) if locale else {}, intents=INTENTS, matches=MATCHES,
        try_text=try_text, try_from=try_from, tried=_try(service.classifier, try_text, try_from),
        replies=replies, unsaved={i for i in INTENTS if replies[i] != saved[i]}, reply_errors=reply_errors or {},
        limit=WHATSAPP_TEXT_LIMIT, add_error=add_error, add_values=add_values or {},
    ), status


@bp.get("/keywords")
def keywords():
    return _page()


def _change_from_form() -> Change:
    form = request.values
    return Change.parse(form.get("op", "add"), form.get("language"), form.get("intent"),
                        form.get("keyword"), form.get("match", Match.WHOLE.value))


def _refused_change(error: KeywordError):
    values = {name: request.values.get(name, "") for name in ("keyword", "intent", "match")}
    if request.values.get("op", "add") == "add":
        return _page(400, add_error=str(error), add_values=values, language=request.values.get("language"))
    return _page(400, add_error=str(error), language=request.values.get("language"))


@bp.route("/keywords/preview", methods=["GET", "POST"])
def preview():
    """An unsaved change: try-it before/after, and which received messages it would
    reclassify. GET serves the same page again after a new login (nothing is saved)."""
    service = current.service()
    try:
        change = _change_from_form()
        proposed = service.build_classifier(keyword_store.with_change(service.locales, change))
    except KeywordError as error:
        return _refused_change(error)
    try_text, try_from = request.values.get("try_text", ""), request.values.get("try_from", "")
    received_at, message_id = request.form.get("continue_received_at"), request.form.get("continue_message_id")
    impact = impact_preview(service.db, service.classifier, proposed,
                            continue_after=(received_at, message_id) if received_at and message_id else None)
    locale = service.locales[change.language]
    return render_template(
        "admin/preview.html", change=change, language=change.language,
        language_label=language_name(change.language, locale.name), try_text=try_text, try_from=try_from,
        before=_try(service.classifier, try_text, try_from), after=_try(proposed, try_text, try_from),
        impact=impact, hint=_other_kind_hint(locale, change), match_names=MATCH_NAMES,
    )


def _other_kind_hint(locale, change: Change) -> str:
    """When the keyword already sits in the other match kind of the same intent."""
    if change.op != "add":
        return ""
    other = Match.ANYWHERE if change.match is Match.WHOLE else Match.WHOLE
    if (change.intent, other) not in keyword_store.placements(locale, change.keyword):
        return ""
    return (f"“{change.keyword}” is already {an_intent(change.intent.value)} keyword matched "
            f"{MATCH_NAMES[other.value]}. Saving adds it to “{MATCH_NAMES[change.match.value]}” as well; "
            f"to change how it matches instead, use “move” on the keywords page.")


@bp.post("/keywords/save")
def save_keyword():
    service = current.service()
    try:
        change = _change_from_form()
        entry = keyword_store.apply_change(service.db, service.file_locales, change, actor())
    except KeywordError as error:
        return _refused_change(error)
    service.refresh(force=True)
    log.info("keyword %s %s:%s (%s, %s) by %s, audit %s", change.op, change.language, change.keyword,
             change.intent.value, change.match.value, actor(), entry)
    did = {"add": "added", "remove": "removed", "move": "moved"}[change.op]
    where = MATCH_NAMES[change.match.value]
    locale = service.locales[change.language]
    done(f"Saved: {did} “{change.keyword}” as {an_intent(change.intent.value)} keyword ({where}) in "
         f"{language_name(change.language, locale.name)}. It applies to messages from now on.", entry)
    return redirect(url_for("admin.keywords", language=change.language))


@bp.post("/replies")
def save_reply():
    """Save the one reply whose button was pressed; the other boxes keep what was typed."""
    service = current.service()
    language = request.form.get("language", "")
    intent = request.form.get("save", "") or request.form.get("intent", "")
    drafts = {i: request.form[f"reply_{i}"].replace("\r\n", "\n") for i in INTENTS if f"reply_{i}" in request.form}
    if "reply" in request.form:  # one reply alone (older form, scripts)
        drafts[intent] = request.form["reply"]
    try:
        entry = keyword_store.set_reply(service.db, service.file_locales, language, intent, drafts.get(intent, ""),
                                        actor())
    except KeywordError as error:
        return _page(400, drafts=drafts, reply_errors={intent: str(error)}, language=language)
    service.refresh(force=True)
    locale = service.locales.get(language)
    label = f"the {intent_name(intent)} reply in {language_name(language, locale.name if locale else None)}"
    if entry is None:
        done(f"Nothing to save: {label} is unchanged.")
    else:
        done(f"Saved {label}. It is used from the next confirmation on.", entry)
    drafts.pop(intent, None)
    saved = {i: locale.replies.get(Intent(i), "") for i in INTENTS} if locale else {}
    if any(text.strip() != saved.get(i, "") for i, text in drafts.items()):
        return _page(drafts=drafts, language=language)  # keep the other unsaved replies on the page
    return redirect(url_for("admin.keywords", language=language))
