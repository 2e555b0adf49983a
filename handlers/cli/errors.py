"""How the commands fail: one line naming what is missing, never a traceback.

Without the service's environment variables the app still loads for the command line
(so `--help` works everywhere); a command that needs the service then stops with the
settings' own one-line message (see app.create_app and handlers/current.py)."""
from __future__ import annotations

from pathlib import Path

import click

from handlers.settings import ConfigError


class ConfigCommand(click.Command):
    """A command whose missing configuration is a one-line error."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as error:
            raise click.ClickException(str(error)) from None


class ConfigGroup(click.Group):
    """A group whose commands report missing configuration in one line."""
    command_class = ConfigCommand


def writable_file(path: Path) -> Path:
    """`path` if a file can be written there: its folder exists and it is not a folder."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise click.ClickException(f"the folder {folder} does not exist: create it first, or choose another --out")
    if path.is_dir():
        raise click.ClickException(f"{path} is a folder: give a file name, e.g. {path / 'suppressions.csv'}")
    return path
