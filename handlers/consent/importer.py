"""Bringing an opt-out list from a previous provider (CSV), keeping every opt-out it can.

A row is imported whenever its number can be read: common decorations are accepted
(`tel:`, Excel's leading `'`, spaces, dashes, dots, parentheses), and a date that
cannot be read only costs the date (a warning; the opt-out counts from the import,
as for a row without a date). Every form of a number, a user id or an id a delivery
stored is read as staff input is (identity.find): two forms of one number in the file
are one row and a duplicate (by canonical key), and a number as dialled at home
(`0…`) is rejected with the fix (add the country code), since no delivery would ever
match it. Every imported row is an opt-out event of its own time, even for someone
already opted out (it orders later signals); "already present" is read from the
person's state. Only rows without a usable number are rejected; the report lists them
as they were written, for the operator who ran the import, and `rejected_csv` gives
them back as a file to fix and import again. The whole import is one audit entry with
its counts. Flask-free.
"""
from __future__ import annotations

import csv
import io
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from handlers.consent import identity, ledger
from handlers.consent.identity import InvalidIdentity, mask
from handlers.consent.ledger import Action, ConsentChange, Source
from handlers.consent.numbers import Kind
from handlers.staff import audit
from handlers.storage import clock
from handlers.storage.db import Database, transaction

log = logging.getLogger("optout.consent")

# A column is known by a word of its header ("Phone Number", "Opt Out Date", "unsubscribed_at",
# "Teléfono móvil"), accents, case, spaces and punctuation aside; the first such column wins.
NUMBER_COLUMNS = ("wa_id", "waid", "phone", "number", "msisdn", "mobile", "cell", "whatsapp", "telefono", "celular",
                  "numero", "movil", "telefone")
DATE_COLUMNS = ("date", "at", "since", "timestamp", "time", "fecha", "data", "datum")
REASON_COLUMNS = ("reason", "note", "notes", "comment", "motivo")
BATCH = 500

_PREFIX = re.compile(r"^(?:tel|whatsapp|wa)\s*:\s*", re.IGNORECASE)
_DASHES = str.maketrans({"\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
                         "\u00a0": " ", "\u202f": " "})
_MONTHS = {name: number for number, names in enumerate((
    ("jan", "january", "ene", "enero"), ("feb", "february", "febrero"), ("mar", "march", "marzo"),
    ("apr", "april", "abr", "abril"), ("may", "mayo"), ("jun", "june", "junio"), ("jul", "july", "julio"),
    ("aug", "august", "ago", "agosto"), ("sep", "sept", "september", "septiembre"), ("oct", "october", "octubre"),
    ("nov", "november", "noviembre"), ("dec", "december", "dic", "diciembre")), start=1) for name in names}


@dataclass
class Row:
    line: int
    number: str
    date: str = ""
    reason: str = ""
    cells: list[str] = field(default_factory=list)   # the row as the file has it (for the rejected file)


@dataclass
class ImportSummary:
    file: str = ""
    header: list[str] = field(default_factory=list)
    added: int = 0
    already_present: int = 0
    not_applied: int = 0       # kept in the history; a newer opt-in decides
    duplicates: list[tuple[Row, str]] = field(default_factory=list)     # the same person again: imported once
    rejected: list[tuple[Row, str]] = field(default_factory=list)       # (row, why), values as written
    dates_unknown: list[tuple[Row, str]] = field(default_factory=list)  # imported; the date could not be read
    audit_id: int | None = None
    first_event_id: int | None = None
    last_event_id: int | None = None

    @property
    def rows(self) -> int:
        return self.added + self.already_present + self.not_applied + len(self.duplicates) + len(self.rejected)

    def counts(self) -> dict:
        return {"file": self.file, "rows": self.rows, "added": self.added, "already_present": self.already_present,
                "not_applied": self.not_applied, "duplicates": len(self.duplicates), "rejected": len(self.rejected),
                "dates_unknown": len(self.dates_unknown)}


def decode(data: bytes) -> tuple[str, str]:
    """The file's text, and a note when it was not UTF-8 (Excel's "CSV" in Windows-1252)."""
    try:
        return data.decode("utf-8-sig"), ""
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "the file is not UTF-8; it was read as Windows-1252"


def read_rows(text: str) -> tuple[list[Row], str, list[str]]:
    """CSV text -> rows, which column held the number, and the header (empty if none)."""
    text = text.lstrip("\ufeff")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    parsed = list(enumerate(csv.reader(io.StringIO(text), dialect), start=1))
    if not parsed:
        return [], "first column", []
    header = [cell.strip().lower() for cell in parsed[0][1]]
    header_words = [_header_words(cell) for cell in parsed[0][1]]

    def pick(names) -> int | None:
        return next((i for i, words in enumerate(header_words) if words & set(names)), None)

    number_at = pick(NUMBER_COLUMNS)
    has_header = number_at is not None or pick(DATE_COLUMNS) is not None or bool(
        header and header[0] and not any(c.isdigit() for c in header[0]))
    date_at, reason_at = (pick(DATE_COLUMNS), pick(REASON_COLUMNS)) if has_header else (None, None)
    column = header[number_at] if number_at is not None else "first column"
    number_at = number_at or 0
    rows = []
    for line, cells in parsed[1:] if has_header else parsed:
        if not any(cell.strip() for cell in cells):
            continue
        rows.append(Row(line, _cell(cells, number_at), _cell(cells, date_at), _cell(cells, reason_at), cells))
    return rows, column, parsed[0][1] if has_header else []


def _header_words(name: str) -> set[str]:
    """'Opt Out Date' -> {'opt', 'out', 'date'}; 'wa_id' stays a word of its own too."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", name.strip().lower()) if not unicodedata.combining(c))
    return {folded.replace(" ", "_"), *re.split(r"[^a-z0-9]+", folded)} - {""}


def _cell(cells: list[str], at: int | None) -> str:
    return cells[at].strip() if at is not None and at < len(cells) else ""


def undecorated(raw: str) -> str:
    """What a spreadsheet adds taken off: "'593991234567" -> '593991234567',
    '="14155550123"' -> '14155550123', '+593 99–123 4567' -> '+593 99-123 4567'."""
    text = raw.translate(_DASHES).strip().lstrip("'").strip()
    if text.startswith("=\"") and text.endswith("\""):   # Excel's ="0123" text formula
        text = text[2:-1]
    return _PREFIX.sub("", text)


def clean_number(raw: str) -> str:
    """'tel:+1 (415) 555-0123', "'593991234567", '+593 99–123 4567' -> the key as written
    (digits for a number; numbers.py). Raises InvalidIdentity for what is no number or
    user id, without a look at the database (an import also takes the ids deliveries stored)."""
    found = identity.read(undecorated(raw))
    if found.kind is Kind.OTHER:
        raise InvalidIdentity(f"not a phone number or WhatsApp user id: {mask(found.written)}")
    return found.written


def parse_date(value: str, today: date | None = None) -> str:
    """A date as previous providers write it -> ISO UTC. Raises ValueError (with the reason)
    when it cannot be read, is ambiguous (03/01/2025) or lies in the future."""
    text = " ".join(value.strip().split())
    moment = _read_date(text)
    if moment is None:
        raise ValueError(f"date {value!r} not understood (write it as YYYY-MM-DD; 03/01/2025 could be 3 January or 1 March)")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment > clock.utcnow():
        raise ValueError(f"date {value!r} is in the future")
    return clock.iso(moment)


def _read_date(text: str) -> datetime | None:
    if text.isdigit() and len(text) >= 9:
        return clock.from_epoch(int(text))
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    numeric = re.fullmatch(r"(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{1,4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?", text)
    if numeric:
        a, b, c = (int(part) for part in numeric.groups()[:3])
        hour, minute, second = (int(part) if part else 0 for part in numeric.groups()[3:])
        if a > 31:                       # 2025/03/01
            year, month, day = a, b, c
        elif c > 31 and a > 12 >= b:     # 31/01/2025
            year, month, day = c, b, a
        elif c > 31 and b > 12 >= a:     # 01/31/2025
            year, month, day = c, a, b
        elif c > 31 and a == b:          # 03/03/2025: either way
            year, month, day = c, a, b
        else:
            return None                  # 03/01/2025: March or January? Not guessed.
        return _safe_datetime(year, month, day, hour, minute, second)
    words = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)? (?:de )?([A-Za-z]+)\.?,? (?:de )?(\d{4})", text) or \
        re.fullmatch(r"([A-Za-z]+)\.? (\d{1,2})(?:st|nd|rd|th)?,? (\d{4})", text)
    if words:
        one, two, year_text = words.groups()
        day_text, month_text = (one, two) if one.isdigit() else (two, one)
        month_number = _MONTHS.get(month_text.lower())
        return _safe_datetime(int(year_text), month_number, int(day_text)) if month_number else None
    return None


def _safe_datetime(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime | None:
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


def import_rows(db: Database, rows: Iterable[Row], file_name: str, actor: str,
                progress: Callable[[int], None] = lambda n: None, header: list[str] | None = None) -> ImportSummary:
    """Suppress each readable number (source import, the file name as the event's actor),
    in batches so the webhook never waits long on the write lock; then one audit entry
    (by `actor`) with the counts."""
    summary = ImportSummary(file=file_name, header=list(header or []))
    seen: dict[str, int] = {}
    batch: list[Row] = []

    def flush():
        with transaction(db):
            for row in batch:
                _import_one(db, row, file_name, seen, summary)
        progress(len(batch))
        batch.clear()

    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    with transaction(db):
        summary.audit_id = audit.record(db, actor, "import", file_name, None, {
            **summary.counts(), "first_event_id": summary.first_event_id, "last_event_id": summary.last_event_id})
    log.info("import of %s by %s: %s", file_name, actor, summary.counts())
    return summary


def _import_one(db, row: Row, file_name: str, seen: dict, summary: ImportSummary) -> None:
    if not row.number.strip():
        summary.rejected.append((row, "no number"))
        return
    try:
        who = identity.find(db, undecorated(row.number))
    except InvalidIdentity:
        summary.rejected.append((row, "invalid number: not a phone number or WhatsApp user id, "
                                      "and no message came from it"))
        return
    if identity.is_national(who):
        summary.rejected.append((row, f"invalid number: {identity.NATIONAL_NUMBER}"))
        return
    if who.canonical in seen:   # two forms of one number are one person
        summary.duplicates.append((row, f"duplicate in file (first on line {seen[who.canonical]})"))
        return
    seen[who.canonical] = row.line
    reason = row.reason[:500] or f"imported from {file_name}"
    occurred = clock.now_iso()
    if row.date:
        try:
            occurred = parse_date(row.date)
        except ValueError as error:
            summary.dates_unknown.append((row, f"{error}: imported with the date unknown"))
            reason = f"{reason} (date unknown: the file said {row.date[:40]!r})"
    recorded = ledger.record(db, ConsentChange(
        wa_id=who.written, action=Action.OPT_OUT, source=Source.IMPORT, occurred_at=occurred, actor=file_name,
        reason=reason))
    summary.first_event_id = summary.first_event_id or recorded.event_id
    summary.last_event_id = recorded.event_id
    if recorded.changed:
        summary.added += 1
    elif recorded.after and recorded.after.suppressed:
        summary.already_present += 1   # the person was opted out already: the event only orders later signals
    else:
        summary.not_applied += 1


def rejected_csv(summary: ImportSummary) -> str:
    """The rejected rows as the file had them, with a column saying why: fix and import again.
    Cells a spreadsheet would run are neutralised (ledger.csv_cell; the import reads the
    apostrophe back off), and a byte-order mark tells Excel the file is UTF-8."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow([ledger.csv_cell(cell) for cell in ["line", *(summary.header or ["value"]), "problem"]])
    for row, why in summary.rejected:
        writer.writerow([ledger.csv_cell(cell) for cell in [row.line, *row.cells, why]])
    return buffer.getvalue()


def undo(db: Database, entry: dict, actor: str) -> int:
    """Lift the opt-outs an import added that still decide their person's state (a later
    decision, by the customer or anyone, stands). In the caller's transaction."""
    after = entry["after"] or {}
    first, last = after.get("first_event_id"), after.get("last_event_id")
    lifted = 0
    if first and last:
        events = list(db.query(
            "SELECT id, wa_id FROM consent_events WHERE id BETWEEN ? AND ? AND source = 'import' AND actor = ? "
            "AND applied = 1", [first, last, entry["target"]]))
        now = clock.now_iso()
        decision = ledger.Decision.of(db, [event["id"] for event in events])
        for event in events:
            current = decision.decides(db, event["wa_id"])
            if current and current.suppressed:
                ledger.record(db, ConsentChange(
                    wa_id=event["wa_id"], action=Action.OPT_IN, source=Source.STAFF, occurred_at=now, actor=actor,
                    reason=f"undo of the import of {entry['target']} (audit entry #{entry['id']})"))
                lifted += 1
    return audit.record(db, actor, "import.undo", entry["target"], {"added": after.get("added", 0)},
                        {"opted_back_in": lifted}, undoes=entry["id"])
