"""The real service under gunicorn, a real SQLite file (or PostgreSQL, --database postgresql),
a real HTTP stand-in for the Cloud API."""
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


def test_gunicorn_service_answers_a_mexican_opt_out_under_every_form(tmp_path, cloud_api, app, settings):
    """Issue 11: an opt-out from 5215512345678 (as WhatsApp reports a Mexican mobile) is
    suppressed for +52 55 1234 5678, 525512345678 and 5215512345678 by both API routes,
    the admin number page and `flask replay --text … --from +5215512345678`."""
    import http.cookiejar
    import re
    import urllib.parse
    import urllib.request
    from dataclasses import replace

    from app import create_app
    from handlers.staff import accounts
    from tests.conftest import APP_SECRET

    # Its own SQLite file; with --database postgresql, the test's PostgreSQL database.
    target = settings.database_url or str(tmp_path / "e2e.db")
    setup = create_app({"settings": settings if settings.database_url else replace(settings, db_path=target)})
    try:
        accounts.add(setup.extensions["optout"].db, "ana", "correct horse battery")
    finally:
        setup.extensions["optout"].close()
    forms = ["+52 55 1234 5678", "525512345678", "5215512345678"]
    with GunicornService(target, cloud_api.url, app_secret=APP_SECRET) as service:
        stop = payloads.text("STOP", wa_id="5215512345678", id="wamid.E2EMX")
        assert service.post_delivery(payloads.of_messages(stop))[0] == 200

        for form in forms:
            status, body = service.api("GET", "/api/suppressions/" + urllib.parse.quote(form, safe=""))
            assert status == 200 and json.loads(body)["suppressed"] is True, (form, body)
        status, body = service.api("POST", "/api/suppressions/check", json.dumps({"wa_ids": forms}).encode())
        answer = json.loads(body)
        assert status == 200 and answer["not_suppressed"] == [] and answer["invalid"] == []
        assert answer["suppressed"] == sorted(["525512345678", "5215512345678"])

        # The admin cookie is Secure outside development mode (issue 12); this client stands in for the
        # TLS terminator in front of a real deployment, so it sends it back over plain http.
        jar = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(secure_protocols=("https", "wss", "http")))
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        login = browser.open(service.url + "/admin/login", timeout=10).read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
        browser.open(service.url + "/admin/login", urllib.parse.urlencode(
            {"csrf_token": token, "name": "ana", "password": "correct horse battery"}).encode(), timeout=10)
        for form in forms:
            page = browser.open(service.url + "/admin/numbers/" + urllib.parse.quote(form, safe=""), timeout=10)
            html = page.read().decode()
            assert page.status == 200 and "/admin/numbers/" in page.url, form
            assert "<b>Opted out</b> of everything" in html and "5215512345678" in html, form

        for form in ("+5215512345678", *forms):
            result = app.test_cli_runner().invoke(args=["replay", "--url", service.url, "--text", "STOP", "--from", form])
            assert result.exit_code == 0, result.output
            assert "no change: already suppressed (all)" in result.output, (form, result.output)
        assert len(cloud_api.wait_for(1, timeout=10)) == 1   # one confirmation, to the id WhatsApp reported
        time.sleep(0.5)
        assert [r.to for r in cloud_api.received] == ["5215512345678"]
