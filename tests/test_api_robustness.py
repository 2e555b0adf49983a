"""Issue 12 (items 12, 13, 14): clear 400s instead of 500s, review ids with "/", and CSV
cells no spreadsheet runs as a formula. Through HTTP."""
import csv
import io

import pytest

from handlers.consent import ledger, review
from handlers.consent.ledger import Action, ConsentChange, Source
from handlers.detection.classify import Classification
from handlers.detection.intents import Intent
from handlers.storage.db import transaction
from tests.admin_client import STAFF_PASSWORD, csrf_token


@pytest.mark.parametrize("limit", ["abc", "", "-1", "0", "1e3", "²", "100000", pytest.param("9" * 5000, id="5000-digits")])
def test_audit_limit_that_is_not_a_small_whole_number_is_a_clear_400(api, limit):
    response = api.get(f"/api/audit?limit={limit}")
    assert response.status_code == 400
    assert "limit must be a whole number" in response.json["error"]


def test_audit_limit_is_honoured(api):
    assert api.get("/api/audit?limit=5").status_code == 200


def _nested(depth: int, inner: str = "1") -> bytes:
    return ("[" * depth + inner + "]" * depth).encode()


@pytest.mark.parametrize("depth", [40, 900, 5_000, 100_000])
@pytest.mark.parametrize("path", ["/api/suppressions/check", "/api/keywords/test", "/api/keywords/preview"])
def test_deeply_nested_json_is_a_clear_400(api, path, depth):
    body = _nested(depth) if path.endswith("check") else b'{"text": ' + _nested(depth, '"stop"') + b"}"
    response = api.post(path, data=body, content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)[:200]
    assert "nested more than" in response.json["error"]


def test_shallow_json_still_works_after_the_depth_check(api):
    response = api.post("/api/suppressions/check", json={"wa_ids": ["593991234567"]})
    assert response.status_code == 200 and response.json["not_suppressed"] == ["593991234567"]


def test_check_with_a_body_that_is_not_json_is_a_clear_400(api):
    response = api.post("/api/suppressions/check", data=b"\xff{", content_type="application/json")
    assert response.status_code == 400 and "not valid JSON" in response.json["error"]


@pytest.mark.parametrize("target", [
    "/admin/\r\nX-Injected: 1", "/admin/\nX", "//evil.example/admin/", "https://evil.example/admin/",
    "/admin/../..//evil.example", "/admin/\\evil", "/admin//evil.example", "/admin/\x00", "/admin/\u2028x",
])
def test_login_next_never_redirects_off_site_or_injects_a_header(client, staff_account, target):
    page = client.get("/admin/login", query_string={"next": target})
    assert page.status_code == 200
    response = client.post("/admin/login", data={"csrf_token": csrf_token(page.text), "name": "ana",
                                                 "password": STAFF_PASSWORD, "next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    assert "X-Injected" not in response.headers


def test_login_next_within_the_admin_site_is_followed(client, staff_account):
    page = client.get("/admin/login")
    response = client.post("/admin/login", data={"csrf_token": csrf_token(page.text), "name": "ana",
                                                 "password": STAFF_PASSWORD, "next": "/admin/review?x=1"})
    assert response.headers["Location"] == "/admin/review?x=1"


SLASHED_IDS = ["wamid.HBgL/MTQxNTU1+NTAxMjM=", "wamid.a//b/", "wamid.%2F?#x"]


def _queue(service, message_id: str) -> None:
    review.add(service.db, message_id, "593991234567", "no más mensajes de esto, por favor, gracias",
               Classification(Intent.NONE, "anywhere:es:no más", None, "es", "no mas", certain=False))


@pytest.mark.parametrize("message_id", SLASHED_IDS)
def test_a_review_item_whose_id_holds_a_slash_can_be_decided_on_the_page(admin, service, read_db, message_id):
    _queue(service, message_id)
    page = admin.get("/admin/review").text
    action = page.split('class="decide"')[0].rsplit('<form method="post" action="', 1)[1].split('"')[0]
    assert action.startswith("/admin/review/wamid.")
    response = admin.post(action.replace("&amp;", "&"), {"decision": "not_opt_out", "reason": "a question"},
                          follow=True)
    assert "Not an opt-out: recorded for" in response.text
    assert read_db("SELECT state, decision FROM review_queue WHERE message_id = ?", [message_id]) == [
        {"state": "decided", "decision": "not_opt_out"}]


@pytest.mark.parametrize("message_id", SLASHED_IDS)
def test_a_review_item_whose_id_holds_a_slash_can_be_decided_through_the_api(api, service, read_db, message_id):
    from urllib.parse import quote
    _queue(service, message_id)
    response = api.post("/api/review/" + quote(message_id, safe="/"), json={"decision": "opt_out", "reason": "x"})
    assert response.status_code == 200, response.json
    assert read_db("SELECT suppressed FROM suppressions WHERE wa_id = '593991234567'") == [{"suppressed": 1}]


@pytest.mark.parametrize("sender", ["=HYPERLINK(\"http://evil\",\"x\")", "+SUM(1,2)", "-2+3", "@cmd", "\tx"])
def test_csv_export_neutralises_cells_a_spreadsheet_would_run(api, service, sender):
    with transaction(service.db):
        ledger.record(service.db, ConsentChange(wa_id=sender, action=Action.OPT_OUT, source=Source.STAFF,
                                                occurred_at="2025-11-24T16:00:00.000000Z", rule="=1+1"))
    response = api.get("/api/suppressions.csv")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[1][0] == "'" + sender and rows[1][3] == "'=1+1"
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row)


def test_csv_export_keeps_ordinary_cells_as_they_are(api, service):
    with transaction(service.db):
        ledger.record(service.db, ConsentChange(wa_id="593991234567", action=Action.OPT_OUT, source=Source.KEYWORD,
                                                occurred_at="2025-11-24T16:00:00.000000Z", rule="whole_message:es:baja"))
    rows = list(csv.reader(io.StringIO(api.get("/api/suppressions.csv").get_data(as_text=True))))
    assert rows[1] == ["593991234567", "2025-11-24T16:00:00.000000Z", "keyword", "whole_message:es:baja", "all",
                       "593991234567"]
