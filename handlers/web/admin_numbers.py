"""Numbers: the list of opted-out numbers (search, filters, pages, CSV with the staff
session), and one number's page: its state and history in plain words, newest first,
with the one form that applies (opt out, or opt back in).

A row of the list is a person, with every id they are known by. The page takes any form
of a number, a user id, or an id a delivery stored, as staff type it or as the review
queue links it (consent/identity.py): it shows the person (or persons, for a form that may
be either) behind it, their ids, and the history of all of them. Nothing typed here ends
in a 500: a value that names nobody gets a page that says so, with what was typed kept."""
from __future__ import annotations

import logging

from flask import Response, redirect, render_template, request, stream_with_context, url_for

from handlers import current
from handlers.consent import identity, ledger, listing
from handlers.consent import manual as manual_consent
from handlers.consent.identity import InvalidIdentity
from handlers.consent.ledger import Action, Category
from handlers.storage import clock
from handlers.web.admin import bp
from handlers.web.admin_forms import actor, done, refused
from handlers.web.admin_paging import Page
from handlers.web.admin_templates import number_text

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
        try:
            lookup = identity.read(lookup).written      # '+52 1 55 1234 5678' -> 5215512345678
        except InvalidIdentity:
            pass                                        # the page says what is wrong with it
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


def _number_page(value: str, status: int = 200, error: str = "", reason: str = ""):
    """The page of whoever `value` names; a page saying why, with `value` kept, if nobody (400)."""
    db = current.service().db
    try:
        who = identity.find(db, value)
    except InvalidIdentity as unreadable:
        return render_template("admin/number.html", who=None, typed=value[:200],
                               error=f"Not a number we can read: {unreadable}."), 400
    states = ledger.states_of(db, who.persons)
    state = ledger.deciding(states, Category.MARKETING)
    events = sorted(ledger.history(db, who), key=lambda e: (e["occurred_at"], e["id"]), reverse=True)
    cause = next((e for e in events if state and e["id"] == state.last_event_id), None)
    return render_template("admin/number.html", who=who, wa_id=who.written, state=state, cause=cause, events=events,
                           identities=identity.identities_of(db, who.persons), national=identity.is_national(who),
                           error=error, reason=reason), status


@bp.get("/numbers/<path:wa_id>")
def number(wa_id: str):
    return _number_page(wa_id)


@bp.post("/numbers/<path:wa_id>/consent")
def change_consent(wa_id: str):
    typed = request.form.get("reason", "")
    try:
        action = Action(request.form.get("action", ""))
    except ValueError:
        return _number_page(wa_id, 400, "Choose opt out or opt back in.", typed)
    reason = ledger.clean_reason(typed)
    if not reason:
        return _number_page(wa_id, 400, "A reason is required (for example: asked by phone on 12 May, ticket 123).",
                            typed)
    db = current.service().db
    try:
        change = manual_consent.change_by_hand(db, wa_id, action, actor(), reason)
    except InvalidIdentity as error:
        refused(f"Nothing changed: {error}.")
        return redirect(url_for("admin.number", wa_id=wa_id))
    if change.audit_id is None:
        state = "opted out" if action is Action.OPT_OUT else "subscribed"
        return _number_page(wa_id, 409, f"Nothing changed: the number is already {state} (your action is in its history). "
                            "Your reason is kept below.",
                            typed)
    done(f"{'Opted out' if action is Action.OPT_OUT else 'Opted back in'}: {number_text(change.who.written)}.",
         change.audit_id)
    return redirect(url_for("admin.number", wa_id=change.who.written))
