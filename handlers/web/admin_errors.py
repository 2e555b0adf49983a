"""Error pages of the admin: a 404 or 405 inside /admin is an HTML page (the API and
the webhook keep their JSON), and a form sent after the session ended says that the
user was logged out and keeps what they were doing."""
from __future__ import annotations

from flask import render_template, request, session, url_for
from werkzeug.exceptions import HTTPException

from handlers.web.admin import bp, require_login
from handlers.web.admin_words import intent_name, language_name
from handlers.web.errors import json_error

CHANGE_FIELDS = ("op", "language", "intent", "keyword", "match", "try_text", "try_from")


@bp.app_errorhandler(404)
@bp.app_errorhandler(405)
def not_found(error: HTTPException):
    code = error.code or 404
    if not request.path.startswith(bp.url_prefix or "/admin"):
        return json_error(code, error.description or error.name)
    login_first = require_login()   # no page matched, so the blueprint's own check did not run
    if login_first is not None:
        return login_first
    title = "Page not found" if code == 404 else "This address is not a page"
    message = ("There is no admin page at this address. Use the menu to find what you were looking for."
               if code == 404 else
               "This address only takes a submitted form. Go back to the page with the form and send it again.")
    return render_template("admin/message.html", title=title, message=message), code


def form_refused():
    """The CSRF check failed. When the session has ended (8 hours, or logged out in
    another tab) the token went with it: say so, and keep the change."""
    if session.get("staff") or request.endpoint == "admin.login":
        return render_template("admin/message.html", title="Form expired",
                               message="The form expired or did not come from this site. "
                                       "Go back, reload the page and try again."), 400
    form = request.form
    kept, next_url = None, ""
    if request.endpoint in ("admin.preview", "admin.save_keyword") and form.get("keyword"):
        change = {name: form.get(name, "") for name in CHANGE_FIELDS if form.get(name)}
        kept = (f"{form.get('op', 'add').capitalize()} “{form.get('keyword')}” as "
                f"{intent_name(form.get('intent'))} ({'anywhere in the message' if form.get('match') == 'anywhere' else 'whole message'}) "
                f"in {language_name(form.get('language'))}. It was not saved. After you log in you are back on its "
                "preview, where you can save it.")
        next_url = url_for("admin.preview", **change)
    elif request.endpoint == "admin.save_reply":
        kept = "Your reply text was not saved. Copy it from here, log in, and save it again."
        next_url = url_for("admin.keywords", language=form.get("language", ""))
    typed = form.get(f"reply_{form.get('save', '')}") or form.get("reply")
    return render_template("admin/login.html", logged_out=True, kept=kept, kept_text=typed,
                           next=next_url or (request.referrer or "").removeprefix(request.host_url.rstrip("/"))), 401
