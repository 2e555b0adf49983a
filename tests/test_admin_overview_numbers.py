"""The admin at volume, through the Flask test client: the overview, the numbers list,
a number's page, the CSV download, and the admin's error pages."""
import re

from handlers.consent import ledger
from handlers.consent.ledger import Action, ConsentChange, Source
from handlers.storage import clock
from handlers.storage.db import transaction
from handlers.testing import admin_volume, payloads
from tests.admin_client import STAFF_PASSWORD, csrf_token


def _text(html: str) -> str:
    """The page's words, tags dropped and spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("\u2068", "").replace("\u2069", "").split())


def _record(service, wa_id, action, source, occurred_at, **extra):
    with transaction(service.db):
        ledger.record(service.db, ConsentChange(wa_id=wa_id, action=Action(action), source=Source(source),
                                                occurred_at=occurred_at, **extra))


def test_login_lands_on_the_overview(client, staff_account):
    page = client.get("/admin/login")
    response = client.post("/admin/login", data={"csrf_token": csrf_token(page.text), "name": "ana",
                                                 "password": STAFF_PASSWORD})
    assert response.headers["Location"].endswith("/admin/")
    assert "<h1>Overview</h1>" in client.get("/admin/").text


def test_overview_shows_opt_outs_per_day_by_language_source_and_rule(admin, post):
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550124")))
    html = admin.get("/admin/").text
    assert '<svg class="chart"' in html and 'role="img"' in html and "2 opt-outs and 0 opt-ins in 30 days" in html
    where = _text(html.split('id="where-from"')[1].split("</section>")[0])
    assert "Their message 2" in where and "English 2" in where
    assert "the English keyword “stop” (whole message) 2" in where
    recent = html.split('id="recent-changes"')[1]
    assert 'href="/admin/numbers/14155550123"' in recent and "They wrote “STOP”" in _text(recent)


def test_overview_shows_the_review_queue_and_the_outbox(admin, service):
    admin_volume.seed_review(service.db, 3)
    admin_volume.seed_outbox(service.db, pending=2, failed=1)
    text = _text(admin.get("/admin/").text)
    assert "3 messages waiting for review" in text
    assert "2 confirmations waiting to be sent" in text and "1 failed" in text


def test_overview_period_can_be_chosen(admin, service):
    admin_volume.seed_history(service.db, events=200, days=80)
    week, quarter = admin.get("/admin/?days=7").text, admin.get("/admin/?days=90").text
    assert "in the last 7 days" in week and "in the last 90 days" in quarter
    assert quarter.count("<tr><td>") > week.count("<tr><td>")


def test_numbers_list_is_paged_searchable_and_filtered(admin, service):
    opted_out = admin_volume.seed_history(service.db, events=400, numbers=200)
    first = admin.get("/admin/numbers").text
    assert f"{opted_out} numbers opted out" in _text(first)
    assert first.split('id="numbers"')[1].count('href="/admin/numbers/') == 50
    assert "Page 1 of" in first and "rel=\"next\"" in first
    second = admin.get("/admin/numbers?page=2").text
    assert "Page 2 of" in second
    imports = admin.get("/admin/numbers?source=import&state=all").text.split('id="numbers"')[1]
    assert "an imported list" in imports and "their message" not in imports
    spanish = admin.get("/admin/numbers?language=es").text.split('id="numbers"')[1]
    assert "Spanish" in spanish and "Russian" not in spanish
    one = service.db.execute("SELECT wa_id FROM suppressions WHERE suppressed = 1 LIMIT 1").fetchone()[0]
    found = admin.get(f"/admin/numbers?q=%2B{one[:3]}+{one[3:6]}-{one[6:]}").text
    assert f'href="/admin/numbers/{one}"' in found and "1 number opted out match" in _text(found)
    assert "No numbers match" in admin.get("/admin/numbers?since=2999-01-01").text


def test_the_suppression_list_downloads_with_the_staff_session(admin, client, post):
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    response = admin.get("/admin/numbers.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    lines = response.text.splitlines()
    assert lines[0] == "wa_id,since,source,rule,scope,person" and lines[1].startswith("14155550123,")
    admin.post("/admin/logout")
    assert client.get("/admin/numbers.csv").status_code == 302   # to the login page, never a 401


def test_number_page_speaks_plain_words_with_history_newest_first(admin, service, post):
    post(payloads.of_messages(payloads.message("button", {"text": "Stop promotions", "payload": "STOP_PROMOTIONS"},
                                               wa_id="14155550123")))
    _record(service, "14155550123", "opt_in", "staff", clock.now_iso(), actor="ana", reason="asked by phone")
    _record(service, "14155550123", "opt_out", "import", "2025-01-10T00:00:00.000000Z", actor="old.csv",
            reason="previous provider")   # recorded last, happened first
    html = admin.get("/admin/numbers/14155550123").text
    text = _text(html)
    assert "button, anywhere" not in text and "applied" not in text and "anywhere:en" not in text
    assert "They tapped the button “" in text and "matched the opt-out button “STOP_PROMOTIONS”" in text
    history = _text(html.split('id="history"')[1])
    assert history.index("Changed by hand by ana") < history.index("They tapped") < history.index("Imported from old.csv")
    assert "Arrived late and did not change anything" in history
    assert re.search(r'<time datetime="2025-01-10T00:00:00Z" title="2025-01-10 00:00:00 UTC">', html)
    assert ".000000" not in text


def test_number_page_shows_only_the_form_that_applies(admin, post):
    subscribed = admin.get("/admin/numbers/14155550123").text
    assert 'value="opt_out"' in subscribed and 'value="opt_in"' not in subscribed
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    opted_out = admin.get("/admin/numbers/14155550123").text
    assert 'value="opt_in"' in opted_out and 'value="opt_out"' not in opted_out
    assert ">Opt back in</button>" in opted_out


def test_number_page_errors_keep_what_was_typed(admin, post, read_db):
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    stale = admin.post("/admin/numbers/14155550123/consent", {"action": "opt_out", "reason": "asked by phone, ticket 7"})
    assert stale.status_code == 409
    assert "already opted out" in stale.text and 'value="asked by phone, ticket 7"' in stale.text
    empty = admin.post("/admin/numbers/14155550123/consent", {"action": "opt_in", "reason": "   "})
    assert empty.status_code == 400 and "A reason is required" in empty.text and 'aria-invalid="true"' in empty.text
    # Nothing changed: no audit entry, the state as it was. (Since issue 11 every signal is an event, so the
    # refused-as-stale opt-out is in the history, as the page says; the one without a reason is not.)
    assert read_db("SELECT count(*) AS n FROM audit_log") == [{"n": 0}]
    assert read_db("SELECT suppressed, source FROM suppressions") == [{"suppressed": 1, "source": "keyword"}]
    assert read_db("SELECT count(*) AS n FROM consent_events WHERE source = 'staff'") == [{"n": 1}]


def test_opting_back_in_says_what_was_done_with_undo(admin, post, read_db):
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    page = admin.post("/admin/numbers/14155550123/consent", {"action": "opt_in", "reason": "asked again"}, follow=True)
    assert "Opted back in: +14155550123." in page.text and ">Undo</button>" in page.text
    entry = read_db("SELECT id FROM audit_log WHERE action = 'consent.opt_in'")[0]["id"]
    admin.post(f"/admin/audit/{entry}/undo")
    assert read_db("SELECT suppressed FROM suppressions") == [{"suppressed": 1}]


def test_a_404_inside_admin_is_an_html_page(admin, client):
    response = admin.get("/admin/no-such-page")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "Page not found" in response.text and "<nav" in response.text
    assert admin.get("/admin/keywords/save").status_code == 405    # a form address opened as a page
    assert client.get("/api/nothing-here").is_json


def test_pages_have_a_viewport_tag_skip_link_and_labelled_controls(admin, service, post):
    admin_volume.seed_review(service.db, 3)
    post(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    for path in ("/admin/", "/admin/numbers", "/admin/numbers/14155550123", "/admin/review", "/admin/audit",
                 "/admin/keywords?language=ar", "/admin/import"):
        html = admin.get(path).text
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html, path
        assert 'href="#main"' in html and 'id="main"' in html, path
        assert " style=" not in html and "<style" not in html and "<script>" not in html, path
        for control in re.findall(r'<(?:input|select|textarea)\b[^>]*>', html):
            if 'type="hidden"' in control or 'hidden ' in control:
                continue
            found = re.search(r'\bid="([^"]+)"', control)
            assert found and f'for="{found.group(1)}"' in html, (path, control)
