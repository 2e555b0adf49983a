"""Command-line tools, registered on the app so they run as `flask --app app <group> ...`.

Each module defines click commands or groups; add yours to COMMANDS.
"""
from __future__ import annotations

from flask import Flask

from commands.keywords import keywords_group
from commands.replay import replay_command
from commands.staff import staff_group
from commands.suppressions import suppressions_group

COMMANDS: list = [replay_command, keywords_group, suppressions_group, staff_group]


def register(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)
