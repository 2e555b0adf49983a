"""Issue 11, part 6: a database written before persons existed (tests/data/before_identity.sql,
made by the code at 1cc8a7a with tests/data/make_before_identity_dump.py) is migrated at
start-up without losing or rewriting a history event, and every old suppression still
answers suppressed under every equivalent form. With `--database postgresql` the same
rows are loaded into a PostgreSQL database at the same schema version (3), which the
service then migrates the same way."""
import sqlite3
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import pytest

from app import create_app
from handlers.consent.numbers import display, readings
from handlers.consent.schema import DATA_STEPS
from handlers.storage import postgres
from handlers.storage.db import MIGRATIONS, IntegrityError, connect, executemany, postgres_steps, schema_version
from handlers.testing import payloads
from tests.conftest import ADMIN_TOKEN

DUMP = Path(__file__).resolve().parent / "data" / "before_identity.sql"
OLD_COLUMNS = ("id", "wa_id", "action", "source", "keyword", "rule", "language", "business_phone_number_id",
               "business_display_number", "message_id", "actor", "reason", "applied", "occurred_at", "recorded_at")


OLD_VERSION = 3


def _rows(target: str, sql: str) -> list[tuple]:
    """Rows of `sql` on the old database: a SQLite file or a PostgreSQL URL."""
    db = connect(target)
    try:
        return [tuple(row) for row in db.execute(sql).fetchall()]
    finally:
        db.close()


def _version(target: str) -> int:
    db = connect(target)
    try:
        return schema_version(db)
    finally:
        db.close()


@pytest.fixture
def old_db(tmp_path, database) -> str:
    """The old database: the dump as a SQLite file, or (--database postgresql) its rows in
    a PostgreSQL database migrated to the same version."""
    path = str(tmp_path / "before.db")
    conn = sqlite3.connect(path)
    try:
        conn.executescript(DUMP.read_text("utf-8"))
        conn.commit()
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        contents = {table: ([row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')],
                            conn.execute(f'SELECT * FROM "{table}"').fetchall()) for table in tables}
    finally:
        conn.close()
    assert _version(path) == OLD_VERSION
    if not database.startswith("postgresql://"):
        return path
    db = connect(database)
    try:
        postgres.migrate(db, postgres_steps(DATA_STEPS)[:OLD_VERSION])  # type: ignore[arg-type]
        db.execute("DELETE FROM config_version")  # the migration's seed row: the dump has its own
        for table, (columns, rows) in contents.items():
            if rows:
                names = ", ".join(f'"{column}"' for column in columns)
                executemany(db, f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})', rows)
    finally:
        db.close()
    assert _version(database) == OLD_VERSION
    return database


@pytest.fixture
def migrated(old_db, settings):
    """The old database, then the new service started on it (which migrates it)."""
    before = {
        "events": _rows(old_db, f"SELECT {', '.join(OLD_COLUMNS)} FROM consent_events ORDER BY id"),
        "suppressed": [row[0] for row in _rows(old_db, "SELECT wa_id FROM suppressions WHERE suppressed = 1")],
        "subscribed": [row[0] for row in _rows(old_db, "SELECT wa_id FROM suppressions WHERE suppressed = 0")],
    }
    app = create_app({"settings": replace(settings, db_path=old_db), "TESTING": True})
    client = app.test_client()
    yield app, client, before
    app.extensions["optout"].close()


def _api(client, path: str):
    response = client.get(path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 200, (path, response.json)
    return response.json


def _forms(wa_id: str) -> set[str]:
    """Every form a campaign system may hold for an old key: as stored, canonical, every
    reading, and as a person writes them (+, spaces)."""
    found = readings(wa_id)
    forms = {wa_id, *found.keys}
    forms |= {display(key) for key in found.keys if display(key) != key}
    return forms


def test_every_old_suppression_answers_suppressed_under_every_equivalent_form(migrated):
    app, client, before = migrated
    assert len(before["suppressed"]) == 13
    for wa_id in before["suppressed"]:
        forms = _forms(wa_id)
        for form in forms:
            assert _api(client, "/api/suppressions/" + quote(form, safe=""))["suppressed"] is True, (wa_id, form)
        answer = client.post("/api/suppressions/check", json={"wa_ids": sorted(forms)},
                             headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json
        assert answer["not_suppressed"] == [] and answer["invalid"] == [], (wa_id, answer)
    # Forms the old version could not even look up (400) or answered wrongly.
    for form in ("+52 55 1234 5678", "+54 11 15 1234-5678", "+55 11 98765-4321", "+225 07 07 12 34 56",
                 "8 916 123-45-67"):
        assert _api(client, "/api/suppressions/" + quote(form, safe=""))["suppressed"] is True, form


def test_no_history_event_is_lost_or_rewritten(migrated, old_db):
    app, client, before = migrated
    after = _rows(old_db, f"SELECT {', '.join(OLD_COLUMNS)} FROM consent_events ORDER BY id")
    assert after == before["events"]
    assert _rows(old_db, "SELECT DISTINCT scope, claimed_at FROM consent_events") == [(None, None)]  # new columns only
    db = connect(old_db)
    try:
        with pytest.raises(IntegrityError, match="append-only"):
            db.execute("DELETE FROM consent_events")
    finally:
        db.close()
    history = _api(client, "/api/suppressions/525512345678/history")["events"]
    assert [(e["wa_id"], e["scope"]) for e in history] == [("5215512345678", "all")]


def test_old_states_keep_their_meaning(migrated):
    app, client, before = migrated
    assert before["subscribed"] == ["14155550123", "525512340000"]
    assert _api(client, "/api/suppressions/14155550123")["suppressed"] is False       # opted back in
    # Two old rows of one person that disagree: the migration never lifts a suppression.
    merged = _api(client, "/api/suppressions/" + quote("+52 55 1234 0000", safe=""))
    assert (merged["suppressed"], merged["source"]) == (True, "keyword")
    # Marketing-only signals stay marketing only; everything else covers every category.
    for wa_id, scope in (("5215512349999", "marketing"), ("380501234567", "marketing"), ("79161234567", "all")):
        assert _api(client, f"/api/suppressions/{wa_id}")["scope"] == scope
        assert _api(client, f"/api/suppressions/{wa_id}?category=utility")["suppressed"] is (scope == "all")


def test_a_user_id_change_the_old_version_kept_as_a_dead_letter_carries_the_opt_out(migrated):
    app, client, before = migrated
    assert _api(client, "/api/suppressions/US.99887766554433221100")["suppressed"] is True


def test_the_migrated_database_keeps_working_and_migrates_once(migrated, old_db, settings):
    app, client, before = migrated
    body = payloads.encode(payloads.of_messages(payloads.text("START", wa_id="525512345678")))
    assert client.post("/webhook", data=body, headers=payloads.signed_headers(body, settings.app_secret)).status_code == 200
    assert _api(client, "/api/suppressions/5215512345678")["suppressed"] is False   # the user's own opt-in
    persons = _rows(old_db, "SELECT count(*) FROM suppressions")
    second = create_app({"settings": replace(settings, db_path=old_db), "TESTING": True})
    second.extensions["optout"].close()
    assert _rows(old_db, "SELECT count(*) FROM suppressions") == persons
    assert _version(old_db) == len(MIGRATIONS)


def test_flask_migrate_brings_an_old_database_up_to_date(old_db, settings):
    app = create_app({"settings": replace(settings, db_path=old_db), "TESTING": True})
    try:
        result = app.test_cli_runner().invoke(args=["migrate"])
    finally:
        app.extensions["optout"].close()
    assert result.exit_code == 0, result.output
    assert f"schema version {len(MIGRATIONS)}" in result.output and "16 ids of 14 persons" in result.output


@pytest.mark.sqlite_only
def test_the_admin_indexes_follow_the_new_suppressions_table(migrated, old_db):
    """Migration 5 (admin pages) indexed `suppressions`; the persons migration renames that
    table to suppressions_v1, so the index is made again on the new table, not left behind."""
    indexes = dict(_rows(old_db, "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' "
                                 "AND name IN ('suppressions_source', 'suppressions_suppressed')"))
    assert indexes == {"suppressions_source": "suppressions", "suppressions_suppressed": "suppressions"}
    assert _rows(old_db, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'suppressions_v1' "
                         "AND name NOT LIKE 'sqlite_autoindex%'") == []   # its primary key's own index aside
    plan = " ".join(str(row) for row in _rows(
        old_db, "EXPLAIN QUERY PLAN SELECT count(*) FROM suppressions WHERE suppressed = 1 AND source = 'import'"))
    assert "suppressions_source" in plan


def test_on_postgresql_the_admin_indexes_follow_the_new_suppressions_table(migrated, old_db):
    if not old_db.startswith("postgresql://"):
        pytest.skip("the PostgreSQL counterpart of the test above (--database postgresql)")
    indexes = dict(_rows(old_db, "SELECT indexname, tablename FROM pg_indexes WHERE schemaname = current_schema() "
                                 "AND tablename IN ('suppressions', 'suppressions_v1')"))
    assert indexes["suppressions_source"] == indexes["suppressions_suppressed"] == "suppressions"
    assert [name for name, table in indexes.items() if table == "suppressions_v1"] == ["suppressions_v1_pkey"]
