"""The suppression list and its append-only history, per person.

`record()` and `link()` are the only writers of `consent_events` and `suppressions`:
every consent signal, whatever its source (keyword, button, Meta's preference signal,
a failed status, staff, import, a number change), goes through `record()`, so history
and state never disagree. Both run inside the caller's transaction.

Who. A signal is stored under the id it came with (`consent_events.wa_id`, exactly as
WhatsApp, a person or a file gave it); the state is kept per person (`suppressions.wa_id`
is the person's key, see identity.py), so an opt-out under one form of a number, or under
a user id, blocks every other form and linked id. A lookup reduces its input the same way
(numbers.py) and answers *suppressed* if any person the input may name is.

Order. Meta delivers late and out of order, for days. Every signal is an event with its
own time, recorded even when it changes nothing (STOP while suppressed), and the state is
always the newest event's; at equal times an opt-out wins. A signal older than the newest
is kept with `applied = 0`. A time more than FUTURE_TOLERANCE_SECONDS ahead of the clock is
a bug in the sender: the event counts as now (its claimed time is kept in `claimed_at`,
and logged). A staff action is stamped now and always takes effect.

Scope. A signal stops marketing only (Meta's marketing preference, the "Stop promotions"
button, error 131050) or everything (a STOP, an opt-out sentence, staff, an import). An
opt-in lifts everything older than it. The state keeps the newest decision of each kind:
`suppressed`/`decided_at` for the newest event of any scope (it answers for marketing),
`all_suppressed`/`all_decided_at` for the newest event that covers every category (it
answers for utility and authentication); `scope` says what the suppression covers.
"""
from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from handlers.consent import identity
from handlers.consent.identity import InvalidIdentity, Who, mask
from handlers.consent.numbers import Kind, Unreadable, readings
from handlers.storage import clock
from handlers.storage.db import Database, executemany, insert_row, lock, needs_locks, upsert_row
from handlers.whatsapp.parse import is_stop_promotions_label

log = logging.getLogger("optout.consent")

FUTURE_TOLERANCE_SECONDS = 300
CHUNK = 500


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


class Scope(StrEnum):
    """What an opt-out stops (an opt-in always lifts everything older than it)."""
    ALL = "all"
    MARKETING = "marketing"


class Category(StrEnum):
    """Meta's template categories, which a campaign system asks about."""
    MARKETING = "marketing"
    UTILITY = "utility"
    AUTHENTICATION = "authentication"

    @classmethod
    def parse(cls, value: object) -> Category:
        """None or "" is marketing (the default question); anything unknown a ValueError."""
        if value is None or value == "":
            return cls.MARKETING
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise ValueError(f"unknown category {str(value)[:40]!r}: use marketing, utility or authentication") from None


@dataclass(frozen=True)
class ConsentChange:
    wa_id: str
    action: Action
    source: Source
    occurred_at: str
    scope: Scope = Scope.ALL
    keyword: str | None = None
    rule: str | None = None
    language: str | None = None
    business_phone_number_id: str | None = None
    business_display_number: str | None = None
    message_id: str | None = None
    actor: str | None = None
    reason: str | None = None
    claimed_at: str | None = None   # a timestamp as sent that could not be read (the event counts as now)


@dataclass(frozen=True)
class State:
    """A person's consent now (a row of `suppressions`)."""
    person: str
    suppressed: bool               # for marketing: the newest event of any scope was an opt-out
    scope: Scope | None            # what the suppression covers; None when not suppressed
    since: str                     # when this state (suppressed and scope) began
    source: str
    rule: str | None
    last_event_id: int             # the event that began it
    decided_at: str                # the newest event's time, any scope
    all_suppressed: bool           # the newest event covering every category was an opt-out
    all_decided_at: str | None     # ... and its time

    def blocks(self, category: Category | str = Category.MARKETING) -> bool:
        return self.suppressed and (category == Category.MARKETING or self.scope == Scope.ALL)

    @property
    def summary(self) -> str:
        return f"suppressed ({self.scope})" if self.suppressed else "subscribed"

    @classmethod
    def from_row(cls, row: dict) -> State:
        return cls(row["wa_id"], bool(row["suppressed"]), Scope(row["scope"]) if row["scope"] else None,
                   row["since"], row["source"], row["rule"], row["last_event_id"], row["decided_at"],
                   bool(row["all_suppressed"]), row["all_decided_at"])

    def row(self, now: str | None = None) -> dict:
        return {"wa_id": self.person, "suppressed": int(self.suppressed), "scope": self.scope.value if self.scope else None,
                "since": self.since, "source": self.source, "rule": self.rule, "last_event_id": self.last_event_id,
                "decided_at": self.decided_at, "all_suppressed": int(self.all_suppressed),
                "all_decided_at": self.all_decided_at, "updated_at": now or clock.now_iso()}


def _verdict(state: State | None) -> tuple[bool, Scope | None]:
    return (state.suppressed, state.scope) if state else (False, None)


@dataclass(frozen=True)
class Recorded:
    """What recording one signal did.

    `applied`: the signal is (one of) the newest decisions, so the state follows it; False
    when a newer decision was already recorded (the event is kept with applied = 0).
    `changed`: the person's state (suppressed, scope) is different now: the only case in
    which a confirmation is sent. STOP while suppressed is applied, and changes nothing.
    """
    event_id: int
    person: str
    applied: bool
    changed: bool
    before: State | None
    after: State | None


def clean_reason(value: object) -> str:
    """A person's reason as stored: whitespace collapsed, "" when there is none."""
    return " ".join(str(value or "").split())


def record(db: Database, change: ConsentChange) -> Recorded:
    """Append the signal to the history and bring the person's state up to date (see the
    module docstring for the rules of order and scope)."""
    now = clock.now_iso()
    occurred, claimed = _event_time(change, now)
    suppress = change.action is Action.OPT_OUT
    scope = change.scope if suppress else Scope.ALL
    forced = change.source is Source.STAFF
    person, before = _locked_person_and_state(db, change.wa_id, typed=change.source in (Source.STAFF, Source.IMPORT))
    marketing_applies = forced or before is None or _newer(occurred, suppress, before.decided_at, before.suppressed)
    all_applies = scope is Scope.ALL and (
        forced or before is None or before.all_decided_at is None
        or _newer(occurred, suppress, before.all_decided_at, before.all_suppressed))
    applied = marketing_applies or all_applies
    event_id = insert_row(db, "consent_events", {
        "wa_id": change.wa_id,
        "action": change.action.value,
        "source": change.source.value,
        "scope": scope.value,
        "keyword": change.keyword,
        "rule": change.rule,
        "language": change.language,
        "business_phone_number_id": change.business_phone_number_id,
        "business_display_number": change.business_display_number,
        "message_id": change.message_id,
        "actor": change.actor,
        "reason": change.reason,
        "applied": int(applied),
        "occurred_at": occurred,
        "claimed_at": change.claimed_at or claimed,
        "recorded_at": now,
    })
    after = before
    if applied:
        suppressed, decided_at = suppress, occurred
        if before is not None:
            suppressed = suppress if marketing_applies else before.suppressed
            decided_at = _decided(occurred, before.decided_at, forced) if marketing_applies else before.decided_at
        all_suppressed, all_decided_at = (suppress, occurred) if all_applies else (False, None)
        if before is not None:
            all_suppressed = suppress if all_applies else before.all_suppressed
            all_decided_at = (_decided(occurred, before.all_decided_at, forced) if all_applies
                              else before.all_decided_at)
        after = _settle(State(person, suppressed, None, occurred, change.source.value, change.rule, event_id,
                              decided_at, all_suppressed, all_decided_at), before)
        upsert_row(db, "suppressions", after.row(), key="wa_id")
    return Recorded(event_id, person, applied, _verdict(before) != _verdict(after), before, after)


def _newer(occurred: str, suppress: bool, current: str, current_suppressed: bool) -> bool:
    """Whether an event at `occurred` decides over the current decision made at `current`:
    a later second, or the same second unless it would lift an opt-out (at a tie, opting out
    wins). Whole seconds: Meta's times have no fraction, the service's own (now, staff) do,
    and "12:00:00.87" must not outrank a user's STOP stamped "12:00:00"."""
    occurred, current = occurred[:19], current[:19]
    return occurred > current or (occurred == current and (suppress or not current_suppressed))


def _decided(occurred: str, current: str | None, forced: bool) -> str:
    """When the new decision was made: the later of the two times, except that a staff
    action is made now, whatever time an earlier event claimed (a clock a little ahead must
    not make the customer's next STOP look older than the staff action)."""
    if forced or current is None or occurred > current:
        return occurred
    return current


def _settle(state: State, before: State | None) -> State:
    """Derive the scope; keep when and why the state began if it is the same state as before."""
    suppressed = state.suppressed or state.all_suppressed   # covering everything covers marketing
    scope = Scope.ALL if state.all_suppressed else (Scope.MARKETING if suppressed else None)
    state = replace(state, suppressed=suppressed, scope=scope)
    if before is not None and _verdict(before) == _verdict(state):
        state = replace(state, since=before.since, source=before.source, rule=before.rule,
                        last_event_id=before.last_event_id)
    return state


def _event_time(change: ConsentChange, now: str) -> tuple[str, str | None]:
    """(the time the event is ordered by, the time it claimed when that was not believable)."""
    if change.source is Source.STAFF:
        return now, None
    claimed = change.occurred_at
    if not isinstance(claimed, str) or len(claimed) != len(now) or not claimed.endswith("Z"):
        log.warning("consent %s for %s: unreadable time %r, counted as now", change.action.value,
                    mask(change.wa_id), str(claimed)[:40])
        return now, str(claimed)[:64]
    if claimed > clock.later(FUTURE_TOLERANCE_SECONDS):
        log.warning("consent %s for %s: time %s is in the future, counted as now (%s)", change.action.value,
                    mask(change.wa_id), claimed, now)
        return now, claimed
    return claimed, None


def id_lock(wa_id: str, typed: bool = False) -> str:
    """The lock (storage.db.lock) on an id's canonical key, read as identity.enroll reads it:
    taken before an id is read and, if new, recorded, so two hosts never record one id, or
    one canonical key, twice."""
    try:
        key = readings(wa_id, delivered=not typed).canonical
    except Unreadable:
        key = wa_id
    return f"identity:{key}"


def person_lock(person: str) -> str:
    """The lock on one person's consent state (their `suppressions` row)."""
    return f"consent:{person}"


def _locked_person_and_state(db: Database, wa_id: str, typed: bool = False) -> tuple[str, State | None]:
    """_person_and_state, with the person's state locked against every other writer on
    PostgreSQL (SQLite: one writer at a time already; one statement, as before). The id's
    lock comes first; the person's next, and if a link on another host moved the id to
    another person meanwhile, that person's too."""
    if not needs_locks(db):
        return _person_and_state(db, wa_id, typed)
    lock(db, id_lock(wa_id, typed))
    person, state = _person_and_state(db, wa_id, typed)
    locked: set[str] = set()
    while person not in locked:
        lock(db, person_lock(person))
        locked.add(person)
        person, state = _person_and_state(db, wa_id, typed)  # read again under the lock
    return person, state


# The person an id is stored under, with their state; failing that (a new id), the person
# whose exact canonical key the id has (identity.enroll's rule), with theirs. One statement
# whether the id, only its key, or neither is known; the stored id's row first.
_PERSON_AND_STATE = (
    "SELECT 1 AS stored, i.person, s.* FROM identities i LEFT JOIN suppressions s ON s.wa_id = i.person "
    "WHERE i.wa_id = ? "
    "UNION ALL SELECT 0 AS stored, k.person, s.* FROM identity_keys k LEFT JOIN suppressions s ON s.wa_id = k.person "
    "WHERE k.key = ? AND k.exact = 1 "
    "ORDER BY 1 DESC LIMIT 1")


def _person_and_state(db: Database, wa_id: str, typed: bool = False) -> tuple[str, State | None]:
    """One statement for a known id, or a new id of a known key; a new id is recorded
    (as identity.enroll records it) with one or two more."""
    found = identity.reading_of(wa_id, typed=typed)
    cursor = db.execute(_PERSON_AND_STATE, [wa_id, found.canonical])
    row = cursor.fetchone()
    if row is None:  # a new person, named by the id's canonical key
        identity.add(db, wa_id, found, found.canonical)
        return found.canonical, None
    values = dict(zip([column[0] for column in cursor.description], row, strict=True))
    if not values["stored"]:
        identity.add(db, wa_id, found, values["person"])
    return values["person"], State.from_row(values) if values["wa_id"] is not None else None


def state_of_person(db: Database, person: str) -> State | None:
    return next(iter(states_of(db, [person])), None)


def states_of(db: Database, persons: Sequence[str]) -> list[State]:
    if not persons:
        return []
    marks = ",".join("?" * len(persons))
    return [State.from_row(row) for row in db.query(f"SELECT * FROM suppressions WHERE wa_id IN ({marks})", list(persons))]


# -- one person, many ids --------------------------------------------------------------------


def link(db: Database, wa_ids: Iterable[str], reason: str) -> str | None:
    """Record that `wa_ids` name one person (a delivery carried them together, or an id
    changed); their persons become one, with the newest decision of each scope. Returns the
    person. Costs one indexed statement when the link is already known."""
    ids = list(dict.fromkeys(wa_id for wa_id in wa_ids if wa_id))
    if len(ids) < 2:
        return None
    known = identity.persons_of(db, ids)
    if len(known) == len(ids) and len(set(known.values())) == 1:
        return known[ids[0]]
    if needs_locks(db):
        known = _lock_persons(db, ids)
    # A new id joins the person with its canonical key, or starts a new person named by that
    # key (as identity.enroll has it); the persons then become one, the first by name.
    joins = {wa_id: identity.joining(db, wa_id) for wa_id in ids if not known.get(wa_id)}
    started = {found.canonical for found, person in joins.values() if person is None}
    persons = {wa_id: known.get(wa_id) or joins[wa_id][1] or joins[wa_id][0].canonical for wa_id in ids}
    distinct = sorted(set(persons.values()))
    winner = distinct[0]
    for wa_id, (found, person) in joins.items():
        # An id that would start a person goes straight to the winner: a person it started would
        # have no state to merge, and only its own id and keys to move (four statements).
        identity.add(db, wa_id, found, person or winner)
    for loser in distinct[1:]:
        if loser not in started:
            _merge_states(db, winner, loser)
            identity.move(db, loser, winner)
    first = ids[0]
    for other in ids[1:]:
        if known.get(first) is None or known.get(other) != known.get(first):
            identity.note_link(db, first, other, reason)
    if len(distinct) > 1:
        log.info("ids %s are one person (%s)", ", ".join(mask(wa_id) for wa_id in ids), reason)
    return winner


def _lock_persons(db: Database, ids: list[str]) -> dict[str, str]:
    """PostgreSQL: lock the ids (see id_lock), then the persons they belong to, until no
    other host's link moved one meanwhile; returns persons_of(ids) as read under the locks."""
    lock(db, *(id_lock(wa_id) for wa_id in ids))
    locked: set[str] = set()
    while True:
        known = identity.persons_of(db, ids)
        wanted = set(known.values()) - locked
        if not wanted:
            return known
        lock(db, *(person_lock(person) for person in wanted))
        locked |= wanted


def _merge_states(db: Database, winner: str, loser: str) -> None:
    ours, theirs = state_of_person(db, winner), state_of_person(db, loser)
    if theirs is None:
        return
    db.execute("DELETE FROM suppressions WHERE wa_id = ?", [loser])
    merged = replace(theirs, person=winner) if ours is None else combine(ours, theirs)
    upsert_row(db, "suppressions", merged.row(), key="wa_id")


def combine(ours: State, theirs: State) -> State:
    """One person's state from two that turned out to be the same person: the newest
    decision of each scope (at a tie, the opt-out)."""
    def first_wins(a_time, a_out, b_time, b_out) -> bool:
        if b_time is None:
            return True
        if a_time is None:
            return False
        return _newer(a_time, a_out, b_time, b_out)
    newest = ours if first_wins(ours.decided_at, ours.suppressed, theirs.decided_at, theirs.suppressed) else theirs
    newest_all = ours if first_wins(ours.all_decided_at, ours.all_suppressed,
                                    theirs.all_decided_at, theirs.all_suppressed) else theirs
    state = State(ours.person, newest.suppressed, None, newest.since, newest.source, newest.rule, newest.last_event_id,
                  newest.decided_at, newest_all.all_suppressed, newest_all.all_decided_at)
    state = _settle(state, None)
    # When and why: from the side already in the resulting state, the longer-standing one.
    same = [s for s in (ours, theirs) if _verdict(s) == _verdict(state)]
    if same:
        origin = min(same, key=lambda s: s.since)
        state = replace(state, since=origin.since, source=origin.source, rule=origin.rule,
                        last_event_id=origin.last_event_id)
    return state


# -- answers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """Whether `who` may receive a message of `category`, and the state that decides it."""
    who: Who
    category: Category
    state: State | None     # the suppression that blocks, if any; else the newest state

    @property
    def suppressed(self) -> bool:
        return bool(self.state and self.state.blocks(self.category))

    def as_dict(self) -> dict:
        state = self.state
        return {"wa_id": self.who.written, "canonical": self.who.canonical, "suppressed": self.suppressed,
                "category": self.category.value, "scope": state.scope.value if state and state.scope else None,
                "since": state.since if state else None, "source": state.source if state else None}


def deciding(states: Sequence[State], category: Category) -> State | None:
    blocking = [state for state in states if state.blocks(category)]
    pool = blocking or list(states)
    return max(pool, key=lambda s: (s.scope is Scope.ALL, s.decided_at)) if pool else None


def lookup(db: Database, value: object, category: Category = Category.MARKETING) -> Answer:
    """Raises InvalidIdentity for a value that names nobody (see identity.find)."""
    who = identity.international(identity.find(db, value))
    return Answer(who, category, deciding(states_of(db, who.persons), category))


@dataclass
class Checked:
    suppressed: list[str]
    not_suppressed: list[str]
    invalid: list[dict]


def check_many(db: Database, values: Sequence[object], category: Category = Category.MARKETING) -> Checked:
    """The batch check: each value reduced and read as `lookup` does, in a few joined
    queries for all of them (campaign systems ask up to 10,000 at a time)."""
    read: dict[str, tuple[str, ...]] = {}
    others: set[str] = set()
    invalid: list[dict] = []
    for value in values:
        try:
            found = readings(value)
        except Unreadable as error:
            invalid.append({"wa_id": value if isinstance(value, str) else repr(value)[:100], "error": str(error)})
            continue
        read[found.written] = found.keys
        if found.kind is Kind.OTHER or (found.kind is Kind.PHONE and found.written.startswith("0")):
            others.add(found.written)   # an answer only if a delivery stored it (identity.is_national)
    keys = sorted({key for found in read.values() for key in found})
    blocked: set[str] = set()
    scope_clause = "" if category is Category.MARKETING else " AND s.scope = 'all'"
    for chunk in _chunks(keys):
        marks = ",".join("?" * len(chunk))
        # CROSS JOIN keeps SQLite to this order (keys first, by primary key): left to itself
        # it may walk every suppressed person and try each key against them.
        blocked.update(row[0] for row in db.execute(
            f"SELECT k.key FROM identity_keys k CROSS JOIN suppressions s ON s.wa_id = k.person "
            f"WHERE s.suppressed = 1{scope_clause} AND k.key IN ({marks})", chunk))
    stored: set[str] = set()
    for chunk in _chunks(sorted(others)):
        marks = ",".join("?" * len(chunk))
        stored.update(row[0] for row in db.execute(f"SELECT key FROM identity_keys WHERE key IN ({marks})", chunk))
    suppressed, not_suppressed = [], []
    for written, its_keys in read.items():
        if written in others and written not in stored:
            invalid.append({"wa_id": written, "error": f"{mask(written)} is {identity.NATIONAL_NUMBER}"
                            if written.startswith("0") and written.isdigit() else
                            "not a phone number or WhatsApp user id, and no delivery "
                            f"came from it: {mask(written)}"})
        elif blocked.intersection(its_keys):
            suppressed.append(written)
        else:
            not_suppressed.append(written)
    return Checked(sorted(suppressed), sorted(not_suppressed), invalid)


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def scope_of_event(event: dict) -> str:
    """An event's scope; events from before scopes were recorded get the one their source means."""
    if event.get("scope"):
        return event["scope"]
    if event["action"] == Action.OPT_IN.value:
        return Scope.ALL.value
    return old_scope(event["source"], event.get("keyword")).value


def old_scope(source: str, keyword: str | None) -> Scope:
    if source in (Source.META_PREFERENCE.value, Source.META_STATUS_131050.value):
        return Scope.MARKETING
    if source == Source.BUTTON.value and is_stop_promotions_label(keyword):
        return Scope.MARKETING
    return Scope.ALL


def history(db: Database, who: Who) -> list[dict]:
    """Every consent event of the persons `who` may name, in the order they arrived."""
    if not who.persons:
        return []
    marks = ",".join("?" * len(who.persons))
    events = list(db.query(
        f"SELECT e.* FROM consent_events e JOIN identities i ON i.wa_id = e.wa_id WHERE i.person IN ({marks}) "
        "ORDER BY e.id", list(who.persons)))
    for event in events:
        event["scope"] = scope_of_event(event)
    return events


def state_for(db: Database, wa_id: str) -> State | None:
    """The state that decides for `wa_id` (marketing), or None; for a stored id, never raises."""
    try:
        return lookup(db, wa_id).state
    except InvalidIdentity:
        return None


def state_of_id(db: Database, wa_id: str) -> State | None:
    """The state of the person a stored id belongs to (None: no state, or an id never stored)."""
    row = db.execute("SELECT person FROM identities WHERE wa_id = ?", [wa_id]).fetchone()
    return state_of_person(db, row[0]) if row else None


class Decision:
    """The consent events one staff action recorded (a change by hand, a review decision,
    a bulk decision, an import), to ask what an undo asks before it lifts an opt-out: do
    they still decide a person's state? They do while one of them began the state and no
    newer signal has been recorded since (a STOP repeated later, a marketing-only signal,
    anything): a later decision, by the customer or anyone, stands."""

    def __init__(self, times: dict[int, str]):
        self.times = times                       # {event id: the time it is ordered by}
        self._moments = set(times.values())

    @classmethod
    def of(cls, db: Database, event_ids: Iterable[int | None]) -> Decision:
        ids = sorted({event_id for event_id in event_ids if event_id})
        times: dict[int, str] = {}
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            marks = ",".join("?" * len(chunk))
            times.update(db.execute(f"SELECT id, occurred_at FROM consent_events WHERE id IN ({marks})", chunk))
        return cls(times)

    def decides(self, db: Database, wa_id: str) -> State | None:
        """The state of the person behind `wa_id` while these events decide it; else None.
        On PostgreSQL the person is locked first, so no newer signal slips in between this
        answer and the caller's change (an undo) in the same transaction."""
        if self.times and needs_locks(db):
            _lock_persons(db, [wa_id])
        state = state_of_id(db, wa_id) if self.times else None
        if state is None or state.last_event_id not in self.times or state.decided_at not in self._moments:
            return None
        return state


CSV_COLUMNS = ("wa_id", "since", "source", "rule", "scope", "person")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection);
# such a cell is written with a leading apostrophe, which spreadsheets show as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A value as a CSV cell that no spreadsheet will run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def suppressed_rows(db: Database):
    """Every id and canonical key of every suppressed person, oldest suppression first,
    streamed: a campaign system holding any of these forms finds it in the list."""
    return db.query(
        "SELECT x.wa_id AS wa_id, s.since, s.source, s.rule, s.scope, s.wa_id AS person FROM suppressions s "
        "JOIN (SELECT wa_id, person FROM identities UNION SELECT key, person FROM identity_keys) x "
        "ON x.person = s.wa_id WHERE s.suppressed = 1 ORDER BY s.since, s.wa_id, x.wa_id")


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


# -- the migration to persons (storage/db.py, migrations 6 and 7) ---------------------------


def adopt_states_before_persons(db: Database) -> int:
    """Turn the per-id rows of the old table (`suppressions_v1`) into per-person states.

    Ids that were separate rows and turn out to be one person (`5215512345678` and
    `525512345678`) may disagree. The migration never lifts a suppression: if any of them
    was suppressed, the person is, since the newest of those opt-outs (a later opt-in by the
    user lifts it as usual). Returns the number of persons written.
    """
    cursor = db.execute("SELECT v.*, i.person, e.keyword AS event_keyword FROM suppressions_v1 v "
                        "JOIN identities i ON i.wa_id = v.wa_id "
                        "LEFT JOIN consent_events e ON e.id = v.last_event_id ORDER BY i.person, v.since")
    names = [column[0] for column in cursor.description]
    by_person: dict[str, list[dict]] = {}
    for values in cursor:
        row = dict(zip(names, values, strict=True))
        by_person.setdefault(row["person"], []).append(row)
    now = clock.now_iso()
    states = []
    for person, group in by_person.items():
        suppressed = [row for row in group if row["suppressed"]]
        newest = max(group, key=lambda row: row["since"])
        decided_at = newest["since"]
        # Rows whose decision covered every category: opt-ins, and opt-outs that were not marketing only.
        covering_all = [row for row in group if not row["suppressed"]
                        or old_scope(row["source"], row["event_keyword"]) is Scope.ALL]
        all_decided_at = max((row["since"] for row in covering_all), default=None)
        if suppressed:
            origin = max(suppressed, key=lambda row: row["since"])
            scope: Scope | None = Scope.ALL if any(row in covering_all for row in suppressed) else Scope.MARKETING
        else:
            origin, scope = newest, None
        states.append(State(person, bool(suppressed), scope, origin["since"], origin["source"], origin["rule"],
                            origin["last_event_id"], decided_at, scope is Scope.ALL, all_decided_at).row(now))
    if states:
        columns = list(states[0])
        executemany(db, f"INSERT INTO suppressions ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                            [[state[column] for column in columns] for state in states])
    return len(states)
