"""Meta redelivers, to every worker and for days: remember what was processed, in the database."""
from __future__ import annotations

from datetime import timedelta

from handlers.storage import clock
from handlers.storage.db import Database

# Meta retries a delivery for up to 7 days; keys older than this can go.
KEEP_DAYS = 30
PRUNE_EVERY = 1000


def claim(db: Database, key: str, kind: str, at: str | None = None) -> bool:
    """True the first time `key` is seen. Runs inside the delivery's transaction, so a
    delivery that fails to commit leaves its keys unclaimed for the retry. `at`: when it
    was received (ISO), if not now (a batch of ordinary chat, handlers/delivery/chat_batch.py)."""
    now = clock.utcnow()
    cursor = db.execute(
        "INSERT OR IGNORE INTO processed (key, kind, received_at) VALUES (?, ?, ?)",
        [key, kind, at or clock.iso(now)],
    )
    if cursor.rowcount == 1 and (cursor.lastrowid or 0) % PRUNE_EVERY == 0:
        db.execute("DELETE FROM processed WHERE received_at < ?", [clock.iso(now - timedelta(days=KEEP_DAYS))])
    return cursor.rowcount == 1


def seen(db: Database, key: str) -> bool:
    """Whether `key` was claimed (a read: no write lock, no transaction of its own)."""
    return db.execute("SELECT 1 FROM processed WHERE key = ?", [key]).fetchone() is not None
