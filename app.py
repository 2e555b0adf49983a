"""The Flask application: `create_app()` for tests and the CLI, `app` for `gunicorn app:app`."""
from __future__ import annotations

import click
from flask import Flask

from handlers import cli, current
from handlers.delivery.service import Service
from handlers.ops import loglines
from handlers.settings import ConfigError, Settings
from handlers.web import admin, api, api_keywords, errors, ops, security, webhook


def create_app(config: dict | None = None) -> Flask:
    """Build the app. `config` may hold `settings` (a Settings) and Flask config keys;
    without `settings`, they come from the environment (see README)."""
    config = dict(config or {})
    try:
        settings = config.pop("settings", None) or Settings.from_env()
    except ConfigError as error:
        if click.get_current_context(silent=True) is None:
            raise  # gunicorn and code: refuse to start
        return _command_line_only(error)
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, JSON_SORT_KEYS=False)
    app.config.update(config)
    _configure_logging(settings)
    service = app.extensions["optout"] = Service(settings)
    errors.register(app)
    security.register(app, settings)
    app.register_blueprint(api.bp)
    app.register_blueprint(api_keywords.bp)
    app.register_blueprint(ops.bp)
    admin.register(app, exempt=(api.bp, api_keywords.bp, ops.bp))
    cli.register(app)
    # /webhook is answered ahead of Flask by a lean WSGI callable (handlers/web/webhook.py);
    # everything else reaches the Flask app as before (gunicorn, the test client, replay).
    webhook.flask_rule(app)
    app.wsgi_app = webhook.Webhook(app.wsgi_app, service, app.config)  # type: ignore[method-assign]
    return app


def _command_line_only(error: ConfigError) -> Flask:
    """`flask --app app ...` without the service's settings: an app with the commands,
    so `--help` works; each command that needs the service stops with `error` in one line."""
    app = Flask(__name__)
    app.extensions[current.CONFIG_ERROR] = error
    cli.register(app)
    return app


def _configure_logging(settings: Settings) -> None:
    logger = loglines.install("optout")
    for note in settings.dev_mode_notes():
        logger.warning(note)


def __getattr__(name: str):
    """`app` is built on first use (by gunicorn or `flask --app app`), not on import,
    so tests can import create_app without production settings."""
    if name == "app":
        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(name)
