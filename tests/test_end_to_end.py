"""The real service under gunicorn, a real SQLite file, a real HTTP stand-in for the Cloud API."""
import json
import time

from handlers.storage.db import connect
from handlers.testing import payloads
from handlers.testing.gunicorn import GunicornService


def test_gunicorn_service_suppresses_and_confirms_once(database, cloud_api):
    with GunicornService(database, cloud_api.url) as service:
        stop_es = payloads.text("Quiero darme de baja", wa_id="593991234567", id="wamid.E2E1")
        stop_ru = payloads.text("стоп", wa_id="79161234567", id="wamid.E2E2")
        ordinary = payloads.text("¿Hacen envíos a Baja California?", wa_id="593990000000", id="wamid.E2E3")
        help_en = payloads.text("HELP", wa_id="14155550123", id="wamid.E2E4")
        delivery = payloads.of_messages(stop_es, stop_ru, ordinary, help_en)
        status, body = service.post_delivery(delivery)
        assert status == 200, body
        # Meta redelivers the same delivery: nothing changes, nothing is sent twice.
        assert service.post_delivery(delivery)[0] == 200
        unsigned = payloads.encode(payloads.of_messages(payloads.text("STOP", wa_id="4915123456789")))
        assert service.request("POST", "/webhook", unsigned, {"Content-Type": "application/json"})[0] == 401

        received = cloud_api.wait_for(3, timeout=15)
        time.sleep(1.0)  # would a second worker send a duplicate?
        assert sorted(r.to for r in cloud_api.received) == ["14155550123", "593991234567", "79161234567"]
        assert all(r.authorization == "Bearer e2e-access" for r in received)

        status, body = service.api("POST", "/api/suppressions/check", json.dumps(
            ["593991234567", "79161234567", "593990000000", "4915123456789", "14155550123"]).encode())
        assert status == 200
        assert json.loads(body)["suppressed"] == ["593991234567", "79161234567"]
        assert service.api("GET", "/api/suppressions/593991234567")[0] == 200
        assert service.request("GET", "/api/suppressions/593991234567")[0] == 401

    db = connect(database)
    try:
        events = [tuple(row) for row in db.execute("SELECT wa_id, action, source FROM consent_events ORDER BY wa_id")]
        states = [tuple(row) for row in db.execute("SELECT state, count(*) FROM outbox GROUP BY state")]
    finally:
        db.close()
    assert events == [("593991234567", "opt_out", "keyword"), ("79161234567", "opt_out", "keyword")]
    assert states == [("sent", 3)]


def test_gunicorn_service_resumes_pending_replies_after_restart(database, cloud_api):
    from handlers.testing.cloud_api_standin import Answer
    cloud_api.default = Answer(503)  # the Cloud API is down while the opt-out arrives
    with GunicornService(database, cloud_api.url) as service:
        assert service.post_delivery(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))[0] == 200
        time.sleep(0.5)
    assert cloud_api.received == []
    db = connect(database)
    db.execute("UPDATE outbox SET next_attempt_at = '2000-01-01T00:00:00.000000Z'")
    db.close()
    cloud_api.default = Answer(200)
    with GunicornService(database, cloud_api.url):
        assert len(cloud_api.wait_for(1, timeout=10)) == 1
        time.sleep(0.5)
    assert len(cloud_api.received) == 1
