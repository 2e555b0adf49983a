"""`flask migrate`: bring the database up to date before the service starts."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from handlers import current
from handlers.cli.errors import ConfigCommand
from handlers.storage.db import schema_version, shown


@click.command("migrate", cls=ConfigCommand, short_help="Bring the database up to date before the service starts.")
@with_appcontext
def migrate_command():
    """Migrate the database (every start migrates; with a large history, run this before
    gunicorn, which stops a worker that takes more than 30 s to start)."""
    service = current.service()  # built by the app, which migrated the file on the way
    version = schema_version(service.db)
    persons = service.db.execute("SELECT count(*) FROM suppressions").fetchone()[0]
    ids = service.db.execute("SELECT count(*) FROM identities").fetchone()[0]
    click.echo(f"{shown(service.settings.database)}: schema version {version}; {ids} ids of {persons} persons with a consent state")
