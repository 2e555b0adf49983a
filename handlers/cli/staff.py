"""`flask staff add|list|remove|password`: accounts for the admin page."""
from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from handlers import current
from handlers.cli.errors import ConfigGroup
from handlers.staff import accounts


def _db():
    return current.service().db


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@click.group("staff", cls=ConfigGroup)
def staff_group():
    """Staff accounts for the admin page (/admin)."""


@staff_group.command("add")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@with_appcontext
def add_command(name, password_stdin):
    """Create a staff account NAME (asks for its password)."""
    try:
        accounts.add(_db(), name, _password(password_stdin))
    except accounts.StaffError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"staff account {name} created; log in at /admin/login")


@staff_group.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@with_appcontext
def password_command(name, password_stdin):
    """Set a new password for NAME."""
    try:
        accounts.set_password(_db(), name, _password(password_stdin))
    except accounts.StaffError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"password of {name} changed")


@staff_group.command("remove")
@click.argument("name")
@with_appcontext
def remove_command(name):
    """Delete the account NAME (its sessions end at their next request)."""
    try:
        accounts.remove(_db(), name)
    except accounts.StaffError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"staff account {name} removed")


@staff_group.command("list")
@with_appcontext
def list_command():
    """List the staff accounts."""
    for row in accounts.names(_db()):
        click.echo(f"{row['name']}  (since {row['created_at'][:10]})")
