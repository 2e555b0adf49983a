"""The review queue at volume: counts, filters (language, rule, date), sorting, pages,
one decision per message or one for many (a selection, or everything a filter
selects), each answered with what was decided for which number and an Undo.

Enter in a reason box never decides anything: each decision form starts with a
disabled submit button, which HTML makes the form's default button, so pressing
Enter submits nothing (a press on "Opt out" or "Not an opt-out" is needed)."""
from __future__ import annotations

import logging
from dataclasses import replace

from flask import redirect, render_template, request, url_for

from handlers import current
from handlers.consent import review, review_bulk, review_search
from handlers.consent.identity import mask
from handlers.web.admin import bp
from handlers.web.admin_forms import actor, done, refused
from handlers.web.admin_paging import Page
from handlers.web.admin_templates import number_text
from handlers.web.admin_words import count, rule_text

log = logging.getLogger("optout.admin")
DECISION_WORDS = {"opt_out": "Opt-out", "not_opt_out": "Not an opt-out"}
FILTER_FIELDS = ("language", "rule", "since", "until", "sort")


def _filter(values) -> review_search.ReviewFilter:
    sort = values.get("sort", "oldest")
    return review_search.ReviewFilter(
        language=values.get("language", ""), rule=values.get("rule", ""), since=_day(values.get("since")),
        until=_day(values.get("until")), sort=sort if sort in review_search.SORTS else "oldest")


def _day(value: str | None) -> str:
    text = (value or "").strip()
    return text if len(text) == 10 and text.replace("-", "").isdigit() else ""


def _page(status: int = 200, error: str = "", kept: dict | None = None):
    db = current.service().db
    newest = review_search.newest_pending(db)
    wanted = replace(_filter(request.args), seen_until=newest)
    page = Page.requested(review_search.count(db, wanted))
    return render_template(
        "admin/review.html", wanted=wanted, page=page, total=review_search.pending_count(db),
        pending=review_search.search(db, wanted, page.size, page.offset), rules=review_search.pending_rules(db),
        languages=review_search.pending_languages(db), decided=review_search.recently_decided(db),
        error=error, kept=kept or {}, no_rule=review_search.NO_RULE,
    ), status


@bp.get("/review")
def review_queue():
    return _page()


def _back():
    """The queue as the staff member was looking at it (filters and page kept)."""
    args = {name: request.form.get(name) for name in (*FILTER_FIELDS, "page") if request.form.get(name)}
    return redirect(url_for("admin.review_queue", **args))


# Message ids are base64 and may hold "/" (even "//"): the whole rest of the path is the id.
@bp.post("/review/<path:message_id>", merge_slashes=False)
def decide(message_id: str):
    decision, reason = request.form.get("decision", ""), request.form.get("reason", "")
    if decision not in review.DECISIONS:
        return _page(400, "Choose “Opt out” or “Not an opt-out”: nothing was recorded. Your reason is kept.",
                     {message_id: reason})
    try:
        item = review.decide(current.service().db, message_id, decision, actor(), reason)
    except review.ReviewError as error:
        refused(f"Nothing recorded: {error}.")
        return _back()
    log.info("review %s for %s by %s", item["decision"], mask(item["wa_id"]), actor())
    text = item["text"] if len(item["text"]) <= 60 else item["text"][:57] + "…"
    opted = " They are opted out now (no WhatsApp confirmation is sent for review decisions)." if decision == "opt_out" else ""
    done(f"{DECISION_WORDS[decision]}: recorded for {number_text(item['wa_id'])} (“{text}”).{opted}", item["audit_id"])
    return _back()


@bp.post("/review/bulk")
def decide_many():
    """Decide the ticked items, or everything the filter selects (scope=filter)."""
    form = request.form
    decision = form.get("decision", "")
    if decision not in review.DECISIONS:
        refused("Choose “Opt out” or “Not an opt-out” for the selected messages: nothing was recorded.")
        return _back()
    db = current.service().db
    wanted = _filter(form)
    if request.values.get("scope") == "filter":
        # exactly the items the page counted: none that arrived since, and none decided by someone else since
        ids = review_search.matching_ids(db, replace(wanted, seen_until=form.get("seen_until", "")))
        expected = form.get("expected", "")
        if not form.get("seen_until") or not expected.isdigit() or int(expected) != len(ids):
            refused(f"The queue changed since the page was loaded ({expected or '?'} messages then, {len(ids)} now, "
                    "some decided by someone else): nothing recorded. Look at the list again.")
            return _back()
        by_rule = wanted.rule and wanted.rule != review_search.NO_RULE
        what = f"everything caught by {rule_text(wanted.rule)}" if by_rule else "everything the filter selects"
    else:
        ids = form.getlist("message_id")
        what = "the selected messages"
    try:
        result = review_bulk.decide_many(db, ids, decision, actor(), form.get("reason", ""),
                                         description=f"{len(ids)} review items ({what})")
    except review.ReviewError as error:
        refused(f"Nothing recorded: {error}.")
        return _back()
    log.info("review %s for %d items by %s", decision, result.decided, actor())
    skipped = f" {count(result.skipped, 'item was', 'items were')} already decided." if result.skipped else ""
    opted = (f" {count(result.opted_out, 'number is', 'numbers are')} opted out now (no WhatsApp confirmation is sent "
             "for review decisions).") if decision == "opt_out" else ""
    done(f"{DECISION_WORDS[decision]}: recorded for {count(result.decided, 'message')} ({what}).{skipped}{opted}",
         result.audit_id)
    return _back()
