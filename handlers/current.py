"""The Flask edges' one way to reach the running Service: the web blueprints and the CLI
commands both run inside an app context built by app.create_app()."""
from __future__ import annotations

from flask import current_app

from handlers.delivery.service import EXTENSION, Service
from handlers.settings import ConfigError

CONFIG_ERROR = "optout.config_error"  # set instead of the Service when the app was built for --help only


def service() -> Service:
    """The app's Service. In an app built without its settings (the command line, for
    `--help`), a ConfigError naming what is missing."""
    found = current_app.extensions.get(EXTENSION)
    if found is None:
        raise ConfigError(str(current_app.extensions.get(CONFIG_ERROR) or "the service is not configured"))
    return found
