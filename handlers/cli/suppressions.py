"""`flask suppressions import|export`: bring an opt-out list from a previous provider, or take one out."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from handlers import current
from handlers.consent import ledger
from handlers.consent.manual import import_rows, read_rows


@click.group("suppressions")
def suppressions_group():
    """The suppression list."""


@suppressions_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--actor", help="Recorded as who made the change (default: the file name).")
@with_appcontext
def import_command(file, actor):
    """Suppress every number in FILE.csv (a column wa_id/phone/number, or the first column;
    optional date and reason columns). Any form of a number is accepted (+52 1 55…, 8 916…,
    a user id) and reduced the way consent is stored. Prints added, already present and
    rejected rows."""
    try:
        text = file.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise click.ClickException(f"cannot read {file}: {error}") from None
    rows, column = read_rows(text)
    db = current.service().db
    with click.progressbar(length=len(rows), label=f"importing {file.name}", file=sys.stderr) as bar:
        summary = import_rows(db, rows, actor or file.name, progress=bar.update)
    click.echo(f"\n{file.name}: {summary.rows} rows (numbers from {column})")
    click.echo(f"  added            {summary.added}")
    click.echo(f"  already present  {summary.already_present}")
    if summary.not_applied:
        click.echo(f"  not applied      {summary.not_applied} (kept in the history; the number opted in later)")
    click.echo(f"  rejected         {len(summary.rejected)}")
    for line, value, reason in summary.rejected:
        click.echo(f"    line {line}: {value}: {reason}")


@suppressions_group.command("export")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default: print).")
@with_appcontext
def export_command(out):
    """Every suppressed person as CSV, one row per id and canonical form: wa_id,since,source,rule,scope,person."""
    handle = out.open("w", newline="", encoding="utf-8") if out else sys.stdout
    lines = 0
    try:
        for chunk in ledger.suppressions_csv(current.service().db):
            handle.write(chunk)
            lines += chunk.count("\n")
    finally:
        if out:
            handle.close()
    if out:
        click.echo(f"wrote {lines - 1} suppressed numbers to {out}")
