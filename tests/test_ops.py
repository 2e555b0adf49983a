"""/healthz and /metrics: what an operator and Prometheus see."""
import sqlite3
import time

from handlers.ops import metrics
from handlers.testing import payloads
from handlers.testing.gunicorn import GunicornService


def _value(text: str, name: str, **labels) -> float:
    """The sample `name{labels}` from the exposition text (0 if absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        metric, _, rest = key.partition("{")
        if metric == name and all(part in rest for part in want.split(",") if part):
            return float(value)
    return 0.0


def test_healthz_reports_database_and_outbox_backlog(client, post):
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "ok" and response.json["database"] == "ok"
    assert response.json["outbox"]["pending"] == 1 and response.json["outbox"]["failed"] == 0
    assert response.json["outbox"]["oldest_pending_seconds"] is not None


def test_healthz_is_503_when_the_database_cannot_be_read(client, service, monkeypatch):
    def broken(db):
        raise sqlite3.OperationalError("unable to open database file")
    monkeypatch.setattr("handlers.delivery.outbox.backlog", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"


def test_metrics_count_deliveries_consent_changes_and_replies(client, post, drain):
    before = client.get("/metrics").get_data(as_text=True)
    post(payloads.of_messages(payloads.text("BAJA", wa_id="593991234567"), payloads.text("hola", wa_id="593990000000")))
    post(payloads.delivery(payloads.change(statuses=[payloads.status("wamid.X1", "delivered")])))
    client.post("/webhook", data=b"{}", headers={"Content-Type": "application/json"})  # unsigned
    drain()
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    after = response.get_data(as_text=True)

    def delta(name, **labels):
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("optout_webhook_requests_total", status="200") == 2
    assert delta("optout_webhook_requests_total", status="401") == 1
    assert delta("optout_delivery_items_total", kind="message", duplicate="false") == 2
    assert delta("optout_delivery_items_total", kind="status", duplicate="false") == 1
    assert delta("optout_consent_changes_total", action="opt_out", source="keyword", language="es") == 1
    assert delta("optout_replies_total", result="sent", intent="opt_out") == 1
    assert delta("optout_webhook_request_seconds_count") == 3
    assert delta("optout_webhook_request_seconds_bucket", le="+Inf") == 3
    assert delta("optout_webhook_request_seconds_sum") > 0
    assert _value(after, "optout_outbox_backlog", state="sent") == 1
    assert _value(after, "optout_outbox_backlog", state="pending") == 0
    assert "593991234567" not in after


def test_metrics_may_require_a_bearer_token(settings):
    from dataclasses import replace

    from app import create_app
    app = create_app({"settings": replace(settings, metrics_token="scrape-me")})
    try:
        client = app.test_client()
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).status_code == 200
        assert client.get("/healthz").status_code == 200
    finally:
        app.extensions["optout"].close()


def test_metrics_are_summed_across_gunicorn_workers(tmp_path, cloud_api):
    with GunicornService(str(tmp_path / "m.db"), cloud_api.url, workers=2) as service:
        for n in range(20):
            status, _ = service.post_delivery(payloads.delivery(payloads.change(
                statuses=[payloads.status(f"wamid.M{n}", "sent")])))
            assert status == 200
        status, body = service.request("GET", "/healthz")
        assert status == 200
        # Whichever worker answers the scrape, it reports all 20 deliveries: its own at
        # once, the other worker's within the second it takes to write them out.
        deadline = time.monotonic() + metrics.FLUSH_SECONDS + 10
        while True:
            status, body = service.request("GET", "/metrics")
            assert status == 200
            counted = _value(body.decode(), "optout_webhook_requests_total", status="200")
            if counted == 20 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert counted == 20
        for _ in range(4):  # and keeps doing so, whichever worker answers
            status, body = service.request("GET", "/metrics")
            assert _value(body.decode(), "optout_webhook_requests_total", status="200") == 20
    assert (tmp_path / "metrics").is_dir()


def test_inert_statuses_are_answered_without_touching_the_database(post, read_db):
    response = post(payloads.delivery(payloads.change(statuses=[
        payloads.status("wamid.A", "sent"), payloads.status("wamid.A", "delivered"),
        payloads.status("wamid.A", "read")])))
    assert response.status_code == 200 and response.json["received"] == 3
    assert read_db("SELECT * FROM processed") == []
    post(payloads.delivery(payloads.change(statuses=[
        payloads.status("wamid.B", "failed", errors=[{"code": 131050}]),
        payloads.status("wamid.C", "sent", callback="outbox:7")])))
    assert sorted(row["key"] for row in read_db("SELECT key FROM processed")) == [
        "status:wamid.B:failed", "status:wamid.C:sent"]
