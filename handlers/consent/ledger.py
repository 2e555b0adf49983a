"""The suppression list and its append-only history.

`record()` is the only writer: every consent change, whatever its source
(keyword, button, Meta's preference signal, a failed status, staff, import),
goes through it, so the history and the current state can never disagree.
It must run inside the caller's transaction.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from handlers.storage import clock
from handlers.storage.db import Database, insert_row, lock, upsert_row


class Action(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


class Source(StrEnum):
    KEYWORD = "keyword"
    BUTTON = "button"
    META_PREFERENCE = "meta_preference"
    META_STATUS_131050 = "meta_status_131050"
    STAFF = "staff"
    IMPORT = "import"
    NUMBER_CHANGE = "number_change"


@dataclass(frozen=True)
class ConsentChange:
    wa_id: str
    action: Action
    source: Source
    occurred_at: str
    keyword: str | None = None
    rule: str | None = None
    language: str | None = None
    business_phone_number_id: str | None = None
    business_display_number: str | None = None
    message_id: str | None = None
    actor: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Recorded:
    event_id: int | None
    changed: bool        # the user's state is different now
    applied: bool        # False when a newer event already decided the state


def clean_reason(value: object) -> str:
    """A person's reason as stored: whitespace collapsed, "" when there is none."""
    return " ".join(str(value or "").split())


def record(db: Database, change: ConsentChange) -> Recorded:
    """Apply a consent change and append it to the history.

    A request that would not change anything (STOP while already suppressed) is
    not a change and leaves no event. An event older than the current state
    (Meta redelivers out of order, for days) is kept in the history with
    applied=0 and does not overturn the newer decision.
    """
    lock(db, consent_lock(change.wa_id))  # the state read below decides the write
    current = state(db, change.wa_id)
    suppress = change.action is Action.OPT_OUT
    if current is not None and bool(current["suppressed"]) == suppress:
        return Recorded(None, changed=False, applied=False)
    if current is None and not suppress:
        return Recorded(None, changed=False, applied=False)  # never opted out: nothing to lift
    applied = current is None or change.occurred_at >= current["since"]
    now = clock.now_iso()
    event_id = insert_row(db, "consent_events", {
        "wa_id": change.wa_id,
        "action": change.action.value,
        "source": change.source.value,
        "keyword": change.keyword,
        "rule": change.rule,
        "language": change.language,
        "business_phone_number_id": change.business_phone_number_id,
        "business_display_number": change.business_display_number,
        "message_id": change.message_id,
        "actor": change.actor,
        "reason": change.reason,
        "applied": int(applied),
        "occurred_at": change.occurred_at,
        "recorded_at": now,
    })
    if applied:
        upsert_row(db, "suppressions", {
            "wa_id": change.wa_id,
            "suppressed": int(suppress),
            "since": change.occurred_at,
            "source": change.source.value,
            "rule": change.rule,
            "last_event_id": event_id,
            "updated_at": now,
        }, key="wa_id")
    return Recorded(event_id, changed=applied, applied=applied)


def consent_lock(wa_id: str) -> str:
    """The lock (storage.db.lock) that serialises consent changes of one user, across hosts."""
    return f"consent:{wa_id}"


def state(db: Database, wa_id: str) -> dict | None:
    rows = list(db.query("SELECT * FROM suppressions WHERE wa_id = ?", [wa_id]))
    return rows[0] if rows else None


def is_suppressed(db: Database, wa_id: str) -> bool:
    row = state(db, wa_id)
    return bool(row and row["suppressed"])


def suppressed_among(db: Database, wa_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(wa_ids), 500):
        chunk = wa_ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(
            row["wa_id"]
            for row in db.query(
                f"SELECT wa_id FROM suppressions WHERE suppressed = 1 AND wa_id IN ({marks})", chunk
            )
        )
    return found


def history(db: Database, wa_id: str) -> list[dict]:
    return list(db.query("SELECT * FROM consent_events WHERE wa_id = ? ORDER BY id", [wa_id]))


def suppressed_rows(db: Database):
    """Every suppressed identity, oldest first, streamed (for CSV export)."""
    return db.query(
        "SELECT wa_id, since, source, rule FROM suppressions WHERE suppressed = 1 ORDER BY since, wa_id"
    )


CSV_COLUMNS = ("wa_id", "since", "source", "rule")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection);
# such a cell is written with a leading apostrophe, which spreadsheets show as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A value as a CSV cell that no spreadsheet will run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def suppressions_csv(db: Database, chunk_chars: int = 64_000) -> Iterator[str]:
    """The suppression list as CSV text (header first), in chunks of about `chunk_chars`,
    streamed from the database: the API's download and `flask suppressions export`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in suppressed_rows(db):
        writer.writerow([csv_cell(row[column]) for column in CSV_COLUMNS])
        if buffer.tell() > chunk_chars:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
