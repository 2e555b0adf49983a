"""`flask suppressions import|export`: bring an opt-out list from a previous provider, or take one out."""
from __future__ import annotations

import getpass
import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from handlers import current
from handlers.cli.errors import ConfigGroup, writable_file
from handlers.consent import importer, ledger


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@click.group("suppressions", cls=ConfigGroup)
def suppressions_group():
    """Import or export the suppression list (CSV)."""


@suppressions_group.command("import", short_help="Import opt-outs from a CSV file.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--actor", default=_default_actor, show_default="cli:<user>",
              help="Who runs the import, for the audit log.")
@click.option("--rejected", "rejected_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the rejected rows (default: FILE.rejected.csv beside FILE, if any are rejected).")
@with_appcontext
def import_command(file, actor, rejected_path):
    """Import opt-outs from FILE (CSV).

    The number is read from a column named wa_id, phone, number, phone_number, msisdn or
    mobile (or the first column); date and reason columns are optional. Any form of a
    number is accepted (+52 1 55…, 8 916…, a user id) and reduced the way consent is
    stored; it may carry "+", spaces, dashes, dots, parentheses, a "tel:" prefix or Excel's
    leading "'". A number as dialled at home (0…) is rejected: add its country code. A row
    whose date cannot be read is imported with the date unknown (a warning). Rows without
    a readable number are listed as written and saved to a file of rejected rows. The
    import is one audit entry with its counts; each opt-out is a consent event with
    source "import" and the file name.
    """
    try:
        text, note = importer.decode(file.read_bytes())
    except OSError as error:
        raise click.ClickException(f"cannot read {file}: {error.strerror or error}") from None
    rows, column, header = importer.read_rows(text)
    target = rejected_path or file.with_name(f"{file.stem}.rejected.csv")
    db = current.service().db
    with click.progressbar(length=len(rows), label=f"importing {file.name}", file=sys.stderr) as bar:
        summary = importer.import_rows(db, rows, file.name, actor, progress=bar.update, header=header)
    click.echo(f"\n{file.name}: {summary.rows} rows (numbers from {column}){'; ' + note if note else ''}")
    click.echo(f"  added            {summary.added}")
    click.echo(f"  already present  {summary.already_present}")
    if summary.not_applied:
        click.echo(f"  not applied      {summary.not_applied} (kept in the history; the number opted in later)")
    if summary.duplicates:
        click.echo(f"  duplicates       {len(summary.duplicates)} (the same number again, in any form; imported once)")
        for row, why in summary.duplicates:
            click.echo(f"    line {row.line}: {row.number}: {why}")
    click.echo(f"  date unknown     {len(summary.dates_unknown)} (imported; the opt-out counts from now)")
    for row, why in summary.dates_unknown:
        click.echo(f"    line {row.line}: {row.number}: {why}")
    click.echo(f"  rejected         {len(summary.rejected)}")
    for row, why in summary.rejected:
        click.echo(f"    line {row.line}: {row.number or '(empty)'}: {why}")
    if summary.rejected:
        try:
            writable_file(target).write_text(importer.rejected_csv(summary), "utf-8")
            click.echo(f"  rejected rows written to {target}")
        except click.ClickException as error:
            click.echo(f"  rejected rows not written: {error.message}", err=True)
    click.echo(f"  audit entry      #{summary.audit_id}")


@suppressions_group.command("export", short_help="Write every opted-out person's ids as CSV.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (its folder must exist); default: print to standard output.")
@with_appcontext
def export_command(out):
    """Every suppressed person as CSV, one row per id and canonical form: wa_id,since,source,rule,scope,person."""
    db = current.service().db
    handle = writable_file(out).open("w", newline="", encoding="utf-8") if out else sys.stdout
    lines = 0
    try:
        for chunk in ledger.suppressions_csv(db):
            handle.write(chunk)
            lines += chunk.count("\n")
    finally:
        if out:
            handle.close()
    if out:
        click.echo(f"wrote {lines - 1} ids and forms of opted-out persons to {out}")
