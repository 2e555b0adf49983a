"""PostgreSQL behind the same small interface as the SQLite Store (see db.py).

The service's queries are written once, in SQLite's dialect, and this module speaks
them to PostgreSQL: `?` and `:name` placeholders become psycopg's, `INSERT OR IGNORE`
becomes `ON CONFLICT DO NOTHING`, `INSERT OR REPLACE` an upsert on the table's primary
key, `CROSS JOIN ... ON` (SQLite's join-order hint) an inner join, and
`cursor.lastrowid` is read from a `RETURNING` clause added to each INSERT.
Tables without an `INTEGER PRIMARY KEY` get a hidden `rowid` identity column, as
SQLite gives them one: `SELECT *` does not show it, a query that names it can use it.
The migrations' DDL is translated the same way (see `schema_statements`).

One connection pool per process (psycopg_pool); each thread's store borrows a
connection for one statement, or for one transaction (`transaction()`), and gives
it back. Connections run in autocommit mode outside `transaction()`.

Serialisation. SQLite has one writer at a time, so code that reads and then writes
(the consent ledger reads the current state, then writes the change) is correct
there without more ado. PostgreSQL runs writers concurrently, from every worker on
every host, under READ COMMITTED: each such read-then-write takes a
transaction-scoped advisory lock on what it decides about (`lock()`: one user's
consent, the keyword configuration, one login name, one review item, one audit entry)
before its first read, and holds it to the commit. Unique keys (dedupe, one reply
per event) are settled by the unique index itself (`ON CONFLICT DO NOTHING` waits
for the other transaction and then does nothing), and outbox claims by
`FOR UPDATE SKIP LOCKED` (see `skip_locked()`). See docs/deployment.md.
"""
from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg_pool

POOL_MAX_SIZE = 4          # a worker's pool: its request thread, and room for reads from other threads
LOCK_TIMEOUT_MS = 10_000   # as SQLite's busy timeout: past it, the delivery is answered 503 and retried
POOL_TIMEOUT_SECONDS = 10.0
VERSION_TABLE = "schema_version"
MIGRATE_LOCK = "optout:migrate"

# Raised by the append-only triggers; an integrity error, as SQLite's RAISE(ABORT) is.
REFUSE_FUNCTION = """
CREATE OR REPLACE FUNCTION optout_refuse() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'integrity_constraint_violation';
END
$body$
"""


def is_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def lock_key(name: str) -> int:
    """A stable 64-bit advisory lock key for a name (the same on every host)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


# -- translation --------------------------------------------------------------------------

_LEXEMES = re.compile(
    r"""('(?:[^']|'')*')"""          # 1 a string literal
    r"""|("(?:[^"]|"")*")"""         # 2 a quoted identifier
    r"""|(--[^\n]*|/\*.*?\*/)"""     # 3 a comment
    r"""|(\?)"""                     # 4 a positional placeholder
    r"""|(?<![:\w]):([A-Za-z_]\w*)"""  # 5 a named placeholder (not a ::cast)
    r"""|(%)""",                     # 6 a percent sign, which psycopg reads as a placeholder
    re.S,
)
_INSERT = re.compile(r"^\s*(?:INSERT\s+OR\s+(IGNORE|REPLACE)|(REPLACE)|INSERT)\s+INTO\s+(\"?)(\w+)\3", re.I)
_RETURNING = re.compile(r"\bRETURNING\b", re.I)
_ON_CONFLICT = re.compile(r"\bON\s+CONFLICT\b", re.I)


@dataclass(frozen=True)
class TableInfo:
    columns: tuple[str, ...]
    primary_key: tuple[str, ...]
    rowid: str | None            # the column SQLite's rowid maps to: `rowid`, the integer key, or none


@dataclass(frozen=True)
class Translated:
    sql: str
    returns_rowid: bool          # a RETURNING was added for lastrowid: the statement's rows are not the caller's
    hide_rowid: bool             # a hidden rowid column in the result is dropped (the query did not name it)
    sets_rowid: str | None = None  # an INSERT that gives this table's rowid column explicitly (its sequence must follow)


def _lexemes(sql: str, with_params: bool) -> str:
    """Placeholders to psycopg's; comments dropped; `%` doubled where psycopg would read it."""
    def replace(match: re.Match) -> str:
        literal, identifier, comment, positional, named, percent = match.groups()
        if literal is not None:
            return literal.replace("%", "%%") if with_params else literal
        if identifier is not None:
            return identifier
        if comment is not None:
            return " "
        if positional is not None:
            return "%s"
        if named is not None:
            return f"%({named})s"
        return "%%" if with_params else percent
    return _LEXEMES.sub(replace, sql)


# SQLite's `a CROSS JOIN b ON ...` is an inner join whose order the planner keeps;
# PostgreSQL refuses ON after CROSS JOIN, and plans the order itself.
_CROSS_JOIN_ON = re.compile(r"\bCROSS\s+JOIN\s+(\"?\w+\"?(?:\s+(?:AS\s+)?\w+)?)\s+ON\b", re.I)
_WHERE_NUMBER = re.compile(r"\bWHERE\s+([01])\b(?!\s*[=<>!+*/-])", re.I)
_FUNCTION = re.compile(r"\b(max|min|json_extract|ifnull)\s*\(", re.I)


def _functions(text: str) -> str:
    """SQLite's scalar max(a, b)/min(a, b) -> GREATEST/LEAST (one argument: the aggregate,
    the same on both), ifnull -> coalesce, json_extract(x, '$.a.b') -> (x::jsonb #>> '{a,b}')."""
    out, at = [], 0
    while True:
        match = _FUNCTION.search(text, at)
        if match is None or _inside_quotes(text, match.start()):
            if match is None:
                out.append(text[at:])
                return "".join(out)
            out.append(text[at:match.end()])
            at = match.end()
            continue
        close = _closing(text, match.end())
        args = [_functions(arg) for arg in _split_top_level(text[match.end():close])]
        name = match.group(1).lower()
        out.append(text[at:match.start()])
        if name in ("max", "min") and len(args) > 1:
            out.append(f"{'GREATEST' if name == 'max' else 'LEAST'}({', '.join(args)})")
        elif name == "ifnull":
            out.append(f"coalesce({', '.join(args)})")
        elif name == "json_extract" and len(args) == 2 and re.fullmatch(r"'\$(\.\w+)+'", args[1]):
            path = args[1].strip("'")[2:].split(".")
            out.append(f"({args[0]}::jsonb #>> '{{{','.join(path)}}}')")
        elif name == "json_extract":
            raise psycopg.NotSupportedError(f"json_extract with path {args[1:]}: only '$.key' paths translate")
        else:
            out.append(f"{match.group(1)}({', '.join(args)})")
        at = close + 1


def _inside_quotes(text: str, position: int) -> bool:
    return text.count("'", 0, position) % 2 == 1


def _closing(text: str, start: int) -> int:
    depth, quote = 1, False
    for at in range(start, len(text)):
        char = text[at]
        if char == "'":
            quote = not quote
        elif not quote and char == "(":
            depth += 1
        elif not quote and char == ")":
            depth -= 1
            if depth == 0:
                return at
    raise psycopg.ProgrammingError(f"unbalanced parentheses in: {text[:80]}")


def translate(sql: str, with_params: bool, tables: dict[str, TableInfo]) -> Translated:
    text = _lexemes(sql, with_params).strip().rstrip(";")
    if _FUNCTION.search(text):
        text = _functions(text)
    if _CROSS_JOIN_ON.search(text):
        text = _CROSS_JOIN_ON.sub(r"JOIN \1 ON", text)
    if _WHERE_NUMBER.search(text):  # SQLite takes 1 and 0 for true and false
        text = _WHERE_NUMBER.sub(lambda m: f"WHERE {'TRUE' if m.group(1) == '1' else 'FALSE'}", text)
    if re.match(r"\s*PRAGMA\b", text, re.I):
        raise psycopg.NotSupportedError(f"{text.split()[0]} {text.split()[1]}: a SQLite setting, not a PostgreSQL statement")
    insert = _INSERT.match(text)
    if not insert:
        return Translated(text, False, "rowid" not in text.lower())
    verb = (insert.group(1) or insert.group(2) or "").upper()
    table = tables.get(insert.group(4))
    text = "INSERT INTO " + text[insert.start(3):]
    conflict = ""
    if verb == "IGNORE":
        conflict = " ON CONFLICT DO NOTHING"
    elif verb == "REPLACE":
        if table is None or not table.primary_key:
            raise psycopg.NotSupportedError(f"INSERT OR REPLACE into {insert.group(4)}: no primary key to replace on")
        keys = ", ".join(f'"{column}"' for column in table.primary_key)
        updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in table.columns
                            if c not in table.primary_key and c != "rowid")
        conflict = f" ON CONFLICT ({keys}) " + (f"DO UPDATE SET {updates}" if updates else "DO NOTHING")
    returning = _RETURNING.search(text)
    sets_rowid = None
    if table is not None and table.rowid:
        named = re.match(r"INSERT INTO\s+\"?\w+\"?\s*\(([^)]*)\)", text, re.I)
        if named and table.rowid in [c.strip().strip('"') for c in named.group(1).split(",")]:
            sets_rowid = insert.group(4)
    if conflict:
        at = returning.start() if returning else len(text)
        if _ON_CONFLICT.search(text):
            raise psycopg.NotSupportedError(f"INSERT OR {verb} with its own ON CONFLICT clause")
        text = text[:at].rstrip() + conflict + (" " + text[at:] if returning else "")
    if returning is None and table is not None and table.rowid:
        return Translated(f'{text} RETURNING "{table.rowid}"', True, False, sets_rowid)
    return Translated(text, False, "rowid" not in text.lower(), sets_rowid)


# -- schema (migrations) --------------------------------------------------------------------

_TRIGGER_REFUSE = re.compile(
    r"^\s*CREATE\s+TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\s+(BEFORE|AFTER)\s+(UPDATE|DELETE|INSERT)"
    r"(?:\s+OF\s+[\w\s,]+?)?\s+ON\s+(\w+)\s+(?:FOR\s+EACH\s+ROW\s+)?BEGIN\s+SELECT\s+RAISE\s*\(\s*(?:ABORT|FAIL)\s*,\s*"
    r"'((?:[^']|'')*)'\s*\)\s*;\s*END\s*;?\s*$", re.I | re.S)
_TYPES = {"INTEGER": "BIGINT", "INT": "BIGINT", "REAL": "DOUBLE PRECISION", "FLOAT": "DOUBLE PRECISION",
          "BLOB": "BYTEA", "TEXT": 'TEXT COLLATE "C"', "NUMERIC": "NUMERIC"}
_CONSTRAINT_WORDS = {"PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "CONSTRAINT"}


def schema_statements(statement: str) -> list[str]:
    """One SQLite migration statement as PostgreSQL statements.

    Types: INTEGER -> BIGINT (INTEGER PRIMARY KEY -> an identity key, as SQLite's rowid
    alias), REAL -> DOUBLE PRECISION, BLOB -> BYTEA, TEXT -> TEXT COLLATE "C" (byte
    order, as SQLite compares text: ISO timestamps and ids sort the same on both). A
    table without an integer key gets a hidden `rowid` identity column. A trigger of the
    form `BEGIN SELECT RAISE(ABORT, 'why'); END` refuses the statement the same way
    (and one that refuses DELETE also refuses TRUNCATE). A renamed table takes its primary
    key's index and rowid sequence along under its new name. PRAGMAs are dropped. Anything
    else this cannot translate raises: give that migration a Migration(sqlite=...,
    postgresql=...) pair instead (see db.py).
    """
    text = _lexemes(statement, with_params=False).strip().rstrip(";").strip()
    if not text or re.match(r"PRAGMA\b", text, re.I):
        return []
    if re.search(r"\bCOLLATE\s+NOCASE\b", text, re.I):
        raise ValueError(f"COLLATE NOCASE has no PostgreSQL equivalent here; write a Migration pair: {text[:80]}")
    trigger = _TRIGGER_REFUSE.match(statement.strip())
    if trigger:
        name, when, event, table, message = trigger.groups()
        out = [f"CREATE TRIGGER {name} {when.upper()} {event.upper()} ON {table} "
               f"FOR EACH ROW EXECUTE FUNCTION optout_refuse('{message}')"]
        if event.upper() == "DELETE":
            out.append(f"CREATE TRIGGER {name}_truncate BEFORE TRUNCATE ON {table} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION optout_refuse('{message}')")
        return out
    if re.match(r"CREATE\s+TRIGGER\b", text, re.I):
        raise ValueError(f"no PostgreSQL translation for this trigger; write a Migration pair: {text[:80]}")
    table = re.match(r"(CREATE\s+(?:TEMP\w*\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?\"?\w+\"?\s*)\((.*)\)\s*([\w\s,]*)$",
                     text, re.I | re.S)
    if table:
        head, body, options = table.groups()
        if re.search(r"\bAS\s+SELECT\b", body, re.I):
            raise ValueError(f"CREATE TABLE ... AS SELECT: write a Migration pair: {text[:80]}")
        parts = [_column(part) for part in _split_top_level(body)]
        has_rowid = not re.search(r"WITHOUT\s+ROWID", options, re.I)
        if has_rowid and not any(_is_integer_key(part) for part in _split_top_level(body)):
            parts.append("rowid BIGINT GENERATED BY DEFAULT AS IDENTITY")
        return [f"{head}({', '.join(parts)})"]
    rename = re.match(r"ALTER\s+TABLE\s+\"?(\w+)\"?\s+RENAME\s+TO\s+\"?(\w+)\"?$", text, re.I)
    if rename:  # the key's index and the rowid's sequence follow the table, as in SQLite: their names are free again
        old, new = rename.groups()
        return [text, f'ALTER INDEX IF EXISTS "{old}_pkey" RENAME TO "{new}_pkey"',
                f'ALTER SEQUENCE IF EXISTS "{old}_rowid_seq" RENAME TO "{new}_rowid_seq"']
    alter = re.match(r"(ALTER\s+TABLE\s+\"?\w+\"?\s+ADD\s+(?:COLUMN\s+)?)(.*)$", text, re.I | re.S)
    if alter:
        return [alter.group(1) + _column(alter.group(2))]
    return [translate(text, False, {}).sql]


def _split_top_level(body: str) -> list[str]:
    parts, depth, current, quote = [], 0, "", ""
    for char in body:
        if quote:
            current += char
            if char == quote:
                quote = ""
            continue
        if char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def _is_integer_key(definition: str) -> bool:
    words = definition.split()
    return (len(words) >= 4 and words[0].upper() not in _CONSTRAINT_WORDS and words[1].upper() == "INTEGER"
            and re.search(r"\bPRIMARY\s+KEY\b", definition, re.I) is not None)


def _column(definition: str) -> str:
    """A column definition with its SQLite type replaced (constraints left as they are)."""
    words = definition.split(None, 2)
    if not words or words[0].upper() in _CONSTRAINT_WORDS or len(words) < 2:
        return definition
    name, kind, rest = words[0], words[1], words[2] if len(words) > 2 else ""
    if _is_integer_key(definition):
        rest = re.sub(r"\bAUTOINCREMENT\b", "", re.sub(r"\bPRIMARY\s+KEY\b", "", rest, flags=re.I), flags=re.I)
        return f"{name} BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY {rest.strip()}".rstrip()
    mapped = _TYPES.get(kind.upper())
    if mapped is None:
        raise ValueError(f"column {name}: no PostgreSQL type for {kind!r}; use INTEGER, REAL, TEXT or BLOB")
    return f"{name} {mapped} {rest}".rstrip()


# -- the store ------------------------------------------------------------------------------


class Result:
    """A statement's outcome, read in full before its connection went back to the pool."""
    __slots__ = ("_rows", "_at", "rowcount", "lastrowid", "names")

    def __init__(self, rows: list[tuple], rowcount: int, lastrowid: int | None, names: list[str]):
        self._rows, self._at, self.rowcount, self.lastrowid, self.names = rows, 0, rowcount, lastrowid, names

    def fetchone(self) -> tuple | None:
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    def fetchall(self) -> list[tuple]:
        rows, self._at = self._rows[self._at:], len(self._rows)
        return rows

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.fetchall())

    @property
    def description(self) -> list[tuple[str, None, None, None, None, None, None]]:
        """The columns' names, as sqlite3's cursor.description gives them (the rest None)."""
        return [(name, None, None, None, None, None, None) for name in self.names]


class Shared:
    """One process's pool, and what it knows about the schema (for translation)."""

    def __init__(self, url: str, max_size: int = POOL_MAX_SIZE):
        self.url = url
        self.pool = psycopg_pool.ConnectionPool(
            url, min_size=1, max_size=max_size, open=False, timeout=POOL_TIMEOUT_SECONDS,
            kwargs={"autocommit": True, "connect_timeout": 10, "application_name": "optout-webhook"},
            configure=_configure, name="optout")
        self.pool.open(wait=True, timeout=POOL_TIMEOUT_SECONDS)
        self._tables: dict[str, TableInfo] | None = None
        self._translated: dict[tuple[str, bool], Translated] = {}
        self._lock = threading.Lock()

    def translate(self, conn: psycopg.Connection, sql: str, with_params: bool) -> Translated:
        key = (sql, with_params)
        found = self._translated.get(key)
        if found is None:
            found = translate(sql, with_params, self.tables(conn))
            with self._lock:
                if len(self._translated) > 4096:
                    self._translated.clear()
                self._translated[key] = found
        return found

    def tables(self, conn: psycopg.Connection) -> dict[str, TableInfo]:
        if self._tables is None:
            self._tables = read_tables(conn)
        return self._tables

    def schema_changed(self) -> None:
        with self._lock:
            self._tables = None
            self._translated.clear()

    def close(self) -> None:
        self.pool.close()


def _configure(conn: psycopg.Connection) -> None:
    conn.execute(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")


def read_tables(conn: psycopg.Connection) -> dict[str, TableInfo]:
    rows = conn.execute(
        """SELECT c.relname, a.attname, a.attidentity, array_position(i.indkey::int2[], a.attnum)
           FROM pg_class c
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
           LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
           WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
           ORDER BY c.relname, a.attnum""").fetchall()
    columns: dict[str, list[str]] = {}
    keys: dict[str, list[tuple[int, str, str]]] = {}
    for table, column, identity, key_at in rows:
        columns.setdefault(table, []).append(column)
        if key_at is not None:
            keys.setdefault(table, []).append((key_at, column, identity))
    tables = {}
    for table, names in columns.items():
        key = [column for _, column, _ in sorted(keys.get(table, []))]
        identity_key = len(key) == 1 and any(identity for _, _, identity in keys.get(table, []))
        rowid = "rowid" if "rowid" in names else key[0] if identity_key else None
        tables[table] = TableInfo(tuple(names), tuple(key), rowid)
    return tables


class PostgresStore:
    """One thread's handle on the process's pool (see db.Database for the interface)."""

    dialect = "postgresql"

    def __init__(self, shared: Shared, owns: bool = False):
        self.shared = shared
        self._owns = owns
        self._conn: psycopg.Connection | None = None
        self._resync: set[str] = set()   # tables given explicit rowids in this transaction

    @property
    def in_transaction(self) -> bool:
        return self._conn is not None

    def execute(self, sql: str, parameters: Any = None) -> Result:
        if self._conn is not None:
            return self._run(self._conn, sql, parameters)
        with self.shared.pool.connection() as conn:
            result = self._run(conn, sql, parameters)
            self._resync_rowids(conn)
            return result

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """One statement for many rows (sqlite3's executemany)."""
        with contextlib.ExitStack() as stack:
            conn = self._conn or stack.enter_context(self.shared.pool.connection())
            translated = self.shared.translate(conn, sql, True)
            statement = translated.sql.removesuffix(_returning_rowid(translated))
            with conn.cursor() as cursor:
                cursor.executemany(statement, [_parameters(row) for row in rows])
            if translated.sets_rowid:
                self._resync.add(translated.sets_rowid)
            if self._conn is None:
                self._resync_rowids(conn)

    def _resync_rowids(self, conn: psycopg.Connection) -> None:
        """After rows were inserted with explicit ids, the identity goes on after the largest
        (as SQLite's rowid does): the next insert without an id must not collide."""
        tables = self.shared.tables(conn)
        for name in sorted(self._resync):
            column = tables[name].rowid
            conn.execute(f"SELECT setval(pg_get_serial_sequence('\"{name}\"', '{column}'), "
                         f'(SELECT coalesce(max("{column}"), 0) FROM "{name}") + 1, false)')
        self._resync.clear()

    def query(self, sql: str, params: Any = None) -> Iterator[dict]:
        result = self.execute(sql, params)
        names = result.names
        for row in result.fetchall():
            yield dict(zip(names, row, strict=True))

    def _run(self, conn: psycopg.Connection, sql: str, parameters: Any) -> Result:
        params = _parameters(parameters)
        translated = self.shared.translate(conn, sql, params is not None)
        cursor = conn.execute(translated.sql, params, prepare=None)
        if translated.sets_rowid:
            self._resync.add(translated.sets_rowid)
        if cursor.description is None:
            return Result([], cursor.rowcount, None, [])
        rows = cursor.fetchall()
        if translated.returns_rowid:
            return Result([], cursor.rowcount, rows[0][0] if rows else None, [])
        names = [column.name for column in cursor.description]
        if translated.hide_rowid and "rowid" in names:
            keep = [at for at, name in enumerate(names) if name != "rowid"]
            names = [names[at] for at in keep]
            rows = [tuple(row[at] for at in keep) for row in rows]
        return Result(rows, cursor.rowcount, None, names)

    def table(self, name: str) -> _Table:
        return _Table(self, name)

    @contextlib.contextmanager
    def transaction(self, durable: bool = True) -> Iterator[PostgresStore]:
        """BEGIN ... COMMIT on one pooled connection. durable=False commits with
        synchronous_commit off for this transaction only (as SQLite's NORMAL): it survives
        any crash of our processes and is visible at once; a crash of the database server
        may lose it, never half of it."""
        if self._conn is not None:
            raise RuntimeError("transaction() inside a transaction: use db.atomic() (a savepoint) instead")
        with self.shared.pool.connection() as conn:
            self._conn = conn
            try:
                with conn.transaction():
                    if not durable:
                        conn.execute("SET LOCAL synchronous_commit = off")
                    yield self
                    self._resync_rowids(conn)
            finally:
                self._conn = None
                self._resync.clear()

    @contextlib.contextmanager
    def atomic(self) -> Iterator[PostgresStore]:
        """A savepoint inside a transaction (as sqlite-utils' atomic()), or a transaction."""
        if self._conn is None:
            with self.transaction():
                yield self
            return
        with self._conn.transaction():
            yield self

    def lock(self, keys: Iterable[str]) -> None:
        """Transaction-scoped advisory locks, taken in one order everywhere (no deadlock between them)."""
        if self._conn is None:
            raise RuntimeError("lock() outside a transaction would be released at once")
        for key in sorted({lock_key(name) for name in keys}):
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", [key])

    def flush_wal(self) -> None:
        """Make earlier synchronous_commit=off commits durable: a synchronous commit that
        writes a commit record flushes the WAL up to it, and so everything before it."""
        with self.transaction(durable=True):
            self.execute("SELECT txid_current()")

    def rollback(self) -> None:
        if self._conn is not None:
            self._conn.rollback()

    def close(self) -> None:
        if self._owns:
            self.shared.close()


class _Table:
    """What the service uses of sqlite-utils' Table: insert and upsert of one row."""

    def __init__(self, store: PostgresStore, name: str):
        self.store, self.name = store, name

    def insert(self, row: dict, **_options: Any) -> _Table:
        columns = ", ".join(f'"{column}"' for column in row)
        self.store.execute(f'INSERT INTO "{self.name}" ({columns}) VALUES ({", ".join("?" * len(row))})',
                           list(row.values()))
        return self

    def upsert(self, row: dict, pk: str | Sequence[str], **_options: Any) -> _Table:
        keys = [pk] if isinstance(pk, str) else list(pk)
        columns = ", ".join(f'"{column}"' for column in row)
        updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in row if c not in keys)
        conflict = ", ".join(f'"{key}"' for key in keys)
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        self.store.execute(f'INSERT INTO "{self.name}" ({columns}) VALUES ({", ".join("?" * len(row))}) '
                           f"ON CONFLICT ({conflict}) {action}", list(row.values()))
        return self


def _returning_rowid(translated: Translated) -> str:
    return translated.sql[translated.sql.rindex(" RETURNING "):] if translated.returns_rowid else ""


def _parameters(parameters: Any) -> Any:
    if not parameters:
        return None
    if isinstance(parameters, dict):
        return {key: int(value) if isinstance(value, bool) else value for key, value in parameters.items()}
    return [int(value) if isinstance(value, bool) else value for value in parameters]


# -- migrations -----------------------------------------------------------------------------


# A migration for migrate(): PostgreSQL statements, or a data step's function of the store.
Step = list[str] | Callable[["PostgresStore"], object]


def migrate(store: PostgresStore, steps: Sequence[Step]) -> int:
    """Run each migration not yet applied, all in one transaction, under an advisory lock
    (every worker on every host may try at once). `steps[n]` is migration n+1: its
    PostgreSQL statements, or a data step, which runs through the store (SQLite-dialect
    SQL, translated) and sees the schema the earlier steps made. Returns the version reached."""
    with store.transaction():
        store.lock([MIGRATE_LOCK])
        store.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER NOT NULL)")
        row = store.execute(f"SELECT version FROM {VERSION_TABLE}").fetchone()
        version = row[0] if row else 0
        if row is None:
            store.execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (0)")
        if version < len(steps):
            store.execute(REFUSE_FUNCTION)
            conn = store._conn
            assert conn is not None  # inside store.transaction()
            for step in steps[version:]:
                if callable(step):
                    store.shared.schema_changed()  # the tables as the steps before left them
                    step(store)
                    continue
                for statement in step:
                    conn.execute(statement)  # already PostgreSQL: not translated again
            store.execute(f"UPDATE {VERSION_TABLE} SET version = ?", [len(steps)])
        store.shared.schema_changed()
        return len(steps) if version < len(steps) else version


def version(store: PostgresStore) -> int:
    row = store.execute("SELECT to_regclass(?) IS NOT NULL", [VERSION_TABLE]).fetchone()
    if not row or not row[0]:
        return 0
    found = store.execute(f"SELECT version FROM {VERSION_TABLE}").fetchone()
    return found[0] if found else 0
