"""Issue 11 through HTTP: one person, many forms; linked ids; no newer decision lost; scope.

Every case of the issue's first part is here: Mexico (both API routes, the admin number
page and its review-queue link, consent by hand through the API and the admin form,
`flask replay --from`, `flask keywords test --from`, `flask suppressions import`),
Argentina, Brazil, Ivory Coast, usernames and id changes, the three out-of-order sequences
and the future timestamp. The same under gunicorn: test_end_to_end.py.
"""
import contextlib
import sqlite3
import time
from urllib.parse import quote

import pytest

from handlers.storage.postgres import PostgresStore
from handlers.testing import payloads


def _path(value: str) -> str:
    return "/api/suppressions/" + quote(value, safe="")


def suppressed(api, value: str, category: str | None = None) -> bool:
    response = api.get(_path(value) + (f"?category={category}" if category else ""))
    assert response.status_code == 200, (value, response.json)
    return response.json["suppressed"]


def checked(api, values: list[str], category: str | None = None) -> dict:
    body: dict = {"wa_ids": values}
    if category:
        body["category"] = category
    response = api.post("/api/suppressions/check", json=body)
    assert response.status_code == 200, response.json
    return response.json


def text_from(post, wa_id: str, text: str = "STOP", at: int | None = None, **extra):
    return post(payloads.of_messages(payloads.text(text, wa_id=wa_id, timestamp=at, **extra)))


def preference(post, wa_id: str, value: str, at: int):
    return post(payloads.delivery(payloads.change(preferences=[payloads.preference(wa_id, value, timestamp=at)])))


def failed_131050(post, recipient: str, at: int | None = None, **ids):
    status = payloads.status(f"wamid.OUT{time.time_ns()}", "failed", recipient=recipient, errors=[{"code": 131050}])
    if at is not None:
        status["timestamp"] = str(at)
    status.update(ids)
    return post(payloads.delivery(payloads.change(statuses=[status])))


@contextlib.contextmanager
def _statements_run(service):
    """Every statement the service's connection (this thread's) runs, as a list: SQLite's
    trace; on PostgreSQL the store's statements, a write transaction's start shown as
    SQLite's BEGIN IMMEDIATE."""
    statements: list[str] = []
    db = service.db
    if not isinstance(db, PostgresStore):
        db.conn.set_trace_callback(statements.append)
        try:
            yield statements
        finally:
            db.conn.set_trace_callback(None)
        return
    execute, transaction = db.execute, db.transaction

    def traced_execute(sql, parameters=None):
        statements.append(sql)
        return execute(sql, parameters)

    def traced_transaction(durable=True):
        statements.append("BEGIN IMMEDIATE")
        return transaction(durable)

    db.execute, db.transaction = traced_execute, traced_transaction  # type: ignore[method-assign]
    try:
        yield statements
    finally:
        del db.execute, db.transaction


def _without_config_poll(statements: list[str]) -> list[str]:
    """What a delivery ran, less the worker's periodic check for staff keyword edits."""
    return [sql for sql in statements if sql != "SELECT version FROM config_version WHERE id = 1"]


MEXICO_FORMS = ["5215512345678", "525512345678", "+52 55 1234 5678", "+52 1 55 1234 5678", "0052 55-1234-5678"]


# -- Mexico: every place the issue names ------------------------------------------------------


def test_mexico_opt_out_from_521_is_suppressed_under_every_form_by_both_api_routes(post, api):
    assert text_from(post, "5215512345678").json["outcomes"][0]["consent"] == "opt_out"
    for form in MEXICO_FORMS:
        body = api.get(_path(form)).json
        assert (body["suppressed"], body["canonical"]) == (True, "525512345678"), form
    answer = checked(api, MEXICO_FORMS + ["525512345679"])
    assert answer["suppressed"] == sorted({"5215512345678", "525512345678"})
    assert answer["not_suppressed"] == ["525512345679"] and answer["invalid"] == []
    assert [e["wa_id"] for e in api.get(_path("+52 55 1234 5678") + "/history").json["events"]] == ["5215512345678"]


def test_mexico_opt_out_as_the_business_holds_it_blocks_what_whatsapp_reports(api, post):
    answer = api.post(_path("+52 55 1234 5678") + "/opt-out", json={"reason": "asked by phone", "actor": "ana"})
    assert answer.status_code == 200 and answer.json["canonical"] == "525512345678"
    assert suppressed(api, "5215512345678")
    # ...and the user's own START from WhatsApp's form lifts it: one person.
    text_from(post, "5215512345678", "START", at=int(time.time()) + 1)
    assert not suppressed(api, "525512345678")


def test_mexico_number_page_hand_opt_in_and_out_through_the_api(api, read_db):
    for action, expected in (("opt-out", True), ("opt-in", False)):
        response = api.post(_path("5215512345678") + f"/{action}", json={"reason": "by phone", "actor": "ana"})
        assert response.status_code == 200, response.json
        assert response.json["suppressed"] is expected
        assert suppressed(api, "+52 55 1234 5678") is expected
    assert [e["wa_id"] for e in read_db("SELECT wa_id FROM consent_events")] == ["5215512345678"] * 2


def test_mexico_admin_number_page_and_form(admin, post, api, read_db):
    text_from(post, "5215512345678")
    for form in ("5215512345678", "525512345678", "+52 55 1234 5678"):
        page = admin.get(f"/admin/numbers/{form}")
        assert page.status_code == 200, form
        assert "Opted out" in page.text and "Not a" not in page.text and "5215512345678" in page.text
    found = admin.get("/admin/numbers?wa_id=%2B52+1+55+1234+5678")
    assert found.status_code == 302 and found.headers["Location"].endswith("/admin/numbers/5215512345678")
    response = admin.post("/admin/numbers/5215512345678/consent", {"action": "opt_in", "reason": "asked again"},
                          follow=True)
    assert response.status_code == 200 and "Opted back in" in response.text
    assert not suppressed(api, "525512345678")
    admin.post("/admin/numbers/+52 55 1234 5678/consent", {"action": "opt_out", "reason": "asked by phone"})
    assert suppressed(api, "5215512345678")
    assert read_db("SELECT wa_id, source FROM consent_events WHERE source = 'staff' ORDER BY id") == [
        {"wa_id": "5215512345678", "source": "staff"}, {"wa_id": "525512345678", "source": "staff"}]


def test_review_queue_links_a_521_number_to_its_page(admin, post, monkeypatch):
    import dataclasses

    from handlers.detection import classify
    from handlers.detection.intents import Intent
    original = classify.Classifier.classify
    monkeypatch.setattr(classify.Classifier, "classify_remembered", lambda self, text: dataclasses.replace(
        original(self, text), intent=Intent.NONE, rule="anywhere:es:no más", certain=False))
    text_from(post, "5215512345678", "no más mensajes de promociones, por favor", id="wamid.REVIEW521")
    queue = admin.get("/admin/review").text
    assert "/admin/numbers/5215512345678" in queue
    page = admin.get("/admin/numbers/5215512345678")
    assert page.status_code == 200 and "Not a" not in page.text


@pytest.mark.parametrize("typed", ["not-a-number", "++", "()", "x" * 5000, "a b c", "%00", "<script>", "US.", "..."])
def test_nothing_staff_type_on_the_number_form_causes_a_500(admin, read_db, typed):
    response = admin.post(f"/admin/numbers/{quote(typed, safe='')}/consent", {"action": "opt_out", "reason": "x"})
    assert response.status_code in (302, 400), response.status_code
    followed = admin.client.get(response.headers["Location"]) if response.status_code == 302 else response
    assert followed.status_code in (200, 400)
    assert read_db("SELECT count(*) AS n FROM consent_events") == [{"n": 0}]
    page = admin.get(f"/admin/numbers/{quote(typed, safe='')}")
    assert page.status_code in (200, 400) and "Internal Server Error" not in page.text
    assert admin.get(f"/admin/numbers?wa_id={quote(typed, safe='')}").status_code in (200, 302, 400)


def test_mexico_flask_replay_from_521(app, api):
    result = app.test_cli_runner().invoke(args=["replay", "--text", "STOP", "--from", "+5215512345678"])
    assert result.exit_code == 0, result.output
    assert "opt_out (keyword)" in result.output
    assert suppressed(api, "525512345678") and suppressed(api, "+52 55 1234 5678")
    again = app.test_cli_runner().invoke(args=["replay", "--text", "STOP", "--from", "+52 1 55 1234 5678"])
    assert "no change: already suppressed (all)" in again.output


def test_mexico_keywords_test_from_521(app, api):
    result = app.test_cli_runner().invoke(args=["keywords", "test", "Hola", "--from", "+5215512345678"])
    assert result.exit_code == 0, result.output
    assert "language:    es" in result.output  # Mexico, read from the canonical form
    response = api.post("/api/keywords/test", json={"text": "Hola", "wa_id": "5215512345678"})
    assert response.status_code == 200 and response.json["language"] == "es"


def test_mexico_suppressions_import_of_whatsapps_form(app, api, post, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("phone,date\n5215512345678,2024-05-01\n+52 1 55 1234 5679,\n+52 55 1234 5679,\n", "utf-8")
    result = app.test_cli_runner().invoke(args=["suppressions", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "added            2" in result.output
    assert "line 4" in result.output and "duplicate in file (first on line 3)" in result.output
    assert all(suppressed(api, form) for form in ("525512345678", "5215512345679", "+52 55 1234 5679"))


# -- the other countries -----------------------------------------------------------------------


def test_argentina_549_54_and_the_15_form_are_one_person(post, api, app, tmp_path):
    text_from(post, "5491112345678", "BAJA")
    assert checked(api, ["541112345678", "+54 11 15 1234-5678", "+54 9 11 1234 5678", "+54 (011) 15-1234-5678"])[
        "not_suppressed"] == []
    path = tmp_path / "ar.csv"
    path.write_text("telefono\n011 15 4321-8765\n+54 11 15 4321-8765\n", "utf-8")
    result = app.test_cli_runner().invoke(args=["suppressions", "import", str(path)])
    assert "added            1" in result.output
    assert "line 2" in result.output and "national number: write it with its country code" in result.output
    assert suppressed(api, "5491143218765")


def test_brazil_with_and_without_the_ninth_digit_are_one_person(post, api):
    text_from(post, "551187654321", "sair")                 # an account from before the ninth digit
    assert suppressed(api, "5511987654321") and suppressed(api, "+55 11 98765-4321")
    failed_131050(post, "5521987651234")                    # Meta's form of another one
    assert suppressed(api, "552187651234")
    text_from(post, "551132654321", "sair")                 # a landline has no ninth digit
    assert not suppressed(api, "5511932654321")


def test_ivory_coast_8_and_10_digit_numbers_are_one_person(post, api, admin):
    assert not suppressed(api, "22507123456")               # 400 before: an "impossible number"
    text_from(post, "22507123456")
    assert suppressed(api, "+225 07 07 12 34 56") and suppressed(api, "2250707123456")
    assert admin.get("/admin/numbers/22507123456").status_code == 200
    api.post(_path("+225 05 05 12 34 56") + "/opt-out", json={"reason": "by phone"})
    assert suppressed(api, "22505123456")                  # the old WhatsApp account of that number
    text_from(post, "22599123456")                          # a range of no known operator: all three
    assert checked(api, ["2250799123456", "2250599123456", "2250199123456"])["not_suppressed"] == []


def test_a_number_dialled_at_home_is_never_answered_not_suppressed(api, post):
    text_from(post, "5491124398520")                        # +54 11 2439-8520 opted out
    for national in ("011 15 2439-8520", "(011) 2439-8520", "0"):
        response = api.get(_path(national))
        assert response.status_code == 400 and "country code" in response.json["error"], national
    answer = checked(api, ["011 15 2439-8520", "+54 11 2439-8520"])
    assert answer["suppressed"] == ["541124398520"] and answer["not_suppressed"] == []
    assert [item["wa_id"] for item in answer["invalid"]] == ["01115243985 20".replace(" ", "")]
    assert "country code" in answer["invalid"][0]["error"]


def test_a_number_dialled_at_home_that_a_delivery_stored_is_answered(api, post):
    text_from(post, "0991234567")                           # whatever a verified delivery carries is a key
    assert suppressed(api, "0991234567")
    assert checked(api, ["0991234567"])["suppressed"] == ["0991234567"]


def test_staff_are_told_to_add_the_country_code_to_a_number_dialled_at_home(api, admin, read_db):
    response = api.post(_path("099 123 4567") + "/opt-out", json={"reason": "by phone"})
    assert response.status_code == 400 and "country code" in response.json["error"]
    page = admin.post("/admin/numbers/0991234567/consent", {"action": "opt_out", "reason": "by phone"}, follow=True)
    assert page.status_code == 200 and "country code" in page.text
    assert read_db("SELECT count(*) AS n FROM consent_events") == [{"n": 0}]


def test_russia_and_kazakhstan_8_is_7(post, api):
    text_from(post, "79161234567", "стоп")
    assert suppressed(api, "8 916 123-45-67") and suppressed(api, "8 (916) 1234567")
    api.post(_path("8 701 123 45 67") + "/opt-out", json={"reason": "list from Almaty"})
    assert suppressed(api, "77011234567")


def test_a_trunk_zero_after_the_country_code(post, api):
    text_from(post, "442079460018")
    assert suppressed(api, "+44 (0)20 7946 0018") and suppressed(api, "0044 020 7946 0018")


def test_a_typed_form_that_may_be_two_people_answers_suppressed_for_both(post, api):
    api.post(_path("84912345678") + "/opt-out", json={"reason": "list from a call centre"})
    assert suppressed(api, "84912345678")                   # a Vietnamese mobile ...
    assert suppressed(api, "74912345678")                   # ... or Ryazan written with 8: might be either
    assert not suppressed(api, "79161234567")
    assert suppressed(api, "8 4912 34-56-78")               # asked as typed: either reading suppressed


def test_an_id_whatsapp_delivered_is_read_as_written_never_as_a_form_people_type(post, api):
    text_from(post, "84912345001")                          # WhatsApp writes +7 as 7: this is Vietnam
    assert suppressed(api, "84912345001") and not suppressed(api, "74912345001")
    text_from(post, "74912345001", "START")
    assert not suppressed(api, "74912345001") and suppressed(api, "84912345001")


# -- usernames: linked ids, id changes, parent ids -------------------------------------------------


def test_a_message_with_number_and_user_id_makes_them_one_person(post, api, read_db):
    item = payloads.text("STOP", wa_id="14155550123")
    item["from_user_id"] = "US.13491208655302741918"
    post(payloads.of_messages(item))
    assert suppressed(api, "US.13491208655302741918")
    assert read_db("SELECT wa_id, other, reason FROM identity_links") == [
        {"wa_id": "14155550123", "other": "US.13491208655302741918", "reason": "message"}]


def test_contacts_link_a_number_and_a_user_id_either_way(post, api):
    user = "US.777000111222333"
    item = payloads.text("STOP", id="wamid.USERONLY")
    del item["from"]
    item["from_user_id"] = user
    delivery = payloads.of_messages(item)
    delivery["entry"][0]["changes"][0]["value"]["contacts"] = [{"profile": {"name": "A"}, "user_id": user}]
    post(delivery)                                           # the opt-out came with the user id only
    assert not suppressed(api, "4915123456789")
    chat = payloads.of_messages(payloads.text("hallo", wa_id="4915123456789"))
    chat["entry"][0]["changes"][0]["value"]["contacts"] = [
        {"profile": {"name": "A"}, "wa_id": "4915123456789", "user_id": user}]
    post(chat)                                               # later, a contact names both
    assert suppressed(api, "+49 151 23456789")


def test_a_status_with_number_and_user_id_links_them_and_later_touches_no_database(post, api, service):
    delivered = payloads.status("wamid.CAMPAIGN1", "delivered", recipient="34612345678")
    delivered["recipient_user_id"] = "ES.5566778899"
    post(payloads.delivery(payloads.change(statuses=[delivered])))
    failed_131050(post, "ES.5566778899", recipient_user_id="ES.5566778899", recipient_id=None)
    assert suppressed(api, "34612345678") and not suppressed(api, "34612345678", "utility")
    with _statements_run(service) as statements:
        read = dict(delivered, id="wamid.CAMPAIGN2", status="read")
        assert post(payloads.delivery(payloads.change(statuses=[read]))).status_code == 200
    # This process knows the link: the status is answered without the database. (The keyword
    # configuration poll, at most every 0.5 s, is not about links: a slow machine may reach it.)
    assert _without_config_poll(statements) == []


def test_user_changed_user_id_carries_consent_to_the_new_id(post, api, read_db):
    old, new = "US.13491208655302741918", "US.99887766554433221100"
    item = payloads.text("STOP", id="wamid.BEFORE")
    del item["from"]
    item["from_user_id"] = old
    post(payloads.of_messages(item))
    change = {"id": "wamid.IDCHANGE", "timestamp": str(int(time.time())), "type": "system",
              "system": {"type": "user_changed_user_id", "user_id": new, "body": f"User A changed from {old} to {new}"}}
    response = post(payloads.of_messages(change))
    assert response.json["outcomes"][0]["kind"] == "user_id_change" and not response.json["outcomes"][0]["error"]
    assert read_db("SELECT * FROM dead_letters") == []
    assert suppressed(api, new)


def test_user_id_update_field_carries_consent_to_the_new_ids(post, api):
    post(payloads.delivery(payloads.change(preferences=[
        dict(payloads.preference("US.1111222233334444", "stop"), user_id="US.1111222233334444")])))
    update = {"field": "user_id_update", "value": {"messaging_product": "whatsapp", "metadata": payloads.BUSINESS,
              "user_id_update": [{"wa_id": "16505551234", "timestamp": str(int(time.time())),
                                  "user_id": {"previous": "US.1111222233334444", "current": "US.5555666677778888"},
                                  "parent_user_id": {"previous": "US.ENT.1010", "current": "US.ENT.2020"}}]}}
    assert post(payloads.delivery(update)).status_code == 200
    for wa_id in ("US.5555666677778888", "US.ENT.2020", "16505551234", "US.ENT.1010"):
        assert suppressed(api, wa_id), wa_id
    assert not suppressed(api, "US.5555666677778888", "utility")   # a marketing preference: marketing only


def test_parent_ids_and_128_character_ids_are_keys(post, api, admin):
    parent, long_id = "US.ENT.11815799212886844830", "BR." + "A7" * 64
    for user in (parent, long_id):
        item = payloads.text("STOP")
        del item["from"]
        item["from_user_id"] = user
        post(payloads.of_messages(item))
        assert suppressed(api, user)
        assert admin.get(f"/admin/numbers/{user}").status_code == 200
    assert api.post(_path("US.ENT.999888777") + "/opt-out", json={"reason": "by phone"}).status_code == 200


@pytest.mark.parametrize("number_says,user_id_says,expected", [
    ("STOP", "START", False),    # the user id's START is newer
    ("START", "STOP", True),     # the user id's STOP is newer
])
def test_when_two_ids_turn_out_to_be_one_person_the_newest_decision_holds(post, api, number_says, user_id_says,
                                                                           expected):
    now = int(time.time())
    if number_says == "START":
        text_from(post, "14155550130", "STOP", at=now - 200)
    text_from(post, "14155550130", number_says, at=now - 100)
    user_only = payloads.text(user_id_says, timestamp=now - 50)
    del user_only["from"]
    user_only["from_user_id"] = "US.4242"
    post(payloads.of_messages(user_only))
    link = payloads.status("wamid.LINK", "delivered", recipient="14155550130")
    link["recipient_user_id"] = "US.4242"
    post(payloads.delivery(payloads.change(statuses=[link])))
    assert suppressed(api, "14155550130") is expected and suppressed(api, "US.4242") is expected


# -- order: no newer decision lost -----------------------------------------------------------------


def test_a_late_older_start_does_not_undo_a_newer_stop(post, api, read_db):
    now = int(time.time())
    text_from(post, "14155550140", "STOP", at=now - 300)
    text_from(post, "14155550140", "STOP", at=now - 100)
    late = text_from(post, "14155550140", "START", at=now - 200)
    assert late.json["outcomes"][0]["reply"] == "skipped: no change in consent"
    assert suppressed(api, "14155550140")
    assert read_db("SELECT action, applied FROM consent_events ORDER BY id") == [
        {"action": "opt_out", "applied": 1}, {"action": "opt_out", "applied": 1}, {"action": "opt_in", "applied": 0}]


def test_two_preference_stops_and_a_late_resume(post, api):
    now = int(time.time())
    preference(post, "14155550141", "stop", now - 300)
    preference(post, "14155550141", "stop", now - 100)
    preference(post, "14155550141", "resume", now - 200)
    assert suppressed(api, "14155550141")


def test_stop_a_131050_and_a_late_start(post, api):
    now = int(time.time())
    text_from(post, "14155550142", "STOP", at=now - 300)
    failed_131050(post, "14155550142", at=now - 100)
    text_from(post, "14155550142", "START", at=now - 200)
    body = api.get(_path("14155550142")).json
    assert (body["suppressed"], body["scope"]) == (True, "marketing")   # Meta's stop is the newest for marketing
    assert not suppressed(api, "14155550142", "utility")               # the START lifted the older STOP


@pytest.mark.parametrize("order", [("STOP", "START"), ("START", "STOP")])
def test_at_the_same_second_the_opt_out_wins_whatever_arrives_first(post, api, order):
    now = int(time.time()) - 5
    for word in order:
        text_from(post, "14155550143", word, at=now)
    assert suppressed(api, "14155550143")


def test_a_start_stamped_a_year_ahead_does_not_freeze_consent(post, api, read_db, caplog):
    now = int(time.time())
    text_from(post, "14155550144", "STOP", at=now - 60)
    with caplog.at_level("WARNING", logger="optout"):
        text_from(post, "14155550144", "START", at=now + 365 * 86400)
    assert any("in the future" in record.getMessage() for record in caplog.records)
    assert not suppressed(api, "14155550144")
    text_from(post, "14155550144", "STOP", at=now + 2)
    assert suppressed(api, "14155550144")
    start = read_db("SELECT occurred_at, claimed_at FROM consent_events WHERE action = 'opt_in'")[0]
    assert start["claimed_at"] > start["occurred_at"] and start["occurred_at"] < read_db(
        "SELECT max(recorded_at) AS at FROM consent_events")[0]["at"] + "~"


def test_a_stop_in_the_second_an_event_was_stamped_on_arrival_wins(post, api):
    now = int(time.time())
    text_from(post, "5511987770002", "START", at=now + 365 * 86400)   # counted as now, with a fraction
    text_from(post, "5511987770002", "PARAR", at=int(time.time()))    # Meta's whole second, same second
    assert suppressed(api, "5511987770002")


def test_after_a_staff_opt_in_the_customers_next_stop_counts_though_a_clock_ran_ahead(post, api):
    text_from(post, "14155550147", "STOP", at=int(time.time()) + 60)  # a little ahead: believed
    api.post(_path("14155550147") + "/opt-in", json={"reason": "called us", "actor": "ana"})
    assert not suppressed(api, "14155550147")
    text_from(post, "14155550147", "STOP", at=int(time.time()) + 1)
    assert suppressed(api, "14155550147")


def test_a_staff_action_always_takes_effect(post, api):
    text_from(post, "14155550145", "START", at=int(time.time()) + 120)   # a clock a little ahead: believed
    preference(post, "14155550145", "stop", int(time.time()) + 60)       # older than that START: not applied
    assert not suppressed(api, "14155550145")
    api.post(_path("14155550145") + "/opt-out", json={"reason": "asked by phone"})
    assert suppressed(api, "14155550145", "utility")


TIMESTAMPS = {"4000 digits as text": "9" * 4000, "4000 digits as a number": b"9" * 4000,
              "5000 digits as a number": b"1" + b"0" * 5000, "a word": "yesterday", "negative": -5,
              "1e300": 1e300, "zero (1970)": 0, "milliseconds": int(time.time() * 1000)}


@pytest.mark.parametrize("timestamp", list(TIMESTAMPS.values()), ids=list(TIMESTAMPS))
def test_an_unreadable_or_absurd_timestamp_means_now_and_the_stop_is_kept(post, api, read_db, timestamp):
    item = payloads.text("STOP", wa_id="14155550146")
    item["timestamp"] = "PLACEHOLDER"
    literal = timestamp if isinstance(timestamp, bytes) else payloads.encode({"t": timestamp})[5:-1]
    body = payloads.encode(payloads.of_messages(item)).replace(b'"PLACEHOLDER"', literal)  # bytes as Meta would send
    response = post({}, body=body)
    assert response.status_code == 200 and not response.json["outcomes"][0]["error"]
    assert suppressed(api, "14155550146")
    assert read_db("SELECT * FROM dead_letters") == []
    event = read_db("SELECT occurred_at, claimed_at FROM consent_events")[0]
    assert event["occurred_at"] > "2026" and event["claimed_at"]


# -- scope ---------------------------------------------------------------------------------------


def test_marketing_only_signals_and_the_category_question(post, api):
    preference(post, "14155550150", "stop", int(time.time()))
    message = payloads.message("button", {"payload": "Stop promotions", "text": "Stop promotions"}, wa_id="14155550151")
    post(payloads.of_messages(message))
    text_from(post, "14155550152", "STOP")
    text_from(post, "14155550153", "Please unsubscribe me from everything")
    for wa_id, scope in (("14155550150", "marketing"), ("14155550151", "marketing"), ("14155550152", "all"),
                         ("14155550153", "all")):
        body = api.get(_path(wa_id)).json
        assert (body["suppressed"], body["scope"], body["category"]) == (True, scope, "marketing"), wa_id
        for category in ("utility", "authentication"):
            assert suppressed(api, wa_id, category) is (scope == "all"), (wa_id, category)
    answer = checked(api, ["14155550150", "14155550152"], category="utility")
    assert (answer["category"], answer["suppressed"], answer["not_suppressed"]) == (
        "utility", ["14155550152"], ["14155550150"])
    assert checked(api, ["14155550150"])["suppressed"] == ["14155550150"]   # no category: marketing


def test_an_unknown_category_is_a_clear_400(api):
    assert api.get(_path("14155550150") + "?category=promotions").status_code == 400
    response = api.post("/api/suppressions/check", json={"wa_ids": ["14155550150"], "category": "sms"})
    assert response.status_code == 400 and "unknown category" in response.json["error"]


def test_a_number_change_carries_the_scope(post, api):
    preference(post, "14155550160", "stop", int(time.time()))
    system = payloads.message("system", {"body": "changed", "wa_id": "14155550161", "type": "user_changed_number"},
                              wa_id="14155550160")
    delivery = payloads.of_messages(system)
    del delivery["entry"][0]["changes"][0]["value"]["contacts"]
    post(delivery)
    body = api.get(_path("14155550161")).json
    assert (body["suppressed"], body["scope"], body["source"]) == (True, "marketing", "number_change")


def test_the_csv_export_lists_every_form_of_a_suppressed_person(post, api):
    import csv
    import io
    text_from(post, "5215512345678")
    rows = list(csv.DictReader(io.StringIO(api.get("/api/suppressions.csv").get_data(as_text=True))))
    assert {row["wa_id"] for row in rows} == {"5215512345678", "525512345678"}
    assert {row["person"] for row in rows} == {"525512345678"} and {row["scope"] for row in rows} == {"all"}


def test_the_outbox_sends_to_the_id_whatsapp_reported(post, drain, cloud_api):
    text_from(post, "5215512345678")
    drain()
    assert [request.to for request in cloud_api.received] == ["5215512345678"]


def test_history_of_old_events_is_never_rewritten(post, db_path):
    text_from(post, "5215512345678")
    conn = sqlite3.connect(db_path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE consent_events SET wa_id = '525512345678'")
    finally:
        conn.close()


def test_after_a_restart_a_known_link_is_read_once_without_the_write_lock(post, api, service):
    delivered = payloads.status("wamid.CAMPAIGN3", "delivered", recipient="34612345679")
    delivered["recipient_user_id"] = "ES.1122334455"
    post(payloads.delivery(payloads.change(statuses=[delivered])))
    from handlers.consent.identity import KnownLinks
    service.known_links = KnownLinks()   # a new process: it has seen no link yet
    with _statements_run(service) as statements:
        for n, state in enumerate(("read", "read")):
            post(payloads.delivery(payloads.change(statuses=[dict(delivered, id=f"wamid.CAMPAIGN4{n}", status=state)])))
    assert "BEGIN IMMEDIATE" not in statements and len(_without_config_poll(statements)) == 1
