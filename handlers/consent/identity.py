"""Who a user is: the ids a person is known by, and how any input finds them.

WhatsApp names one user in several ways: a phone number in more than one form
(`5215512345678` and `525512345678`, see numbers.py), a business-scoped user id
(`US.1349…`), a parent id (`US.ENT.1181…`), a new id after a change. Three tables
(storage/db.py, migration 6) remember who is who:

- `identities`: every id exactly as a delivery, a person or a file gave it (the key of
  `consent_events.wa_id`), the person it belongs to, and its canonical key.
- `identity_keys`: each canonical reading of each identity -> its person. `exact = 1` for an
  identity's canonical key (at most one person per key: a new id whose canonical key is
  known joins that person); `exact = 0` for another reading an ambiguous form might be.
  Lookups use both, so "might be this person" answers as this person; joining uses only
  exact keys, so an ambiguous form never merges two people.
- `identity_links`: why two ids became one person (a contact, message or status carrying
  both; a user id change), and when.

A person's key is the canonical key of the first id seen for them; it is also the key of
their row in `suppressions`. When a link joins two persons, the smaller key survives
(ledger.link merges their consent state; this module moves their ids).

Writes run inside the caller's transaction. No Flask.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from handlers.consent.numbers import Kind, Readings, Unreadable, readings
from handlers.storage import clock
from handlers.storage.db import Database, executemany


class InvalidIdentity(ValueError):
    """A value that names nobody: not a number, not a user id, and not an id any delivery stored."""


def read(value: object) -> Readings:
    """What `value` may denote (numbers.readings), with a reason a caller can show if nothing."""
    try:
        return readings(value)
    except Unreadable as error:
        raise InvalidIdentity(str(error)) from None


@dataclass(frozen=True)
class Who:
    """An input, what it may denote, and the persons stored under those keys (none yet: empty)."""
    readings: Readings
    persons: tuple[str, ...]

    @property
    def written(self) -> str:
        return self.readings.written

    @property
    def canonical(self) -> str:
        return self.readings.canonical


def find(db: Database, value: object) -> Who:
    """The persons `value` may name. A number or a user id is always an answer (perhaps
    nobody yet); any other text is one only if a delivery stored it as an id."""
    found = read(value)
    persons = persons_with_keys(db, found.keys)
    if found.kind is Kind.OTHER and not persons:
        raise InvalidIdentity(f"not a phone number or WhatsApp user id, and no delivery came from it: {mask(found.written)}")
    return Who(found, persons)


NATIONAL_NUMBER = "a national number: write it with its country code (+…)"


def is_national(who: Who) -> bool:
    """A person may type, and a file may hold, a number as dialled at home (0991234567):
    no rule can tell its country, and no delivery ever comes from it, so consent under it
    would reach nobody and "not suppressed" would be a guess. Such a form is refused,
    unless a delivery did store it."""
    return who.readings.kind is Kind.PHONE and who.written.startswith("0") and not who.persons


def international(who: Who) -> Who:
    """`who`, or InvalidIdentity with the fix for a number as dialled at home (is_national)."""
    if is_national(who):
        raise InvalidIdentity(f"{mask(who.written)} is {NATIONAL_NUMBER}")
    return who


def persons_with_keys(db: Database, keys: Sequence[str]) -> tuple[str, ...]:
    if not keys:
        return ()
    marks = ",".join("?" * len(keys))
    rows = db.execute(f"SELECT DISTINCT person FROM identity_keys WHERE key IN ({marks}) ORDER BY person", list(keys))
    return tuple(row[0] for row in rows)


def register(db: Database, wa_id: str, first_seen: str | None = None, *, typed: bool = False) -> str:
    """The person `wa_id` belongs to, recording the id first if it is new (see enroll)."""
    row = db.execute("SELECT person FROM identities WHERE wa_id = ?", [wa_id]).fetchone()
    return row[0] if row else enroll(db, wa_id, first_seen, typed=typed)[0]


def enroll(db: Database, wa_id: str, first_seen: str | None = None, *,
           typed: bool = False) -> tuple[str, bool]:
    """Record an id not recorded yet: it joins the person whose canonical key it shares, or
    starts a new one. Returns (the person, whether they were known before). `typed`: staff
    or an import file wrote it (so it may be a form only people type, as `8 916…`); else
    a delivery carried it."""
    found, known = joining(db, wa_id, typed=typed)
    person = known or found.canonical
    add(db, wa_id, found, person, first_seen)
    return person, known is not None


def joining(db: Database, wa_id: str, *, typed: bool = False) -> tuple[Readings, str | None]:
    """How enroll() reads a new id, and the person whose exact canonical key it has (None:
    the id would start a new person, named by its canonical key). Records nothing."""
    found = reading_of(wa_id, typed=typed)
    row = db.execute("SELECT person FROM identity_keys WHERE key = ? AND exact = 1", [found.canonical]).fetchone()
    return found, row[0] if row else None


def reading_of(wa_id: str, *, typed: bool = False) -> Readings:
    """How enroll() reads an id (see there)."""
    try:
        return readings(wa_id, delivered=not typed)
    except Unreadable:  # nothing readable in it, yet a delivery sent it: it is its own key
        return Readings(wa_id, Kind.OTHER, wa_id)


def add(db: Database, wa_id: str, found: Readings, person: str, first_seen: str | None = None) -> None:
    """Record a new id, read as `found`, as one of `person`'s: the person whose exact key is
    `found.canonical`, or a new person named by it (enroll() finds which)."""
    db.execute("INSERT INTO identities (wa_id, person, canonical, first_seen) VALUES (?, ?, ?, ?)",
               [wa_id, person, found.canonical, first_seen or clock.now_iso()])
    _add_keys(db, person, [(found.canonical, 1)] + [(key, 0) for key in found.alternatives])


def enroll_all(db: Database, ids: Sequence[tuple[str, str]]) -> None:
    """enroll() for many (id, first seen) at once, into tables that hold none of them yet
    (the migration): ids sharing a canonical key are one person, named by that key."""
    identities, keys, now = [], {}, clock.now_iso()
    for wa_id, first_seen in ids:
        try:
            found = readings(wa_id)
        except Unreadable:
            found = Readings(wa_id, Kind.OTHER, wa_id)
        identities.append((wa_id, found.canonical, found.canonical, first_seen or now))
        keys[(found.canonical, found.canonical)] = 1
        for key in found.alternatives:
            keys.setdefault((key, found.canonical), 0)
    executemany(db, "INSERT INTO identities (wa_id, person, canonical, first_seen) VALUES (?, ?, ?, ?)", identities)
    executemany(db, "INSERT INTO identity_keys (key, person, exact) VALUES (?, ?, ?)",
                        [(key, person, exact) for (key, person), exact in keys.items()])


def _add_keys(db: Database, person: str, keys: Sequence[tuple[str, int]]) -> None:
    if not keys:
        return
    values = ", ".join("(?, ?, ?)" for _ in keys)
    db.execute(f"INSERT INTO identity_keys (key, person, exact) VALUES {values} "
               "ON CONFLICT (key, person) DO UPDATE SET exact = max(identity_keys.exact, excluded.exact)",
               [value for key, exact in keys for value in (key, person, exact)])


def persons_of(db: Database, wa_ids: Sequence[str]) -> dict[str, str]:
    """{wa_id: person} for the ids already recorded."""
    if not wa_ids:
        return {}
    marks = ",".join("?" * len(wa_ids))
    return dict(db.execute(f"SELECT wa_id, person FROM identities WHERE wa_id IN ({marks})", list(wa_ids)).fetchall())


def move(db: Database, loser: str, winner: str) -> None:
    """Every id and key of person `loser` now belongs to `winner` (ledger.link merges their consent)."""
    db.execute("UPDATE identities SET person = ? WHERE person = ?", [winner, loser])
    keys = [tuple(row) for row in db.execute("SELECT key, exact FROM identity_keys WHERE person = ?", [loser])]
    db.execute("DELETE FROM identity_keys WHERE person = ?", [loser])
    _add_keys(db, winner, keys)


def note_link(db: Database, wa_id: str, other: str, reason: str) -> None:
    db.execute("INSERT INTO identity_links (wa_id, other, reason, at) VALUES (?, ?, ?, ?)",
               [wa_id, other, reason, clock.now_iso()])


def identities_of(db: Database, persons: Sequence[str]) -> list[dict]:
    """Every id of these persons, oldest first, with the reasons it was linked."""
    if not persons:
        return []
    marks = ",".join("?" * len(persons))
    rows = [dict(zip(("wa_id", "person", "canonical", "first_seen"), row, strict=True)) for row in db.execute(
        f"SELECT wa_id, person, canonical, first_seen FROM identities WHERE person IN ({marks}) "
        "ORDER BY first_seen, wa_id", list(persons))]
    ids = [row["wa_id"] for row in rows]
    reasons: dict[str, list[str]] = {wa_id: [] for wa_id in ids}
    if ids:
        marks = ",".join("?" * len(ids))
        for wa_id, other, reason in db.execute(
                f"SELECT wa_id, other, reason FROM identity_links WHERE wa_id IN ({marks}) OR other IN ({marks}) "
                "ORDER BY id", ids + ids):
            for mine, theirs in ((wa_id, other), (other, wa_id)):
                if mine in reasons and f"{reason} with {theirs}" not in reasons[mine]:
                    reasons[mine].append(f"{reason} with {theirs}")
    for row in rows:
        row["linked"] = reasons[row["wa_id"]]
    return rows


class KnownLinks:
    """Groups of ids this process has already seen recorded as one person.

    Statuses of campaign messages (the bulk of the traffic) carry the recipient's number
    and user id together and are otherwise answered without the database; linking them
    once per process is enough. Bounded, least recently used first out."""

    def __init__(self, size: int = 100_000):
        self._size = size
        self._groups: OrderedDict[frozenset[str], None] = OrderedDict()
        self._lock = threading.Lock()

    def known(self, ids: Sequence[str]) -> bool:
        if len(set(ids)) < 2:
            return True
        key = frozenset(ids)
        with self._lock:
            if key in self._groups:
                self._groups.move_to_end(key)
                return True
        return False

    def add(self, ids: Sequence[str]) -> None:
        if len(set(ids)) < 2:
            return
        with self._lock:
            self._groups[frozenset(ids)] = None
            self._groups.move_to_end(frozenset(ids))
            while len(self._groups) > self._size:
                self._groups.popitem(last=False)


def mask(value: str | None) -> str:
    """Keep enough of a number to tell numbers apart in a log, not enough to dial it."""
    if not value:
        return "-"
    text = str(value)
    if len(text) <= 6:
        return "*" * len(text)
    if len(text) > 40:  # a key no number is that long: say how long, not a line of stars
        return f"{text[:4]}*…({len(text)} characters)…*{text[-2:]}"
    return text[:4] + "*" * (len(text) - 6) + text[-2:]
