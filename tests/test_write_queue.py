"""Writers queue on a lock file next to the database, not on SQLite's sleeping busy handler."""
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from handlers.consent.schema import migrate
from handlers.storage.db import connect, transaction

pytestmark = pytest.mark.sqlite_only  # PostgreSQL's counterparts: tests/test_postgres.py


@pytest.fixture
def two_connections(db_path):
    first, second = connect(db_path), connect(db_path)
    migrate(first)
    yield first, second
    first.close()
    second.close()


def test_a_waiting_writer_goes_on_when_the_holder_commits_whatever_its_busy_timeout(two_connections):
    holder, waiter = two_connections
    # SQLite's busy handler would give up after 50 ms; the holder keeps the lock for 1 s.
    waiter.execute("PRAGMA busy_timeout = 50")
    held, done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold():
        with transaction(holder):
            holder.execute("INSERT INTO processed (key, kind, received_at) VALUES ('a', 'test', 'now')")
            held.set()
            time.sleep(1.0)

    def write():
        held.wait()
        try:
            with transaction(waiter):
                waiter.execute("INSERT INTO processed (key, kind, received_at) VALUES ('b', 'test', 'now')")
        except BaseException as error:  # surfaced below
            errors.append(error)
        done.set()

    threads = [threading.Thread(target=hold), threading.Thread(target=write)]
    for thread in threads:
        thread.start()
    held.wait()
    assert not done.wait(0.3)  # queued behind the holder
    for thread in threads:
        thread.join(5)
    assert errors == []
    assert [row[0] for row in waiter.execute("SELECT key FROM processed ORDER BY key")] == ["a", "b"]


def test_a_killed_holder_releases_the_lock(db_path, two_connections):
    mine, _ = two_connections
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from handlers.storage.db import connect, transaction\n"
         f"db = connect({db_path!r})\n"
         "with transaction(db):\n"
         "    print('held', flush=True)\n"
         "    time.sleep(60)\n"],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(5)
        with transaction(mine):  # would wait forever if the lock outlived its holder
            mine.execute("INSERT INTO processed (key, kind, received_at) VALUES ('after', 'test', 'now')")
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert mine.execute("SELECT key FROM processed").fetchall() == [("after",)]


def test_a_transaction_inside_a_transaction_is_an_error_not_a_deadlock(two_connections):
    db, _ = two_connections
    with transaction(db):
        with pytest.raises(RuntimeError, match="atomic"):
            with transaction(db):
                pass
        db.execute("INSERT INTO processed (key, kind, received_at) VALUES ('outer', 'test', 'now')")
    assert db.execute("SELECT key FROM processed").fetchall() == [("outer",)]


def test_a_non_durable_transaction_that_fails_leaves_the_connection_fsyncing(two_connections):
    db, _ = two_connections
    with pytest.raises(ZeroDivisionError):
        with transaction(db, durable=False):
            db.execute("INSERT INTO processed (key, kind, received_at) VALUES ('x', 'test', 'now')")
            1 / 0  # noqa: B018 (the failure under test)
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute("SELECT count(*) FROM processed").fetchone()[0] == 0


def test_a_durable_commit_is_fsynced_after_the_lock_is_released_and_before_it_returns(two_connections,
                                                                                     monkeypatch):
    """The next writer does not wait out this one's fsync: when the WAL is fsynced, the
    commit is visible to another connection and the lock file is free for it; and the
    fsync is done before transaction() returns (before the webhook answers)."""
    import fcntl

    from handlers.storage import db as db_module
    db, other = two_connections
    real_fsync, seen = db_module.fsync_wal, []

    def fsync(database):
        fd = os.open(db.write_lock_path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # raises BlockingIOError while it is held
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        seen.append(other.execute("SELECT key FROM processed").fetchall())
        real_fsync(database)
        seen.append("fsynced")

    monkeypatch.setattr(db_module, "fsync_wal", fsync)
    with transaction(db):
        db.execute("INSERT INTO processed (key, kind, received_at) VALUES ('durable', 'test', 'now')")
    assert seen == [[("durable",)], "fsynced"]
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2   # FULL for any write outside transaction()
    with transaction(db, durable=False):
        db.execute("INSERT INTO processed (key, kind, received_at) VALUES ('ordinary', 'test', 'now')")
    assert len(seen) == 2                                        # not durable: no fsync


def test_a_durable_transaction_that_fails_is_not_fsynced_and_leaves_nothing(two_connections, monkeypatch):
    from handlers.storage import db as db_module
    db, other = two_connections
    synced: list = []
    monkeypatch.setattr(db_module, "fsync_wal", synced.append)
    with pytest.raises(ZeroDivisionError):
        with transaction(db):
            db.execute("INSERT INTO processed (key, kind, received_at) VALUES ('x', 'test', 'now')")
            1 / 0  # noqa: B018 (the failure under test)
    assert synced == []
    assert other.execute("SELECT count(*) FROM processed").fetchone()[0] == 0
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_workers_starting_together_on_a_new_database_all_migrate_it(tmp_path):
    """gunicorn starts every worker at once, each migrating the same (new) file."""
    project = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for attempt in range(3):
        path = str(tmp_path / f"fresh{attempt}.db")
        start_at = time.time() + 1.0
        script = (
            "import sys, time\n"
            "from handlers.consent.schema import migrate\n"
            "from handlers.storage.db import connect\n"
            f"time.sleep(max(0, {start_at} - time.time()))\n"
            f"db = connect({path!r})\n"
            "migrate(db)\n"
            "print(db.execute('PRAGMA journal_mode').fetchone()[0], db.execute('PRAGMA user_version').fetchone()[0])\n"
        )
        workers = [subprocess.Popen([sys.executable, "-c", script], cwd=project, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for _ in range(6)]
        results = [worker.communicate(timeout=60) for worker in workers]
        assert [worker.returncode for worker in workers] == [0] * 6, [err for _, err in results if err]
        assert len({out for out, _ in results}) == 1 and results[0][0].startswith("wal ")


def test_a_writer_gives_up_with_database_is_locked_when_the_lock_file_stays_held(
        two_connections, monkeypatch):
    import fcntl
    import sqlite3

    import handlers.storage.db

    db, _ = two_connections
    monkeypatch.setattr(handlers.storage.db, "BUSY_TIMEOUT_MS", 200)
    with open(db.write_lock_path) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            with transaction(db):
                pass
        assert time.monotonic() - started < 5
    with transaction(db):  # released: goes through
        db.execute("INSERT INTO processed (key, kind, received_at) VALUES ('later', 'test', 'now')")


def test_a_connection_opens_its_lock_file_once_per_thread(two_connections, monkeypatch):
    """Opening the lock file cost more than locking it: a connection keeps one descriptor
    per thread (each its own open file description, so threads still exclude each other)."""
    import handlers.storage.db

    db, _ = two_connections
    opened: list[str] = []
    real_open = os.open

    def counting_open(path, *args, **kwargs):
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(handlers.storage.db.os, "open", counting_open)
    for key in ("one", "two", "three"):
        with transaction(db):
            db.execute("INSERT INTO processed (key, kind, received_at) VALUES (?, 'test', 'now')", [key])
    assert opened.count(db.write_lock_path) <= 1

    inside, release, order = threading.Event(), threading.Event(), []

    def hold():
        with transaction(db, durable=False):
            order.append("holder in")
            inside.set()
            release.wait(5)
            order.append("holder out")

    holder = threading.Thread(target=hold)
    holder.start()
    inside.wait(5)
    other_thread = threading.Thread(target=lambda: _lock_only(db, order))
    other_thread.start()
    time.sleep(0.2)
    release.set()
    holder.join(5)
    other_thread.join(5)
    assert order == ["holder in", "holder out", "other in"]


def _lock_only(db, order):
    from handlers.storage.db import _write_lock
    with _write_lock(db.write_lock_path, db):
        order.append("other in")


def test_a_patient_writer_tries_for_the_lock_less_often_and_still_gives_up_at_the_busy_timeout(
        two_connections, monkeypatch):
    """The outbox sender's connection (wait_patiently) pauses longer between tries for the
    lock file than a webhook connection does; both are bounded by the busy timeout."""
    import fcntl
    import sqlite3

    import handlers.storage.db
    from handlers.storage.db import LOCK_POLL_SECONDS, PATIENT_LOCK_POLL_SECONDS, wait_patiently

    webhook, sender = two_connections
    wait_patiently(sender)
    monkeypatch.setattr(handlers.storage.db, "BUSY_TIMEOUT_MS", 100)
    pauses: list[float] = []
    real_sleep = time.sleep
    me = threading.current_thread()

    def sleep(seconds):  # the time module's: other threads' sleeps are not ours to count
        if threading.current_thread() is me:
            pauses.append(seconds)
        real_sleep(seconds)
    monkeypatch.setattr(handlers.storage.db.time, "sleep", sleep)
    with open(webhook.write_lock_path) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        for db, (first, longest) in ((webhook, LOCK_POLL_SECONDS), (sender, PATIENT_LOCK_POLL_SECONDS)):
            pauses.clear()
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                with transaction(db):
                    pass
            assert pauses[0] == first and max(pauses) == longest
    assert PATIENT_LOCK_POLL_SECONDS[0] >= LOCK_POLL_SECONDS[1] and PATIENT_LOCK_POLL_SECONDS[1] > LOCK_POLL_SECONDS[1]
    with transaction(sender):  # released: goes through
        sender.execute("INSERT INTO processed (key, kind, received_at) VALUES ('sent', 'test', 'now')")


def test_a_failed_fsync_stops_every_write_until_an_operator_clears_it(post, client, drain, cloud_api, service,
                                                                      settings, monkeypatch):
    """A durable commit is visible before its fsync; if the fsync fails, Linux may report the
    lost writeback only once, so a redelivery must not be answered 200 from the dedupe key
    and the sender must not confirm: every write is refused (503) until the marker goes."""
    from handlers.storage import db as db_module
    from handlers.testing import payloads
    real_fsync, failures = os.fsync, []

    def fsync(fd):
        if not failures:
            failures.append(fd)
            raise OSError(5, "Input/output error")
        return real_fsync(fd)

    monkeypatch.setattr(db_module.os, "fsync", fsync)
    stop = payloads.of_messages(payloads.text("STOP", wa_id="14155550777", id="wamid.FSYNC1"))
    first = post(stop)
    assert first.status_code == 503 and first.headers["Retry-After"]
    marker = settings.db_path + "-fsync-failed"
    with open(marker, encoding="utf-8") as written:
        assert "Input/output error" in written.read()
    assert post(stop).status_code == 503                     # the redelivery too: not a 200 from the dedupe key
    assert client.get("/healthz").status_code == 503
    with pytest.raises(sqlite3.OperationalError, match="writes refused"):
        drain()                                             # the sender claims nothing
    assert cloud_api.received == []
    os.remove(marker)                                       # the operator checked the disk and the database
    again = post(stop)
    assert again.status_code == 200 and again.json["duplicates"] == 1
    assert drain() == 1 and len(cloud_api.received) == 1
