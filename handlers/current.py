"""The Flask edges' one way to reach the running Service: the web blueprints and the CLI
commands both run inside an app context built by app.create_app()."""
from __future__ import annotations

from flask import current_app

from handlers.delivery.service import EXTENSION, Service


def service() -> Service:
    return current_app.extensions[EXTENSION]
