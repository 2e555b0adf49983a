"""The staff tools through the command line and the JSON API."""
import pytest

from handlers.detection.intents import Intent
from handlers.staff import accounts
from handlers.testing import payloads
from tests.admin_client import add_keyword, ensure_absent


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def run(*args, input=None):
        return runner.invoke(args=list(args), input=input)
    return run


def test_keywords_add_takes_effect_and_is_audited(cli, service, read_db):
    ensure_absent(service, "es", "bajita")
    result = cli("keywords", "add", "es", "opt_out", "bajita", "--actor", "ana")
    assert result.exit_code == 0, result.output
    service.refresh(force=True)
    assert service.classifier.classify("bajita").intent is Intent.OPT_OUT
    assert read_db("SELECT actor, action FROM audit_log ORDER BY id DESC LIMIT 1") == [
        {"actor": "ana", "action": "keyword.add"}]


@pytest.mark.parametrize("args,message", [
    (("keywords", "add", "es", "opt_out", "  "), "empty"),
    (("keywords", "add", "es", "help", "bajita"), "cannot mean both"),
    (("keywords", "remove", "es", "opt_out", "nunca-visto"), "is not"),
    (("keywords", "add", "xx", "opt_out", "hola"), "unknown language"),
])
def test_keywords_cli_refuses_invalid_edits(cli, service, args, message):
    add_keyword(service, "es", "opt_out", "bajita")
    result = cli(*args)
    assert result.exit_code == 1 and message in result.output


def test_keywords_list_remove_and_test(cli, service):
    add_keyword(service, "es", "opt_out", "bajita")
    assert "bajita" in cli("keywords", "list", "--language", "es").output
    tested = cli("keywords", "test", "bajita", "--from", "+593991234567")
    assert tested.exit_code == 0
    assert "intent:" in tested.output and "opt_out" in tested.output and "bajita" in tested.output
    assert service.classifier.reply_text(Intent.OPT_OUT, "es").splitlines()[0] in tested.output
    assert cli("keywords", "remove", "es", "opt_out", "bajita").exit_code == 0
    assert "intent:      none" in cli("keywords", "test", "bajita").output


def test_keywords_export_then_import_round_trips(cli, service, tmp_path):
    add_keyword(service, "es", "opt_out", "bajita")
    assert cli("keywords", "export", "--out", str(tmp_path)).exit_code == 0
    exported = (tmp_path / "es.toml").read_text("utf-8")
    assert "bajita" in exported
    cli("keywords", "remove", "es", "opt_out", "bajita")
    result = cli("keywords", "import", str(tmp_path / "es.toml"))
    assert result.exit_code == 0, result.output
    service.refresh(force=True)
    assert service.classifier.classify("bajita").intent is Intent.OPT_OUT


def test_keywords_log_and_undo(cli, service):
    ensure_absent(service, "es", "bajita")
    cli("keywords", "add", "es", "opt_out", "bajita")
    entry = service.db.execute("SELECT max(id) FROM audit_log").fetchone()[0]
    assert "keyword.add" in cli("keywords", "log").output
    assert cli("keywords", "undo", str(entry)).exit_code == 0
    service.refresh(force=True)
    assert service.classifier.classify("bajita").intent is Intent.NONE


def test_staff_add_reads_the_password_and_stores_only_a_hash(cli, service, read_db):
    result = cli("staff", "add", "luis", "--password-stdin", input="a long enough secret\n")
    assert result.exit_code == 0, result.output
    stored = read_db("SELECT password_hash FROM staff WHERE name = 'luis'")[0]["password_hash"]
    assert "a long enough secret" not in stored
    assert accounts.login(service.db, "luis", "a long enough secret", "1.2.3.4").ok
    assert cli("staff", "add", "luis", "--password-stdin", input="another long secret\n").exit_code == 1
    assert cli("staff", "add", "eva", "--password-stdin", input="short\n").exit_code == 1


CSV = """phone,date,reason
+593 99 123 4567,2024-05-01,previous provider
593991234567,2024-05-02,
14155550123,,
not-a-number,,
+1 415 555 0199,yesterday,
"""


@pytest.mark.parametrize("header", ["Name,Phone Number,Opt Out Date", "Nombre,Teléfono móvil,Fecha de baja",
                                    "name,whatsapp,unsubscribed_at", "Customer,Mobile No.,Date"])
def test_the_import_finds_number_and_date_columns_by_the_words_of_their_header(cli, tmp_path, read_db, header):
    path = tmp_path / "list.csv"
    path.write_text(f"{header}\nJuan,+1 415 555 0123,2025-03-01\n", "utf-8")
    result = cli("suppressions", "import", str(path))
    assert result.exit_code == 0 and "added            1" in result.output, result.output
    assert read_db("SELECT wa_id, occurred_at FROM consent_events")[0]["occurred_at"].startswith("2025-03-01")


def test_the_rejected_rows_file_runs_no_formula_and_imports_again(cli, tmp_path, read_db):
    import csv
    path = tmp_path / "old.csv"
    path.write_text('wa_id,reason\n=HYPERLINK("http://evil.example"),no\n+1 415 555 0123,fine\n', "utf-8")
    assert cli("suppressions", "import", str(path)).exit_code == 0
    rejected = (tmp_path / "old.rejected.csv").read_text("utf-8-sig")
    rows = list(csv.reader(rejected.splitlines()))
    assert rows[1][1] == "'=HYPERLINK(\"http://evil.example\")"
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_suppressions_import_reports_added_present_and_rejected(cli, service, tmp_path, read_db):
    service.handle(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    path = tmp_path / "old-provider.csv"
    path.write_text(CSV, "utf-8")
    result = cli("suppressions", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "added            2" in result.output
    assert "already present  1" in result.output
    assert "duplicates       1" in result.output
    assert "line 3" in result.output and "duplicate in file (first on line 2)" in result.output
    assert "date unknown     1" in result.output and "line 6: +1 415 555 0199" in result.output
    assert "rejected         1" in result.output
    assert "line 5: not-a-number" in result.output and "invalid number" in result.output   # as written, for the operator
    assert (tmp_path / "old-provider.rejected.csv").read_text("utf-8-sig").splitlines()[1].startswith("5,not-a-number")
    # Every row read is an event, the one already present too (it orders later signals).
    imported = read_db("SELECT wa_id, source, actor, reason, occurred_at FROM consent_events WHERE source = 'import' "
                       "ORDER BY id")
    assert imported[0] == {"wa_id": "593991234567", "source": "import", "actor": "old-provider.csv",
                           "reason": "previous provider", "occurred_at": "2024-05-01T00:00:00.000000Z"}
    assert [event["wa_id"] for event in imported] == ["593991234567", "14155550123", "14155550199"]
    assert "date unknown" in imported[2]["reason"]
    assert read_db("SELECT action, target FROM audit_log WHERE action = 'import'") == [
        {"action": "import", "target": "old-provider.csv"}]


def test_suppressions_import_accepts_a_bare_list_of_numbers(cli, tmp_path, read_db):
    path = tmp_path / "list.csv"
    path.write_text("593991234567\n14155550123\n", "utf-8")
    assert "added            2" in cli("suppressions", "import", str(path)).output
    assert read_db("SELECT count(*) AS n FROM suppressions WHERE suppressed = 1") == [{"n": 2}]


def test_suppressions_import_of_an_unreadable_file_fails(cli, tmp_path):
    result = cli("suppressions", "import", str(tmp_path / "missing.csv"))
    assert result.exit_code != 0 and "cannot read" in result.output


def test_suppressions_export_lists_suppressed_numbers(cli, service):
    service.handle(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    output = cli("suppressions", "export").output
    assert output.splitlines()[0] == "wa_id,since,source,rule,scope,person"
    assert "14155550123" in output


@pytest.mark.parametrize("method,path", [
    ("get", "/api/keywords"), ("post", "/api/keywords"), ("post", "/api/keywords/remove"),
    ("post", "/api/keywords/preview"), ("post", "/api/keywords/test"), ("get", "/api/audit"),
    ("post", "/api/audit/1/undo"), ("get", "/api/review"), ("post", "/api/review/x"),
    ("put", "/api/replies/es/help"), ("post", "/api/suppressions/593991234567/opt-out"),
])
def test_keyword_api_needs_the_bearer_token(client, method, path):
    assert getattr(client, method)(path, json={}).status_code == 401


def test_api_add_keyword_then_delivery_uses_it(api, service, post, read_db):
    ensure_absent(service, "es", "bajita")
    # read once before the edit: what the worker remembers of a text must not outlive the keyword list
    post(payloads.of_messages(payloads.text("bajita", wa_id="593991234500", id="wamid.BEFORE")))
    assert read_db("SELECT suppressed FROM suppressions") == []
    response = api.post("/api/keywords", json={"language": "es", "intent": "opt_out", "keyword": "bajita",
                                               "actor": "crm"})
    assert response.status_code == 201, response.json
    assert "bajita" in api.get("/api/keywords?language=es").json["languages"]["es"]["keywords"]["opt_out"]["whole_message"]
    post(payloads.of_messages(payloads.text("bajita", wa_id="593991234567", id="wamid.AFTER")))
    assert read_db("SELECT suppressed FROM suppressions") == [{"suppressed": 1}]   # the second number only
    assert api.get("/api/audit").json["entries"][0]["actor"] == "api:crm"


@pytest.mark.parametrize("body,message", [
    ({"language": "es", "intent": "opt_out", "keyword": " "}, "empty"),
    ({"language": "es", "intent": "opt_in", "keyword": "bajita"}, "cannot mean both"),
    ({"language": "es", "intent": "stop", "keyword": "x"}, "unknown intent"),
])
def test_api_refuses_invalid_keywords_with_a_clear_400(api, service, body, message):
    add_keyword(service, "es", "opt_out", "bajita")
    response = api.post("/api/keywords", json=body)
    assert response.status_code == 400 and message in response.json["error"]


@pytest.mark.parametrize("reply,status", [("a" * 4097, 400), ("", 400), ("Escribe BAJA.", 200)])
def test_api_reply_edit_is_validated(client, reply, status):
    from tests.conftest import ADMIN_TOKEN
    response = client.put("/api/replies/es/help", json={"reply": reply},
                          headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == status, response.json


def test_api_preview_lists_messages_that_would_change(api, service, post):
    ensure_absent(service, "es", "alto")
    post(payloads.of_messages(payloads.text("El precio es muy alto", wa_id="593990000001")))
    body = api.post("/api/keywords/preview", json={"op": "add", "language": "es", "intent": "opt_out",
                                                    "keyword": "alto", "match": "anywhere",
                                                    "text": "El precio es muy alto"}).json
    assert [row["text"] for row in body["changed"]] == ["El precio es muy alto"]
    assert body["try"]["before"]["intent"] == "none" and body["try"]["after"]["intent"] == "opt_out"


def test_api_test_and_consent_by_hand(api, service, read_db):
    add_keyword(service, "es", "opt_out", "bajita")
    assert api.post("/api/keywords/test", json={"text": "bajita", "wa_id": "+593991234567"}).json["intent"] == "opt_out"
    assert api.post("/api/suppressions/593991234567/opt-out", json={}).status_code == 400
    answer = api.post("/api/suppressions/593991234567/opt-out", json={"reason": "by phone", "actor": "ana"}).json
    assert answer == {"wa_id": "593991234567", "canonical": "593991234567", "changed": True, "suppressed": True,
                      "scope": "all"}
    assert read_db("SELECT source, actor FROM consent_events") == [{"source": "staff", "actor": "api:ana"}]


@pytest.mark.parametrize("method,path,body", [
    ("post", "/api/keywords", b"{not json"),
    ("post", "/api/keywords", b"[1, 2]"),
    ("post", "/api/keywords/remove", b"null"),
    ("put", "/api/replies/es/opt_out", b'"just a string"'),
])
def test_keyword_api_refuses_bodies_that_are_not_json_objects(client, method, path, body):
    response = getattr(client, method)(path, data=body, headers={
        "Authorization": "Bearer test-admin-token", "Content-Type": "application/json"})
    assert response.status_code == 400
    assert "JSON object" in response.json["error"]


def test_reply_must_be_text(client):
    response = client.put("/api/replies/es/opt_out", json={"reply": 7},
                          headers={"Authorization": "Bearer test-admin-token"})
    assert response.status_code == 400 and "must be text" in response.json["error"]
