"""The admin page through HTTP: login, CSRF, keywords, try-it, impact preview, numbers, review queue."""
import dataclasses
import logging

import pytest

from handlers.detection import classify
from handlers.detection.intents import Intent, Match
from handlers.staff import accounts
from handlers.testing import payloads
from tests.admin_client import STAFF_PASSWORD, Admin, add_keyword, csrf_token, ensure_absent
from tests.conftest import ADMIN_TOKEN, APP_SECRET


@pytest.mark.parametrize("method,path", [
    ("get", "/admin/"), ("get", "/admin/keywords"), ("get", "/admin/numbers/593991234567"),
    ("get", "/admin/review"), ("get", "/admin/audit"), ("post", "/admin/keywords/save"),
    ("post", "/admin/keywords/preview"), ("post", "/admin/numbers/593991234567/consent"),
    ("post", "/admin/replies"), ("post", "/admin/audit/1/undo"), ("post", "/admin/review/wamid.X"),
])
def test_no_admin_page_or_action_without_login(client, read_db, method, path):
    page = client.get("/admin/login")
    response = getattr(client, method)(path, data={"csrf_token": csrf_token(page.text), "keyword": "baja",
                                                   "op": "add", "language": "es", "intent": "opt_out",
                                                   "action": "opt_out", "reason": "x"})
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert read_db("SELECT count(*) AS n FROM audit_log") == [{"n": 0}]
    assert read_db("SELECT count(*) AS n FROM consent_events") == [{"n": 0}]


def test_a_form_without_the_csrf_token_is_refused(admin, service):
    ensure_absent(service, "es", "bajita")
    response = admin.client.post("/admin/keywords/save", data={
        "op": "add", "language": "es", "intent": "opt_out", "keyword": "bajita", "match": "whole_message"})
    assert response.status_code == 400 and "expired" in response.text
    assert service.classifier.classify("bajita").intent is Intent.NONE


def test_login_without_csrf_token_is_refused(client, staff_account):
    response = client.post("/admin/login", data={"name": "ana", "password": STAFF_PASSWORD})
    assert response.status_code == 400


def test_webhook_and_api_need_no_csrf_token(post, api):
    assert post(payloads.of_messages(payloads.text("hola"))).status_code == 200
    assert api.post("/api/suppressions/check", json=["593991234567"]).status_code == 200


def test_wrong_passwords_are_rate_limited(client, staff_account):
    helper = Admin(client)
    for _ in range(accounts.FREE_FAILURES):
        assert helper.login(password="wrong password").status_code == 401
    refused = helper.login()  # even the right password, from this address, for a while
    assert refused.status_code == 429 and "Too many wrong passwords" in refused.text
    assert helper.login(ip="10.0.0.2").status_code == 302  # never a lockout: see tests/test_security.py


def test_session_cookie_is_httponly_and_samesite_lax(client, staff_account):
    helper = Admin(client)
    response = helper.login()
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_logout_ends_the_session(admin):
    admin.post("/admin/logout")
    assert admin.get("/admin/keywords").status_code == 302


def test_pages_never_show_secrets(admin, post):
    post(payloads.of_messages(payloads.text("STOP", wa_id="593991234567")))
    for path in ("/admin/keywords", "/admin/numbers/593991234567", "/admin/review", "/admin/audit",
                 "/admin/keywords?try_text=stop&try_from=%2B593991234567"):
        html = admin.get(path).text
        for secret in (APP_SECRET, ADMIN_TOKEN, "test-access-token", "scrypt:", "pbkdf2:"):
            assert secret not in html, (path, secret)


def test_keywords_page_lists_keywords_by_language_and_intent(admin, service):
    add_keyword(service, "es", "opt_out", "bajita", Match.ANYWHERE)
    html = admin.get("/admin/keywords?language=es").text
    assert "bajita" in html and "opt-out" in html and "Anywhere" in html


def test_try_it_box_shows_intent_rule_language_and_reply(admin, service):
    add_keyword(service, "es", "opt_out", "bajita")
    html = admin.get("/admin/keywords?language=es&try_text=bajita&try_from=%2B593991234567").text
    assert 'data-field="intent">opt_out<' in html
    assert "bajita" in html.split('data-field="rule">')[1].split("<")[0]
    assert service.classifier.reply_text(Intent.OPT_OUT, "es") in html


def test_preview_shows_try_it_before_and_after_an_unsaved_edit(admin, service):
    ensure_absent(service, "es", "bajita")
    html = admin.post("/admin/keywords/preview", {
        "op": "add", "language": "es", "intent": "opt_out", "keyword": "bajita", "match": "whole_message",
        "try_text": "bajita"}).text
    now, after = html.split('data-testid="Now"')[1], html.split('data-testid="With this change"')[1]
    assert 'data-field="intent">none<' in now[:400]
    assert 'data-field="intent">opt_out<' in after[:400]
    assert service.classifier.classify("bajita").intent is Intent.NONE  # still unsaved


def test_impact_preview_shows_ordinary_messages_an_anywhere_keyword_would_catch(admin, service, post):
    ensure_absent(service, "es", "alto")
    post(payloads.of_messages(payloads.text("El precio es muy alto", wa_id="593990000001"),
                              payloads.text("Gracias", wa_id="593990000002")))
    html = admin.post("/admin/keywords/preview", {
        "op": "add", "language": "es", "intent": "opt_out", "keyword": "alto", "match": "anywhere"}).text
    impact = html.split('id="impact"')[1]
    assert "El precio es muy alto" in impact and "Gracias" not in impact
    assert "would count as an opt-out if they arrived now" in impact and "saving does not opt their senders out" in impact
    assert service.classifier.classify("El precio es muy alto").intent is Intent.NONE


def test_saved_keyword_suppresses_the_next_delivery(admin, service, post, read_db):
    ensure_absent(service, "es", "bajita")
    response = admin.post("/admin/keywords/save", {
        "op": "add", "language": "es", "intent": "opt_out", "keyword": "bajita", "match": "whole_message"},
        follow=True)
    assert "Saved" in response.text and "bajita" in response.text
    post(payloads.of_messages(payloads.text("Bajita", wa_id="593991234567")))
    assert read_db("SELECT source, rule FROM consent_events WHERE wa_id = '593991234567'")[0]["source"] == "keyword"
    history = admin.get("/admin/numbers/593991234567").text
    assert "Opted out" in history and "bajita" in history.lower()


@pytest.mark.parametrize("form,message", [
    ({"keyword": "   "}, "empty"),
    ({"keyword": "bajita", "intent": "help"}, "cannot mean both"),
])
def test_invalid_keyword_from_the_page_is_refused_with_a_message(admin, service, form, message):
    add_keyword(service, "es", "opt_out", "bajita")
    data = {"op": "add", "language": "es", "intent": "opt_out", "match": "whole_message", **form}
    response = admin.post("/admin/keywords/save", data, follow=True)
    assert message in response.text
    assert service.classifier.classify("bajita").intent is Intent.OPT_OUT


@pytest.mark.parametrize("reply,message", [("", "no text"), ("x" * 4097, "at most 4096")])
def test_invalid_reply_from_the_page_is_refused(admin, service, reply, message):
    before = service.classifier.reply_text(Intent.HELP, "es")
    response = admin.post("/admin/replies", {"language": "es", "intent": "help", "reply": reply}, follow=True)
    assert message in response.text
    assert service.classifier.reply_text(Intent.HELP, "es") == before


def test_reply_edit_is_used_for_the_next_confirmation(admin, service, post, read_db):
    add_keyword(service, "es", "opt_out", "bajita")
    admin.post("/admin/replies", {"language": "es", "intent": "opt_out", "reply": "Hecho. Sin marketing."})
    post(payloads.of_messages(payloads.text("bajita", wa_id="593991234567")))
    assert read_db("SELECT body FROM outbox") == [{"body": "Hecho. Sin marketing."}]


def test_number_page_opt_out_by_hand_requires_a_reason(admin, read_db):
    response = admin.post("/admin/numbers/593991234567/consent", {"action": "opt_out", "reason": "  "}, follow=True)
    assert "A reason is required" in response.text
    assert read_db("SELECT count(*) AS n FROM consent_events") == [{"n": 0}]


def test_opt_out_and_back_in_by_hand_are_in_the_history(admin, read_db):
    admin.post("/admin/numbers/+593 99 123 4567/consent", {"action": "opt_out", "reason": "asked by phone"})
    admin.post("/admin/numbers/593991234567/consent", {"action": "opt_in", "reason": "asked again"})
    events = read_db("SELECT action, source, actor, reason FROM consent_events ORDER BY id")
    assert events == [
        {"action": "opt_out", "source": "staff", "actor": "ana", "reason": "asked by phone"},
        {"action": "opt_in", "source": "staff", "actor": "ana", "reason": "asked again"},
    ]
    html = admin.get("/admin/numbers/593991234567").text
    assert "asked by phone" in html and "asked again" in html and "Subscribed" in html


def test_staff_actions_log_masked_numbers(admin, caplog):
    with caplog.at_level(logging.INFO, logger="optout"):
        admin.post("/admin/numbers/593991234567/consent", {"action": "opt_out", "reason": "by phone"})
    assert caplog.records
    assert all("593991234567" not in record.getMessage() for record in caplog.records)
    assert any("5939******67" in record.getMessage() for record in caplog.records)


@pytest.fixture
def doubtful(monkeypatch):
    """A classifier that is unsure about long messages containing "no más" (as the detection
    engine is meant to be), whatever the installed classifier does."""
    original = classify.Classifier.classify

    def unsure(self, text):
        result = original(self, text)
        if "no más" in text.lower() and len(text) > 30:
            return dataclasses.replace(result, intent=Intent.NONE, rule="anywhere:es:no más", certain=False)
        return result

    monkeypatch.setattr(classify.Classifier, "classify_remembered", unsure)


COMPLAINT = "Llevo una semana esperando el pedido y no más excusas por favor, respondan ya"


def test_uncertain_message_waits_in_the_review_queue_and_staff_decide(admin, doubtful, post, read_db):
    body = post(payloads.of_messages(payloads.text(COMPLAINT, wa_id="593991234567", id="wamid.R1"))).json
    assert body["outcomes"][0]["certain"] is False and body["outcomes"][0]["consent"] is None
    assert read_db("SELECT count(*) AS n FROM suppressions") == [{"n": 0}]
    assert COMPLAINT in admin.get("/admin/review").text
    admin.post("/admin/review/wamid.R1", {"decision": "opt_out", "reason": "clearly wants out"})
    assert read_db("SELECT action, source, actor, reason, rule FROM consent_events") == [
        {"action": "opt_out", "source": "staff", "actor": "ana", "reason": "review: clearly wants out",
         "rule": "anywhere:es:no más"}]
    assert read_db("SELECT state, decision, decided_by FROM review_queue") == [
        {"state": "decided", "decision": "opt_out", "decided_by": "ana"}]
    assert COMPLAINT not in admin.get("/admin/review").text.split('id="pending"')[1].split("</table>")[0]


def test_not_an_opt_out_decision_is_recorded_and_changes_no_consent(admin, doubtful, post, read_db):
    post(payloads.of_messages(payloads.text(COMPLAINT, wa_id="593991234567", id="wamid.R2")))
    admin.post("/admin/review/wamid.R2", {"decision": "not_opt_out", "reason": "a complaint"})
    assert read_db("SELECT count(*) AS n FROM consent_events") == [{"n": 0}]
    assert read_db("SELECT decision, reason FROM review_queue") == [{"decision": "not_opt_out", "reason": "a complaint"}]
    assert read_db("SELECT action FROM audit_log") == [{"action": "review.not_opt_out"}]


def test_certain_opt_outs_never_wait_for_review(doubtful, post, service, read_db):
    add_keyword(service, "es", "opt_out", "bajita")
    post(payloads.of_messages(payloads.text("bajita", wa_id="593991234567")))
    assert read_db("SELECT count(*) AS n FROM review_queue") == [{"n": 0}]
    assert read_db("SELECT suppressed FROM suppressions") == [{"suppressed": 1}]


def test_redelivered_uncertain_message_is_queued_once(doubtful, post, read_db):
    delivery = payloads.of_messages(payloads.text(COMPLAINT, id="wamid.R3"))
    post(delivery)
    post(delivery)
    assert read_db("SELECT count(*) AS n FROM review_queue") == [{"n": 0 + 1}]


def test_audit_page_lists_edits_and_undo_reverts(admin, service):
    ensure_absent(service, "es", "bajita")
    admin.post("/admin/keywords/save", {"op": "add", "language": "es", "intent": "opt_out",
                                        "keyword": "bajita", "match": "whole_message"})
    html = admin.get("/admin/audit").text
    assert "keyword.add" in html and "ana" in html
    entry = service.db.execute("SELECT max(id) FROM audit_log").fetchone()[0]
    admin.post(f"/admin/audit/{entry}/undo")
    assert service.classifier.classify("bajita").intent is Intent.NONE
    assert f"undone by #{entry + 1}" in admin.get("/admin/audit").text
