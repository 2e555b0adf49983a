"""The sender process's loop (as gunicorn.conf.py starts it): woken by the webhook, and the one that checkpoints."""
import os
import threading
import time

import pytest

from handlers.delivery.sender import OutboxWorker
from handlers.storage.db import DELIVERY_WAL_AUTOCHECKPOINT, Checkpointer, connect, transaction
from handlers.testing import payloads


def _serving(settings):
    worker = OutboxWorker(settings)
    thread = threading.Thread(target=worker.serve, daemon=True)
    thread.start()
    return worker, thread


def test_the_webhook_wakes_the_sender_process_of_its_host(settings, post, cloud_api):
    from dataclasses import replace
    worker, thread = _serving(replace(settings, outbox_poll_seconds=60.0))  # it would not poll in time
    try:
        time.sleep(0.5)  # bound its wake socket
        assert post(payloads.of_messages(payloads.text("STOP", wa_id="14155550600"))).status_code == 200
        assert [r.to for r in cloud_api.wait_for(1, timeout=10)] == ["14155550600"]
    finally:
        worker.stop()
        thread.join(10)


@pytest.mark.sqlite_only  # PostgreSQL's server checkpoints by itself
def test_checkpoints_run_in_the_sender_not_in_a_delivery(settings, service):
    assert service.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == DELIVERY_WAL_AUTOCHECKPOINT
    writer = connect(settings.db_path)
    try:
        with transaction(writer):
            for n in range(300):
                writer.execute("INSERT INTO processed (key, kind, received_at) VALUES (?, 'test', 'now')",
                               [f"k{n}" + "x" * 2000])
        size = os.path.getsize(settings.db_path)
        worker, thread = _serving(settings)
        try:
            deadline = time.monotonic() + 15
            while os.path.getsize(settings.db_path) <= size and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            worker.stop()
            thread.join(10)
        assert os.path.getsize(settings.db_path) > size  # the WAL's pages copied into the database file
    finally:
        writer.close()


def _wal_generation(settings) -> bytes:
    """The WAL header's checkpoint sequence and salts: they change whenever the WAL starts over."""
    with open(settings.db_path + "-wal", "rb") as wal:
        return wal.read(32)[12:24]


@pytest.mark.sqlite_only
def test_the_checkpointer_not_the_next_delivery_starts_the_wal_over(settings, service, post):
    """The first write after a complete checkpoint starts the WAL over, and SQLite fsyncs
    its new header first: a second fsync for an opt-out, one for ordinary chat. The
    sender's checkpointer makes that write itself."""
    def stop(wa_id):
        assert post(payloads.of_messages(payloads.text("STOP", wa_id=wa_id))).status_code == 200

    stop("14155550601")
    db = connect(settings.db_path)
    try:
        checkpointer = Checkpointer(db)
        checkpointer.run()
        started_over = _wal_generation(settings)
        stop("14155550602")
        assert _wal_generation(settings) == started_over   # appended: the restart was done already
        checkpointer.run()
        assert _wal_generation(settings) != started_over   # copied, and started over again
        started_over = _wal_generation(settings)
        checkpointer.run()                                  # nothing new: copies nothing, restarts nothing
        stop("14155550603")
        assert _wal_generation(settings) == started_over
    finally:
        db.close()


def test_the_sender_process_migrates_a_new_database_as_every_process_does(settings, tmp_path):
    """Started before any worker (a fresh host), it brings the schema up to date through
    handlers.consent.schema, data steps (identity's persons) included."""
    from dataclasses import replace

    from handlers.storage.db import MIGRATIONS, schema_version
    # A new SQLite file, or (--database postgresql) the test's new, empty PostgreSQL schema.
    fresh = settings if settings.database_url else replace(settings, db_path=str(tmp_path / "fresh" / "optout.db"))
    worker, thread = _serving(fresh)
    try:
        deadline = time.monotonic() + 15
        version = 0
        while version < len(MIGRATIONS) and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
            if fresh.database_url or os.path.exists(fresh.db_path):
                db = connect(fresh.database)
                try:
                    version = schema_version(db)
                finally:
                    db.close()
        assert version == len(MIGRATIONS)
        assert thread.is_alive()  # and it goes on serving
    finally:
        worker.stop()
        thread.join(10)
