"""Point 8: one confirmation per event, in the user's language, through the outbox."""
import time

from handlers.delivery.service import Service
from handlers.storage.db import needs_locks
from handlers.testing import payloads
from handlers.testing.cloud_api_standin import Answer


def test_opt_out_queues_one_confirmation_sent_with_the_cloud_api_shape(post, drain, cloud_api):
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    assert cloud_api.received == []  # the webhook never waits on the Cloud API
    assert drain() == 1
    (request,) = cloud_api.received
    assert request.path == f"/{payloads.BUSINESS['phone_number_id']}/messages"
    assert request.authorization == "Bearer test-access-token"
    assert request.body["messaging_product"] == "whatsapp"
    assert request.body["to"] == "14155550123"
    assert request.body["type"] == "text"
    assert "unsubscribed" in request.body["text"]["body"].lower()


def test_confirmation_is_in_the_language_of_the_keyword(post, drain, cloud_api):
    post(payloads.of_messages(payloads.text("BAJA", wa_id="593991234567"),
                              payloads.text("отписаться", wa_id="79161234567")))
    drain()
    assert "marketing" in cloud_api.texts_to("593991234567")[0]
    assert cloud_api.texts_to("593991234567")[0] != cloud_api.texts_to("79161234567")[0]
    assert any(ch in cloud_api.texts_to("79161234567")[0] for ch in "абвгд")


def test_help_and_opt_in_are_answered(post, drain, cloud_api):
    now = int(time.time())
    post(payloads.of_messages(payloads.text("HELP", wa_id="14155550001")))
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550002", timestamp=now - 5)))
    post(payloads.of_messages(payloads.text("START", wa_id="14155550002", timestamp=now)))
    drain()
    assert len(cloud_api.texts_to("14155550001")) == 1
    assert len(cloud_api.texts_to("14155550002")) == 2


def test_server_errors_are_retried_with_backoff_and_sent_once(post, drain, cloud_api, service, read_db):
    cloud_api.script(Answer(500), Answer(503))
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    drain()
    row = read_db("SELECT * FROM outbox")[0]
    assert row["state"] == "pending" and row["attempts"] == 1 and "HTTP 500" in row["last_error"]
    assert row["next_attempt_at"] > row["created_at"]
    _make_due(service)
    drain()
    assert read_db("SELECT state, attempts FROM outbox")[0] == {"state": "pending", "attempts": 2}
    _make_due(service)
    drain()
    assert read_db("SELECT state, attempts FROM outbox")[0] == {"state": "sent", "attempts": 3}
    assert len(cloud_api.texts_to("14155550123")) == 1
    drain()
    assert len(cloud_api.texts_to("14155550123")) == 1


def test_throughput_rate_limit_pauses_the_business_number(post, drain, cloud_api, service, read_db):
    cloud_api.script(Answer(429, error_code=130429, retry_after="30"))
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123"), payloads.text("STOP", wa_id="14155550124")))
    drain()
    assert len(cloud_api.received) == 0
    (pause,) = read_db("SELECT * FROM send_pauses")
    assert "130429" in pause["reason"]
    assert all(r["state"] == "pending" for r in read_db("SELECT state FROM outbox"))
    service.db.execute("UPDATE send_pauses SET until = '2000-01-01T00:00:00.000000Z'")
    _make_due(service)
    drain()
    assert len(cloud_api.received) == 2


def test_a_rate_limit_costs_no_attempt_however_short_its_retry_after(post, drain, cloud_api, service, read_db):
    limit = service.settings.outbox_max_attempts
    cloud_api.script(*[Answer(429, error_code=130429, retry_after="1")] * (limit + 3))
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    for _ in range(limit + 3):
        service.db.execute("UPDATE send_pauses SET until = '2000-01-01T00:00:00.000000Z'")
        _make_due(service)
        drain()
    (row,) = read_db("SELECT state, attempts, last_error FROM outbox")   # more 429s than attempts allowed
    assert (row["state"], row["attempts"]) == ("pending", 0) and "130429" in row["last_error"]
    service.db.execute("UPDATE send_pauses SET until = '2000-01-01T00:00:00.000000Z'")
    _make_due(service)
    drain()
    assert read_db("SELECT state FROM outbox")[0]["state"] == "sent"


def test_a_rate_limited_reply_still_ends_with_its_window(post, drain, cloud_api, service, read_db):
    cloud_api.script(Answer(429, error_code=130429, retry_after="3600"))
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    service.db.execute("UPDATE outbox SET deadline = '2000-01-01T00:00:00.000000Z'")
    drain()
    (row,) = read_db("SELECT state, last_error FROM outbox")
    assert row["state"] == "failed" and "130429" in row["last_error"]


def test_retries_span_the_reply_window(service):
    """An outage shorter than the 24-hour window fails no confirmation: the back-off of the
    attempts allowed adds up to more than the window."""
    from handlers.delivery.outbox import MAX_BACKOFF_SECONDS
    waited = sum(min(MAX_BACKOFF_SECONDS, 2 ** max(0, n - 1) * 2) * 0.8
                 for n in range(1, service.settings.outbox_max_attempts))
    assert waited > 24 * 3600


def test_permanent_error_marks_the_reply_failed_with_the_reason(post, drain, cloud_api, read_db):
    cloud_api.script(Answer(400, error_code=131026))
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    drain()
    row = read_db("SELECT state, last_error FROM outbox")[0]
    assert row["state"] == "failed" and "131026" in row["last_error"]
    drain()
    assert cloud_api.received == []


def test_reply_gives_up_after_the_attempt_limit(post, drain, cloud_api, service, read_db):
    cloud_api.default = Answer(500)
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    for _ in range(service.settings.outbox_max_attempts + 2):
        _make_due(service)
        drain()
    row = read_db("SELECT state, attempts, last_error FROM outbox")[0]
    assert row["state"] == "failed"
    assert row["attempts"] == service.settings.outbox_max_attempts
    assert "gave up" in row["last_error"]


def test_unreachable_api_is_retried(post, drain, service, read_db, cloud_api):
    cloud_api.stop()
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    drain()
    row = read_db("SELECT state, last_error FROM outbox")[0]
    assert row["state"] == "pending" and "no response" in row["last_error"]


def test_message_older_than_24_hours_is_recorded_but_not_answered(post, drain, cloud_api, api, read_db):
    old = int(time.time()) - 25 * 3600
    response = post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123", timestamp=old)))
    assert "24-hour" in response.json["outcomes"][0]["reply"]
    drain()
    assert cloud_api.received == []
    assert api.get("/api/suppressions/14155550123").json["suppressed"] is True
    assert read_db("SELECT state FROM outbox")[0]["state"] == "skipped"


def test_pending_replies_survive_a_restart(post, settings, service, cloud_api):
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    service.close()  # the process stops before sending
    restarted = Service(settings)
    try:
        restarted.worker.start()
        assert len(cloud_api.wait_for(1, timeout=5)) == 1
    finally:
        restarted.close()
    assert cloud_api.texts_to("14155550123")


def test_reply_whose_sender_died_mid_send_is_taken_over_after_its_lease(post, service, drain, cloud_api, read_db):
    from handlers.delivery import outbox
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    claimed = outbox.claim_next(service.db)  # a sender claims it, then dies
    assert claimed is not None
    assert drain() == 0  # still leased
    service.db.execute("UPDATE outbox SET lease_until = '2000-01-01T00:00:00.000000Z'")
    assert drain() == 1
    assert len(cloud_api.received) == 1


def test_a_sender_with_nothing_due_takes_no_write_lock(post, service, monkeypatch):
    """The webhook's deliveries queue on the write lock; a sender looks for work after every
    send and every poll, and mostly finds none: it reads that without the lock."""
    from handlers.delivery import outbox
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    taken = []
    real_transaction = outbox.transaction

    def counted(db, durable=True):
        taken.append(durable)
        return real_transaction(db, durable)

    monkeypatch.setattr(outbox, "transaction", counted)
    assert outbox.claim_next(service.db) is not None          # one due: claimed under the lock
    assert outbox.claim_next(service.db) is None              # leased: nothing else due
    assert taken == [True]                                     # one transaction (durable: see claim_next)


def _status_after_the_sender_died(post, service, drain, status_id: str, recipient: str) -> None:
    """A reply to 14155550123 is claimed, its sender dies, a `sent` status naming its row (and
    `recipient`) arrives, the lease runs out and the senders look again."""
    from handlers.delivery import outbox
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    row = outbox.claim_next(service.db)
    post(payloads.delivery(payloads.change(statuses=[
        payloads.status(status_id, "sent", recipient=recipient, callback=f"outbox:{row['id']}")])))
    service.db.execute("UPDATE outbox SET lease_until = '2000-01-01T00:00:00.000000Z'")
    drain()


def test_status_callback_confirms_a_reply_whose_sender_died_after_sending(post, service, drain, cloud_api, read_db):
    _status_after_the_sender_died(post, service, drain, "wamid.SENT1", recipient="14155550123")
    assert cloud_api.received == []
    assert read_db("SELECT state, provider_message_id FROM outbox")[0] == {
        "state": "sent", "provider_message_id": "wamid.SENT1"}


def test_a_status_naming_another_recipient_confirms_nothing(post, service, drain, cloud_api, read_db):
    """A status redelivered after a database restore (its row id now another reply's) or from
    another environment sharing the app: the reply is still sent."""
    _status_after_the_sender_died(post, service, drain, "wamid.OTHER", recipient="19999999999")
    assert len(cloud_api.texts_to("14155550123")) == 1
    assert read_db("SELECT state, provider_message_id FROM outbox")[0]["provider_message_id"] != "wamid.OTHER"


def test_worker_thread_sends_soon_after_the_webhook_answers(post, service, cloud_api):
    service.worker.start()
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    assert len(cloud_api.wait_for(1, timeout=5)) == 1


def _make_due(service):
    service.db.execute("UPDATE outbox SET next_attempt_at = '2000-01-01T00:00:00.000000Z' WHERE state = 'pending'")


def test_a_late_failure_does_not_undo_a_reply_the_status_callback_confirmed(post, service, read_db):
    from handlers.delivery import outbox
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    row = outbox.claim_next(service.db)
    # The Cloud API accepted it, its 'sent' status arrived, then our request timed out.
    post(payloads.delivery(payloads.change(statuses=[
        payloads.status("wamid.SENT2", "sent", recipient="14155550123", callback=f"outbox:{row['id']}")])))
    assert outbox.retry_later(service.db, row, "timed out") == "retry"
    assert read_db("SELECT state FROM outbox")[0]["state"] == "sent"


def test_credential_errors_keep_the_reply_queued_without_spending_attempts(post, drain, cloud_api, service, read_db):
    cloud_api.script(Answer(401, error_code=190))
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    drain()
    row = read_db("SELECT state, attempts, last_error FROM outbox")[0]
    assert (row["state"], row["attempts"]) == ("pending", 0)
    assert "190" in row["last_error"]
    assert "code 190" in read_db("SELECT reason FROM send_pauses")[0]["reason"]


def test_the_sender_keeps_one_connection_to_the_cloud_api_across_sends(post, drain, cloud_api):
    post(payloads.of_messages(*(payloads.text("STOP", wa_id=f"1415555012{n}") for n in range(3))))
    assert drain() == 3
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550130")))
    assert drain() == 1
    assert len(cloud_api.received) == 4
    assert cloud_api.connections == 1


def test_a_reply_claimed_past_its_attempts_without_an_outcome_is_given_up_unsent(post, service, drain, cloud_api,
                                                                                 read_db):
    """A row whose sender died (or failed) while sending it, lease after lease, is not sent
    on every lease forever: past the attempt limit it is failed without another send."""
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    limit = service.settings.outbox_max_attempts
    service.db.execute("UPDATE outbox SET state = 'sending', attempts = ?, lease_until = '2000-01-01T00:00:00.000000Z'",
                       [limit])
    assert drain() == 1
    assert cloud_api.received == []
    row = read_db("SELECT state, attempts, last_error FROM outbox")[0]
    assert row["state"] == "failed" and row["attempts"] == limit + 1
    assert "no outcome recorded" in row["last_error"]


def test_a_retry_after_of_zero_does_not_shorten_the_back_off(post, drain, cloud_api, read_db):
    cloud_api.script(Answer(503, retry_after="0"))
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    drain()
    row = read_db("SELECT state, attempts, next_attempt_at, created_at FROM outbox")[0]
    assert (row["state"], row["attempts"]) == ("pending", 1)
    assert row["next_attempt_at"] > row["created_at"]
    assert drain() == 0 and cloud_api.requests == 1   # not due again at once


def test_due_rows_go_out_oldest_first_a_lapsed_lease_among_them(post, drain, cloud_api, service):
    """Pending rows and rows whose sender's lease ran out are taken in one order: the time
    each fell due, then the order they were queued."""
    post(payloads.of_messages(*(payloads.text("STOP", wa_id=f"1415555012{n}") for n in range(4))))
    due = {"14155550120": "2000-01-01T00:00:03.000000Z", "14155550121": "2000-01-01T00:00:01.000000Z",
           "14155550122": "2000-01-01T00:00:02.000000Z", "14155550123": "2000-01-01T00:00:02.000000Z"}
    for wa_id, at in due.items():
        service.db.execute("UPDATE outbox SET next_attempt_at = ? WHERE wa_id = ?", [at, wa_id])
    # a sender took the second-oldest, then died: its lease has run out
    service.db.execute("UPDATE outbox SET state = 'sending', attempts = 1, lease_until = '2000-01-01T00:01:00.000000Z' "
                       "WHERE wa_id = '14155550122'")
    assert drain() == 4
    assert [request.to for request in cloud_api.received] == ["14155550121", "14155550122", "14155550123",
                                                              "14155550120"]


def test_each_send_is_recorded_on_disk_before_the_next_goes_out(post, drain, cloud_api, service, read_db,
                                                                monkeypatch):
    """The record of a send also claims the next row (one turn of the write lock per send),
    and is fsynced before that row is sent."""
    from handlers.delivery import outbox
    from handlers.storage import db as db_module
    post(payloads.of_messages(*(payloads.text("STOP", wa_id=f"1415555012{n}") for n in range(3))))
    events = []
    client = service.worker._client
    real_send, real_fsync, real_transaction = client.send_text, db_module.fsync_wal, outbox.transaction

    def send(*args, **kwargs):
        recorded = len(read_db("SELECT id FROM outbox WHERE state = 'sent'"))
        events.append(f"send with {recorded} recorded")
        return real_send(*args, **kwargs)

    def transaction(db, durable=True):
        events.append("transaction")
        return real_transaction(db, durable)

    monkeypatch.setattr(client, "send_text", send)
    monkeypatch.setattr(db_module, "fsync_wal", lambda db: (events.append("fsync"), real_fsync(db)))
    monkeypatch.setattr(outbox, "transaction", transaction)
    assert drain() == 3
    # SQLite: committed without waiting for the disk, fsynced once the write lock is released;
    # PostgreSQL (no such lock): one durable commit
    fsync = [] if needs_locks(service.db) else ["fsync"]
    # the first claim is fsynced before its row is sent too: the delivery that queued the row
    # committed before its own fsync, and its opt-out must be on disk before the confirmation goes
    assert events == ["transaction", *fsync, "send with 0 recorded", "transaction", *fsync, "send with 1 recorded",
                      "transaction", *fsync, "send with 2 recorded", "transaction", *fsync]
    assert read_db("SELECT count(*) AS n FROM outbox WHERE state = 'sent'")[0]["n"] == 3


def test_a_sender_at_its_limit_leaves_the_next_row_unclaimed(post, drain, cloud_api, read_db):
    post(payloads.of_messages(*(payloads.text("STOP", wa_id=f"1415555012{n}") for n in range(3))))
    assert drain(limit=2) == 2
    assert [row["state"] for row in read_db("SELECT state FROM outbox ORDER BY id")] == ["sent", "sent", "pending"]
    assert drain() == 1
    assert len(cloud_api.received) == 3
