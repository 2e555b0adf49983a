"""The admin pages for support staff: keywords, try-it, impact preview, numbers,
the review queue and the audit log. Server-rendered; login and CSRF on every form."""
from __future__ import annotations

import functools
import logging
from datetime import timedelta

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect

from handlers import current
from handlers.consent import identity, ledger, review
from handlers.consent import manual as manual_consent
from handlers.consent.identity import InvalidIdentity, mask
from handlers.consent.ledger import Action, Category
from handlers.consent.numbers import display
from handlers.delivery.service import EXTENSION
from handlers.detection.intents import KEYWORD_INTENTS, Intent, Match
from handlers.ops.tryit import try_message
from handlers.staff import accounts, audit, keyword_store
from handlers.staff.impact import preview as impact_preview
from handlers.staff.keyword_store import Change, KeywordError

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates",
               static_folder="static", static_url_path="/static")
log = logging.getLogger("optout.admin")
csrf = CSRFProtect()

INTENTS = [intent.value for intent in KEYWORD_INTENTS]
MATCHES = [kind.value for kind in Match]
OPEN_ENDPOINTS = {"admin.login", "admin.static"}


def register(app, exempt=()) -> None:
    """CSRF on every form of the app except the blueprints that authenticate otherwise
    (the webhook by signature, the API by bearer token)."""
    settings = app.extensions[EXTENSION].settings
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = settings.session_key
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=8))
    app.session_interface = AdminOnlySessions()
    csrf.init_app(app)
    for blueprint in exempt:
        csrf.exempt(blueprint)
    app.register_blueprint(bp)

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        if request.blueprint == "admin":
            return render_template("admin/message.html", title="Form expired",
                                   message="The form expired or did not come from this site. "
                                           "Go back, reload the page and try again."), 400
        return {"error": error.description}, 400


class AdminOnlySessions(SecureCookieSessionInterface):
    """Only the admin pages have sessions: the webhook and the API authenticate each
    request, so they skip the cookie's signature work on the hot path."""

    def open_session(self, app, request):
        if not request.path.startswith(bp.url_prefix):
            return self.make_null_session(app)
        return super().open_session(app, request)


@bp.before_request
def require_login():
    g.staff = None
    name = session.get("staff")
    if name and accounts.exists(current.service().db, name):
        g.staff = name
    if g.staff is None and request.endpoint not in OPEN_ENDPOINTS:
        return redirect(url_for("admin.login", next=request.path))
    current.service().refresh(force=True)  # staff always see the latest saved edits
    return None


@bp.after_request
def no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


@bp.app_context_processor
def template_globals():
    return {"current_staff": g.get("staff"), "mask": mask, "intent_enum": Intent, "display": display}


def _actor() -> str:
    return g.staff


def _keep_on_error(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (KeywordError, review.ReviewError) as error:
            flash(str(error), "error")
            back = request.referrer or ""
            return redirect(back if back.startswith(request.host_url) else url_for("admin.keywords"))
    return wrapper


# -- login -------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("admin/login.html", next=request.args.get("next", ""))
    name = request.form.get("name", "")
    result = accounts.login(current.service().db, name, request.form.get("password", ""), request.remote_addr or "-")
    if not result.ok:
        log.warning("admin login refused (%s)", "throttled" if result.throttled else "wrong name or password")
        return render_template("admin/login.html", error=result.message, name=name,
                               next=request.form.get("next", "")), 429 if result.throttled else 401
    session.clear()
    session.permanent = True
    session["staff"] = name.strip()
    log.info("admin login")
    target = request.form.get("next", "")
    return redirect(target if target.startswith("/admin/") else url_for("admin.keywords"))


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("admin.login"))


@bp.get("/")
def home():
    return redirect(url_for("admin.keywords"))


# -- keywords, try-it, impact --------------------------------------------------------------


def _try(classifier, text: str, number: str) -> dict | None:
    return try_message(current.service().db, classifier, text, number) if text.strip() else None


def _language_arg(locales) -> str:
    language = request.values.get("language") or ("es" if "es" in locales else next(iter(sorted(locales)), ""))
    return language if language in locales else next(iter(sorted(locales)), "")


@bp.get("/keywords")
def keywords():
    service = current.service()
    locales = service.locales
    language = _language_arg(locales)
    try_text, try_from = request.args.get("try_text", ""), request.args.get("try_from", "")
    return render_template(
        "admin/keywords.html", languages=sorted(locales), language=language,
        locale=locales.get(language), table=keyword_store.keyword_table(locales[language]) if language else {},
        intents=INTENTS, matches=MATCHES, try_text=try_text, try_from=try_from,
        tried=_try(service.classifier, try_text, try_from),
    )


def _change_from_form() -> Change:
    form = request.form
    return Change.parse(form.get("op", "add"), form.get("language"), form.get("intent"),
                        form.get("keyword"), form.get("match", Match.WHOLE.value))


@bp.post("/keywords/preview")
def preview():
    """An unsaved change: try-it before/after, and which received messages it would reclassify."""
    service = current.service()
    try:
        change = _change_from_form()
        proposed = service.build_classifier(keyword_store.with_change(service.locales, change))
    except KeywordError as error:
        flash(str(error), "error")
        return redirect(url_for("admin.keywords", language=request.form.get("language", "")))
    try_text, try_from = request.form.get("try_text", ""), request.form.get("try_from", "")
    impact = impact_preview(service.db, service.classifier, proposed)
    return render_template(
        "admin/preview.html", change=change, language=change.language, try_text=try_text, try_from=try_from,
        before=_try(service.classifier, try_text, try_from), after=_try(proposed, try_text, try_from),
        impact=impact,
    )


@bp.post("/keywords/save")
@_keep_on_error
def save_keyword():
    service = current.service()
    change = _change_from_form()
    entry = keyword_store.apply_change(service.db, service.file_locales, change, _actor())
    service.refresh(force=True)
    log.info("keyword %s %s:%s (%s, %s) by %s, audit %s", change.op, change.language, change.keyword,
             change.intent.value, change.match.value, _actor(), entry)
    flash(f"Saved: {change.op} “{change.keyword}” ({change.intent.value}, {change.match.value}) in "
          f"{change.language}. It is in effect now.", "ok")
    return redirect(url_for("admin.keywords", language=change.language))


@bp.post("/replies")
@_keep_on_error
def save_reply():
    service = current.service()
    language, intent = request.form.get("language", ""), request.form.get("intent", "")
    keyword_store.set_reply(service.db, service.file_locales, language, intent, request.form.get("reply", ""),
                            _actor())
    service.refresh(force=True)
    flash(f"Saved the {intent} reply in {language}.", "ok")
    return redirect(url_for("admin.keywords", language=language))


# -- numbers -------------------------------------------------------------------------------


# Any form of a number, a user id, or an id a delivery stored, as staff type it or as
# the review queue links it; nothing typed here may end in a 500 (a clear message instead).


@bp.get("/numbers")
def find_number():
    value = request.args.get("wa_id", "").strip()
    if not value:
        return render_template("admin/number.html", wa_id=None)
    try:
        who = identity.find(current.service().db, value)
    except InvalidIdentity as error:
        return _not_a_number(value, error)
    return redirect(url_for("admin.number", wa_id=who.written))


def _not_a_number(value: str, error: InvalidIdentity):
    flash(f"Not a phone number or WhatsApp user id: {error}", "error")
    return render_template("admin/number.html", wa_id=None, typed=value[:200]), 400


@bp.get("/numbers/<path:wa_id>")
def number(wa_id: str):
    db = current.service().db
    try:
        who = identity.find(db, wa_id)
    except InvalidIdentity as error:
        return _not_a_number(wa_id, error)
    states = ledger.states_of(db, who.persons)
    return render_template(
        "admin/number.html", wa_id=who.written, who=who,
        state=ledger.deciding(states, Category.MARKETING),
        others=ledger.deciding(states, Category.UTILITY),
        identities=identity.identities_of(db, who.persons), events=ledger.history(db, who))


@bp.post("/numbers/<path:wa_id>/consent")
def change_consent(wa_id: str):
    db = current.service().db
    try:
        action = Action(request.form.get("action", ""))
    except ValueError:
        flash("Choose opt out or opt in.", "error")
        return _back_to(wa_id)
    reason = ledger.clean_reason(request.form.get("reason"))
    if not reason:
        flash("A reason is required (for example: asked by phone on 12 May).", "error")
        return _back_to(wa_id)
    try:
        who, recorded = manual_consent.set_by_hand(db, wa_id, action, _actor(), reason)
    except InvalidIdentity as error:
        flash(f"Nothing changed: {error}", "error")
        return redirect(url_for("admin.find_number"))
    flash(f"{'Opted out' if action is Action.OPT_OUT else 'Opted back in'}." if recorded.changed
          else "Nothing changed: the number was already in that state (the action is in the history).", "ok")
    return redirect(url_for("admin.number", wa_id=who.written))


def _back_to(wa_id: str):
    try:
        return redirect(url_for("admin.number", wa_id=identity.read(wa_id).written))
    except InvalidIdentity:
        return redirect(url_for("admin.find_number"))


# -- review queue and audit log -----------------------------------------------------------


@bp.get("/review")
def review_queue():
    db = current.service().db
    return render_template("admin/review.html", pending=review.pending(db), decided=review.decided(db))


@bp.post("/review/<message_id>")
@_keep_on_error
def decide(message_id: str):
    item = review.decide(current.service().db, message_id, request.form.get("decision", ""), _actor(),
                         request.form.get("reason", ""))
    log.info("review %s for %s by %s", item["decision"], mask(item["wa_id"]), _actor())
    flash("Decision recorded.", "ok")
    return redirect(url_for("admin.review_queue"))


@bp.get("/audit")
def audit_log():
    return render_template("admin/audit.html", entries=audit.entries(current.service().db))


@bp.post("/audit/<int:entry_id>/undo")
@_keep_on_error
def undo(entry_id: int):
    service = current.service()
    keyword_store.undo(service.db, service.file_locales, entry_id, _actor())
    service.refresh(force=True)
    flash(f"Undone: entry {entry_id}.", "ok")
    return redirect(url_for("admin.audit_log"))


def _intent_label(value: str) -> str:
    return {Intent.OPT_OUT.value: "opt-out", Intent.OPT_IN.value: "opt-in", Intent.HELP.value: "help",
            Intent.NONE.value: "none"}.get(value, value)


bp.add_app_template_filter(_intent_label, "intent_label")
