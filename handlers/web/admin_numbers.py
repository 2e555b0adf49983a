"""Numbers: the list of opted-out numbers (search, filters, pages, CSV with the staff
session), and one number's page: its state and history in plain words, newest first,
with the one form that applies (opt out, or opt back in)."""
from __future__ import annotations

import logging

from flask import Response, redirect, render_template, request, stream_with_context, url_for

from handlers import current
from handlers.consent import ledger, listing
from handlers.consent import manual as manual_consent
from handlers.consent.identity import InvalidIdentity, normalize
from handlers.consent.ledger import Action
from handlers.storage import clock
from handlers.web.admin import bp
from handlers.web.admin_forms import actor, done, refused
from handlers.web.admin_paging import Page

log = logging.getLogger("optout.admin")


def _filter() -> listing.NumberFilter:
    args = request.args
    state = args.get("state", "out")
    return listing.NumberFilter(search=args.get("q", "").strip()[:64], source=args.get("source", ""),
                                language=args.get("language", ""), since=_day(args.get("since")),
                                until=_day(args.get("until")), state=state if state in listing.STATES else "out")


def _day(value: str | None) -> str:
    text = (value or "").strip()
    return text if len(text) == 10 and text[4] == "-" and text[7] == "-" and text.replace("-", "").isdigit() else ""


@bp.get("/numbers")
def numbers():
    lookup = request.args.get("wa_id", "").strip()   # the old look-up form
    if lookup:
        return redirect(url_for("admin.number", wa_id=lookup))
    db = current.service().db
    wanted = _filter()
    page = Page.requested(listing.count(db, wanted))
    return render_template("admin/numbers.html", wanted=wanted, page=page,
                           rows=listing.search(db, wanted, page.size, page.offset),
                           sources=listing.sources(db), languages=listing.languages(db), states=listing.STATES)


@bp.get("/numbers.csv")
def numbers_csv():
    """The list as shown (all opted-out numbers without filters), for the logged-in staff member."""
    wanted = _filter()
    db = current.service().db
    name = f"suppressions-{clock.utcnow().strftime('%Y%m%d-%H%M')}.csv"
    log.info("suppression list downloaded by %s (filtered: %s)", actor(), wanted.active)
    return Response(stream_with_context(listing.as_csv(db, wanted)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _number_page(key: str, status: int = 200, error: str = "", reason: str = ""):
    db = current.service().db
    state = ledger.state(db, key)
    events = sorted(ledger.history(db, key), key=lambda e: (e["occurred_at"], e["id"]), reverse=True)
    cause = next((e for e in events if state and e["id"] == state["last_event_id"]), None)
    return render_template("admin/number.html", wa_id=key, state=state, cause=cause, events=events,
                           error=error, reason=reason), status


@bp.get("/numbers/<wa_id>")
def number(wa_id: str):
    try:
        key = normalize(wa_id)
    except InvalidIdentity as error:
        refused(f"Not a number we can read: {error}")
        return redirect(url_for("admin.numbers"))
    return _number_page(key)


@bp.post("/numbers/<wa_id>/consent")
def change_consent(wa_id: str):
    try:
        key = normalize(wa_id)
    except InvalidIdentity as error:
        refused(f"Not a number we can read: {error}")
        return redirect(url_for("admin.numbers"))
    typed = request.form.get("reason", "")
    try:
        action = Action(request.form.get("action", ""))
    except ValueError:
        return _number_page(key, 400, "Choose opt out or opt back in.", typed)
    reason = ledger.clean_reason(typed)
    if not reason:
        return _number_page(key, 400, "A reason is required (for example: asked by phone on 12 May, ticket 123).",
                            typed)
    db = current.service().db
    entry = manual_consent.change_by_hand(db, key, action, actor(), reason)
    if entry is None:
        state = "opted out" if action is Action.OPT_OUT else "subscribed"
        return _number_page(key, 409, f"Nothing changed: the number is already {state}. Your reason is kept below.",
                            typed)
    shown = f"+{key}" if key.isdigit() else key
    done(f"{'Opted out' if action is Action.OPT_OUT else 'Opted back in'}: {shown}.", entry)
    return redirect(url_for("admin.number", wa_id=key))
