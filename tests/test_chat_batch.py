"""Ordinary chat's rows wait in the process's batch (handlers/delivery/chat_batch.py):
answered at once, written within chat_batch_seconds, none lost by a graceful stop or a
failed write, and never mixed up with what matters (consent, replies, review)."""
import json
import os
import time
from dataclasses import replace

import pytest

from app import create_app
from handlers.delivery import chat_batch
from handlers.testing import payloads
from handlers.testing.gunicorn import GunicornService


def _wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout} s")


def test_ordinary_chat_reaches_the_database_within_the_batch_time_with_its_own_time(post, read_db):
    before = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    answer = post(payloads.of_messages(payloads.text("See you at five", wa_id="14155550701", id="wamid.B1")))
    assert answer.status_code == 200 and answer.json["outcomes"][0]["intent"] == "none"
    (row,) = _wait_for(lambda: read_db("SELECT message_id, wa_id, words, received_at FROM inbound_messages"))
    assert (row["message_id"], row["wa_id"], json.loads(row["words"])) == ("wamid.B1", "14155550701", ["See you at five"])
    assert row["received_at"] >= before
    assert read_db("SELECT key, received_at FROM processed") == [
        {"key": "message:wamid.B1", "received_at": row["received_at"]}]


@pytest.fixture
def slow_batch(settings):
    """A service whose batch is written only when full, at close, or when a test writes it."""
    application = create_app({"settings": replace(settings, chat_batch_seconds=60), "TESTING": True})
    yield application
    application.extensions["optout"].close()


def _post_to(application, payload):
    raw = payloads.encode(payload)
    return application.test_client().post("/webhook", data=raw, headers=payloads.signed_headers(raw, "test-app-secret"))


def test_a_graceful_stop_writes_what_waits(slow_batch, read_db):
    for n in range(3):
        assert _post_to(slow_batch, payloads.of_messages(payloads.text(f"thanks {n}", id=f"wamid.G{n}"))).status_code == 200
    assert read_db("SELECT key FROM processed") == []
    slow_batch.extensions["optout"].close()
    assert {row["key"] for row in read_db("SELECT key FROM processed")} == {f"message:wamid.G{n}" for n in range(3)}
    assert len(read_db("SELECT * FROM inbound_messages")) == 3


def test_a_full_batch_is_written_at_once(slow_batch, read_db, monkeypatch):
    monkeypatch.setattr(chat_batch, "MAX_ROWS", 3)
    for n in range(2):
        _post_to(slow_batch, payloads.of_messages(payloads.text("ok", id=f"wamid.F{n}")))
    time.sleep(0.3)
    assert read_db("SELECT key FROM processed") == []
    _post_to(slow_batch, payloads.of_messages(payloads.text("ok", id="wamid.F2")))
    assert len(_wait_for(lambda: read_db("SELECT key FROM processed"))) == 3


@pytest.mark.sqlite_only
def test_a_batch_the_database_refuses_waits_and_is_written_later(slow_batch, read_db, db_path, monkeypatch):
    service = slow_batch.extensions["optout"]
    assert _post_to(slow_batch, payloads.of_messages(payloads.text("ok", id="wamid.R1"))).status_code == 200
    marker = db_path + "-fsync-failed"
    with open(marker, "w") as file:   # every write refused, as after a failed fsync of the WAL
        file.write("test\n")
    with pytest.raises(Exception, match="writes refused"):
        service.chat.write(service.db)
    assert service.chat.holds("message:wamid.R1")   # kept for the next try
    # while writes are refused, chat is refused too (Meta keeps it), as any delivery that writes
    assert _post_to(slow_batch, payloads.of_messages(payloads.text("later", id="wamid.R2"))).status_code == 503
    os.remove(marker)
    assert service.chat.write(service.db) == 1
    assert read_db("SELECT key FROM processed") == [{"key": "message:wamid.R1"}]


def test_past_its_bound_a_batch_the_database_does_not_take_refuses_more_chat(slow_batch, read_db, monkeypatch):
    monkeypatch.setattr(chat_batch, "MAX_WAITING", 2)
    monkeypatch.setattr(chat_batch, "MAX_ROWS", 1000)
    codes = [_post_to(slow_batch, payloads.of_messages(payloads.text("ok", id=f"wamid.W{n}"))).status_code
             for n in range(3)]
    assert codes == [200, 200, 503]
    slow_batch.extensions["optout"].close()
    assert {row["key"] for row in read_db("SELECT key FROM processed")} == {"message:wamid.W0", "message:wamid.W1"}


def test_what_matters_is_never_left_in_the_batch(slow_batch, read_db):
    delivery = payloads.of_messages(payloads.text("Where is my order?", wa_id="14155550702", id="wamid.M1"),
                                    payloads.text("STOP", wa_id="14155550703", id="wamid.M2"))
    assert _post_to(slow_batch, delivery).status_code == 200
    # a delivery holding an opt-out is one fsynced transaction, its ordinary message included
    assert {row["key"] for row in read_db("SELECT key FROM processed")} == {"message:wamid.M1", "message:wamid.M2"}
    assert read_db("SELECT wa_id FROM suppressions") == [{"wa_id": "14155550703"}]
    for text, wa_id in (("HELP", "14155550704"), ("What happens if I reply STOP?", "14155550705")):
        _post_to(slow_batch, payloads.of_messages(payloads.text(text, wa_id=wa_id, id=f"wamid.{wa_id}")))
        assert f"message:wamid.{wa_id}" in {row["key"] for row in read_db("SELECT key FROM processed")}


def test_a_message_waiting_in_the_batch_is_a_duplicate_even_if_it_now_reads_as_an_opt_out(slow_batch, read_db, monkeypatch):
    delivery = payloads.of_messages(payloads.text("Where is my order?", wa_id="14155550706", id="wamid.E1"))
    assert _post_to(slow_batch, delivery).json["duplicates"] == 0
    service = slow_batch.extensions["optout"]
    classifier = service.classifier
    opt_out = classifier.classify("STOP")
    monkeypatch.setattr(type(classifier), "classify_remembered", lambda self, text: opt_out)   # as after an edit
    assert _post_to(slow_batch, delivery).json["duplicates"] == 1   # answered already: no opt-out from a redelivery
    assert read_db("SELECT * FROM suppressions") == []


def test_chat_batch_seconds_zero_writes_each_delivery_in_its_own_transaction(settings, read_db):
    application = create_app({"settings": replace(settings, chat_batch_seconds=0), "TESTING": True})
    try:
        _post_to(application, payloads.of_messages(payloads.text("ok", id="wamid.Z1")))
        assert read_db("SELECT key FROM processed") == [{"key": "message:wamid.Z1"}]
    finally:
        application.extensions["optout"].close()


@pytest.mark.sqlite_only
def test_gunicorn_writes_each_workers_batch_when_it_stops(tmp_path, cloud_api):
    db_path = str(tmp_path / "stop.db")
    service = GunicornService(db_path, cloud_api.url, workers=2, extra_env={"OPTOUT_CHAT_BATCH_SECONDS": "60"})
    with service:
        for n in range(20):
            status, _ = service.post_delivery(payloads.of_messages(payloads.text(f"see you {n}", id=f"wamid.S{n}")))
            assert status == 200
    import sqlite3
    conn = sqlite3.connect(db_path)
    try:
        keys = {key for (key,) in conn.execute("SELECT key FROM processed")}
    finally:
        conn.close()
    assert keys == {f"message:wamid.S{n}" for n in range(20)}


@pytest.mark.sqlite_only
def test_rows_being_written_are_still_answered_as_duplicates(slow_batch, read_db, db_path):
    import sqlite3
    import threading
    service = slow_batch.extensions["optout"]
    delivery = payloads.of_messages(payloads.text("see you", id="wamid.L1"))
    assert _post_to(slow_batch, delivery).json["duplicates"] == 0
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")   # another tool holds the database: the batch's write waits for it
    writer = threading.Thread(target=lambda: service.chat.write(service.db))
    writer.start()
    try:
        time.sleep(0.3)
        assert read_db("SELECT key FROM processed") == []
        assert _post_to(slow_batch, delivery).json["duplicates"] == 1   # taken by the write, not yet committed
    finally:
        holder.execute("COMMIT")
        holder.close()
        writer.join()
    assert read_db("SELECT key FROM processed") == [{"key": "message:wamid.L1"}]


def test_rows_are_written_once_they_have_waited_the_batch_time_not_a_cycle_later(settings, read_db):
    application = create_app({"settings": replace(settings, chat_batch_seconds=1.0), "TESTING": True})
    try:
        _post_to(application, payloads.of_messages(payloads.text("ok", id="wamid.T0")))
        _wait_for(lambda: read_db("SELECT key FROM processed"), timeout=5)
        time.sleep(0.2)   # a row that comes just after a write is due 1 s after it, not a whole cycle later
        _post_to(application, payloads.of_messages(payloads.text("ok", id="wamid.T1")))
        started = time.monotonic()
        _wait_for(lambda: len(read_db("SELECT key FROM processed")) == 2, timeout=5)
        assert time.monotonic() - started < 1.6
    finally:
        application.extensions["optout"].close()


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "1e10", "0.001", "61"])
def test_a_batch_time_out_of_range_is_refused_with_its_name(value):
    from handlers.settings import ConfigError, Settings
    with pytest.raises(ConfigError, match="OPTOUT_CHAT_BATCH_SECONDS must be 0"):
        Settings.from_env({"OPTOUT_DEV_MODE": "1", "OPTOUT_CHAT_BATCH_SECONDS": value})
