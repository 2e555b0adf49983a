"""Point 9: the suppression API for campaign systems."""
import csv
import io
import time

import pytest

from handlers.testing import payloads


@pytest.mark.parametrize("path,method", [
    ("/api/suppressions/14155550123", "get"), ("/api/suppressions/check", "post"),
    ("/api/suppressions.csv", "get"), ("/api/suppressions/14155550123/history", "get"),
])
@pytest.mark.parametrize("auth", [None, "Bearer wrong", "Basic dGVzdA==", "Bearer"])
def test_api_needs_the_admin_bearer_token(client, path, method, auth):
    headers = {"Authorization": auth} if auth else {}
    response = getattr(client, method)(path, headers=headers, json=[])
    assert response.status_code == 401
    assert "bearer" in response.json["error"]


def test_unknown_number_is_not_suppressed(api):
    assert api.get("/api/suppressions/14155550123").json == {
        "wa_id": "14155550123", "canonical": "14155550123", "suppressed": False, "category": "marketing",
        "scope": None, "since": None, "source": None}


def test_lookup_accepts_formatted_numbers(post, api):
    post(payloads.of_messages(payloads.text("STOP", wa_id="593991234567", timestamp=1764000000)))
    body = api.get("/api/suppressions/+593 99 123 4567").json
    assert body == {"wa_id": "593991234567", "canonical": "593991234567", "suppressed": True, "category": "marketing",
                    "scope": "all", "since": "2025-11-24T16:00:00.000000Z", "source": "keyword"}


def test_invalid_number_is_a_clear_400(api):
    response = api.get("/api/suppressions/not-a-number")
    assert response.status_code == 400
    assert "invalid wa_id" in response.json["error"]


def test_check_returns_which_numbers_are_suppressed(post, api):
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123"), payloads.text("BAJA", wa_id="34612345678")))
    response = api.post("/api/suppressions/check", json={"wa_ids": ["+1 415 555 0123", "34612345678", "4915123456789", "xyz"]})
    assert response.status_code == 200
    assert response.json["suppressed"] == ["14155550123", "34612345678"]
    assert response.json["not_suppressed"] == ["4915123456789"]
    assert [item["wa_id"] for item in response.json["invalid"]] == ["xyz"]


def test_check_accepts_a_bare_list_and_refuses_other_shapes(api):
    assert api.post("/api/suppressions/check", json=["14155550123"]).json["not_suppressed"] == ["14155550123"]
    response = api.post("/api/suppressions/check", json={"numbers": "14155550123"})
    assert response.status_code == 400 and "list" in response.json["error"]


def test_check_refuses_oversized_batches(api):
    response = api.post("/api/suppressions/check", json=["14155550123"] * 10_001)
    assert response.status_code == 413


def test_csv_export_lists_only_currently_suppressed_numbers(post, api):
    now = int(time.time())
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123", timestamp=now - 10),
                              payloads.text("STOP", wa_id="14155550124", timestamp=now - 10)))
    post(payloads.of_messages(payloads.text("START", wa_id="14155550124", timestamp=now)))
    response = api.get("/api/suppressions.csv")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [row["wa_id"] for row in rows] == ["14155550123"]
    assert rows[0]["source"] == "keyword"


def test_history_endpoint_lists_every_event(post, api):
    now = int(time.time())
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123", timestamp=now - 10)))
    post(payloads.of_messages(payloads.text("START", wa_id="14155550123", timestamp=now)))
    events = api.get("/api/suppressions/14155550123/history").json["events"]
    assert [(e["action"], e["source"]) for e in events] == [("opt_out", "keyword"), ("opt_in", "keyword")]


def test_a_batch_of_ten_thousand_is_answered_in_seconds_whatever_the_list_holds(api, service):
    """The check reads every form through indexes: left to itself, SQLite once walked every
    suppressed person for each chunk of keys (minutes for 10,000 numbers)."""
    from handlers.consent import ledger
    from handlers.consent.ledger import Action, ConsentChange, Source
    from handlers.storage import clock
    from handlers.storage.db import transaction
    with transaction(service.db):
        for n in range(5000):
            ledger.record(service.db, ConsentChange(wa_id=f"52155{n:08d}", action=Action.OPT_OUT, source=Source.IMPORT,
                                                    occurred_at=clock.now_iso()))
    numbers = [f"+52 55 {n:08d}" for n in range(10_000)]
    started = time.monotonic()
    response = api.post("/api/suppressions/check", json={"wa_ids": numbers})
    assert time.monotonic() - started < 10
    assert len(response.json["suppressed"]) == 5000 and len(response.json["not_suppressed"]) == 5000
