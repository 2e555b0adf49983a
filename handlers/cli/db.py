"""`flask db upgrade|copy`: the schema, and moving from SQLite to PostgreSQL."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from handlers import current
from handlers.cli.errors import ConfigGroup
from handlers.consent.schema import DATA_STEPS
from handlers.settings import sqlite_file
from handlers.storage import db as storage
from handlers.storage.copy import CopyError, copy_database
from handlers.storage.db import shown
from handlers.storage.postgres import is_url


@click.group("db", cls=ConfigGroup)
def db_group():
    """The database: schema migrations, and moving a SQLite database to PostgreSQL."""


@db_group.command("upgrade")
@with_appcontext
def upgrade_command():
    """Apply the migrations not yet applied (the service also does so when it starts)."""
    service = current.service()
    db = service.db
    storage.migrate(db, DATA_STEPS)
    click.echo(f"{shown(service.settings.database)}: schema version {storage.schema_version(db)} "
               f"({len(storage.MIGRATIONS)} migrations)")


@db_group.command("copy")
@click.option("--to", "target", required=True, metavar="postgresql://...",
              help="An empty PostgreSQL database (it is migrated first).")
@with_appcontext
def copy_command(target):
    """Copy the configured SQLite database, every table and row, into PostgreSQL.

    Stop the service first (or at least its writes): what is written to SQLite after
    the copy began is not in it. Then point OPTOUT_DATABASE_URL at the target."""
    source = current.service().settings.database
    path = sqlite_file(source)
    if path is None:
        raise click.ClickException("the configured database is already PostgreSQL; copy reads a SQLite one (OPTOUT_DB)")
    if not is_url(target):
        raise click.ClickException("--to must be a postgresql:// URL")
    sqlite_db, pg_db = storage.connect_sqlite(path), storage.connect(target)
    try:
        click.echo(f"copying {path} to {shown(target)}")
        copied = copy_database(sqlite_db, pg_db, DATA_STEPS, progress=lambda line: click.echo("  " + line))
    except CopyError as error:
        raise click.ClickException(f"nothing copied: {error}") from None
    finally:
        sqlite_db.close()
        pg_db.close()
    click.echo(f"done: {sum(table.rows for table in copied)} rows in {len(copied)} tables; "
               f"now set OPTOUT_DATABASE_URL={shown(target)}")
