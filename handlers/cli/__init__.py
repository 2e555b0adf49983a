"""Command-line tools, registered on the app so they run as `flask --app app <group> ...`.

Each module defines click handlers.cli or groups; add yours to COMMANDS.
"""
from __future__ import annotations

from flask import Flask

from handlers.cli.database import migrate_command
from handlers.cli.db import db_group
from handlers.cli.keywords import keywords_group
from handlers.cli.replay import replay_command
from handlers.cli.staff import staff_group
from handlers.cli.suppressions import suppressions_group

COMMANDS: list = [replay_command, keywords_group, suppressions_group, staff_group, db_group, migrate_command]


def register(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)
