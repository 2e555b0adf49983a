"""The one place that opens the SQLite database and owns its schema.

Every connection gets the same pragmas: WAL (set once, at migration), a busy
timeout so gunicorn workers queue instead of failing, and synchronous=FULL so a
commit is fsynced before the webhook answers 200 (transaction(durable=False) is the
one, explicit, exception). Writers queue on a lock file rather than on SQLite's
sleeping busy handler.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import sqlite_utils

BUSY_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class DataStep:
    """A migration that moves data with code from a floor above this one (e.g. the
    identity rules of consent/). migrate() is given it by name; see handlers/consent/schema.py."""
    name: str
    what: str


# Ordered migrations, SQL or a data step: each runs once; every pending one runs in the
# same transaction, and the applied version is kept in PRAGMA user_version. Append, never edit.
MIGRATIONS: list[str | DataStep] = [
    """
    CREATE TABLE processed (
        key TEXT PRIMARY KEY,            -- message:<wamid>, status:<id>:<status>, preference:<hash>
        kind TEXT NOT NULL,
        received_at TEXT NOT NULL
    );
    CREATE TABLE suppressions (
        wa_id TEXT PRIMARY KEY,          -- phone digits without '+', or a business-scoped user id
        suppressed INTEGER NOT NULL,     -- 1 = no marketing; 0 = opted back in
        since TEXT NOT NULL,             -- when the current state began (the event's own time)
        source TEXT NOT NULL,            -- keyword, button, meta_preference, meta_status_131050, staff, import, number_change
        rule TEXT,
        last_event_id INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX suppressions_suppressed ON suppressions(suppressed, since);
    CREATE TABLE consent_events (
        id INTEGER PRIMARY KEY,
        wa_id TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('opt_out', 'opt_in')),
        source TEXT NOT NULL,
        keyword TEXT,                    -- the user's words (or button label) that triggered it
        rule TEXT,                       -- which detection rule matched, e.g. whole_message:es:baja
        language TEXT,
        business_phone_number_id TEXT,
        business_display_number TEXT,
        message_id TEXT,
        actor TEXT,                      -- staff name or import file, for manual changes
        reason TEXT,
        applied INTEGER NOT NULL,        -- 0 when an older event arrived after a newer one
        occurred_at TEXT NOT NULL,       -- when the user acted (from Meta's timestamp)
        recorded_at TEXT NOT NULL
    );
    CREATE INDEX consent_events_wa_id ON consent_events(wa_id, id);
    CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events
        BEGIN SELECT RAISE(ABORT, 'consent_events is append-only'); END;
    CREATE TRIGGER consent_events_no_delete BEFORE DELETE ON consent_events
        BEGIN SELECT RAISE(ABORT, 'consent_events is append-only'); END;
    CREATE TABLE contacts (
        wa_id TEXT PRIMARY KEY,
        language TEXT,                   -- last language we replied in
        updated_at TEXT NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        event_key TEXT NOT NULL UNIQUE,  -- reply:<wamid>: one confirmation per event, ever
        wa_id TEXT NOT NULL,
        phone_number_id TEXT NOT NULL,
        intent TEXT NOT NULL,
        language TEXT NOT NULL,
        body TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'skipped')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        lease_until TEXT,
        deadline TEXT NOT NULL,          -- the end of the 24-hour customer-service window
        last_error TEXT,
        provider_message_id TEXT,
        created_at TEXT NOT NULL,
        sent_at TEXT
    );
    CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
    CREATE TABLE send_pauses (
        phone_number_id TEXT PRIMARY KEY,
        until TEXT NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY,
        received_at TEXT NOT NULL,
        kind TEXT NOT NULL,
        error TEXT NOT NULL,
        raw TEXT NOT NULL
    );
    """,
    """
    -- Staff tools: keyword edits over the shipped locale files, reply overrides,
    -- an audit log with undo, staff accounts, login throttling, the review queue
    -- and the recent inbound texts the impact preview re-classifies.
    CREATE TABLE keyword_edits (
        language TEXT NOT NULL,
        intent TEXT NOT NULL,            -- opt_out, opt_in, help
        match TEXT NOT NULL,             -- whole_message, anywhere
        keyword TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('added', 'removed')),
        updated_by TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (language, intent, match, keyword)
    );
    CREATE TABLE reply_overrides (
        language TEXT NOT NULL,
        intent TEXT NOT NULL,
        reply TEXT NOT NULL,
        updated_by TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (language, intent)
    );
    CREATE TABLE config_version (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL,        -- bumped in the same transaction as every edit
        updated_at TEXT
    );
    INSERT INTO config_version (id, version, updated_at) VALUES (1, 0, NULL);
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        actor TEXT NOT NULL,             -- staff name, cli:<user>, api
        action TEXT NOT NULL,            -- keyword.add, keyword.remove, keyword.move, reply.set, undo, consent.opt_out, ...
        target TEXT NOT NULL,            -- e.g. es:baja, es:opt_out reply, 593991234567
        before TEXT,                     -- JSON
        after TEXT,                      -- JSON
        at TEXT NOT NULL,
        undoes INTEGER,                  -- for an undo: the entry it reverted
        undone_by INTEGER                -- the undo entry that reverted this one
    );
    CREATE INDEX audit_log_at ON audit_log(at);
    CREATE TABLE staff (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,     -- werkzeug.security (scrypt), never shown
        created_at TEXT NOT NULL
    );
    CREATE TABLE login_attempts (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        ip TEXT NOT NULL,
        ok INTEGER NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX login_attempts_name ON login_attempts(name, at);
    CREATE INDEX login_attempts_ip ON login_attempts(ip, at);
    CREATE TABLE review_queue (
        message_id TEXT PRIMARY KEY,
        wa_id TEXT NOT NULL,
        text TEXT NOT NULL,
        classification TEXT NOT NULL,    -- JSON: intent, rule, keyword, language, certain
        language TEXT,
        state TEXT NOT NULL CHECK (state IN ('pending', 'decided')),
        received_at TEXT NOT NULL,
        decision TEXT CHECK (decision IN ('opt_out', 'not_opt_out')),
        decided_by TEXT,
        reason TEXT,
        decided_at TEXT
    );
    CREATE INDEX review_queue_state ON review_queue(state, received_at);
    CREATE TABLE inbound_messages (
        message_id TEXT PRIMARY KEY,
        wa_id TEXT NOT NULL,
        words TEXT NOT NULL,             -- JSON list of the user's strings (text, button label, caption)
        received_at TEXT NOT NULL,
        intent TEXT,
        rule TEXT
    );
    CREATE INDEX inbound_messages_received ON inbound_messages(received_at);
    """,
    """
    -- Dedupe keys are kept for DEDUPE_KEEP_DAYS (Meta retries for up to 7 days).
    CREATE INDEX processed_received ON processed(received_at);
    """,
    """
    -- Staff sessions: the cookie carries the account's session token, checked on every
    -- request; logout, a password change and removal replace it, ending every session.
    ALTER TABLE staff ADD COLUMN session_token TEXT NOT NULL DEFAULT '';
    UPDATE staff SET session_token = lower(hex(randomblob(16)));
    -- Login throttling by name and address together.
    CREATE INDEX login_attempts_name_ip ON login_attempts(name, ip, at);
    -- Random secrets an installation makes for itself (the session key in development mode).
    CREATE TABLE instance_secrets (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    """,
    """
    -- The admin pages at volume. The overview counts the history by event time and
    -- breaks it down by source, language and rule (a covering index: one pass, no
    -- table lookups); the numbers list filters the suppression list by source and
    -- date; the review queue filters by language and rule; the audit log by actor
    -- and kind.
    CREATE INDEX consent_events_occurred ON consent_events(occurred_at, applied, action, source, language, rule);
    CREATE INDEX suppressions_source ON suppressions(suppressed, source, since);
    CREATE INDEX review_queue_language ON review_queue(state, language, received_at);
    CREATE INDEX review_queue_rule ON review_queue(state, json_extract(classification, '$.rule'), received_at);
    CREATE INDEX audit_log_actor ON audit_log(actor, id);
    CREATE INDEX audit_log_action ON audit_log(action, id);
    """,
    """
    -- Issue 11: one person, many forms (consent/numbers.py, consent/identity.py, consent/ledger.py).
    -- Consent state is kept per person; the old per-id rows stay, unread, in suppressions_v1.
    -- An index follows its table through a rename: the old table's are dropped first,
    -- so the names are free for the new table's.
    DROP INDEX suppressions_suppressed;
    DROP INDEX suppressions_source;
    ALTER TABLE suppressions RENAME TO suppressions_v1;
    CREATE TABLE suppressions (
        wa_id TEXT PRIMARY KEY,          -- the person: the canonical key of their first id (identities.person)
        suppressed INTEGER NOT NULL,     -- 1 = no marketing (the default question); 0 = may be sent
        scope TEXT CHECK (scope IN ('all', 'marketing')),  -- what the suppression covers; NULL when not suppressed
        since TEXT NOT NULL,             -- when this state began (the event's own time)
        source TEXT NOT NULL,            -- keyword, button, meta_preference, meta_status_131050, staff, import, number_change
        rule TEXT,
        last_event_id INTEGER NOT NULL,  -- the event that began this state
        decided_at TEXT NOT NULL,        -- the newest event's time, any scope: an older one is not applied
        all_suppressed INTEGER NOT NULL DEFAULT 0,  -- the newest event covering every category was an opt-out
        all_decided_at TEXT,             -- ... and its time (NULL: none yet)
        updated_at TEXT NOT NULL
    );
    CREATE INDEX suppressions_suppressed ON suppressions(suppressed, since);
    CREATE INDEX suppressions_source ON suppressions(suppressed, source, since);  -- as migration 5 made it
    CREATE TABLE identities (
        wa_id TEXT PRIMARY KEY,          -- an id exactly as a delivery, a person or a file gave it (consent_events.wa_id)
        person TEXT NOT NULL,            -- who it is (suppressions.wa_id)
        canonical TEXT NOT NULL,         -- its canonical key (consent/numbers.py)
        first_seen TEXT NOT NULL
    );
    CREATE INDEX identities_person ON identities(person);
    CREATE TABLE identity_keys (
        key TEXT NOT NULL,               -- a canonical key an identity has, or might have
        person TEXT NOT NULL,
        exact INTEGER NOT NULL,          -- 1: an identity's canonical key (one person per key); 0: another reading
        PRIMARY KEY (key, person)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX identity_keys_exact ON identity_keys(key) WHERE exact = 1;
    CREATE INDEX identity_keys_person ON identity_keys(person);
    CREATE TABLE identity_links (
        id INTEGER PRIMARY KEY,
        wa_id TEXT NOT NULL,             -- two ids found to be one person
        other TEXT NOT NULL,
        reason TEXT NOT NULL,            -- message, status, user_preference, contact, user_id_change, number_change
        at TEXT NOT NULL
    );
    CREATE INDEX identity_links_wa_id ON identity_links(wa_id);
    CREATE INDEX identity_links_other ON identity_links(other);
    -- New columns only (no event is rewritten): NULL in the events from before.
    ALTER TABLE consent_events ADD COLUMN scope TEXT;       -- all or marketing (NULL: derive from source)
    ALTER TABLE consent_events ADD COLUMN claimed_at TEXT;  -- the time the signal claimed, when it was not believable
    """,
    DataStep("persons", "every id in the history becomes an identity of a person; per-id states become "
                        "per-person states; user id changes kept as dead letters become links"),
]


class Store(sqlite_utils.Database):
    """A connection opened by connect(): sqlite-utils' Database, plus where its write-lock
    file (see transaction()) and WAL file (see fsync_wal()) live."""

    def __init__(self, conn: sqlite3.Connection, path: str):
        super().__init__(conn)
        self.write_lock_path = path + "-writelock"
        self.wal_path = path + "-wal"


def connect(path: str) -> Store:
    """Open a connection with the service's pragmas. One per thread."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    # isolation_level=None: no implicit transactions; every write runs inside
    # transaction() or sqlite-utils' atomic(), so nothing is left uncommitted.
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False, isolation_level=None
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return Store(conn, os.path.abspath(path))


# Checkpoints (copying the WAL into the database file, with two fsyncs) run in the outbox
# sender's process, once a second (checkpoint()), not inside a delivery's COMMIT where they
# would hold the write lock; a webhook connection checkpoints by itself only past this
# many WAL pages (40 MB at 4 KB), e.g. on a host without a sender. SQLite's default is 1,000.
DELIVERY_WAL_AUTOCHECKPOINT = 10_000


def checkpoint(db: sqlite_utils.Database) -> None:
    """Copy what the WAL holds into the database file without waiting for, or blocking,
    any writer (PASSIVE): what a writer appends meanwhile waits for the next one."""
    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


MIGRATE_TIMEOUT_SECONDS = 30.0


def migrate(db: sqlite_utils.Database, data_steps: Mapping[str, Callable[[sqlite_utils.Database], object]]) -> None:
    """Bring the schema up to date; safe to run from every worker at start-up.

    `data_steps` are the DataStep functions by name (handlers/consent/schema.py gives
    them). gunicorn starts its workers together, and each migrates. They take turns on the
    write lock file, switching the file to WAL included (a journal-mode change can be
    refused with 'database is locked' at once, without waiting out the busy timeout),
    and a refusal from a writer outside the lock file is retried for a while.
    """
    missing = [step.name for step in MIGRATIONS if isinstance(step, DataStep) and step.name not in data_steps]
    if missing:
        raise RuntimeError(f"the migrations need the data steps {missing}: migrate with handlers.consent.schema.migrate")
    deadline = time.monotonic() + MIGRATE_TIMEOUT_SECONDS
    while True:
        try:
            with _write_lock(getattr(db, "write_lock_path", None)):
                if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    db.enable_wal()
                with _immediate(db, durable=True):
                    version = db.execute("PRAGMA user_version").fetchone()[0]
                    for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
                        if isinstance(step, DataStep):
                            data_steps[step.name](db)
                        else:
                            for statement in _statements(step):
                                db.execute(statement)
                        db.execute(f"PRAGMA user_version = {number}")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer
            buffer = ""
    if buffer.strip():
        yield buffer


def insert_row(db: sqlite_utils.Database, table: str, row: dict, ignore: bool = False) -> int:
    """One plain INSERT; returns the rowid. For the per-delivery writes: sqlite-utils'
    table.insert() reads the schema on every call (about ten queries per row), which
    made an opt-out cost some forty statements. `table` and the keys are our own names."""
    verb = "INSERT OR IGNORE" if ignore else "INSERT"
    columns = ", ".join(f'"{column}"' for column in row)
    cursor = db.execute(f'{verb} INTO "{table}" ({columns}) VALUES ({", ".join("?" * len(row))})',
                        list(row.values()))
    return cursor.lastrowid or 0


def upsert_row(db: sqlite_utils.Database, table: str, row: dict, key: str) -> None:
    """Insert, or update the given columns of the row with the same `key` (see insert_row)."""
    columns = ", ".join(f'"{column}"' for column in row)
    updates = ", ".join(f'"{column}" = excluded."{column}"' for column in row if column != key)
    db.execute(f'INSERT INTO "{table}" ({columns}) VALUES ({", ".join("?" * len(row))}) '
               f'ON CONFLICT("{key}") DO UPDATE SET {updates}', list(row.values()))


@contextlib.contextmanager
def transaction(db: sqlite_utils.Database, durable: bool = True) -> Iterator[sqlite_utils.Database]:
    """A write transaction that takes the write lock up front (BEGIN IMMEDIATE).

    A deferred transaction that reads and then writes can fail with 'database is
    locked' when another worker wrote in between; taking the lock first makes
    writers queue on the busy timeout instead. sqlite-utils calls inside become
    savepoints of this transaction.

    durable=True (the default): the commit is fsynced (synchronous=FULL) before this
    returns, so what the caller answers afterwards survives a power cut. durable=False
    (synchronous=NORMAL) is for writes that only matter until a power cut: the commit
    survives any crash of the process, is visible to every other connection at once,
    and reaches the disk with the next durable commit or checkpoint.

    Writers opened by connect() first queue on a lock file (flock), polled every
    0.05-0.5 ms: SQLite's own busy handler sleeps 1, 2, 5, 10... ms between retries,
    leaving a core idle while a worker waits out another's fsync of a fraction of a
    millisecond. The wait for the lock file is bounded by the busy timeout, and so is
    the wait of BEGIN IMMEDIATE on writers that skip the lock file (another tool on
    the same database): past either, sqlite3.OperationalError('database is locked'),
    which the webhook answers 503 + Retry-After.
    """
    if db.conn.in_transaction:
        # Waiting for our own lock would never end; nested work belongs in db.atomic().
        raise RuntimeError("transaction() inside a transaction: use db.atomic() (a savepoint) instead")
    with _write_lock(getattr(db, "write_lock_path", None)):
        with _immediate(db, durable):
            yield db


@contextlib.contextmanager
def _immediate(db: sqlite_utils.Database, durable: bool) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT (or ROLLBACK), fsynced or not; the caller holds the lock file."""
    if not durable:
        db.execute("PRAGMA synchronous = NORMAL")  # must be set outside a transaction
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
            db.execute("COMMIT")
        except BaseException:
            if db.conn.in_transaction:  # also after a failed COMMIT (disk full, I/O error)
                db.rollback()
            raise
    finally:
        if not durable and not db.conn.in_transaction:
            db.execute("PRAGMA synchronous = FULL")


LOCK_POLL_SECONDS = (0.00005, 0.0005)  # first and longest pause between tries for the lock file


@contextlib.contextmanager
def _write_lock(path: str | None) -> Iterator[None]:
    """An exclusive flock on `path` for the length of one write transaction.

    Opened per transaction, so every thread and process has its own open file
    description (flock excludes between them), and the lock goes with the file
    descriptor when its holder closes it or is killed. Read-only and world-readable,
    so a file created by one user (the CLI run as root) does not lock another out."""
    if path is None:
        yield
        return
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        timeout = BUSY_TIMEOUT_MS / 1000
        pause, deadline = LOCK_POLL_SECONDS[0], time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise sqlite3.OperationalError(
                        f"database is locked: another writer held {path} for {timeout:.0f} s") from None
                time.sleep(pause)
                pause = min(pause * 2, LOCK_POLL_SECONDS[1])
        yield
    finally:
        os.close(fd)


def fsync_wal(db: sqlite_utils.Database) -> None:
    """Force what a durable=False transaction committed to disk, as a durable commit would."""
    path = getattr(db, "wal_path", None)
    if path is None:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return  # no WAL file: nothing committed in WAL mode waits for a sync
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
