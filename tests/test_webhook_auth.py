"""Points 1-2: Meta's subscription handshake and the signature on every delivery."""
import pytest

from handlers.settings import ConfigError, Settings
from handlers.testing import payloads
from tests.conftest import VERIFY_TOKEN


def test_handshake_echoes_challenge_as_plain_text(client):
    response = client.get("/webhook", query_string={
        "hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"})
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "1158201444"
    assert response.mimetype == "text/plain"


@pytest.mark.parametrize("query", [
    {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
    {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
    {"hub.challenge": "1"},
])
def test_handshake_refused_without_matching_token_and_mode(client, query):
    response = client.get("/webhook", query_string=query)
    assert response.status_code == 403
    assert "1" != response.get_data(as_text=True)


@pytest.mark.parametrize("header", [None, "", "sha256=", "sha256=" + "0" * 64, "sha1=abc", "garbage"])
def test_unsigned_or_wrongly_signed_delivery_is_refused_and_changes_nothing(client, read_db, header, api):
    body = payloads.encode(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["X-Hub-Signature-256"] = header
    response = client.post("/webhook", data=body, headers=headers)
    assert response.status_code == 401
    assert "signature" in response.json["error"]
    assert read_db("SELECT * FROM suppressions") == []
    assert read_db("SELECT * FROM processed") == []


def test_delivery_signed_with_another_secret_is_refused(post, read_db):
    response = post(payloads.of_messages(payloads.text("STOP")), secret="not-our-secret")
    assert response.status_code == 401
    assert read_db("SELECT * FROM consent_events") == []


def test_signature_is_checked_over_raw_escaped_bytes(post, api):
    """Meta escapes non-ASCII; the HMAC must cover those exact bytes, not re-serialised JSON."""
    payload = payloads.of_messages(payloads.text("стоп", wa_id="79161234567"))
    body = payloads.encode(payload)
    assert b"\\u0441\\u0442\\u043e\\u043f" in body
    response = post(payload, body=body)
    assert response.status_code == 200
    assert api.get("/api/suppressions/79161234567").json["suppressed"] is True


def test_signature_over_unescaped_bytes_does_not_validate_escaped_body(client):
    from handlers.whatsapp import signature
    payload = payloads.of_messages(payloads.text("стоп"))
    escaped = payloads.encode(payload)
    import json
    unescaped = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    response = client.post("/webhook", data=escaped, headers={
        "X-Hub-Signature-256": signature.sign(unescaped, "test-app-secret"), "Content-Type": "application/json"})
    assert response.status_code == 401


def test_service_refuses_to_start_without_app_secret():
    with pytest.raises(ConfigError, match="WHATSAPP_APP_SECRET"):
        Settings.from_env(env={"WHATSAPP_VERIFY_TOKEN": "v", "ADMIN_TOKEN": "a"})


def test_development_mode_starts_with_development_secrets_only_when_asked():
    settings = Settings.from_env(env={"OPTOUT_DEV_MODE": "1"})
    assert settings.app_secret == "dev-app-secret"
    assert Settings.from_env(env={"OPTOUT_DEV_MODE": "1", "WHATSAPP_APP_SECRET": "real"}).app_secret == "real"
    with pytest.raises(ConfigError):
        Settings.from_env(env={"OPTOUT_DEV_MODE": "0"})


def test_environment_names_configure_the_service(tmp_path):
    settings = Settings.from_env(env={
        "WHATSAPP_APP_SECRET": "s", "WHATSAPP_VERIFY_TOKEN": "v", "ADMIN_TOKEN": "a",
        "WHATSAPP_ACCESS_TOKEN": "t", "WHATSAPP_API_URL": "http://127.0.0.1:9/v1",
        "OPTOUT_DB": str(tmp_path / "x.db"),
    })
    assert (settings.access_token, settings.api_url, settings.db_path) == ("t", "http://127.0.0.1:9/v1", str(tmp_path / "x.db"))
    assert Settings.from_env(env={"WHATSAPP_APP_SECRET": "s", "WHATSAPP_VERIFY_TOKEN": "v",
                                  "ADMIN_TOKEN": "a"}).api_url.startswith("https://graph.facebook.com/v")
