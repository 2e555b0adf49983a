"""The admin pages (issue 14) on issue 11's model: one person, many forms. The numbers list
and its CSV, a number's page, hand changes and their undo, review decisions in bulk and
the import, each with a person known by more than one id."""
import csv
import io
import re
import time

from handlers.consent import ledger
from handlers.consent.ledger import Action, ConsentChange, Source
from handlers.storage.db import transaction
from handlers.testing import admin_volume, payloads


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("\u2068", "").replace("\u2069", "").split())


def _stop(post, wa_id: str, text: str = "STOP", **extra):
    return post(payloads.of_messages(payloads.text(text, wa_id=wa_id, **extra)))


def _suppressed(api, value: str) -> bool:
    from urllib.parse import quote
    return api.get("/api/suppressions/" + quote(value, safe="")).json["suppressed"]


def test_the_numbers_list_shows_a_person_with_every_id_and_finds_them_by_any_form(admin, post, api):
    _stop(post, "5215512345678")
    api.post("/api/suppressions/525512345678/opt-out", json={"reason": "asked by phone"})   # the same person
    listed = admin.get("/admin/numbers").text
    rows = listed.split('id="numbers"')[1]
    assert rows.count('href="/admin/numbers/') == 1 and 'href="/admin/numbers/525512345678"' in rows
    assert "+525512345678 (also +5215512345678)" in _text(rows)
    assert "1 number opted out" in _text(listed)
    for search in ("+52 1 55 1234 5678", "+52 55 1234 5678", "5215512", "55 1234 5678"):
        found = admin.get("/admin/numbers", query_string={"q": search}).text
        assert 'href="/admin/numbers/525512345678"' in found, search
    assert "No numbers match" in admin.get("/admin/numbers", query_string={"q": "+52 55 9999 0000"}).text
    assert "1 number" in _text(admin.get("/admin/").text.split('class="cards"')[1].split("</section>")[0])


def test_the_page_csv_is_the_api_csv_and_filtered_rows_list_every_form_neutralised(admin, api, post, service):
    _stop(post, "5215512345678")
    with transaction(service.db):
        ledger.record(service.db, ConsentChange(wa_id="=HYPERLINK(1)", action=Action.OPT_OUT, source=Source.IMPORT,
                                                occurred_at="2025-11-24T16:00:00.000000Z", rule="@rule"))
    page = admin.get("/admin/numbers.csv").get_data(as_text=True)
    assert page == api.get("/api/suppressions.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(page)))
    assert {row["wa_id"] for row in rows} == {"5215512345678", "525512345678", "'=HYPERLINK(1)"}
    filtered = list(csv.reader(io.StringIO(admin.get("/admin/numbers.csv?source=import").get_data(as_text=True))))
    assert filtered[0] == ["wa_id", "since", "source", "rule", "scope", "person", "suppressed", "language"]
    assert filtered[1][:6] == ["'=HYPERLINK(1)", "2025-11-24T16:00:00.000000Z", "import", "'@rule", "all", "'=HYPERLINK(1)"]
    mexico = list(csv.DictReader(io.StringIO(admin.get("/admin/numbers.csv?source=keyword").get_data(as_text=True))))
    assert sorted(row["wa_id"] for row in mexico) == ["5215512345678", "525512345678"]
    assert {row["person"] for row in mexico} == {"525512345678"}


def test_a_number_page_shows_the_person_behind_any_form_with_all_their_history(admin, post):
    now = int(time.time())
    _stop(post, "5215512345678", "BAJA", timestamp=now - 300)
    linked = payloads.text("START", wa_id="5215512345678", id="wamid.START2", timestamp=now - 200)
    linked["from_user_id"] = "MX.1122334455"
    post(payloads.of_messages(linked))
    _stop(post, "5215512345678", "STOP", id="wamid.STOP3", timestamp=now - 100)
    for form in ("+52 55 1234 5678", "MX.1122334455", "5215512345678"):
        page = admin.get("/admin/numbers/" + form)
        assert page.status_code == 200, form
        text = _text(page.text)
        assert "Opted out of everything since" in text and "Why: They wrote “STOP”" in text, form
        ids = _text(page.text.split('id="identities"')[1].split("</table>")[0])
        assert "+5215512345678" in ids and "MX.1122334455" in ids and "a message carried both" in ids
        history = _text(page.text.split('id="history"')[1])
        assert history.index("“STOP”") < history.index("“START”") < history.index("“BAJA”")   # newest first
        assert 'value="opt_in"' in page.text and 'value="opt_out"' not in page.text        # the one form that applies


def test_a_value_that_names_nobody_gets_a_page_that_keeps_it(admin):
    page = admin.get("/admin/numbers/not-a-number")
    assert page.status_code == 400 and "Not a number we can read" in page.text
    assert 'value="not-a-number"' in page.text and "Internal Server Error" not in page.text


def test_a_number_as_dialled_at_home_is_explained_and_offers_no_form(admin, read_db):
    page = admin.get("/admin/numbers/0991234567")
    assert page.status_code == 200 and "country code" in page.text and 'id="consent-form"' not in page.text
    refused = admin.post("/admin/numbers/0991234567/consent", {"action": "opt_out", "reason": "by phone"}, follow=True)
    assert "Nothing changed" in refused.text and "country code" in refused.text
    assert read_db("SELECT count(*) AS n FROM consent_events") == [{"n": 0}]


def test_undo_of_a_hand_opt_out_lifts_it_only_while_it_still_decides(admin, post, api, read_db):
    admin.post("/admin/numbers/+52 55 1234 5678/consent", {"action": "opt_out", "reason": "asked by phone"})
    first = read_db("SELECT id FROM audit_log WHERE action = 'consent.opt_out'")[-1]["id"]
    assert "Undone: #" in admin.post(f"/admin/audit/{first}/undo", follow=True).text
    assert not _suppressed(api, "5215512345678")
    admin.post("/admin/numbers/525512345678/consent", {"action": "opt_out", "reason": "asked again"})
    second = read_db("SELECT id FROM audit_log WHERE action = 'consent.opt_out'")[-1]["id"]
    _stop(post, "5215512345678", timestamp=int(time.time()) + 2)   # the customer says it too, later: it stands
    refused = admin.post(f"/admin/audit/{second}/undo", follow=True)
    assert "has changed since" in refused.text
    assert _suppressed(api, "+52 55 1234 5678")


def test_review_decisions_record_under_the_id_as_stored_and_bulk_undo_lifts_the_person(admin, service, api, read_db):
    ids = admin_volume.seed_review(service.db, 1, first_number=5215512345678, prefix="wamid.mx")
    ids += admin_volume.seed_review(service.db, 1, first_number=525512345678, prefix="wamid.mx2")
    done = admin.client.post("/admin/review/bulk", data={"csrf_token": admin.token, "decision": "opt_out",
                                                         "message_id": ids, "reason": "both said stop"},
                             follow_redirects=True)
    assert "1 number is opted out now" in _text(done.text)
    assert [row["wa_id"] for row in read_db("SELECT wa_id FROM consent_events ORDER BY id")] == [
        "5215512345678", "525512345678"]
    assert _suppressed(api, "+52 1 55 1234 5678")
    entry = read_db("SELECT id FROM audit_log WHERE action = 'review.bulk_opt_out'")[0]["id"]
    admin.post(f"/admin/audit/{entry}/undo")
    assert not _suppressed(api, "525512345678")
    assert read_db("SELECT count(*) AS n FROM review_queue WHERE state = 'pending'") == [{"n": 2}]


def test_an_import_reads_every_form_and_its_undo_lifts_only_what_it_added(admin, post, api, read_db):
    _stop(post, "14155550123")
    data = (b"phone,date\n5215512345678,2025-01-10\n+52 55 1234 5678,\n0991234567,\n+1 415 555 0123,\n"
            b"US.13491208655302741918,\n")
    page = admin.client.post("/admin/import", data={"csrf_token": admin.token, "file": (io.BytesIO(data), "old.csv")})
    report = page.text.split('id="import-report"')[1]
    assert 'id="count-added">2<' in report and 'id="count-rejected">1<' in report
    assert "country code" in report and "repeated in the file" in report and "1</b> already opted out" in report
    assert _suppressed(api, "+52 55 1234 5678") and _suppressed(api, "US.13491208655302741918")
    events = read_db("SELECT wa_id, occurred_at FROM consent_events WHERE source = 'import' ORDER BY id")
    assert [e["wa_id"] for e in events] == ["5215512345678", "14155550123", "US.13491208655302741918"]
    assert events[0]["occurred_at"] == "2025-01-10T00:00:00.000000Z"
    entry = read_db("SELECT id FROM audit_log WHERE action = 'import'")[0]["id"]
    admin.post(f"/admin/audit/{entry}/undo")
    assert not _suppressed(api, "525512345678") and not _suppressed(api, "US.13491208655302741918")
    assert _suppressed(api, "14155550123")              # their own STOP stands
