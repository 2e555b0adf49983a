"""The audit log: every change (keywords, replies, review decisions, consent by hand,
imports), a page at a time, filtered by who, kind and date, before and after in words,
with Undo wherever an undo makes sense."""
from __future__ import annotations

import logging

from flask import redirect, render_template, request, url_for

from handlers import current
from handlers.consent import undo as consent_undo
from handlers.staff import audit
from handlers.staff.keyword_store import KeywordError
from handlers.web.admin import bp
from handlers.web.admin_audit_text import describe
from handlers.web.admin_forms import actor, done, refused
from handlers.web.admin_paging import Page
from handlers.web.admin_words import AUDIT_KINDS

log = logging.getLogger("optout.admin")


def _day(value: str | None) -> str:
    text = (value or "").strip()
    return text if len(text) == 10 and text.replace("-", "").isdigit() else ""


@bp.get("/audit")
def audit_log():
    db = current.service().db
    args = request.args
    kind = args.get("kind", "")
    wanted = audit.AuditFilter(actor=args.get("actor", ""), kind=kind if kind in audit.KINDS else "",
                               since=_day(args.get("since")), until=_day(args.get("until")))
    page = Page.requested(audit.count(db, wanted))
    entries = audit.entries(db, page.size, page.offset, wanted)
    return render_template("admin/audit.html", wanted=wanted, page=page, actors=audit.actors(db), kinds=AUDIT_KINDS,
                           entries=[(entry, describe(entry)) for entry in entries])


@bp.post("/audit/<int:entry_id>/undo")
def undo(entry_id: int):
    service = current.service()
    try:
        new_id = consent_undo.undo(service.db, service.file_locales, entry_id, actor())
    except (KeywordError, audit.UndoError) as error:
        refused(f"Not undone: {error}.")
    else:
        service.refresh(force=True)
        log.info("audit entry %s undone by %s (entry %s)", entry_id, actor(), new_id)
        entry = audit.get(service.db, entry_id)
        what = describe(entry).target if entry else f"entry #{entry_id}"
        undo_entry = audit.get(service.db, new_id)
        done(f"Undone: #{entry_id} ({what}). The undo is entry #{new_id}.",
             new_id if undo_entry and undo_entry["undoable"] else None, "Redo")
    back = request.referrer or ""
    return redirect(back if back.startswith(request.host_url + "admin/") else url_for("admin.audit_log"))
