"""The audit log: every staff change (keyword and reply edits, consent by hand, review
decisions, imports) with who, when, before and after. Written inside the caller's
transaction; keyword edits also bump `config_version` so every worker reloads.
Flask-free."""
from __future__ import annotations

import json
from dataclasses import dataclass

from handlers.storage import clock
from handlers.storage.db import Database, insert_row

# Every kind of entry an Undo can put back (handlers/consent/undo.py dispatches them).
UNDOABLE = {"keyword.add", "keyword.remove", "keyword.move", "reply.set", "undo",
            "consent.opt_out", "consent.opt_in", "review.opt_out", "review.not_opt_out",
            "review.bulk_opt_out", "review.bulk_not_opt_out", "import"}
KINDS = ("keyword", "reply", "review", "consent", "import", "undo")


class UndoError(ValueError):
    """An undo that cannot be done, with a sentence staff can act on."""


def describe_kind(action: str) -> str:
    return action.replace(".", " ").replace("_", " ")


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    kind: str = ""           # keyword, reply, review, consent, import, undo (see KINDS)
    since: str = ""          # YYYY-MM-DD (UTC)
    until: str = ""          # YYYY-MM-DD (UTC), the whole day included

    def where(self) -> tuple[str, list]:
        clauses, params = [], []
        if self.actor:
            clauses.append("actor = ?")
            params.append(self.actor)
        if self.kind == "undo":
            clauses.append("(action = 'undo' OR action LIKE '%.undo')")
        elif self.kind:
            clauses.append("(action = ? OR action LIKE ?)")
            params += [self.kind, f"{self.kind}.%"]
        if self.since:
            clauses.append("at >= ?")
            params.append(self.since)
        if self.until:
            clauses.append("at < ?")
            params.append(self.until + "T99")
        return (" AND ".join(clauses) or "1"), params


def entries(db: Database, limit: int = 200, offset: int = 0,
            wanted: AuditFilter | None = None) -> list[dict]:
    """The newest entries first, before/after decoded, with whether each can be undone."""
    where, params = (wanted or AuditFilter()).where()
    rows = list(db.query(f"SELECT * FROM audit_log WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?",
                         [*params, limit, offset]))
    return [_decoded(row) for row in rows]


def count(db: Database, wanted: AuditFilter | None = None) -> int:
    where, params = (wanted or AuditFilter()).where()
    return db.execute(f"SELECT count(*) FROM audit_log WHERE {where}", params).fetchone()[0]


def actors(db: Database) -> list[str]:
    return [row[0] for row in db.execute("SELECT DISTINCT actor FROM audit_log ORDER BY actor")]


def get(db: Database, entry_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM audit_log WHERE id = ?", [entry_id]))
    return _decoded(rows[0]) if rows else None


def mark_undone(db: Database, entry_id: int, undo_id: int) -> None:
    db.execute("UPDATE audit_log SET undone_by = ? WHERE id = ?", [undo_id, entry_id])


def _decoded(row: dict) -> dict:
    row["before"] = json.loads(row["before"]) if row["before"] else None
    row["after"] = json.loads(row["after"]) if row["after"] else None
    row["undoable"] = row["action"] in UNDOABLE and not row["undone_by"]
    return row


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
