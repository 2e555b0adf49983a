"""The suppression list as staff browse it: search by number, filter by source,
language and date, newest first, a page at a time, and as CSV. Each row carries the
event that set the number's current state (its language, words and rule). Flask-free.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

from handlers.consent import ledger
from handlers.storage.db import Database

STATES = ("out", "in", "all")
_NOT_DIGITS = re.compile(r"[\s\-().+]")


@dataclass(frozen=True)
class NumberFilter:
    search: str = ""         # part of a number (digits; "+", spaces and dashes are ignored) or of a user id
    source: str = ""
    language: str = ""
    since: str = ""          # YYYY-MM-DD: the current state began on or after (UTC)
    until: str = ""          # YYYY-MM-DD: ... on or before
    state: str = "out"       # out: opted out now; in: opted back in; all

    def where(self) -> tuple[str, list]:
        clauses, params = [], []
        if self.state == "out":
            clauses.append("s.suppressed = 1")
        elif self.state == "in":
            clauses.append("s.suppressed = 0")
        text = _NOT_DIGITS.sub("", self.search.strip()) if any(c.isdigit() for c in self.search) else self.search.strip()
        if text:
            clauses.append("s.wa_id LIKE ? ESCAPE '\\'")
            params.append("%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        if self.source:
            clauses.append("s.source = ?")
            params.append(self.source)
        if self.language:
            clauses.append("e.language = ?")
            params.append(self.language)
        if self.since:
            clauses.append("s.since >= ?")
            params.append(self.since)
        if self.until:
            clauses.append("s.since < ?")
            params.append(self.until + "T99")
        return (" AND ".join(clauses) or "1"), params

    @property
    def active(self) -> bool:
        return bool(self.search or self.source or self.language or self.since or self.until or self.state != "out")


_FROM = "FROM suppressions s LEFT JOIN consent_events e ON e.id = s.last_event_id"


def count(db: Database, wanted: NumberFilter) -> int:
    where, params = wanted.where()
    join = _FROM if wanted.language else "FROM suppressions s"
    return db.execute(f"SELECT count(*) {join} WHERE {where}", params).fetchone()[0]


def search(db: Database, wanted: NumberFilter, limit: int, offset: int = 0) -> list[dict]:
    where, params = wanted.where()
    return list(db.query(
        "SELECT s.wa_id, s.suppressed, s.since, s.source, s.rule, e.language, e.keyword, e.actor, e.reason "
        f"{_FROM} WHERE {where} ORDER BY s.since DESC, s.wa_id LIMIT ? OFFSET ?", [*params, limit, offset]))


def sources(db: Database) -> list[str]:
    return [row[0] for row in db.execute("SELECT DISTINCT source FROM suppressions ORDER BY source")]


def languages(db: Database) -> list[str]:
    """The languages of the events behind today's states (a short list: one per locale)."""
    return [row[0] for row in db.execute(
        "SELECT DISTINCT language FROM consent_events WHERE language IS NOT NULL ORDER BY language")]


def as_csv(db: Database, wanted: NumberFilter, chunk_chars: int = 64_000) -> Iterator[str]:
    """The filtered list as CSV (ledger.CSV_COLUMNS and language), streamed. Unfiltered,
    it is exactly the API's and `flask suppressions export`'s list."""
    if not wanted.active:
        yield from ledger.suppressions_csv(db, chunk_chars)
        return
    where, params = wanted.where()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow((*ledger.CSV_COLUMNS, "suppressed", "language"))
    for row in db.query(f"SELECT s.wa_id, s.since, s.source, s.rule, s.suppressed, e.language {_FROM} "
                        f"WHERE {where} ORDER BY s.since, s.wa_id", params):
        writer.writerow([row["wa_id"], row["since"], row["source"], row["rule"] or "", row["suppressed"],
                         row["language"] or ""])
        if buffer.tell() > chunk_chars:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
