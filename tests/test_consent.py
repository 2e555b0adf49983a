"""Points 4-7: idempotency, detection basics, durable suppression with history, Meta's signals."""
import sqlite3
import time

import pytest

from handlers.delivery import pipeline
from handlers.storage import db as db_module
from handlers.storage.db import IntegrityError
from handlers.testing import payloads


def test_redelivered_message_changes_nothing_and_sends_no_second_confirmation(post, read_db, drain, cloud_api):
    delivery = payloads.of_messages(payloads.text("STOP", wa_id="14155550123", id="wamid.REDELIVERED1"))
    first, second = post(delivery), post(delivery)
    assert first.json["outcomes"][0]["consent"] == "opt_out"
    assert second.status_code == 200
    assert second.json["duplicates"] == 1
    drain()
    post(delivery)
    drain()
    assert len(read_db("SELECT * FROM consent_events")) == 1
    assert len(read_db("SELECT * FROM outbox")) == 1
    assert len(cloud_api.texts_to("14155550123")) == 1


def test_redelivered_status_and_preference_are_processed_once(post, read_db):
    failed = payloads.status("wamid.OUT1", "failed", recipient="5215512345678",
                             errors=[{"code": 131050, "title": "User stopped marketing"}])
    pref = payloads.preference("5215512345678", "resume", timestamp=int(time.time()) + 5)
    for _ in range(2):
        post(payloads.delivery(payloads.change(statuses=[failed])))
        post(payloads.delivery(payloads.change(preferences=[pref])))
    events = read_db("SELECT action, source FROM consent_events ORDER BY id")
    assert events == [{"action": "opt_out", "source": "meta_status_131050"},
                      {"action": "opt_in", "source": "meta_preference"}]


@pytest.mark.parametrize("text,intent", [
    ("STOP", "opt_out"), ("unsubscribe", "opt_out"), ("стоп", "opt_out"), ("отписаться", "opt_out"),
    ("BAJA", "opt_out"), ("START", "opt_in"), ("HELP", "help"),
    ("¿Hacen envíos a Baja California?", "none"), ("Where is the bus stop?", "none"),
])
def test_keywords_from_locale_files_decide_the_intent(post, text, intent):
    response = post(payloads.of_messages(payloads.text(text)))
    assert response.json["outcomes"][0]["intent"] == intent


def test_opt_out_is_committed_before_the_answer(post, read_db):
    response = post(payloads.of_messages(payloads.text("STOP", wa_id="4915123456789")))
    assert response.status_code == 200
    # A fresh connection (another process, another host) sees it the moment the 200 is out.
    assert read_db("SELECT suppressed FROM suppressions WHERE wa_id='4915123456789'") == [{"suppressed": 1}]


@pytest.mark.sqlite_only
def test_opt_out_is_committed_to_disk_before_the_answer(post, db_path):
    response = post(payloads.of_messages(payloads.text("STOP", wa_id="4915123456789")))
    assert response.status_code == 200
    # A fresh connection (another process) sees it the moment the 200 is out.
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT suppressed FROM suppressions WHERE wa_id='4915123456789'").fetchone() == (1,)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def _traced(service, post, delivery, statements: list[str] | None = None) -> list[str]:
    """Every statement one delivery sent to the database, as SQLite ran it (added to `statements`)."""
    statements = [] if statements is None else statements
    service.db.conn.set_trace_callback(statements.append)
    try:
        assert post(delivery).status_code == 200
    finally:
        service.db.conn.set_trace_callback(None)
    return statements


def _commits_seen(service, post, delivery) -> list[str]:
    """Each write transaction of one delivery: "fsynced" when it committed at FULL or the
    WAL was fsynced after its COMMIT (before the answer), else "not fsynced"."""
    statements: list[str] = []
    real_fsync = db_module.fsync_wal

    def fsync(db):
        statements.append("fsync of the WAL")
        real_fsync(db)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(db_module, "fsync_wal", fsync)
        patch.setattr(pipeline, "fsync_wal", fsync)
        _traced(service, post, delivery, statements)
    level, seen = "FULL", []
    for statement in statements:
        if statement.startswith("PRAGMA synchronous"):
            level = statement.split("=")[1].strip()
        elif statement == "BEGIN IMMEDIATE":
            seen.append("fsynced" if level == "FULL" else "not fsynced")
        elif statement == "fsync of the WAL" and seen:
            seen[-1] = "fsynced"
    return seen


@pytest.mark.sqlite_only
@pytest.mark.parametrize("text,fsynced", [
    ("STOP", True), ("START", True), ("HELP", True),
    ("Quiero darme de baja", True),
    ("What happens if I reply STOP?", True),      # uncertain (quoting): goes to the review queue, fsynced
    ("Where is my order #4411?", False),          # ordinary chat: its rows wait for the process's batch
])
def test_only_deliveries_that_change_nothing_of_consequence_skip_the_fsync(service, post, text, fsynced):
    levels = _commits_seen(service, post, payloads.of_messages(payloads.text(text)))
    assert levels == (["fsynced"] if fsynced else [])   # ordinary chat: no transaction of its own
    assert service.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again afterwards


@pytest.mark.sqlite_only
def test_the_batch_of_ordinary_chat_commits_without_the_fsync(service, post):
    service.chat.seconds = 60   # the test writes the batch itself, not the thread
    assert post(payloads.of_messages(payloads.text("Where is my order #4411?", wa_id="14155550109"))).status_code == 200
    statements: list[str] = []
    service.db.conn.set_trace_callback(statements.append)
    try:
        assert service.chat.write(service.db) == 1
    finally:
        service.db.conn.set_trace_callback(None)
    assert statements[:2] == ["PRAGMA synchronous = NORMAL", "BEGIN IMMEDIATE"]
    assert statements[-2:] == ["COMMIT", "PRAGMA synchronous = FULL"]


@pytest.mark.sqlite_only
def test_a_delivery_mixing_ordinary_chat_and_an_opt_out_is_fsynced(service, post):
    delivery = payloads.of_messages(payloads.text("Where is my order?", wa_id="14155550101"),
                                    payloads.text("STOP", wa_id="14155550102"))
    assert _commits_seen(service, post, delivery) == ["fsynced"]


@pytest.mark.sqlite_only
def test_a_delivery_keeps_its_savepoint_journals_in_memory(service, post):
    """Each item's savepoint has a rollback journal; on disk it was a temporary file made,
    written page by page and deleted in every delivery's transaction."""
    assert service.db.execute("PRAGMA temp_store").fetchone()[0] == 2  # MEMORY
    assert post(payloads.of_messages(payloads.text("STOP", wa_id="14155550103"))).status_code == 200


def _statements_of(service, post, delivery) -> list[str]:
    """What one delivery said to the database, each statement by its verb and table."""
    shapes = []
    for statement in _traced(service, post, delivery):
        words = statement.replace('"', "").split()
        if words[:2] == ["SELECT", "version"]:
            continue  # the staff-edit poll, at most every OPTOUT_CONFIG_POLL_SECONDS
        if words[:2] == ["PRAGMA", "synchronous"]:
            continue  # how durable the commit is: see _commits_seen
        into = words.index("INTO") + 2 if "INTO" in words else (words.index("FROM") + 2 if "FROM" in words else len(words))
        shapes.append(" ".join(words[:into]))
    return shapes


@pytest.mark.sqlite_only
def test_an_ordinary_message_costs_one_read_and_two_writes_in_a_batch(service, post):
    service.chat.seconds = 60   # the test writes the batch itself, not the thread
    delivery = payloads.of_messages(payloads.text("Where is my order #4411?", wa_id="14155550104"))
    assert _statements_of(service, post, delivery) == ["SELECT 1 FROM processed"]   # was it answered before?
    statements: list[str] = []
    service.db.conn.set_trace_callback(statements.append)
    try:
        service.chat.write(service.db)
    finally:
        service.db.conn.set_trace_callback(None)
    assert [" ".join(statement.split()[:5]) for statement in statements if "INTO" in statement] == [
        "INSERT OR IGNORE INTO processed", "INSERT OR REPLACE INTO inbound_messages"]


@pytest.mark.sqlite_only
def test_an_opt_out_from_a_new_number_reads_its_person_once(service, post):
    """Its dedupe key and words, the reply language's last use, one read of who the sender
    is (id or canonical key) with their state, the new id and its key, the event, the
    state, the reply and the language: one transaction, fsynced once."""
    delivery = payloads.of_messages(payloads.text("STOP", wa_id="14155550105"))
    assert _statements_of(service, post, delivery) == [
        "BEGIN IMMEDIATE", "SAVEPOINT item",
        "INSERT OR IGNORE INTO processed", "INSERT OR REPLACE INTO inbound_messages",
        "SELECT language FROM contacts",
        "SELECT 1 AS stored, i.person, s.* FROM identities",
        "INSERT INTO identities", "INSERT INTO identity_keys",
        "INSERT INTO consent_events", "INSERT INTO suppressions",
        "INSERT OR IGNORE INTO outbox", "INSERT INTO contacts",
        "RELEASE item", "COMMIT"]


@pytest.mark.sqlite_only
def test_a_reply_in_the_language_already_remembered_writes_no_contact_row(service, post, read_db):
    wa_id, now = "14155550106", int(time.time())

    def said(text, seconds_ago):
        return payloads.of_messages(payloads.text(text, wa_id=wa_id, timestamp=now - seconds_ago))

    assert "INSERT INTO contacts" in _statements_of(service, post, said("STOP", 20))
    again = _statements_of(service, post, said("START", 10))
    assert "SELECT language FROM contacts" in again and "INSERT INTO contacts" not in again
    assert read_db("SELECT language FROM contacts WHERE wa_id = ?", [wa_id]) == [{"language": "en"}]
    assert "INSERT INTO contacts" in _statements_of(service, post, said("Quiero darme de baja", 0))  # another language
    assert read_db("SELECT language FROM contacts WHERE wa_id = ?", [wa_id]) == [{"language": "es"}]


@pytest.mark.sqlite_only
def test_statuses_that_matter_are_fsynced(service, post):
    failed = payloads.status("wamid.OUT9", "failed", recipient="5215512345678",
                             errors=[{"code": 131050, "title": "User stopped marketing"}])
    assert _commits_seen(service, post, payloads.delivery(payloads.change(statuses=[failed]))) == ["fsynced"]
    inert = payloads.status("wamid.OUT9", "read", recipient="5215512345678")
    assert _commits_seen(service, post, payloads.delivery(payloads.change(statuses=[inert]))) == []


@pytest.mark.sqlite_only
def test_an_inert_status_linking_a_new_recipient_commits_that_link_without_fsync_once(service, post, read_db):
    inert = payloads.status("wamid.OUT10", "delivered", recipient="5215512345679")
    delivery = payloads.delivery(payloads.change(statuses=[inert]))
    delivery["entry"][0]["changes"][0]["value"]["contacts"] = [   # statuses carry contacts since 2026
        {"profile": {"name": "A"}, "wa_id": "5215512345679", "user_id": "MX.4401"}]
    assert _commits_seen(service, post, delivery) == ["not fsynced"]   # the link: no fsync for it
    assert _commits_seen(service, post, delivery) == []             # known now: no transaction at all
    assert {row["wa_id"] for row in read_db("SELECT wa_id FROM identities")} == {"5215512345679", "MX.4401"}


def test_ordinary_chat_waiting_for_its_batch_and_written_is_still_deduplicated(service, post, read_db):
    delivery = payloads.of_messages(payloads.text("Where is my order?", wa_id="14155550103", id="wamid.CHAT1"))
    assert post(delivery).json["duplicates"] == 0
    assert post(delivery).json["duplicates"] == 1      # in the batch
    service.chat.write(service.db)
    assert read_db("SELECT key FROM processed") == [{"key": "message:wamid.CHAT1"}]
    assert post(delivery).json["duplicates"] == 1      # in the database


def test_history_records_who_what_how_where_which_message_and_when(post, read_db):
    item = payloads.text("BAJA", wa_id="34612345678", id="wamid.HIST1", timestamp=1764000000)
    post(payloads.of_messages(item))
    (event,) = read_db("SELECT * FROM consent_events")
    assert event["wa_id"] == "34612345678"
    assert event["action"] == "opt_out"
    assert event["source"] == "keyword"
    assert event["keyword"] == "BAJA"
    assert event["rule"] and "baja" in event["rule"]
    assert event["business_phone_number_id"] == payloads.BUSINESS["phone_number_id"]
    assert event["business_display_number"] == payloads.BUSINESS["display_phone_number"]
    assert event["message_id"] == "wamid.HIST1"
    assert event["occurred_at"] == "2025-11-24T16:00:00.000000Z"
    assert event["recorded_at"]


def test_opt_in_lifts_the_suppression_and_history_keeps_both(post, api, read_db):
    now = int(time.time())
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123", timestamp=now - 10)))
    post(payloads.of_messages(payloads.text("START", wa_id="14155550123", timestamp=now)))
    body = api.get("/api/suppressions/14155550123").json
    assert body["suppressed"] is False
    assert [e["action"] for e in read_db("SELECT action FROM consent_events ORDER BY id")] == ["opt_out", "opt_in"]


def test_late_redelivered_old_opt_in_does_not_overturn_a_newer_opt_out(post, api, read_db):
    now = int(time.time())
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123", timestamp=now - 100)))
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550124", timestamp=now - 100)))
    post(payloads.delivery(payloads.change(preferences=[payloads.preference("14155550123", "resume", timestamp=now - 200)])))
    assert api.get("/api/suppressions/14155550123").json["suppressed"] is True
    events = read_db("SELECT action, applied FROM consent_events WHERE wa_id='14155550123' ORDER BY id")
    assert events == [{"action": "opt_out", "applied": 1}, {"action": "opt_in", "applied": 0}]


def test_history_is_append_only(service, post):
    post(payloads.of_messages(payloads.text("STOP")))
    with pytest.raises(IntegrityError, match="append-only"):
        service.db.execute("DELETE FROM consent_events")
    with pytest.raises(IntegrityError, match="append-only"):
        service.db.execute("UPDATE consent_events SET action='opt_in'")


def test_meta_preference_stop_and_resume_update_the_list_without_a_reply(post, api, read_db):
    now = int(time.time())
    post(payloads.delivery(payloads.change(preferences=[payloads.preference("5511987654321", "stop", timestamp=now - 5)])))
    assert api.get("/api/suppressions/5511987654321").json == {
        "wa_id": "5511987654321", "canonical": "5511987654321", "suppressed": True, "category": "marketing",
        "scope": "marketing", "since": read_db("SELECT since FROM suppressions")[0]["since"], "source": "meta_preference"}
    post(payloads.delivery(payloads.change(preferences=[payloads.preference("5511987654321", "resume", timestamp=now)])))
    assert api.get("/api/suppressions/5511987654321").json["suppressed"] is False
    assert read_db("SELECT * FROM outbox") == []


def test_preferences_of_other_categories_are_ignored(post, read_db):
    post(payloads.delivery(payloads.change(preferences=[payloads.preference("5511987654321", "stop", category="utility")])))
    assert read_db("SELECT * FROM suppressions") == []


def test_failed_status_131050_suppresses_the_recipient_without_a_reply(post, api, read_db):
    failed = payloads.status("wamid.OUT9", "failed", recipient="919812345678",
                             errors=[{"code": 131050, "title": "Unable to deliver the message"}])
    post(payloads.delivery(payloads.change(statuses=[failed])))
    body = api.get("/api/suppressions/919812345678").json
    assert (body["suppressed"], body["source"]) == (True, "meta_status_131050")
    assert read_db("SELECT * FROM outbox") == []


@pytest.mark.parametrize("code", [131049, 130472, 131026, 130429])
def test_other_failed_statuses_are_not_opt_outs(post, read_db, code):
    failed = payloads.status("wamid.OUT10", "failed", recipient="919812345678", errors=[{"code": code}])
    post(payloads.delivery(payloads.change(statuses=[failed])))
    assert read_db("SELECT * FROM suppressions") == []


def test_opt_out_follows_the_user_to_a_new_number(post, api):
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    system = payloads.message("system", {"body": "User A changed from 14155550123 to 14155550999",
                                         "wa_id": "14155550999", "type": "user_changed_number"}, wa_id="14155550123")
    delivery = payloads.of_messages(system)
    del delivery["entry"][0]["changes"][0]["value"]["contacts"]
    assert post(delivery).status_code == 200
    body = api.get("/api/suppressions/14155550999").json
    assert (body["suppressed"], body["source"]) == (True, "number_change")


def test_repeated_stop_while_suppressed_is_recorded_but_not_confirmed_again(post, read_db):
    now = int(time.time())
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123", timestamp=now - 10)))
    second = post(payloads.of_messages(payloads.text("stop", wa_id="14155550123", timestamp=now)))
    assert second.json["outcomes"][0]["reply"] == "skipped: no change in consent"
    assert second.json["outcomes"][0]["consent"] is None
    assert len(read_db("SELECT * FROM outbox")) == 1
    # The second STOP is the newest decision: in the history, applied, though it changed nothing.
    assert read_db("SELECT action, applied FROM consent_events ORDER BY id") == [
        {"action": "opt_out", "applied": 1}, {"action": "opt_out", "applied": 1}]


def test_dedupe_keys_older_than_a_month_are_pruned(service, monkeypatch):
    from handlers.consent import dedupe
    from handlers.storage.db import transaction
    monkeypatch.setattr(dedupe, "PRUNE_EVERY", 5)
    with transaction(service.db):
        service.db.execute("INSERT INTO processed VALUES ('message:old', 'message', '2020-01-01T00:00:00.000000Z')")
        for n in range(10):
            assert dedupe.claim(service.db, f"message:new{n}", "message")
    keys = {row[0] for row in service.db.execute("SELECT key FROM processed")}
    assert "message:old" not in keys and "message:new9" in keys
    with transaction(service.db):
        assert not dedupe.claim(service.db, "message:new0", "message")


@pytest.mark.sqlite_only
def test_an_opt_out_from_a_new_person_with_a_number_and_a_user_id_enrolls_both_under_one_person(service, post, read_db):
    """The shape of most opt-outs from 2026 on: the number and the business-scoped user id
    arrive together, both new. Each id joins the person of its canonical key (none yet), and
    both go straight to one new person: no second person made, then merged and moved."""
    delivery = payloads.of_messages(payloads.text("STOP", wa_id="14155550107"))
    delivery["entry"][0]["changes"][0]["value"]["contacts"] = [
        {"profile": {"name": "Ana"}, "wa_id": "14155550107", "user_id": "US.13491208655302741918"}]
    assert _statements_of(service, post, delivery) == [
        "BEGIN IMMEDIATE", "SAVEPOINT item",
        "INSERT OR IGNORE INTO processed",
        "SELECT wa_id, person FROM identities",
        "SELECT person FROM identity_keys", "SELECT person FROM identity_keys",
        "INSERT INTO identities", "INSERT INTO identity_keys", "INSERT INTO identities", "INSERT INTO identity_keys",
        "INSERT INTO identity_links",
        "INSERT OR REPLACE INTO inbound_messages",
        "SELECT language FROM contacts",
        "SELECT 1 AS stored, i.person, s.* FROM identities",
        "INSERT INTO consent_events", "INSERT INTO suppressions",
        "INSERT OR IGNORE INTO outbox", "INSERT INTO contacts",
        "RELEASE item", "COMMIT"]
    assert read_db("SELECT wa_id, person, canonical FROM identities ORDER BY wa_id") == [
        {"wa_id": "14155550107", "person": "14155550107", "canonical": "14155550107"},
        {"wa_id": "US.13491208655302741918", "person": "14155550107", "canonical": "US.13491208655302741918"}]
    assert read_db("SELECT key, person, exact FROM identity_keys ORDER BY key") == [
        {"key": "14155550107", "person": "14155550107", "exact": 1},
        {"key": "US.13491208655302741918", "person": "14155550107", "exact": 1}]
    assert read_db("SELECT wa_id, suppressed FROM suppressions") == [{"wa_id": "14155550107", "suppressed": 1}]
