"""Point 3: every message type's words are read; odd shapes never cost a 500 or a neighbour."""
import json

import pytest

from handlers.testing import payloads


def _suppressed(api, wa_id):
    return api.get(f"/api/suppressions/{wa_id}").json["suppressed"]


def test_every_entry_change_and_message_of_a_delivery_is_processed(post, api):
    numbers = ["593991230001", "593991230002", "593991230003", "593991230004"]
    delivery = payloads.delivery(
        payloads.change(messages=[payloads.text("STOP", wa_id=numbers[0]), payloads.text("hola", wa_id="593991239999")]),
        payloads.change(messages=[payloads.text("BAJA", wa_id=numbers[1])]),
        payloads.change(messages=[payloads.text("стоп", wa_id=numbers[2])]),
        payloads.change(messages=[payloads.text("unsubscribe", wa_id=numbers[3])]),
        entries=2,
    )
    response = post(delivery)
    assert response.status_code == 200
    assert response.json["received"] == 5
    assert [_suppressed(api, n) for n in numbers] == [True] * 4
    assert not _suppressed(api, "593991239999")


@pytest.mark.parametrize("kind,content", [
    ("button", {"payload": "Stop promotions", "text": "Stop promotions"}),
    ("button", {"payload": "STOP", "text": "Opt out"}),
    ("interactive", {"type": "button_reply", "button_reply": {"id": "stop", "title": "Stop"}}),
    ("interactive", {"type": "button_reply", "button_reply": {"id": "opt-1", "title": "Unsubscribe"}}),
    ("interactive", {"type": "list_reply", "list_reply": {"id": "row-9", "title": "STOP", "description": "No more offers"}}),
    ("image", {"id": "1", "mime_type": "image/jpeg", "caption": "STOP"}),
    ("video", {"id": "2", "mime_type": "video/mp4", "caption": "unsubscribe"}),
    ("document", {"id": "3", "mime_type": "application/pdf", "filename": "x.pdf", "caption": "stop"}),
])
def test_words_are_taken_from_every_message_type_that_has_them(post, api, kind, content):
    response = post(payloads.of_messages(payloads.message(kind, content, wa_id="34612345678")))
    assert response.status_code == 200
    assert response.json["outcomes"][0]["intent"] == "opt_out"
    assert _suppressed(api, "34612345678")


def test_button_opt_out_is_recorded_as_button(post, read_db):
    post(payloads.of_messages(payloads.message("button", {"payload": "Stop promotions", "text": "Stop promotions"})))
    assert read_db("SELECT source FROM consent_events")[0]["source"] == "button"


@pytest.mark.parametrize("kind,content", [
    ("reaction", {"message_id": "wamid.X", "emoji": "\U0001F44D"}),
    ("reaction", {"message_id": "wamid.X"}),
    ("location", {"latitude": -0.18, "longitude": -78.47, "name": "Quito"}),
    ("sticker", {"id": "9", "mime_type": "image/webp", "animated": False}),
    ("unsupported", {"type": "edit"}),
    ("audio", {"id": "7", "mime_type": "audio/ogg", "voice": True}),
])
def test_message_types_without_words_are_accepted_and_ignored(post, read_db, kind, content):
    item = payloads.message(kind, content)
    if kind == "unsupported":
        item["errors"] = [{"code": 131051, "title": "Message type unknown"}]
    response = post(payloads.of_messages(item))
    assert response.status_code == 200
    assert response.json["outcomes"][0]["intent"] == "none"
    assert read_db("SELECT * FROM suppressions") == []
    assert read_db("SELECT * FROM dead_letters") == []


def test_malformed_json_is_a_400(post):
    response = post({}, body=b'{"object": "whatsapp_business_account", "entry": [')
    assert response.status_code == 400
    assert "JSON" in response.json["error"]


def test_json_that_is_not_an_object_is_a_400(post):
    assert post({}, body=b"[1, 2, 3]").status_code == 400


def test_invalid_utf8_is_a_400(post):
    assert post({}, body=b'{"entry": "\xff\xfe"}').status_code == 400


def test_wrong_content_type_is_refused_clearly(post):
    response = post(payloads.of_messages(payloads.text("STOP")), headers={"Content-Type": "text/plain"})
    assert response.status_code == 415


def test_oversized_body_is_a_413(app, post):
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    response = post({}, body=b'{"pad": "' + b"x" * 20_000 + b'"}')
    assert response.status_code == 413
    assert "too large" in response.json["error"]


def test_a_three_megabyte_delivery_is_accepted(post):
    messages = [payloads.text("hello " + "x" * 3000, wa_id=f"5939912{n:05d}") for n in range(1000)]
    body = payloads.encode(payloads.of_messages(*messages))
    assert len(body) > 3_000_000
    response = post({}, body=body)
    assert response.status_code == 200
    assert response.json["received"] == 1000


ODD_ITEMS = [
    "a string",
    42,
    None,
    [],
    {},
    {"id": "wamid.nofrom", "type": "text", "text": {"body": "STOP"}},
    {"from": "593991234567", "type": "text", "text": {"body": "STOP"}},
    {"from": "593991234567", "id": "wamid.badtext", "type": "text", "text": "STOP"},
    {"from": "593991234567", "id": "wamid.badbody", "type": "text", "text": {"body": ["STOP"]}},
    {"from": {"x": 1}, "id": "wamid.badfrom", "type": "text", "text": {"body": "STOP"}},
    {"from": "593991234567", "id": "wamid.ts", "timestamp": "yesterday", "type": "text", "text": {"body": "hi"}},
    {"from": "593991234567", "id": "wamid.ts2", "timestamp": 1e300, "type": "text", "text": {"body": "hi"}},
    {"from": "593991234567", "id": "wamid.inter", "type": "interactive", "interactive": {"button_reply": "x"}},
    {"from": "593991234567", "id": "wamid.nfm", "type": "interactive",
     "interactive": {"type": "nfm_reply", "nfm_reply": {"response_json": "{not json"}}},
    {"from": "593991234567", "id": ["wamid.list"], "type": "text", "text": {"body": "STOP"}},
    {"from": "593991234567", "id": "wamid.huge", "type": "text", "text": {"body": "stop " * 50_000}},
]


@pytest.mark.parametrize("odd", ODD_ITEMS, ids=[f"odd{n}" for n in range(len(ODD_ITEMS))])
def test_odd_message_shapes_never_500_nor_cost_the_rest_of_the_delivery(post, api, odd):
    good = payloads.text("STOP", wa_id="380501234567")
    delivery = payloads.of_messages(good)
    delivery["entry"][0]["changes"][0]["value"]["messages"].insert(0, odd)
    response = post(delivery)
    assert response.status_code == 200
    assert _suppressed(api, "380501234567")


@pytest.mark.parametrize("payload", [
    {}, {"object": "page"}, {"entry": None}, {"entry": "x"}, {"entry": [None, 1, "x"]},
    {"entry": [{"changes": "x"}]}, {"entry": [{"changes": [None, {"value": []}, {"value": {"messages": {}}}]}]},
    {"entry": [{"changes": [{"value": {"metadata": "x", "messages": [{"from": 1, "id": 2, "type": 3}]}}]}]},
    {"entry": [{"changes": [{"value": {"statuses": [{"id": None}, {"status": "failed", "errors": "x"}]}}]}]},
    {"entry": [{"changes": [{"value": {"user_preferences": [{"wa_id": "1"}, 5]}}]}]},
])
def test_odd_delivery_shapes_are_accepted_and_kept(post, read_db, payload):
    response = post(payload)
    assert response.status_code == 200
    assert read_db("SELECT * FROM suppressions") == []


def test_items_we_cannot_understand_are_kept_in_dead_letters(post, read_db):
    delivery = payloads.of_messages({"id": "wamid.nofrom", "type": "text", "text": {"body": "STOP"}})
    post(delivery)
    letters = read_db("SELECT kind, error, raw FROM dead_letters")
    assert len(letters) == 1
    assert "no sender" in letters[0]["error"]
    assert json.loads(letters[0]["raw"])["id"] == "wamid.nofrom"


@pytest.mark.parametrize("shape", ["messages as an object", "statuses as a string", "value as a string"])
def test_a_list_that_is_not_a_list_is_kept_in_dead_letters_not_dropped(post, read_db, shape):
    delivery = payloads.of_messages(payloads.text("STOP", wa_id="14155550188"))
    change = delivery["entry"][0]["changes"][0]
    if shape == "messages as an object":
        change["value"]["messages"] = change["value"]["messages"][0]
    elif shape == "statuses as a string":
        change["value"]["statuses"] = "sent"
    else:
        change["value"] = "STOP"
    response = post(delivery)
    assert response.status_code == 200
    letters = read_db("SELECT kind, error, raw FROM dead_letters")
    assert len(letters) == 1 and "not" in letters[0]["error"], letters
    assert "STOP" in letters[0]["raw"] or "sent" in letters[0]["raw"]


def test_flow_reply_answers_are_read(post, api):
    content = {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent",
               "response_json": json.dumps({"choice": "unsubscribe", "flow_token": "t"})}}
    post(payloads.of_messages(payloads.message("interactive", content, wa_id="5511987654321")))
    assert _suppressed(api, "5511987654321")


def test_user_without_a_number_is_keyed_on_the_business_scoped_user_id(post, api, read_db):
    item = payloads.text("STOP")
    del item["from"]
    item["from_user_id"] = "US.13491208655302741918"
    delivery = payloads.of_messages(item)
    delivery["entry"][0]["changes"][0]["value"]["contacts"] = [
        {"profile": {"name": "A"}, "user_id": "US.13491208655302741918"}]
    assert post(delivery).status_code == 200
    assert read_db("SELECT wa_id FROM suppressions") == [{"wa_id": "US.13491208655302741918"}]
    assert api.get("/api/suppressions/US.13491208655302741918").json["suppressed"] is True


@pytest.mark.sqlite_only
def test_delivery_is_refused_for_retry_when_the_database_is_locked(post, service, db_path, read_db):
    import sqlite3
    service.db.execute("PRAGMA busy_timeout = 50")
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        response = post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert read_db("SELECT * FROM processed") == []
    # Meta's retry then goes through.
    assert post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123"))).status_code == 200


@pytest.mark.sqlite_only
def test_held_write_lock_is_answered_503_for_retry(post, service, monkeypatch, read_db):
    import fcntl

    import handlers.storage.db
    monkeypatch.setattr(handlers.storage.db, "BUSY_TIMEOUT_MS", 200)
    delivery = payloads.of_messages(payloads.text("STOP", wa_id="14155550124"))
    with open(service.db.write_lock_path) as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a writer that never lets go
        response = post(delivery)
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert read_db("SELECT * FROM suppressions") == []
    assert post(delivery).status_code == 200
    assert read_db("SELECT wa_id FROM suppressions") == [{"wa_id": "14155550124"}]


def test_a_message_that_breaks_the_classifier_costs_only_itself(post, read_db, monkeypatch):
    from handlers.detection.classify import Classifier
    real = Classifier.classify

    def classify(self, text):
        if text == "boom":
            raise ValueError("classifier broke on this text")
        return real(self, text)
    monkeypatch.setattr(Classifier, "classify_remembered", classify)
    response = post(payloads.of_messages(payloads.text("STOP", wa_id="14155550125"),
                                         payloads.text("boom", wa_id="14155550126")))
    assert response.status_code == 200
    assert [o["consent"] for o in response.json["outcomes"]] == ["opt_out", None]
    assert read_db("SELECT wa_id FROM suppressions") == [{"wa_id": "14155550125"}]
    letters = read_db("SELECT kind, error FROM dead_letters")
    assert letters == [{"kind": "message", "error": "ValueError: classifier broke on this text"}]


def test_ordinary_chat_that_cannot_be_written_becomes_a_fsynced_dead_letter_and_holds_back_no_other(
        service, post, read_db, monkeypatch):
    synced = []
    monkeypatch.setattr("handlers.delivery.chat_batch.fsync_wal", synced.append)
    from handlers.staff import impact
    real = impact.remember

    def remember(db, message_id, wa_id, *args, **kwargs):
        if wa_id == "14155550127":
            raise RuntimeError("impact store broke")
        return real(db, message_id, wa_id, *args, **kwargs)
    monkeypatch.setattr("handlers.staff.impact.remember", remember)
    service.chat.seconds = 60   # the test writes the batch itself, not the thread
    for wa_id, text in (("14155550127", "Where is my order?"), ("14155550128", "Where is my parcel?")):
        assert post(payloads.of_messages(payloads.text(text, wa_id=wa_id))).status_code == 200
    assert service.chat.write(service.db) == 2
    (letter,) = read_db("SELECT kind, error, raw FROM dead_letters")
    assert letter["kind"] == "message" and letter["error"] == "RuntimeError: impact store broke"
    assert "Where is my order?" in letter["raw"] and "14155550127" in letter["raw"]
    assert [row["wa_id"] for row in read_db("SELECT wa_id FROM inbound_messages")] == ["14155550128"]
    assert len(synced) == 1
    assert post(payloads.of_messages(payloads.text("Thanks", wa_id="14155550129"))).status_code == 200
    assert service.chat.write(service.db) == 1
    assert len(synced) == 1  # a batch that went through is not fsynced
