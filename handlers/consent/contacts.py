"""What we remember about a user besides consent: the language we last replied in."""
from __future__ import annotations

from handlers.storage import clock
from handlers.storage.db import Database, upsert_row


def last_language(db: Database, wa_id: str | None) -> str | None:
    if not wa_id:
        return None
    row = db.execute("SELECT language FROM contacts WHERE wa_id = ?", [wa_id]).fetchone()
    return row[0] if row else None


def remember_language(db: Database, wa_id: str, language: str) -> None:
    """Inside the caller's transaction (the one that queues the reply)."""
    upsert_row(db, "contacts", {"wa_id": wa_id, "language": language, "updated_at": clock.now_iso()}, key="wa_id")
