"""Undo any audited change, whatever its kind: keyword and reply edits (keyword_store),
review decisions, consent changed by hand, imports. The one entry point for the admin
page, the API and `flask keywords undo`. Flask-free."""
from __future__ import annotations

from handlers.consent import importer, manual, review_bulk
from handlers.detection.locales import Locale
from handlers.staff import audit, keyword_store
from handlers.storage.db import Database, lock, transaction


def undo(db: Database, file_locales: dict[str, Locale], entry_id: int, actor: str) -> int:
    """Put back what audit entry `entry_id` changed; returns the undo's own audit entry.
    Raises audit.UndoError (or KeywordError) with a sentence staff can act on."""
    entry = audit.get(db, entry_id)
    if entry is None:
        raise audit.UndoError(f"there is no audit entry #{entry_id}")
    if entry["action"] in keyword_store.UNDOABLE:
        return keyword_store.undo(db, file_locales, entry_id, actor)
    if entry["action"] not in audit.UNDOABLE:
        raise audit.UndoError(f"entry #{entry_id} ({audit.describe_kind(entry['action'])}) cannot be undone")
    with transaction(db):
        lock(db, f"audit:{entry_id}")  # one undo of an entry at a time, on every host
        entry = audit.get(db, entry_id)  # again, under the write lock
        if entry is None or entry["undone_by"]:
            raise audit.UndoError(f"entry #{entry_id} was already undone"
                                  + (f" by entry #{entry['undone_by']}" if entry else ""))
        if entry["action"].startswith("review."):
            new_id = review_bulk.undo(db, entry, actor)
        elif entry["action"].startswith("consent."):
            try:
                new_id = manual.undo(db, entry, actor)
            except ValueError as error:
                raise audit.UndoError(str(error)) from None
        else:
            new_id = importer.undo(db, entry, actor)
        audit.mark_undone(db, entry_id, new_id)
        return new_id
