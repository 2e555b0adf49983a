"""Issue 5: `flask replay` (in-process, dry run, against gunicorn) and recording."""
import json
import time

import pytest

from handlers.testing import payloads
from handlers.testing.gunicorn import GunicornService


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()

    def run(*args):
        return runner.invoke(args=["replay", *args], catch_exceptions=False)
    return run


def _write(folder, name, payload):
    path = folder / name
    path.write_bytes(payloads.encode(payload))
    return path


def test_replay_text_builds_signs_and_posts_a_delivery(run, api):
    result = run("--text", "Quiero darme de baja", "--from", "+593 99 123 4567")
    assert result.exit_code == 0, result.output
    assert "opt_out/es" in result.output
    assert "opt_out (keyword)" in result.output
    assert "5939" in result.output and "593991234567" not in result.output  # masked
    assert api.get("/api/suppressions/593991234567").json["suppressed"] is True


def test_replay_dry_run_writes_and_sends_nothing(run, api, read_db):
    result = run("--dry-run", "--text", "STOP", "--from", "+14155550123")
    assert result.exit_code == 0, result.output
    assert "opt_out" in result.output and "would be queued" in result.output
    assert api.get("/api/suppressions/14155550123").json["suppressed"] is False
    assert read_db("SELECT * FROM processed") == read_db("SELECT * FROM outbox") == []


def test_replay_folder_prints_a_row_per_file_and_fails_on_a_refused_delivery(run, tmp_path):
    folder = tmp_path / "payloads"
    folder.mkdir()
    _write(folder, "a-stop.json", payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    _write(folder, "b-hello.json", payloads.of_messages(payloads.text("hello", wa_id="14155550124")))
    (folder / "c-broken.json").write_text('{"entry": [')
    result = run(str(folder))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(line.startswith("a-stop.json") and "200" in line and "opt_out" in line for line in lines)
    assert any(line.startswith("b-hello.json") and "none" in line for line in lines)
    assert any(line.startswith("c-broken.json") and "400" in line for line in lines)


def test_replay_refuses_missing_paths_clearly(run):
    result = run("no/such/file.json")
    assert result.exit_code == 2
    assert "no such file or folder" in result.output


def test_replay_against_a_running_gunicorn_service(tmp_path, cloud_api, app):
    folder = tmp_path / "payloads"
    folder.mkdir()
    _write(folder, "stop.json", payloads.of_messages(payloads.text("стоп", wa_id="79161234567")))
    with GunicornService(str(tmp_path / "served.db"), cloud_api.url, app_secret=app.extensions["optout"].settings.app_secret) as service:
        result = app.test_cli_runner().invoke(args=["replay", "--url", service.url, str(folder)])
        assert result.exit_code == 0, result.output
        assert "opt_out" in result.output
        status, body = service.api("GET", "/api/suppressions/79161234567")
        assert json.loads(body)["suppressed"] is True
        assert len(cloud_api.wait_for(1, timeout=10)) == 1


def test_replay_reports_an_unreachable_service(run):
    result = run("--url", "http://127.0.0.1:9", "--text", "STOP")
    assert result.exit_code == 1
    assert "could not reach" in result.output


def test_recording_writes_verified_deliveries_with_stable_fake_numbers(tmp_path, settings, post):
    from dataclasses import replace

    from app import create_app
    record_dir = tmp_path / "recorded"
    app = create_app({"settings": replace(settings, record_dir=str(record_dir), record_anonymize=True)})
    try:
        client = app.test_client()
        now = int(time.time())
        for text, at in (("STOP", now - 10), ("START", now)):  # at the same second, the opt-out would win
            delivery = payloads.of_messages(payloads.text(text, wa_id="593991234567", timestamp=at))
            delivery["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = "María Pérez"
            body = payloads.encode(delivery)
            assert client.post("/webhook", data=body, headers=payloads.signed_headers(body, settings.app_secret)).status_code == 200
        bad = payloads.encode(payloads.of_messages(payloads.text("STOP")))
        client.post("/webhook", data=bad, headers={"X-Hub-Signature-256": "sha256=00"})
    finally:
        app.extensions["optout"].close()
    files = sorted(record_dir.glob("*.json"))
    assert len(files) == 2  # the unsigned delivery is not recorded
    texts = [f.read_text() for f in files]
    assert all("593991234567" not in t and "Mar" not in t for t in texts)
    senders = [json.loads(t)["entry"][0]["changes"][0]["value"]["messages"][0]["from"] for t in texts]
    assert senders[0] == senders[1] and senders[0].startswith("593") and len(senders[0]) == 12
    # A recording replays with the same command.
    replay = create_app({"settings": replace(settings, db_path=str(tmp_path / "replayed.db"), database_url="")})
    try:
        result = replay.test_cli_runner().invoke(args=["replay", str(record_dir), "--show-numbers"])
    finally:
        replay.extensions["optout"].close()
    assert result.exit_code == 0, result.output
    assert f"{senders[0]} opt_out" in result.output and f"{senders[0]} opt_in" in result.output


def test_recording_without_anonymisation_keeps_the_exact_bytes(tmp_path, settings):
    from dataclasses import replace

    from app import create_app
    app = create_app({"settings": replace(settings, record_dir=str(tmp_path / "raw"), record_anonymize=False)})
    try:
        body = payloads.encode(payloads.of_messages(payloads.text("стоп", wa_id="79161234567")))
        app.test_client().post("/webhook", data=body, headers=payloads.signed_headers(body, settings.app_secret))
    finally:
        app.extensions["optout"].close()
    (recorded,) = (tmp_path / "raw").glob("*.json")
    assert recorded.read_bytes() == body


def test_separate_replay_runs_never_reuse_a_message_id(monkeypatch):
    """Each `flask replay --text` is its own process, often within the same second; a
    repeated id would be dropped by dedupe as a redelivery of the first message."""
    import importlib
    import time

    from handlers.ops import replay
    monkeypatch.setattr(time, "time", lambda: 1795589000.0)
    ids = []
    for _ in range(2):
        module = importlib.reload(replay)  # a fresh process's module state
        ids.append(module.text_delivery("STOP", "+14155550123")["entry"][0]["changes"][0]["value"]["messages"][0]["id"])
    assert ids[0] != ids[1]


@pytest.fixture
def no_network(monkeypatch):
    """Record where replay would post, and post nowhere."""
    import urllib.error
    import urllib.request
    attempts = []

    def refuse(request, timeout=None):
        attempts.append(request.full_url)
        raise urllib.error.URLError("test: no network")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return attempts


@pytest.mark.parametrize("url", ["https://optout.example.com", "http://10.1.2.3:8000", "http://[2001:db8::1]/",
                                 "http://localhost.example.com:8000"])
def test_replay_to_another_machine_needs_allow_remote(app, no_network, url):
    result = app.test_cli_runner().invoke(args=["replay", "--url", url, "--text", "STOP"])
    assert result.exit_code == 2
    assert "--allow-remote" in result.output and "app secret" in result.output
    assert no_network == []


def test_replay_to_another_machine_with_allow_remote_warns_then_posts(app, no_network):
    result = app.test_cli_runner().invoke(args=["replay", "--url", "https://optout.example.com", "--allow-remote",
                                                "--text", "STOP"])
    assert "warning: posting deliveries signed with this environment's app secret to optout.example.com" in result.output
    assert no_network == ["https://optout.example.com/webhook"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9", "http://127.8.0.1:9"])
def test_replay_to_this_machine_needs_no_flag_and_prints_no_warning(app, no_network, url):
    result = app.test_cli_runner().invoke(args=["replay", "--url", url, "--text", "STOP"])
    assert result.exit_code == 1 and "could not reach" in result.output
    assert "warning" not in result.output and len(no_network) == 1


PERSONAL = ["593991234567", "María Pérez", "maria.perez", "Ravi Kumar", "Ravi", "Kumar", "919812345670",
            "98123 45670", "Sheena Nelson", "Sheena", "14155550999", "415 555 0177", "4155550177",
            "ravi@example.com", "US.13491208655302741918", "US.13491208655302749999", "-2.170", "Malecón 2000"]


def _personal_deliveries() -> list[dict]:
    sender = "593991234567"
    contact = {"profile": {"name": "María Pérez", "username": "maria.perez"}, "wa_id": sender,
               "user_id": "US.13491208655302741918"}
    card = {"name": {"formatted_name": "Ravi Kumar", "first_name": "Ravi", "last_name": "Kumar"},
            "phones": [{"phone": "+91 98123 45670", "type": "CELL", "wa_id": "919812345670"}],
            "emails": [{"email": "ravi@example.com", "type": "WORK"}], "org": {"company": "Kumar Textiles"}}
    messages = [
        payloads.text("STOP, and call me on +1 (415) 555 0177 or 4155550177, not ravi@example.com", wa_id=sender),
        payloads.message("contacts", {}, wa_id=sender) | {"contacts": [card]},
        payloads.message("system", {"body": "User María Pérez changed from 593991234567 to 14155550999",
                                    "new_wa_id": "14155550999", "type": "user_changed_number"}, wa_id=sender),
        payloads.message("system", {"body": "Sheena Nelson changed their user ID from US.13491208655302741918 "
                                             "to US.13491208655302749999", "user_id": "US.13491208655302749999",
                                    "type": "user_changed_user_id"}, wa_id=sender),
        payloads.message("location", {"latitude": -2.1709, "longitude": -79.9224, "name": "Malecón 2000",
                                      "address": "Av. Malecón Simón Bolívar"}, wa_id=sender),
    ]
    return [payloads.delivery(payloads.change(messages=[message], contacts=[contact])) for message in messages]


def test_recordings_replace_every_personal_detail_with_stable_fakes_in_private_files(tmp_path, settings):
    from dataclasses import replace

    from app import create_app
    record_dir = tmp_path / "recorded"
    app = create_app({"settings": replace(settings, record_dir=str(record_dir), record_anonymize=True)})
    try:
        client = app.test_client()
        for delivery in _personal_deliveries():
            body = payloads.encode(delivery)
            response = client.post("/webhook", data=body, headers=payloads.signed_headers(body, settings.app_secret))
            assert response.status_code == 200
    finally:
        app.extensions["optout"].close()
    files = sorted(record_dir.glob("*.json"))
    assert len(files) == 5
    texts = [path.read_text() for path in files]
    for text in texts:
        decoded = json.dumps(json.loads(text), ensure_ascii=False)
        leaks = [detail for detail in PERSONAL if detail in decoded]
        assert leaks == [], decoded
    values = [json.loads(text)["entry"][0]["changes"][0]["value"] for text in texts]
    # Stable: the same person is the same fake in every file, in every place they appear.
    fake_sender = values[0]["messages"][0]["from"]
    assert {v["messages"][0]["from"] for v in values} == {fake_sender}
    assert {v["contacts"][0]["profile"]["username"] for v in values} == {values[0]["contacts"][0]["profile"]["username"]}
    number_change = values[2]["messages"][0]["system"]
    assert number_change["body"].split()[-3] == fake_sender
    assert number_change["body"].split()[-1] == number_change["new_wa_id"]
    id_change = values[3]["messages"][0]["system"]
    assert id_change["body"].split()[-1] == id_change["user_id"]
    assert id_change["body"].split()[-3] == values[0]["contacts"][0]["user_id"]
    assert "STOP" in values[0]["messages"][0]["text"]["body"]
    # Private: the service's user alone may read them.
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in files)
    assert record_dir.stat().st_mode & 0o077 == 0
