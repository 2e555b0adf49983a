"""The admin blueprint: login, sessions and CSRF for every page. The pages themselves
live beside it, one module each: admin_overview, admin_keywords, admin_numbers,
admin_review, admin_audit and admin_import (imported at the end, so their routes
join this blueprint). Server-rendered; login and CSRF on every form."""
from __future__ import annotations

import logging
import time
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect

from handlers import current
from handlers.consent.identity import mask
from handlers.delivery.service import EXTENSION
from handlers.detection.intents import Intent
from handlers.staff import accounts

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates",
               static_folder="static", static_url_path="/static")
log = logging.getLogger("optout.admin")
SESSION_LIFETIME = timedelta(hours=8)   # from the login, however busy the session
csrf = CSRFProtect()

OPEN_ENDPOINTS = {"admin.login", "admin.static"}


def register(app, exempt=()) -> None:
    """CSRF on every form of the app except the blueprints that authenticate otherwise
    (the webhook by signature, the API by bearer token)."""
    service = app.extensions[EXTENSION]
    settings = service.settings
    if not app.config.get("SECRET_KEY"):
        # Development mode signs with a random key kept in the database (see Settings.session_key_from_database).
        app.config["SECRET_KEY"] = (accounts.instance_secret(service.db, "session_key")
                                    if settings.session_key_from_database else settings.session_key)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME)
    app.session_interface = AdminOnlySessions()
    csrf.init_app(app)
    for blueprint in exempt:
        csrf.exempt(blueprint)
    app.register_blueprint(bp)

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        if request.blueprint == "admin":
            return admin_errors.form_refused()
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
    name, since = session.get("staff"), session.get("since")
    # 8 hours from the login, however busy the session: the cookie's own expiry moves on each answer
    fresh = isinstance(since, (int, float)) and 0 <= time.time() - since < SESSION_LIFETIME.total_seconds()
    if name and fresh and accounts.session_is_valid(current.service().db, name, session.get("token")):
        g.staff = name
    if g.staff is None:
        # The login page needs no classifier: rebuilding one for every anonymous request
        # would hand anyone a cheap way to load the server.
        return None if request.endpoint in OPEN_ENDPOINTS else redirect(url_for("admin.login", next=request.path))
    current.service().refresh(force=True)  # staff always see the latest saved edits
    return None


@bp.after_request
def no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


@bp.app_context_processor
def template_globals():
    return {"current_staff": g.get("staff"), "mask": mask, "intent_enum": Intent}


# -- login -------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("admin/login.html", next=safe_next(request.args.get("next", "")) or "")
    name = request.form.get("name", "")
    result = accounts.login(current.service().db, name, request.form.get("password", ""), request.remote_addr or "-")
    if not result.ok:
        log.warning("admin login refused (%s)", "throttled" if result.throttled else "wrong name or password")
        page = render_template("admin/login.html", error=result.message, name=name,
                               next=safe_next(request.form.get("next", "")) or "")
        if result.throttled:
            return page, 429, {"Retry-After": str(result.retry_after)}
        return page, 401
    session.clear()
    session.permanent = True
    session["staff"] = name.strip()
    session["token"] = result.session_token
    session["since"] = int(time.time())
    log.info("admin login")
    return redirect(safe_next(request.form.get("next", "")) or url_for("admin.home"))


def safe_next(target: str) -> str | None:
    """Where to go after logging in: a path of this admin site, or None. Never another
    host ("//evil", "/\\evil", "https:..."), never a header injection (control characters)."""
    if not target.startswith("/admin/") or len(target) > 2000:
        return None
    if not target.isprintable() or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "/../" in parts.path + "/" or "//" in parts.path:
        return None
    return target


@bp.post("/logout")
def logout():
    """Ends every session of this account (the cookie alone could be replayed until it expires)."""
    accounts.end_sessions(current.service().db, g.staff)
    session.clear()
    return redirect(url_for("admin.login"))


# The pages: each module adds its routes to `bp` (imported last: they import `bp`).
from handlers.web import (  # noqa: E402
    admin_audit,
    admin_errors,
    admin_import,
    admin_keywords,
    admin_numbers,
    admin_overview,
    admin_review,
    admin_templates,
)

PAGES = (admin_audit, admin_errors, admin_import, admin_keywords, admin_numbers, admin_overview, admin_review,
         admin_templates)
