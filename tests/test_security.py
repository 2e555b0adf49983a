"""Issue 12, items 8 and 9 (and the proxy half of 6): security headers and the session
cookie's flags on every response, the client address behind a configured proxy, and a
development mode that fails safe. Through HTTP, or the real service under gunicorn."""
import re
import urllib.request
from dataclasses import replace

import pytest
from flask import Flask

from app import create_app
from handlers.settings import DEV_ADMIN_TOKEN, DEV_APP_SECRET, ConfigError, Settings, check_bind, is_loopback_bind
from handlers.staff import accounts
from handlers.testing import payloads
from handlers.testing.gunicorn import GunicornService
from tests.admin_client import STAFF_PASSWORD
from tests.login_helpers import cookie_of, login, with_cookie

# -- item 6: the client's address behind a proxy ---------------------------------------------


def test_the_forwarded_address_is_believed_only_behind_a_configured_proxy(settings, frozen_clock):
    def forwarded(address):
        return {"X-Forwarded-For": address}

    app = create_app({"settings": settings, "TESTING": True})  # no proxy configured: the header is anyone's
    try:
        client = app.test_client()
        accounts.add(app.extensions["optout"].db, "ana", STAFF_PASSWORD)
        for number in range(accounts.FREE_FAILURES):
            login(client, password="guess", ip="10.0.0.5", headers=forwarded(f"203.0.113.{number}"))
        assert login(client, ip="10.0.0.5", headers=forwarded("203.0.113.99")).status_code == 429
    finally:
        app.extensions["optout"].close()

    proxied = create_app({"settings": replace(settings, db_path=settings.db_path + "-proxied", database_url="",
                                                   trusted_proxies=1),
                          "TESTING": True})
    try:
        client = proxied.test_client()
        accounts.add(proxied.extensions["optout"].db, "ana", STAFF_PASSWORD)
        for _ in range(accounts.FREE_FAILURES):
            login(client, password="guess", ip="10.0.0.5", headers=forwarded("203.0.113.7"))
        assert login(client, ip="10.0.0.5", headers=forwarded("203.0.113.7")).status_code == 429
        assert login(client, ip="10.0.0.5", headers=forwarded("203.0.113.8")).status_code == 302
        addresses = {row[0] for row in proxied.extensions["optout"].db.execute("SELECT ip FROM login_attempts")}
        assert addresses == {"203.0.113.7", "203.0.113.8"}
    finally:
        proxied.extensions["optout"].close()


def test_trusted_proxies_is_a_setting_with_a_sane_range():
    env = {"WHATSAPP_APP_SECRET": "s", "WHATSAPP_VERIFY_TOKEN": "v", "ADMIN_TOKEN": "a"}
    assert Settings.from_env({**env, "OPTOUT_TRUSTED_PROXIES": "2"}).trusted_proxies == 2
    with pytest.raises(ConfigError, match="OPTOUT_TRUSTED_PROXIES"):
        Settings.from_env({**env, "OPTOUT_TRUSTED_PROXIES": "-1"})


# -- item 8: headers -------------------------------------------------------------------------

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def _check_headers(headers) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, name
    policy = headers.get("Content-Security-Policy", "")
    assert "default-src 'none'" in policy and "style-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy


@pytest.mark.parametrize("method,path", [("get", "/admin/login"), ("get", "/admin/keywords"), ("get", "/healthz"),
                                         ("get", "/webhook"), ("post", "/webhook"), ("get", "/api/audit"),
                                         ("get", "/no/such/page")])
def test_every_response_carries_the_security_headers(client, method, path):
    _check_headers(getattr(client, method)(path).headers)


def test_every_answer_of_the_webhooks_own_path_carries_the_security_headers_once(app, client, post, monkeypatch):
    """POST and GET /webhook are answered ahead of Flask (handlers/web/webhook.py), where
    the after_request hook never runs: each of their answers sets the headers itself."""
    from tests.conftest import VERIFY_TOKEN

    answers = {
        "handshake": client.get(f"/webhook?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=42"),
        "handshake HEAD": client.head(f"/webhook?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=4"),
        "wrong token": client.get("/webhook?hub.mode=subscribe&hub.verify_token=no"),
        "delivery": post(payloads.of_messages(payloads.text("hola"))),
        "no signature": client.post("/webhook", data=b"{}"),
        "not JSON": post({}, body=b"{not json"),
        "wrong type": post({}, body=b"{}", headers={"Content-Type": "text/plain"}),
        "OPTIONS (Flask)": client.options("/webhook"),
        "PUT (Flask)": client.put("/webhook"),
    }
    limit, app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_CONTENT_LENGTH"], 100
    answers["too large"] = post({}, body=b'{"pad": "' + b"x" * 200 + b'"}')
    app.config["MAX_CONTENT_LENGTH"] = limit

    def broken(payload, dry_run=False):
        raise RuntimeError("a bug nobody foresaw")
    monkeypatch.setattr(app.extensions["optout"], "handle", broken)
    answers["internal error"] = post(payloads.of_messages(payloads.text("hola")))

    statuses = {name: response.status_code for name, response in answers.items()}
    assert statuses == {"handshake": 200, "handshake HEAD": 200, "wrong token": 403, "delivery": 200,
                        "no signature": 401, "not JSON": 400, "wrong type": 415, "OPTIONS (Flask)": 200,
                        "PUT (Flask)": 405, "too large": 413, "internal error": 500}
    for name, response in answers.items():
        _check_headers(response.headers)
        for header in ("Content-Security-Policy", *SECURITY_HEADERS):
            assert len(response.headers.getlist(header)) == 1, (name, header)


def test_admin_pages_use_no_inline_script_or_style(admin):
    for path in ("/admin/keywords", "/admin/review", "/admin/audit", "/admin/numbers/593991234567"):
        html = admin.get(path).text.lower()
        scripts = re.findall(r"<script[^>]*>", html)
        assert all(" src=" in tag and "/admin/static/" in tag for tag in scripts), scripts  # files of our own only
        assert "<script>" not in html and "style=" not in html and "<style" not in html and " on" + "click" not in html


def test_session_cookie_is_secure_outside_development(client, staff_account):
    cookie = login(client).headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_the_real_service_sends_the_security_headers_and_a_secure_cookie(tmp_path, cloud_api):
    with GunicornService(str(tmp_path / "served.db"), cloud_api.url) as service:
        for path in ("/admin/login", "/healthz"):
            with urllib.request.urlopen(service.url + path, timeout=10) as response:
                _check_headers(response.headers)
                if path == "/admin/login":
                    assert "Secure" in response.headers["Set-Cookie"]
        body = payloads.encode(payloads.of_messages(payloads.text("hola")))
        request = urllib.request.Request(service.url + "/webhook", data=body, method="POST",
                                         headers=payloads.signed_headers(body, service.app_secret))
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            _check_headers(response.headers)


# -- item 9: development mode fails safe ------------------------------------------------------


@pytest.fixture
def dev_app(db_path, cloud_api):
    def build(**env):
        settings = Settings.from_env({"OPTOUT_DEV_MODE": "1", "OPTOUT_DB": db_path, "WHATSAPP_API_URL": cloud_api.url,
                                      **env})
        app = create_app({"settings": settings, "TESTING": True})
        built.append(app)
        return app
    built: list = []
    yield build
    for app in built:
        app.extensions["optout"].close()


@pytest.mark.parametrize("given", [{"WHATSAPP_APP_SECRET": "real-app-secret"},
                                   {"WHATSAPP_VERIFY_TOKEN": "real-verify-token"},
                                   {"WHATSAPP_APP_SECRET": "real-app-secret", "WHATSAPP_VERIFY_TOKEN": "real-verify"}])
def test_with_real_secrets_development_values_never_authenticate(dev_app, given):
    app = dev_app(**given)
    client = app.test_client()
    api = client.get("/api/suppressions/593991234567", headers={"Authorization": f"Bearer {DEV_ADMIN_TOKEN}"})
    assert api.status_code == 401
    if "WHATSAPP_VERIFY_TOKEN" not in given:
        handshake = client.get("/webhook", query_string={"hub.mode": "subscribe", "hub.verify_token": "dev-verify-token",
                                                         "hub.challenge": "x"})
        assert handshake.status_code == 403
    if "WHATSAPP_APP_SECRET" not in given:
        body = payloads.encode(payloads.of_messages(payloads.text("STOP")))
        assert client.post("/webhook", data=body, headers=payloads.signed_headers(body, DEV_APP_SECRET)).status_code == 401


def test_without_any_secret_development_mode_fills_in_its_values(dev_app):
    client = dev_app().test_client()
    assert client.get("/api/suppressions/593991234567",
                      headers={"Authorization": f"Bearer {DEV_ADMIN_TOKEN}"}).status_code == 200


def test_a_cookie_signed_with_the_published_development_key_is_no_session(dev_app):
    app = dev_app()
    service = app.extensions["optout"]
    accounts.add(service.db, "ana", STAFF_PASSWORD)
    token = service.db.execute("SELECT session_token FROM staff WHERE name = 'ana'").fetchone()[0]
    forger = Flask("forger")
    forger.config["SECRET_KEY"] = service.settings.session_key  # derived from the published dev-app-secret
    assert service.settings.app_secret == DEV_APP_SECRET
    forged = forger.session_interface.get_signing_serializer(forger).dumps({"staff": "ana", "token": token})
    response = with_cookie(app, forged).get("/admin/keywords")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    # The key development mode uses instead is shared by every worker of the database.
    client = app.test_client()
    assert login(client).status_code == 302
    other_worker = dev_app()
    assert with_cookie(other_worker, cookie_of(client)).get("/admin/keywords").status_code == 200


def test_development_mode_with_a_random_app_secret_still_shares_sessions_between_workers(dev_app):
    first, second = dev_app(ADMIN_TOKEN="real-admin-token"), dev_app(ADMIN_TOKEN="real-admin-token")
    assert first.extensions["optout"].settings.app_secret != second.extensions["optout"].settings.app_secret
    accounts.add(first.extensions["optout"].db, "ana", STAFF_PASSWORD)
    client = first.test_client()
    assert login(client).status_code == 302
    assert with_cookie(second, cookie_of(client)).get("/admin/keywords").status_code == 200


@pytest.mark.parametrize("variable", ["WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "ADMIN_TOKEN",
                                      "WHATSAPP_ACCESS_TOKEN", "OPTOUT_SECRET_KEY", "OPTOUT_METRICS_TOKEN"])
@pytest.mark.parametrize("dev_mode", ["0", "1"])
def test_blank_secrets_are_refused_with_a_clear_error(variable, dev_mode):
    env = {"WHATSAPP_APP_SECRET": "s", "WHATSAPP_VERIFY_TOKEN": "v", "ADMIN_TOKEN": "a", "OPTOUT_DEV_MODE": dev_mode}
    with pytest.raises(ConfigError, match=f"{variable} is blank"):
        Settings.from_env({**env, variable: " \t "})


def test_a_published_development_value_is_refused_outside_development_mode():
    with pytest.raises(ConfigError, match="ADMIN_TOKEN is a published development value"):
        Settings.from_env({"WHATSAPP_APP_SECRET": "s", "WHATSAPP_VERIFY_TOKEN": "v", "ADMIN_TOKEN": DEV_ADMIN_TOKEN})


@pytest.mark.parametrize("address,loopback", [
    ("127.0.0.1:8000", True), ("localhost:8000", True), ("[::1]:8000", True), ("127.8.0.1:80", True),
    ("unix:/run/optout.sock", True), ("0.0.0.0:8000", False), (":8000", False), ("[::]:8000", False),
    ("192.168.1.5:8000", False), ("example.com:8000", False), ("fd://3", False),
])
def test_loopback_addresses_are_told_apart(address, loopback):
    assert is_loopback_bind(address) is loopback
    if not loopback:
        with pytest.raises(ConfigError, match="OPTOUT_DEV_MODE=1 listens on this machine only"):
            check_bind(["127.0.0.1:8000", address], {"OPTOUT_DEV_MODE": "1"})
        check_bind([address], {})  # outside development mode any address is the operator's choice


def test_the_real_service_in_development_mode_refuses_a_public_address(tmp_path, cloud_api):
    service = GunicornService(str(tmp_path / "dev.db"), cloud_api.url, log_path=str(tmp_path / "gunicorn.log"))
    service.env.update({"OPTOUT_DEV_MODE": "1", "OPTOUT_BIND": f"0.0.0.0:{service.port}"})
    with pytest.raises(RuntimeError, match="exited with 1"):
        service.start(timeout=20)
    service.stop()
    lines = [line for line in (tmp_path / "gunicorn.log").read_text("utf-8").splitlines() if line.strip()]
    refusal = [line for line in lines if "OPTOUT_DEV_MODE=1 listens on this machine only" in line]
    assert len(refusal) == 1 and f"0.0.0.0:{service.port}" in refusal[0]
    assert not any(line.lstrip().startswith("Traceback") for line in lines)


def test_the_real_service_in_development_mode_on_loopback_starts_and_says_so(tmp_path, cloud_api):
    service = GunicornService(str(tmp_path / "dev.db"), cloud_api.url)
    service.env.update({"OPTOUT_DEV_MODE": "1"})
    with service:
        status, _ = service.request("GET", "/healthz")
        assert status == 200
        assert "OPTOUT_DEV_MODE is on: listening on loopback only" in service.log_tail(20_000)


def test_dev_mode_notes_name_what_was_filled_in():
    notes = Settings.from_env({"OPTOUT_DEV_MODE": "1", "WHATSAPP_APP_SECRET": "real"}).dev_mode_notes()
    assert any("WHATSAPP_VERIFY_TOKEN, ADMIN_TOKEN not set" in note and "random" in note for note in notes)
