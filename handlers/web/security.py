"""App-wide HTTP policy, set once by app.create_app for every response of every blueprint
(and by the webhook's WSGI callable for its own answers, from HEADER_PAIRS):
security headers, the session cookie's flags, and which client address to believe
behind a reverse proxy."""
from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from handlers.settings import Settings

# The admin pages use one stylesheet and one script of their own and plain forms: no
# inline script or style, no frames, no other origin.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                           "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # the admin pages go back to the referring page of this site
}
# The same headers as WSGI pairs, for the webhook's answers, which are written ahead of
# Flask (handlers/web/webhook.py) and so never pass through the after_request hook below.
HEADER_PAIRS: tuple[tuple[str, str], ...] = tuple(HEADERS.items())


def register(app: Flask, settings: Settings) -> None:
    # Outside development the admin cookie travels over HTTPS only (browsers also allow a
    # Secure cookie from http://127.0.0.1 or localhost, for a local try of a real build).
    app.config["SESSION_COOKIE_SECURE"] = not settings.dev_mode
    if settings.trusted_proxies:
        # Behind N proxies, the client's address is the Nth from the right of X-Forwarded-For
        # (login throttling keys on it); without this, those headers are ignored: anyone can send them.
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    @app.after_request
    def security_headers(response):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response
