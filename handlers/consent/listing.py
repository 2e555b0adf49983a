"""The suppression list as staff browse it: search by number, filter by source,
language and date, newest first, a page at a time, and as CSV. A row is a person (see
identity.py: `suppressions` is keyed by person), with every id they are known by; a
search finds a person by any of their ids or canonical keys, or by any form of a whole
number. Each row carries the event that set the person's current state (its language,
words and rule). Flask-free.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

from handlers.consent import ledger
from handlers.consent.numbers import Kind, Unreadable, readings
from handlers.storage.db import Database

STATES = ("out", "in", "all")
_NOT_DIGITS = re.compile(r"[\s\-().+]")


@dataclass(frozen=True)
class NumberFilter:
    search: str = ""         # part of a number (digits; "+", spaces and dashes are ignored), a whole number in any form, or a user id
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
        typed = self.search.strip()
        # Part of a number: its digits ("+593 99-123" is "59399123"); a user id (US.1349…) as typed.
        text = _NOT_DIGITS.sub("", typed) if any(c.isdigit() for c in typed) and not any(c.isalpha() for c in typed) else typed
        if text:
            like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            keys = _keys(self.search)
            marks = ",".join("?" * len(keys))
            clauses.append("(s.wa_id IN (SELECT person FROM identities WHERE wa_id LIKE ? ESCAPE '\\') "
                           "OR s.wa_id IN (SELECT person FROM identity_keys WHERE key LIKE ? ESCAPE '\\'"
                           f"{f' OR key IN ({marks})' if keys else ''}))")
            params.extend([like, like, *keys])
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


def _keys(search: str) -> tuple[str, ...]:
    """The canonical keys a whole number or user id typed in the search box may denote
    (`+52 1 55 1234 5678` finds the person stored as `525512345678`)."""
    try:
        found = readings(search.strip())
    except Unreadable:
        return ()
    return found.keys if found.kind is not Kind.OTHER else ()


_FROM = "FROM suppressions s LEFT JOIN consent_events e ON e.id = s.last_event_id"
# Every id and canonical key of a person, as the API's CSV lists them (ledger.suppressed_rows).
_FORMS = "JOIN (SELECT wa_id, person FROM identities UNION SELECT key, person FROM identity_keys) x ON x.person = s.wa_id"


def count(db: Database, wanted: NumberFilter) -> int:
    where, params = wanted.where()
    join = _FROM if wanted.language else "FROM suppressions s"
    return db.execute(f"SELECT count(*) {join} WHERE {where}", params).fetchone()[0]


def search(db: Database, wanted: NumberFilter, limit: int, offset: int = 0) -> list[dict]:
    """A page of persons; `wa_id` is the person's key, `ids` every id they are known by."""
    where, params = wanted.where()
    rows = list(db.query(
        "SELECT s.wa_id, s.suppressed, s.scope, s.since, s.source, s.rule, e.language, e.keyword, e.actor, e.reason "
        f"{_FROM} WHERE {where} ORDER BY s.since DESC, s.wa_id LIMIT ? OFFSET ?", [*params, limit, offset]))
    ids = ids_of(db, [row["wa_id"] for row in rows])
    for row in rows:
        row["ids"] = ids.get(row["wa_id"], [])
    return rows


def ids_of(db: Database, persons: list[str]) -> dict[str, list[str]]:
    """{person: their ids as stored, oldest first}."""
    found: dict[str, list[str]] = {}
    if persons:
        marks = ",".join("?" * len(persons))
        for person, wa_id in db.execute(f"SELECT person, wa_id FROM identities WHERE person IN ({marks}) "
                                        "ORDER BY first_seen, wa_id", persons):
            found.setdefault(person, []).append(wa_id)
    return found


def sources(db: Database) -> list[str]:
    return [row[0] for row in db.execute("SELECT DISTINCT source FROM suppressions ORDER BY source")]


def languages(db: Database) -> list[str]:
    """The languages of the events behind today's states (a short list: one per locale)."""
    return [row[0] for row in db.execute(
        "SELECT DISTINCT language FROM consent_events WHERE language IS NOT NULL ORDER BY language")]


def as_csv(db: Database, wanted: NumberFilter, chunk_chars: int = 64_000) -> Iterator[str]:
    """The filtered list as CSV (ledger.CSV_COLUMNS, suppressed and language; a row per id
    and canonical key of each person, cells a spreadsheet would run neutralised), streamed.
    Unfiltered, it is exactly the API's and `flask suppressions export`'s list."""
    if not wanted.active:
        yield from ledger.suppressions_csv(db, chunk_chars)
        return
    where, params = wanted.where()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow((*ledger.CSV_COLUMNS, "suppressed", "language"))
    for row in db.query(f"SELECT x.wa_id AS wa_id, s.since, s.source, s.rule, s.scope, s.wa_id AS person, "
                        f"s.suppressed, e.language {_FROM} {_FORMS} WHERE {where} ORDER BY s.since, s.wa_id, x.wa_id",
                        params):
        writer.writerow([ledger.csv_cell(row[column]) for column in (*ledger.CSV_COLUMNS, "suppressed", "language")])
        if buffer.tell() > chunk_chars:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
