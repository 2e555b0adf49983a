"""Move a SQLite database into PostgreSQL (`flask db copy --to postgresql://...`).

Every table, every row, ids included: the consent history, the suppression list, the
outbox (sent, pending and failed replies), dedupe keys, staff accounts, keyword edits
and their audit log, the review queue, the messages kept for the preview. Both sides
are migrated to the same schema version first. The target must be empty (what its
own migrations seeded, such as the config version row, is replaced by the source's).
The copy runs in one PostgreSQL transaction, reading one snapshot of the SQLite file,
and is checked before it commits: the same number of rows in every table, and the
same rows (a digest of each table in key order). Any difference rolls it all back.

The append-only triggers on the history refuse UPDATE, DELETE and TRUNCATE; the copy
only inserts (COPY), so they stay in place throughout and guard the copy as well.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import sqlite_utils

from handlers.storage import db as storage
from handlers.storage import postgres
from handlers.storage.postgres import PostgresStore


class CopyError(RuntimeError):
    pass


@dataclass(frozen=True)
class Copied:
    table: str
    rows: int


def copy_database(source: storage.Store, target: PostgresStore, data_steps: storage.DataSteps,
                  progress: Callable[[str], None] = lambda line: None) -> list[Copied]:
    """`data_steps`: the migrations' data steps (handlers/consent/schema.py's DATA_STEPS)."""
    storage.migrate(source, data_steps)
    storage.migrate(target, data_steps)
    if storage.schema_version(source) != storage.schema_version(target):
        raise CopyError(f"schema versions differ: SQLite {storage.schema_version(source)}, "
                        f"PostgreSQL {storage.schema_version(target)}; upgrade the service first")
    tables = [row[0] for row in source.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")]
    seeded = _seeded_rows(data_steps)
    copied: list[Copied] = []
    source.execute("BEGIN")  # one snapshot of the file for the whole copy
    try:
        with target.transaction():
            conn = target._conn
            assert conn is not None
            info = postgres.read_tables(conn)
            missing = [table for table in tables if table not in info]
            if missing:
                raise CopyError(f"tables missing in PostgreSQL: {', '.join(missing)}")
            for table in tables:
                present = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
                if present and present[0] != seeded.get(table, 0):
                    raise CopyError(f"the target already holds data ({table}: {present[0]} rows); "
                                    "copy into a new, empty database")
                if present and present[0]:
                    conn.execute(f'DELETE FROM "{table}"')  # only what the target's migrations seeded
            for table in tables:
                count = _copy_table(source, conn, table, info[table])
                copied.append(Copied(table, count))
                progress(f"{table}: {count} rows")
            for table in tables:
                _check_table(source, conn, table, info[table])
            progress("checked: every table has the same rows on both sides")
    finally:
        source.execute("ROLLBACK")
    return copied


def _columns(source: sqlite_utils.Database, table: str) -> tuple[list[str], list[str], bool]:
    """Columns, primary key columns, and whether the table has an integer primary key (rowid alias)."""
    rows = list(source.execute(f'PRAGMA table_info("{table}")'))
    names = [row[1] for row in rows]
    key = [row[1] for row in sorted((row for row in rows if row[5]), key=lambda row: row[5])]
    integer_key = len(key) == 1 and any(row[1] == key[0] and row[2].upper() == "INTEGER" for row in rows)
    return names, key, integer_key


def _select(source: storage.Store, table: str, info: postgres.TableInfo) -> tuple[str, list[str]]:
    names, key, _ = _columns(source, table)
    target_names = list(names)
    selected = [f'"{name}"' for name in names]
    if info.rowid == "rowid":
        selected.append("rowid")
        target_names.append("rowid")
    order = ", ".join(f'"{column}"' for column in key) or "rowid"
    return f'SELECT {", ".join(selected)} FROM "{table}" ORDER BY {order}', target_names


def _copy_table(source: storage.Store, conn, table: str, info: postgres.TableInfo) -> int:
    query, names = _select(source, table, info)
    count = 0
    columns = ", ".join(f'"{name}"' for name in names)
    with conn.cursor() as cursor:
        with cursor.copy(f'COPY "{table}" ({columns}) FROM STDIN') as copy:
            for row in source.conn.execute(query):
                copy.write_row(row)
                count += 1
    if info.rowid:  # the identity sequence goes on after the copied ids
        conn.execute(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', '{info.rowid}'), "
                     f'coalesce(max("{info.rowid}"), 0) + 1, false) FROM "{table}"')
    return count


def _check_table(source: storage.Store, conn, table: str, info: postgres.TableInfo) -> None:
    query, names = _select(source, table, info)
    columns = ", ".join(f'"{name}"' for name in names)
    order = query.rsplit(" ORDER BY ", 1)[1]
    mine, theirs = _Digest(), _Digest()
    for row in source.conn.execute(query):
        mine.add(row)
    for row in conn.execute(f'SELECT {columns} FROM "{table}" ORDER BY {order}'):
        theirs.add(row)
    if (mine.count, mine.hexdigest()) != (theirs.count, theirs.hexdigest()):
        raise CopyError(f"{table}: {mine.count} rows in SQLite, {theirs.count} copied"
                        + ("" if mine.count != theirs.count else ", but their contents differ"))


class _Digest:
    def __init__(self):
        self.count, self._hash = 0, hashlib.sha256()

    def add(self, row) -> None:
        self.count += 1
        self._hash.update(repr(tuple(row)).encode())

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _seeded_rows(data_steps: storage.DataSteps) -> dict[str, int]:
    """How many rows the migrations themselves put in each table (e.g. the config version)."""
    fresh = sqlite_utils.Database(memory=True)
    try:
        storage.migrate(fresh, data_steps)
        names = [row[0] for row in fresh.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {name: fresh.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names}
    finally:
        fresh.close()
