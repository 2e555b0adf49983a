"""The review queue and the audit log at volume, through the Flask test client: counts,
paging, filters, bulk decisions, Enter-safety, feedback with Undo, readable diffs,
and an Undo for every kind of change."""
import re

from handlers.testing import admin_volume, payloads
from tests.admin_client import ensure_absent


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("\u2068", "").replace("\u2069", "").split())


def _pending(html: str) -> str:
    return html.split('id="pending"')[1].split("</table>")[0]


def test_review_queue_has_a_count_pages_filters_and_sorting(admin, service):
    admin_volume.seed_review(service.db, 120, rule="anywhere:es:para")
    admin_volume.seed_review(service.db, 5, rule="negated:en:stop", language="en", text="Don't stop",
                             prefix="wamid.other", first_number=14155550100)
    html = admin.get("/admin/review").text
    assert "125 messages" in _text(html.split('id="pending-count"')[1][:40])
    assert _pending(html).count('name="decision" value="opt_out"') == 50 and "Page 1 of 3" in html
    assert "Page 3 of 3" in admin.get("/admin/review?page=3").text
    by_rule = admin.get("/admin/review?rule=negated:en:stop").text
    assert _pending(by_rule).count("Don&#39;t stop") == 5 and "para" not in _pending(by_rule)
    assert "5 messages match the filter" in _text(by_rule)
    assert _pending(admin.get("/admin/review?language=en").text).count("<tr id=") == 5
    assert "Nothing waiting matches" in admin.get("/admin/review?since=2999-01-01").text
    oldest, newest = _pending(html), _pending(admin.get("/admin/review?sort=newest").text)
    assert "(0)" in oldest and "(119)" not in oldest and "(119)" in newest


def test_enter_in_a_reason_box_never_records_an_opt_out(admin, service, read_db):
    [message_id] = admin_volume.seed_review(service.db, 1)
    form = _pending(admin.get("/admin/review").text).split('<form method="post"')[1].split("</form>")[0]
    buttons = re.findall(r"<button[^>]*>", form)
    # HTML's implicit submission (Enter in a text box) uses the form's first submit button: here a disabled one.
    assert "disabled" in buttons[0] and 'value="opt_out"' not in buttons[0]
    assert form.index('name="reason"') < form.index('value="not_opt_out"') < form.index('value="opt_out"')
    # What a browser without that rule would send for Enter: the reason and no decision.
    response = admin.post(f"/admin/review/{message_id}", {"reason": "asks about visiting the store"})
    assert response.status_code == 400 and "nothing was recorded" in response.text
    assert 'value="asks about visiting the store"' in response.text
    assert read_db("SELECT state FROM review_queue") == [{"state": "pending"}]
    assert read_db("SELECT count(*) AS n FROM consent_events") == [{"n": 0}]


def test_a_decision_says_what_was_decided_for_which_number_with_undo(admin, service, read_db):
    [message_id] = admin_volume.seed_review(service.db, 1, first_number=593991234567)
    page = admin.post(f"/admin/review/{message_id}", {"decision": "opt_out", "reason": "wants out"}, follow=True)
    feedback = _text(page.text.split('id="feedback"')[1].split("</div>\n  </div>")[0])
    assert "Opt-out: recorded for +593991234567" in feedback and "Undo" in feedback
    assert "no WhatsApp confirmation" in feedback
    assert read_db("SELECT suppressed FROM suppressions") == [{"suppressed": 1}]
    undo = re.search(r'action="(/admin/audit/\d+/undo)"', page.text).group(1)
    admin.post(undo)
    assert read_db("SELECT state FROM review_queue") == [{"state": "pending"}]
    assert read_db("SELECT suppressed FROM suppressions") == [{"suppressed": 0}]


def test_the_page_says_review_opt_outs_get_no_confirmation_and_why(admin):
    note = _text(admin.get("/admin/review").text.split('id="no-confirmation"')[1].split("</p>")[0])
    assert "no WhatsApp confirmation" in note and "24 hours" in note


def test_bulk_not_an_opt_out_for_everything_a_rule_caught_is_one_audit_entry(admin, service, read_db):
    admin_volume.seed_review(service.db, 1240, rule="anywhere:es:para")
    admin_volume.seed_review(service.db, 3, rule="negated:en:stop", language="en", prefix="wamid.keep",
                             first_number=14155550100)
    page = admin.get("/admin/review?rule=anywhere:es:para").text
    assert "Not an opt-out: all 1,240 caught by the Spanish keyword “para” (anywhere in the message)" in _text(page)
    done = admin.client.post("/admin/review/bulk?scope=filter", data={
        "csrf_token": admin.token, "decision": "not_opt_out", "rule": "anywhere:es:para", "reason": "asks about offers",
        **_snapshot(page)}, follow_redirects=True)
    assert "Not an opt-out: recorded for 1,240 messages (everything caught by the Spanish keyword “para”" in _text(done.text)
    assert read_db("SELECT state, count(*) AS n FROM review_queue GROUP BY state ORDER BY state") == [
        {"state": "decided", "n": 1240}, {"state": "pending", "n": 3}]
    assert read_db("SELECT action FROM audit_log") == [{"action": "review.bulk_not_opt_out"}]
    assert read_db("SELECT count(*) AS n FROM consent_events") == [{"n": 0}]
    entry = read_db("SELECT id FROM audit_log")[0]["id"]
    admin.post(f"/admin/audit/{entry}/undo")
    assert read_db("SELECT count(*) AS n FROM review_queue WHERE state = 'pending'") == [{"n": 1243}]


def _snapshot(page: str) -> dict:
    """The hidden fields that pin "all N" to the N the page showed."""
    return {name: re.search(rf'name="{name}" value="([^"]*)"', page).group(1) for name in ("expected", "seen_until")}


def test_bulk_all_n_never_touches_a_message_that_arrived_after_the_page(admin, service, read_db):
    from handlers.consent import review
    from handlers.detection.classify import Classification
    from handlers.detection.intents import Intent
    from handlers.storage.db import transaction
    admin_volume.seed_review(service.db, 40, rule="quoted:es:baja")
    page = admin.get("/admin/review?rule=quoted:es:baja").text
    with transaction(service.db):
        for n in range(3):
            review.add(service.db, f"wamid.late{n}", f"52155888000{n:02d}", "¿Qué pasa si escribo BAJA?",
                       Classification(Intent.NONE, "quoted:es:baja", "baja", "es", "que pasa si escribo baja", False))
    form = {"csrf_token": admin.token, "decision": "opt_out", "rule": "quoted:es:baja", **_snapshot(page)}
    done = admin.client.post("/admin/review/bulk?scope=filter", data=form, follow_redirects=True)
    assert "Opt-out: recorded for 40 messages" in _text(done.text)
    assert read_db("SELECT message_id FROM review_queue WHERE state = 'pending' ORDER BY message_id") == [
        {"message_id": f"wamid.late{n}"} for n in range(3)]
    assert read_db("SELECT count(*) AS n FROM suppressions WHERE wa_id LIKE '52155888%'") == [{"n": 0}]


def test_bulk_all_n_refuses_when_the_items_changed_under_the_page(admin, service, read_db):
    ids = admin_volume.seed_review(service.db, 10, rule="quoted:es:baja")
    page = admin.get("/admin/review?rule=quoted:es:baja").text
    admin.client.post("/admin/review/bulk", data={"csrf_token": admin.token, "decision": "not_opt_out",
                                                  "message_id": ids[:2]})   # a colleague decided two
    form = {"csrf_token": admin.token, "decision": "opt_out", "rule": "quoted:es:baja", **_snapshot(page)}
    done = admin.client.post("/admin/review/bulk?scope=filter", data=form, follow_redirects=True)
    assert "The queue changed since the page was loaded (10 messages then, 8 now" in _text(done.text)
    assert read_db("SELECT count(*) AS n FROM suppressions") == [{"n": 0}]


def test_bulk_opt_out_of_a_selection_opts_each_sender_out(admin, service, read_db):
    ids = admin_volume.seed_review(service.db, 5)
    admin.client.post("/admin/review/bulk", data={"csrf_token": admin.token, "decision": "opt_out",
                                                  "message_id": ids[:3], "reason": "all three said stop"})
    assert read_db("SELECT count(*) AS n FROM suppressions WHERE suppressed = 1") == [{"n": 3}]
    assert read_db("SELECT DISTINCT reason FROM consent_events") == [{"reason": "review: all three said stop"}]
    assert read_db("SELECT count(*) AS n FROM review_queue WHERE state = 'pending'") == [{"n": 2}]
    nothing = admin.client.post("/admin/review/bulk", data={"csrf_token": admin.token, "decision": "opt_out"},
                                follow_redirects=True)
    assert "no items selected" in nothing.text


def test_audit_log_is_paged_and_filtered_by_actor_kind_and_date(admin, service):
    admin_volume.seed_audit(service.db, 120, actor="luis")
    ensure_absent(service, "es", "bajita")
    admin.post("/admin/keywords/save", {"op": "add", "language": "es", "intent": "opt_out", "keyword": "bajita",
                                        "match": "whole_message"})
    html = admin.get("/admin/audit").text
    assert html.split('id="audit"')[1].count('<tr id="entry-') == 50 and "Page 1 of 3" in html
    mine = admin.get("/admin/audit?actor=ana&kind=keyword").text
    assert mine.split('id="audit"')[1].count('<tr id="entry-') == 1 and "“bajita”" in mine
    assert admin.get("/admin/audit?kind=consent").text.count('<tr id="entry-') == 50
    assert "No entries match" in admin.get("/admin/audit?until=2000-01-01").text


def test_audit_shows_readable_text_and_a_word_diff_never_escaped_json(admin, service):
    admin.post("/admin/replies", {"language": "ru", "save": "help", "reply_help": "Готово. Напишите СТОП, чтобы отписаться."})
    admin.post("/admin/replies", {"language": "ru", "save": "help", "reply_help": "Готово. Напишите СТОП или STOP, чтобы отписаться."})
    row = admin.get("/admin/audit").text.split('<tr id="entry-')[1].split("</tr>")[0]
    assert "\\u" not in row and "{" not in row
    assert "the help reply in Russian" in row
    assert "<del>СТОП,</del>" in row and "<ins>СТОП или STOP,</ins>" in row


def test_saving_an_unchanged_reply_writes_no_audit_entry(admin, service, read_db):
    current = service.locales["es"].replies
    from handlers.detection.intents import Intent
    page = admin.post("/admin/replies", {"language": "es", "save": "help", "reply_help": current[Intent.HELP]}, follow=True)
    assert "Nothing to save" in page.text
    assert read_db("SELECT count(*) AS n FROM audit_log") == [{"n": 0}]


def test_every_kind_of_change_is_audited_and_can_be_undone(admin, service, post, read_db, tmp_path):
    ensure_absent(service, "es", "bajita")
    admin.post("/admin/keywords/save", {"op": "add", "language": "es", "intent": "opt_out", "keyword": "bajita",
                                        "match": "whole_message"})
    admin.post("/admin/replies", {"language": "es", "save": "help", "reply_help": "Escribe BAJA."})
    admin.post("/admin/numbers/14155550123/consent", {"action": "opt_out", "reason": "by phone"})
    [message_id] = admin_volume.seed_review(service.db, 1)
    admin.post(f"/admin/review/{message_id}", {"decision": "not_opt_out"})
    admin.client.post("/admin/import", data={"csrf_token": admin.token,
                                             "file": (__import__("io").BytesIO(b"phone\n+593991112233\n"), "old.csv")})
    kinds = [row["action"] for row in read_db("SELECT action FROM audit_log ORDER BY id")]
    assert kinds == ["keyword.add", "reply.set", "consent.opt_out", "review.not_opt_out", "import"]
    html = admin.get("/admin/audit").text
    assert html.count(">Undo</button>") == 5
    for entry in reversed(read_db("SELECT id FROM audit_log ORDER BY id")):
        response = admin.post(f"/admin/audit/{entry['id']}/undo", follow=True)
        assert "Undone: #" in response.text, response.text
    assert read_db("SELECT count(*) AS n FROM suppressions WHERE suppressed = 1") == [{"n": 0}]
    assert read_db("SELECT state FROM review_queue") == [{"state": "pending"}]
    service.refresh(force=True)
    assert service.classifier.classify("bajita").intent.value == "none"
    assert "undone by #" in admin.get("/admin/audit").text
    del post, tmp_path


def test_a_keyword_edit_can_be_found_and_undone_after_300_other_entries(admin, service):
    ensure_absent(service, "es", "bajita")
    admin.post("/admin/keywords/save", {"op": "add", "language": "es", "intent": "opt_out", "keyword": "bajita",
                                        "match": "whole_message"})
    entry = service.db.execute("SELECT max(id) FROM audit_log").fetchone()[0]
    admin_volume.seed_audit(service.db, 300)
    assert f'id="entry-{entry}"' not in admin.get("/admin/audit").text
    assert f'id="entry-{entry}"' in admin.get("/admin/audit?kind=keyword").text
    admin.post(f"/admin/audit/{entry}/undo")
    service.refresh(force=True)
    assert service.classifier.classify("bajita").intent.value == "none"


def test_a_message_the_webhook_sends_to_review_carries_a_language_to_filter_by(admin, service, read_db):
    service.handle(payloads.of_messages(payloads.text("Wrong number, sorry about that. STOP? maybe", wa_id="14155550177")))
    assert read_db("SELECT language FROM review_queue") == [{"language": "en"}]   # "stop": no one language's
    assert "Wrong number, sorry" in admin.get("/admin/review?language=en").text
