"""Consent changed by a person (admin page, API) or brought in from a file (CSV import).

Both go through ledger.record, the only writer, with source staff or import and
the actor; a change by hand is also in the audit log. Both accept what a person types or
a file holds for anyone WhatsApp may send us (any form of a number, a user id, or an id a
delivery stored) and record it under that id: the person behind it is who it reaches
(see identity.py). A staff action is stamped now and always takes effect. Flask-free.
"""
from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlite_utils

from handlers.consent import identity, ledger
from handlers.consent.identity import InvalidIdentity, Who, mask
from handlers.consent.ledger import Action, ConsentChange, Recorded, Source
from handlers.consent.numbers import Kind
from handlers.staff import audit
from handlers.storage import clock
from handlers.storage.db import transaction

log = logging.getLogger("optout.consent")

NUMBER_COLUMNS = ("wa_id", "phone", "number", "phone_number", "msisdn", "mobile", "telefono", "teléfono")
DATE_COLUMNS = ("date", "opted_out_at", "since", "created_at", "timestamp", "fecha")
REASON_COLUMNS = ("reason", "note", "motivo")
BATCH = 500


def set_by_hand(db: sqlite_utils.Database, value: object, action: Action, actor: str,
                reason: str) -> tuple[Who, Recorded]:
    """Opt the person `value` names out (of everything) or back in. Raises InvalidIdentity
    for a value that names nobody, ValueError without a reason."""
    reason = ledger.clean_reason(reason)
    if not reason:
        raise ValueError("a reason is required")
    with transaction(db):
        who = _international(identity.find(db, value))
        recorded = ledger.record(db, ConsentChange(
            wa_id=who.written, action=action, source=Source.STAFF, occurred_at=clock.now_iso(),
            actor=actor, reason=reason))
        if recorded.changed:
            audit.record(db, actor, f"consent.{action.value}", who.written,
                         {"suppressed": bool(recorded.before and recorded.before.suppressed)},
                         {"suppressed": action is Action.OPT_OUT, "reason": reason})
    log.info("consent %s by hand for %s by %s (changed: %s)", action.value, mask(who.written), actor,
             recorded.changed)
    return who, recorded


def _international(who: Who) -> Who:
    """A person may type, and a file may hold, a number as dialled at home (0991234567):
    no rule can tell its country, and no delivery ever comes from it, so recording consent
    under it would reach nobody. Refused with the fix, unless a delivery did store it."""
    if who.readings.kind is Kind.PHONE and who.written.startswith("0") and not who.persons:
        raise InvalidIdentity(f"{mask(who.written)} is a national number: write it with its country code (+…)")
    return who


@dataclass
class ImportSummary:
    added: int = 0
    already_present: int = 0
    not_applied: int = 0       # kept in the history; a newer opt-in decides
    rejected: list[tuple[int, str, str]] = field(default_factory=list)   # (line, value masked, reason)

    @property
    def rows(self) -> int:
        return self.added + self.already_present + self.not_applied + len(self.rejected)


def read_rows(text: str) -> tuple[list[tuple[int, dict]], str]:
    """CSV text -> [(line number, {number, date, reason})], and which column held the number."""
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    rows = [(number, row) for number, row in enumerate(reader, start=1)]
    if not rows:
        return [], "first column"
    header = [cell.strip().lower().lstrip("\ufeff") for cell in rows[0][1]]
    pick = lambda names: next((i for i, name in enumerate(header) if name in names), None)  # noqa: E731
    number_at = pick(NUMBER_COLUMNS)
    has_header = number_at is not None or pick(DATE_COLUMNS) is not None or (
        header and header[0] and not any(c.isdigit() for c in header[0]))
    date_at, reason_at = (pick(DATE_COLUMNS), pick(REASON_COLUMNS)) if has_header else (None, None)
    column = header[number_at] if number_at is not None else "first column"
    number_at = number_at or 0
    out = []
    for line, row in rows[1:] if has_header else rows:
        if not any(cell.strip() for cell in row):
            continue
        out.append((line, {"number": _cell(row, number_at), "date": _cell(row, date_at),
                           "reason": _cell(row, reason_at)}))
    return out, column


def _cell(row: list[str], at: int | None) -> str:
    return row[at].strip() if at is not None and at < len(row) else ""


def parse_date(value: str) -> str:
    """'2024-05-01', '2024-05-01 10:00:00', '2024-05-01T10:00:00Z' or epoch seconds -> ISO UTC."""
    text = value.strip()
    if text.isdigit():
        return clock.iso(clock.from_epoch(int(text)))
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"unreadable date {text!r} (use YYYY-MM-DD or ISO 8601)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment > clock.utcnow():
        raise ValueError(f"date {text!r} is in the future")
    return clock.iso(moment)


def import_rows(db: sqlite_utils.Database, rows: Iterable[tuple[int, dict]], actor: str,
                progress: Callable[[int], None] = lambda n: None) -> ImportSummary:
    """Suppress each valid number (source import, actor = the file), in batches so the
    webhook is never kept waiting on the write lock for long."""
    summary = ImportSummary()
    seen: dict[str, int] = {}
    batch: list[tuple[int, dict]] = []

    def flush():
        with transaction(db):
            for line, row in batch:
                _import_one(db, line, row, actor, seen, summary)
        progress(len(batch))
        batch.clear()

    for item in rows:
        batch.append(item)
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return summary


def _import_one(db, line: int, row: dict, actor: str, seen: dict, summary: ImportSummary) -> None:
    """Every row is an opt-out event (an event of its own time, even for someone already
    suppressed: it orders later signals); `seen` is by canonical key, so two forms of one
    number in a file are a duplicate."""
    raw = row["number"]
    try:
        who = _international(identity.find(db, raw))
    except InvalidIdentity as error:
        summary.rejected.append((line, mask(raw), f"invalid number: {error}"))
        return
    if who.canonical in seen:
        summary.rejected.append((line, mask(raw), f"duplicate in file (first on line {seen[who.canonical]})"))
        return
    seen[who.canonical] = line
    try:
        occurred = parse_date(row["date"]) if row["date"] else clock.now_iso()
    except ValueError as error:
        summary.rejected.append((line, mask(raw), str(error)))
        return
    recorded = ledger.record(db, ConsentChange(
        wa_id=who.written, action=Action.OPT_OUT, source=Source.IMPORT, occurred_at=occurred, actor=actor,
        reason=row["reason"][:500] or f"imported from {actor}"))
    if recorded.changed:
        summary.added += 1
    elif recorded.after and recorded.after.suppressed:
        summary.already_present += 1
    else:
        summary.not_applied += 1
