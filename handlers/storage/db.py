"""The one place that opens the database and owns its schema: SQLite (embedded, the
default) or PostgreSQL (several hosts sharing one database; see postgres.py).

SQLite: every connection gets the same pragmas: WAL (set once, at migration), a busy
timeout so gunicorn workers queue instead of failing, and a durable transaction's
commit fsynced before the webhook answers 200 (after the write lock is released; see
transaction(); durable=False is the one, explicit, exception). Writers queue on a lock
file rather than on SQLite's sleeping busy handler.

PostgreSQL: the same queries, translated (postgres.py); synchronous commits, and
`SET LOCAL synchronous_commit = off` where SQLite would use NORMAL; advisory locks
(`lock()`) where SQLite's single writer made a read-then-write safe.

Code above this floor sees `Database` (connect(), Opener.connect()) and uses only:
execute/query with SQLite-dialect SQL (`?` or `:name` placeholders, INSERT OR IGNORE,
INSERT OR REPLACE, lastrowid), table(name).insert/upsert, atomic() (a savepoint), and
this module's transaction(), savepoint(), lock(), skip_locked(), insert_row(), upsert_row()
and fsync_wal(). Catch OperationalError / Error / IntegrityError from here, not sqlite3's.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol, cast

import psycopg
import sqlite_utils

from handlers.settings import sqlite_file
from handlers.storage import postgres
from handlers.storage.postgres import PostgresStore, Shared

# What a caller may catch, whichever database is in use.
# Unavailable, locked, timed out, or refused by the server for a reason of its own (a plan
# cached before a migration, an internal error): the database's fault, not the data's, so
# a delivery is refused for retry rather than one of its items kept as a dead letter.
OperationalError = (sqlite3.OperationalError, psycopg.OperationalError, psycopg.InternalError, psycopg.NotSupportedError)
IntegrityError = (sqlite3.IntegrityError, psycopg.IntegrityError)         # a constraint or trigger refused it
Error = (sqlite3.Error, psycopg.Error)

BUSY_TIMEOUT_MS = 10_000



@dataclass(frozen=True)
class Migration:
    """A migration written twice, for a change the translation cannot make (see MIGRATIONS)."""
    sqlite: str
    postgresql: str


@dataclass(frozen=True)
class DataStep:
    """A migration that moves data with code from a floor above this one (e.g. the
    identity rules of consent/). migrate() is given it by name; see handlers/consent/schema.py.
    It runs through the storage interface (the same SQL on both databases), inside the
    migration's transaction."""
    name: str
    what: str


# Ordered migrations, one schema description for both databases: SQL or a data step; each
# runs once; every pending one runs in the same transaction, and the number applied is the
# schema version (SQLite: PRAGMA user_version; PostgreSQL: the schema_version table).
# Append, never edit.
#
# How to add one: append a string of SQLite DDL, as below. The same text is
# translated for PostgreSQL (postgres.schema_statements): CREATE TABLE / INDEX,
# ALTER TABLE ADD COLUMN / RENAME, DROP, INSERT/UPDATE of seed rows, and append-only triggers
# of the form `BEGIN SELECT RAISE(ABORT, 'why'); END` translate as they are; use the
# types INTEGER, REAL, TEXT and BLOB (TEXT compares bytewise on both). What does not
# translate (another kind of trigger, COLLATE NOCASE, a table rebuilt by copying)
# raises when the service starts on PostgreSQL: append a Migration(sqlite=...,
# postgresql=...) pair instead, whose PostgreSQL text runs as one script. Check
# both with `pytest tests/test_postgres.py` and `pytest --database postgresql`.
MIGRATIONS: list[str | Migration | DataStep] = [
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
    Migration(sqlite="""
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
    """, postgresql="""
    -- randomblob() and hex() are SQLite's: the same change, with PostgreSQL's strong random.
    ALTER TABLE staff ADD COLUMN session_token TEXT COLLATE "C" NOT NULL DEFAULT '';
    UPDATE staff SET session_token = replace(gen_random_uuid()::text, '-', '');
    CREATE INDEX login_attempts_name_ip ON login_attempts(name, ip, at);
    CREATE TABLE instance_secrets (
        name TEXT COLLATE "C" PRIMARY KEY,
        value TEXT COLLATE "C" NOT NULL,
        created_at TEXT COLLATE "C" NOT NULL,
        rowid BIGINT GENERATED BY DEFAULT AS IDENTITY
    );
    """),
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


class Cursor(Protocol):
    """What execute() returns: sqlite3's cursor, or postgres.Result."""
    @property
    def rowcount(self) -> int: ...
    @property
    def lastrowid(self) -> int | None: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...
    @property
    def description(self) -> Any: ...


class Database(Protocol):
    """A connection opened by connect() or Opener.connect(): the SQLite Store (sqlite-utils'
    Database) or a PostgresStore. SQL is written in SQLite's dialect (see the module doc)."""
    def execute(self, sql: str, parameters: Any = None) -> Cursor: ...
    def query(self, sql: str, params: Any = None) -> Iterator[dict]: ...
    def table(self, table_name: str) -> Any: ...
    def atomic(self) -> contextlib.AbstractContextManager[Any]: ...
    def close(self) -> None: ...


class Store(sqlite_utils.Database):
    """A SQLite connection opened by connect(): sqlite-utils' Database, plus where its
    write-lock file (see transaction()) and WAL file (see fsync_wal()) live."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, path: str):
        super().__init__(conn)
        self.write_lock_path = path + "-writelock"
        self.wal_path = path + "-wal"
        self.fsync_failed_path = path + FSYNC_FAILED_SUFFIX   # see refuse_after_failed_fsync()
        self._lock_files = threading.local()   # this thread's (pid, descriptor) of the lock file
        self._lock_fds: list[int] = []
        self._lock_fds_guard = threading.Lock()
        self.lock_pauses = LOCK_POLL_SECONDS    # see _write_lock and wait_patiently()

    def lock_file(self) -> int:
        """This thread's descriptor of the write-lock file, opened once per thread and process
        (see _write_lock): each has an open file description of its own, as flock needs to
        exclude them from each other; a process forked from this one opens its own."""
        held = getattr(self._lock_files, "held", None)
        if held is not None and held[0] == os.getpid():
            return held[1]
        fd = os.open(self.write_lock_path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._lock_files.held = (os.getpid(), fd)
        with self._lock_fds_guard:
            self._lock_fds.append(fd)
        return fd

    def close(self) -> None:
        super().close()
        with self._lock_fds_guard:
            fds, self._lock_fds = self._lock_fds, []
        for fd in fds:
            with contextlib.suppress(OSError):  # a descriptor inherited across a fork is another's
                os.close(fd)


def shown(target: str) -> str:
    """A database setting as it may be logged or printed: a URL without its password."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", target)


def connect(target: str) -> Database:
    """Open a connection: `target` is a SQLite file, `sqlite:///path` or `postgresql://...`.
    One per thread. A PostgreSQL connection opened here has a pool of one connection of
    its own (the outbox sender's, the CLI's); a process that opens one per thread shares
    one pool through Opener instead."""
    if postgres.is_url(target):
        return PostgresStore(Shared(target, max_size=1), owns=True)
    return connect_sqlite(sqlite_file(target) or target)


def connect_sqlite(path: str) -> Store:
    """Open a SQLite connection with the service's pragmas. One per thread."""
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
    # A delivery runs each item in a savepoint (sqlite-utils' atomic()), whose rollback
    # journal (the sub-journal) is a temporary file by default: created, written page by
    # page and deleted in every delivery's transaction. In memory it costs no system call;
    # it only ever serves a rollback within the open transaction, so nothing durable moves.
    conn.execute("PRAGMA temp_store = MEMORY")
    return Store(conn, os.path.abspath(path))


class Opener:
    """One process's way to its database: a SQLite connection per thread, or per-thread
    handles on one PostgreSQL connection pool (the pool per gunicorn worker). The pool is
    made on first use, so after gunicorn's fork."""

    def __init__(self, target: str):
        self.target = target
        self._shared: Shared | None = None
        self._lock = threading.Lock()

    @property
    def is_postgres(self) -> bool:
        return postgres.is_url(self.target)

    def connect(self) -> Database:
        if not self.is_postgres:
            return connect(self.target)
        with self._lock:
            if self._shared is None:
                self._shared = Shared(self.target)
            return PostgresStore(self._shared)

    def close(self) -> None:
        with self._lock:
            if self._shared is not None:
                self._shared.close()
                self._shared = None


# Checkpoints (copying the WAL into the database file, with two fsyncs) run in the outbox
# sender's process, once a second (checkpoint()), not inside a delivery's COMMIT where they
# would hold the write lock; a webhook connection checkpoints by itself only past this
# many WAL pages (40 MB at 4 KB), e.g. on a host without a sender. SQLite's default is 1,000.
# PostgreSQL checkpoints in the server: neither applies there.
DELIVERY_WAL_AUTOCHECKPOINT = 10_000


def defer_checkpoints(db: Database) -> None:
    """A webhook connection leaves checkpoints to the sender process (SQLite; nothing on PostgreSQL)."""
    if not isinstance(db, PostgresStore):
        db.execute(f"PRAGMA wal_autocheckpoint = {DELIVERY_WAL_AUTOCHECKPOINT}")


def checkpoint(db: Database) -> tuple[int, int, int] | None:
    """Copy what the WAL holds into the database file without waiting for, or blocking,
    any writer (PASSIVE): what a writer appends meanwhile waits for the next one. Returns
    SQLite's (busy, frames in the WAL, frames copied). SQLite only: PostgreSQL's server
    checkpoints by itself."""
    if isinstance(db, PostgresStore):
        return None
    busy, frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return busy, frames, copied


class Checkpointer:
    """The sender process's checkpoints (checkpoint()), which also start the WAL over.

    Once a checkpoint has copied every frame, the next write starts the WAL from its
    beginning, and SQLite fsyncs the new WAL header before it writes anything else,
    whatever the synchronous level: the next delivery would pay that fsync, an opt-out
    two instead of one, ordinary chat one instead of none. With a checkpoint every second,
    at a quiet hour that is nearly every delivery. So when a checkpoint copied everything,
    the checkpointer makes that first write itself (the schema version, rewritten as it
    is: one page, not fsynced beyond the header); and while no other connection has
    written to the WAL since (its modification time and size), it copies nothing, which
    would only leave the restart to the next delivery again."""

    def __init__(self, db: Database):
        self.db = db
        self._after_own_write: tuple[int, int] | None = None   # the WAL file's (mtime, size) then

    def run(self) -> None:
        db = self.db
        if isinstance(db, PostgresStore):
            return
        wal_path = getattr(db, "wal_path", None)
        if self._after_own_write is not None and wal_path and _file_stamp(wal_path) == self._after_own_write:
            return  # nobody wrote since the restart: nothing to copy but our own page
        result = checkpoint(db)
        self._after_own_write = None
        if result is None or wal_path is None:
            return
        busy, frames, copied = result
        if busy or frames <= 0 or copied != frames:
            return  # a writer is on, or a reader holds old frames: the WAL is not restarted next
        with transaction(db, durable=False):
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            db.execute(f"PRAGMA user_version = {version}")
        self._after_own_write = _file_stamp(wal_path)


def _file_stamp(path: str) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return status.st_mtime_ns, status.st_size


MIGRATE_TIMEOUT_SECONDS = 30.0


DataSteps = Mapping[str, Callable[["Database"], object]]


def migrate(db: Database, data_steps: DataSteps) -> None:
    """Bring the schema up to date; safe to run from every worker (on every host) at start-up.
    `data_steps` are the DataStep functions by name (handlers/consent/schema.py gives them)."""
    missing = [step.name for step in MIGRATIONS if isinstance(step, DataStep) and step.name not in data_steps]
    if missing:
        raise RuntimeError(f"the migrations need the data steps {missing}: migrate with handlers.consent.schema.migrate")
    if isinstance(db, PostgresStore):
        postgres.migrate(db, postgres_steps(data_steps))
    else:
        _migrate_sqlite(cast(sqlite_utils.Database, db), data_steps)


def schema_version(db: Database) -> int:
    if isinstance(db, PostgresStore):
        return postgres.version(db)
    return db.execute("PRAGMA user_version").fetchone()[0]


def postgres_scripts() -> list[list[str]]:
    """Each SQL migration's PostgreSQL statements (translated, or its own text); a data step has none."""
    scripts: list[list[str]] = []
    for migration in MIGRATIONS:
        if isinstance(migration, Migration):
            scripts.append([migration.postgresql])
        elif isinstance(migration, DataStep):
            scripts.append([])
        else:
            scripts.append([pg for statement in _statements(migration) for pg in postgres.schema_statements(statement)])
    return scripts


def postgres_steps(data_steps: DataSteps) -> list[postgres.Step]:
    """Each migration for postgres.migrate: its statements, or its data step's function."""
    steps: list[postgres.Step] = []
    for migration, statements in zip(MIGRATIONS, postgres_scripts(), strict=True):
        if isinstance(migration, DataStep):
            steps.append(data_steps[migration.name])
        else:
            steps.append(statements)
    return steps


def _migrate_sqlite(db: sqlite_utils.Database, data_steps: DataSteps) -> None:
    """gunicorn starts its workers together, and each migrates. They take turns on the
    write lock file, switching the file to WAL included (a journal-mode change can be
    refused with 'database is locked' at once, without waiting out the busy timeout),
    and a refusal from a writer outside the lock file is retried for a while.
    """
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
                            data_steps[step.name](cast(Database, db))
                        else:
                            script = step.sqlite if isinstance(step, Migration) else step
                            for statement in _statements(script):
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


def insert_row(db: Database, table: str, row: dict, ignore: bool = False) -> int:
    """One plain INSERT; returns the rowid. For the per-delivery writes: sqlite-utils'
    table.insert() reads the schema on every call (about ten queries per row), which
    made an opt-out cost some forty statements. `table` and the keys are our own names."""
    verb = "INSERT OR IGNORE" if ignore else "INSERT"
    columns = ", ".join(f'"{column}"' for column in row)
    cursor = db.execute(f'{verb} INTO "{table}" ({columns}) VALUES ({", ".join("?" * len(row))})',
                        list(row.values()))
    return cursor.lastrowid or 0


def upsert_row(db: Database, table: str, row: dict, key: str | tuple[str, ...]) -> None:
    """Insert, or update the given columns of the row with the same `key` (see insert_row)."""
    keys = (key,) if isinstance(key, str) else key
    columns = ", ".join(f'"{column}"' for column in row)
    updates = ", ".join(f'"{column}" = excluded."{column}"' for column in row if column not in keys)
    conflict = ", ".join(f'"{column}"' for column in keys)
    db.execute(f'INSERT INTO "{table}" ({columns}) VALUES ({", ".join("?" * len(row))}) '
               f'ON CONFLICT({conflict}) DO UPDATE SET {updates}', list(row.values()))


def transaction(db: Database, durable: bool = True) -> contextlib.AbstractContextManager[Any]:
    """A write transaction; see _sqlite_transaction and PostgresStore.transaction."""
    if isinstance(db, PostgresStore):
        return db.transaction(durable)
    return _sqlite_transaction(cast(sqlite_utils.Database, db), durable)


def savepoint(db: Database) -> contextlib.AbstractContextManager[Any]:
    """Inside a write transaction: a savepoint, whose work alone is undone if the block
    raises (as db.atomic() inside a transaction). SQLite: under one fixed name, so its
    three statements are prepared once per connection (sqlite-utils' atomic() names each
    savepoint afresh, from the system's random source); nested ones are fine (a name
    refers to the innermost). PostgreSQL: the store's atomic()."""
    if isinstance(db, PostgresStore):
        return db.atomic()
    return _sqlite_savepoint(cast(sqlite_utils.Database, db).conn)


@contextlib.contextmanager
def _sqlite_savepoint(conn: sqlite3.Connection) -> Iterator[None]:
    if not conn.in_transaction:
        raise RuntimeError("savepoint() outside a transaction: open one with transaction()")
    conn.execute("SAVEPOINT item")
    try:
        yield
    except BaseException:
        # An error that ended the whole transaction (a RAISE(ROLLBACK) trigger) took the
        # savepoint with it: undoing it again would hide the error behind "no such savepoint".
        if conn.in_transaction:
            conn.execute("ROLLBACK TO item")
            conn.execute("RELEASE item")
        raise
    else:
        conn.execute("RELEASE item")


def lock(db: Database, *keys: str) -> None:
    """Inside a write transaction: serialise with every other transaction, on every host,
    that locks one of the same keys (e.g. `consent:<wa_id>`), until this one ends. Call
    it before reading what the transaction's writes depend on. SQLite: nothing to do
    (transaction() already lets one writer in at a time); PostgreSQL: advisory locks."""
    if isinstance(db, PostgresStore):
        db.lock(keys)


def needs_locks(db: Database) -> bool:
    """Whether lock() does anything: writers run concurrently (PostgreSQL), so a
    read-then-write must lock what it reads; SQLite lets one writer in at a time."""
    return isinstance(db, PostgresStore)


def in_transaction(db: Database) -> bool:
    """Whether a transaction is open on this connection (nested work joins it)."""
    if isinstance(db, PostgresStore):
        return db.in_transaction
    return cast(sqlite_utils.Database, db).conn.in_transaction


def executemany(db: Database, sql: str, rows: Iterable[Sequence[Any]]) -> None:
    """One statement for many rows (bulk loads: test data, imports)."""
    if isinstance(db, PostgresStore):
        db.executemany(sql, rows)
    else:
        cast(sqlite_utils.Database, db).conn.executemany(sql, rows)


def skip_locked(db: Database) -> str:
    """The clause that lets a SELECT inside an UPDATE pass over rows another transaction
    holds (an outbox claim on another host), or nothing on SQLite (one writer at a time)."""
    return " FOR UPDATE SKIP LOCKED" if isinstance(db, PostgresStore) else ""


@contextlib.contextmanager
def _sqlite_transaction(db: sqlite_utils.Database, durable: bool = True) -> Iterator[sqlite_utils.Database]:
    """A write transaction that takes the write lock up front (BEGIN IMMEDIATE).

    A deferred transaction that reads and then writes can fail with 'database is
    locked' when another worker wrote in between; taking the lock first makes
    writers queue on the busy timeout instead. sqlite-utils calls inside become
    savepoints of this transaction.

    durable=True (the default): the commit is fsynced before this returns, so what the
    caller answers afterwards survives a power cut. With the lock file (connect()'s
    connections) the commit is written at synchronous=NORMAL and the WAL fsynced once
    the lock is released: the next writer need not wait out this one's fsync, and one
    fsync carries every commit written before it to the disk (a commit by commit group
    commit, across processes). The commit is visible before that fsync: should the fsync
    fail, what it committed may never reach the disk, while a later fsync reports success
    (Linux reports a writeback error once), so a redelivery would find its dedupe key and
    be answered 200. So a failed fsync stops every write to the database, in every process
    (see refuse_after_failed_fsync): the webhook answers 503 and Meta keeps the deliveries,
    the sender sends nothing, until an operator has checked the disk and the database.
    Without the lock file: synchronous=FULL, fsynced in COMMIT. durable=False
    (synchronous=NORMAL) is for writes that only matter until a power cut: the commit
    survives any crash of the process, is visible to every other connection at once,
    and reaches the disk with the next durable commit or checkpoint.

    Writers opened by connect() first queue on a lock file (flock), polled every
    0.05-0.5 ms (the outbox sender's: 0.5-4 ms, see wait_patiently): SQLite's own busy handler sleeps 1, 2, 5, 10... ms between retries,
    leaving a core idle while a worker waits out another's fsync of a fraction of a
    millisecond. The wait for the lock file is bounded by the busy timeout, and so is
    the wait of BEGIN IMMEDIATE on writers that skip the lock file (another tool on
    the same database): past either, sqlite3.OperationalError('database is locked'),
    which the webhook answers 503 + Retry-After.
    """
    if db.conn.in_transaction:
        # Waiting for our own lock would never end; nested work belongs in db.atomic().
        raise RuntimeError("transaction() inside a transaction: use db.atomic() (a savepoint) instead")
    store = db if isinstance(db, Store) else None
    if store is not None:
        refuse_after_failed_fsync(store)
    after_the_lock = durable and store is not None   # fsync the WAL once the lock is released
    with _write_lock(getattr(db, "write_lock_path", None), store):
        with _immediate(db, durable and not after_the_lock):
            yield db
    if store is not None and after_the_lock:
        fsync_wal(store)


FSYNC_FAILED_SUFFIX = "-fsync-failed"


def refuse_after_failed_fsync(db: Database) -> None:
    """Raise OperationalError (answered 503 by the webhook) while the marker a failed fsync
    of the WAL left beside the database exists: what was committed before it may not be on
    disk, and no write, answer or confirmation may rely on it until an operator has checked
    the disk and the database and deleted the marker (docs/operations.md). Nothing on
    PostgreSQL, whose server stops itself on a failed fsync."""
    if not isinstance(db, Store) or not os.path.exists(db.fsync_failed_path):
        return
    try:
        with open(db.fsync_failed_path, encoding="utf-8") as marker:
            reason = marker.read().strip()
    except OSError:
        reason = "unreadable marker"
    raise sqlite3.OperationalError(
        f"writes refused: an fsync of the database's WAL failed ({reason}); check the disk and the "
        f"database, then delete {db.fsync_failed_path}")


def _stop_writes(store: Store, error: OSError) -> NoReturn:
    """Leave the marker that stops every writer (refuse_after_failed_fsync), then refuse this one."""
    with contextlib.suppress(OSError):
        with open(store.fsync_failed_path, "a", encoding="utf-8") as marker:
            marker.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {type(error).__name__}: {error}\n")
    raise sqlite3.OperationalError(f"fsync of the WAL failed: {error}; writes refused until "
                                   f"{store.fsync_failed_path} is deleted") from error


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
PATIENT_LOCK_POLL_SECONDS = (0.0005, 0.004)   # ... for a writer no one waits on (wait_patiently)


def wait_patiently(db: Database) -> None:
    """This connection's writers try for the write lock less often (PATIENT_LOCK_POLL_SECONDS):
    for the outbox sender, whose writes no request waits on. A webhook worker's tries come
    every 0.05-0.5 ms, so a delivery waits little past another's commit; each try costs some
    20 µs of CPU, which the sender need not spend while the workers commit. Its wait is bounded
    by the busy timeout all the same. Nothing on PostgreSQL (no lock file)."""
    if isinstance(db, Store):
        db.lock_pauses = PATIENT_LOCK_POLL_SECONDS


@contextlib.contextmanager
def _write_lock(path: str | None, store: Store | None = None) -> Iterator[None]:
    """An exclusive flock on `path` for the length of one write transaction.

    Every thread and process has its own open file description of the file (flock
    excludes between them), and the lock goes with it when its holder unlocks it, closes
    it or is killed. A Store keeps one per thread and process (Store.lock_file: opening
    the file cost more than the flock itself), unlocked after each transaction; without
    one, the file is opened for the transaction. Read-only and world-readable, so a file
    created by one user (the CLI run as root) does not lock another out. (Should someone
    delete the file while the service runs, processes holding the old one and processes
    opening a new one no longer queue on the same file; SQLite's own lock still keeps
    them to one writer at a time, with its busy timeout.)"""
    if path is None:
        yield
        return
    fd = store.lock_file() if store is not None else os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        timeout = BUSY_TIMEOUT_MS / 1000
        first, longest = store.lock_pauses if store is not None else LOCK_POLL_SECONDS
        pause, deadline = first, time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise sqlite3.OperationalError(
                        f"database is locked: another writer held {path} for {timeout:.0f} s") from None
                time.sleep(pause)
                pause = min(pause * 2, longest)
        try:
            yield
        finally:
            if store is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        if store is None:
            os.close(fd)


def fsync_wal(db: Database) -> None:
    """Force what was committed without waiting for the disk onto it. A failure stops every
    write to the database (refuse_after_failed_fsync) and raises OperationalError."""
    if isinstance(db, PostgresStore):
        db.flush_wal()
        return
    path = getattr(db, "wal_path", None)
    if path is None:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return  # no WAL file: nothing committed in WAL mode waits for a sync
    try:
        os.fsync(fd)
    except OSError as error:
        if isinstance(db, Store):
            _stop_writes(db, error)
        raise
    finally:
        os.close(fd)
