"""Command-line tools, registered on the app so they run as `flask --app app <group> ...`.

Each module defines click commands or groups; add yours to COMMANDS.
"""
from __future__ import annotations

from flask import Flask

from commands.replay import replay_command

COMMANDS: list = [replay_command]


def register(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)
