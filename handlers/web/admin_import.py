"""Import an opt-out list (CSV) from the admin page, as `flask suppressions import`
does: the report names every rejected value as written (to the staff member who ran
the import, and only to them), and the rejected rows can be downloaded to fix."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Response, abort, render_template, request
from werkzeug.utils import secure_filename

from handlers import current
from handlers.consent import importer
from handlers.staff import audit
from handlers.web.admin import bp
from handlers.web.admin_forms import actor

log = logging.getLogger("optout.admin")


def _rejected_folder() -> Path:
    """Rejected rows are kept beside the database, one file per import (they hold numbers)."""
    return Path(os.path.dirname(os.path.abspath(current.service().settings.db_path))) / "imports"


def _rejected_path(entry_id: int) -> Path:
    return _rejected_folder() / f"import-{entry_id}-rejected.csv"


PAGE_IMPORT_ROWS = 20_000   # about 10 s on a busy 2-core host; the CLI has no such limit


@bp.get("/import")
def import_page():
    return render_template("admin/import.html", summary=None)


@bp.post("/import")
def import_file():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render_template("admin/import.html", summary=None, error="Choose a CSV file to import."), 400
    name = secure_filename(upload.filename) or "upload.csv"
    text, note = importer.decode(upload.read())
    rows, column, header = importer.read_rows(text)
    if not rows:
        return render_template("admin/import.html", summary=None, error=f"{name} has no rows to import."), 400
    if len(rows) > PAGE_IMPORT_ROWS:
        # a request has the worker's 30 s; a bigger file, cut short, would leave part imported and unaudited
        return render_template("admin/import.html", summary=None, error=(
            f"{name} has {len(rows):,} rows; this page imports up to {PAGE_IMPORT_ROWS:,} at a time. Nothing was "
            f"imported. Split the file, or import it on the server: flask --app app suppressions import {name}")), 413
    summary = importer.import_rows(current.service().db, rows, name, actor(), header=header)
    if summary.rejected and summary.audit_id:
        folder = _rejected_folder()
        folder.mkdir(parents=True, exist_ok=True)
        _rejected_path(summary.audit_id).write_text(importer.rejected_csv(summary), "utf-8")
    log.info("import of %s by %s: audit entry %s", name, actor(), summary.audit_id)
    return render_template("admin/import.html", summary=summary, column=column, note=note)


@bp.get("/import/<int:entry_id>/rejected.csv")
def rejected_rows(entry_id: int):
    """The rejected rows of an import, for the staff member who ran it."""
    entry = audit.get(current.service().db, entry_id)
    path = _rejected_path(entry_id)
    if entry is None or entry["action"] != "import" or not path.exists():
        abort(404)
    if entry["actor"] != actor():
        abort(403)
    return Response(path.read_text("utf-8"), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{Path(entry["target"]).stem}-rejected.csv"'})
