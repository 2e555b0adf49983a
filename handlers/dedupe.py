"""Meta redelivers, to every worker and for days: remember what was processed, in the database."""
from __future__ import annotations

import sqlite_utils

from handlers import clock


def claim(db: sqlite_utils.Database, key: str, kind: str) -> bool:
    """True the first time `key` is seen. Runs inside the delivery's transaction, so a
    delivery that fails to commit leaves its keys unclaimed for the retry."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO processed (key, kind, received_at) VALUES (?, ?, ?)",
        [key, kind, clock.now_iso()],
    )
    return cursor.rowcount == 1
