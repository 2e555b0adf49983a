"""The audit log: every staff change (keyword and reply edits, consent by hand, review
decisions, imports) with who, when, before and after. Written inside the caller's
transaction; keyword edits also bump `config_version` so every worker reloads.
Flask-free."""
from __future__ import annotations

import json

from handlers.storage import clock
from handlers.storage.db import Database, insert_row

UNDOABLE = {"keyword.add", "keyword.remove", "keyword.move", "reply.set", "undo"}


def entries(db: Database, limit: int = 200) -> list[dict]:
    """The newest entries first, before/after decoded, with whether each can be undone."""
    rows = list(db.query("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", [limit]))
    for row in rows:
        row["before"] = json.loads(row["before"]) if row["before"] else None
        row["after"] = json.loads(row["after"]) if row["after"] else None
        row["undoable"] = row["action"] in UNDOABLE and not row["undone_by"]
    return rows


def record(db: Database, actor: str, action: str, target: str, before, after, *,
           undoes: int | None = None, config_changed: bool = False) -> int:
    """Append an entry inside the caller's transaction; returns its id. `config_changed`
    (keyword and reply edits) also bumps config_version, so every worker reloads."""
    now = clock.now_iso()
    entry = insert_row(db, "audit_log", {
        "actor": actor, "action": action, "target": target,
        "before": json.dumps(before, ensure_ascii=False) if before is not None else None,
        "after": json.dumps(after, ensure_ascii=False) if after is not None else None,
        "at": now, "undoes": undoes, "undone_by": None,
    })
    if config_changed:
        db.execute("UPDATE config_version SET version = version + 1, updated_at = ? WHERE id = 1", [now])
    return entry
