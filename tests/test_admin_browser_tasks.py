"""The tasks support staff do, in headless Chromium at desktop (1280 px) and phone (390 px)
width, each page checked with axe-core (and, on the phone, for width and touch targets)."""
import re
from pathlib import Path

import pytest

from handlers.detection.intents import Intent
from handlers.testing import admin_volume, payloads
from tests.admin_client import ensure_absent
from tests.browser_support import check_page, new_page

pytestmark = pytest.mark.slow
WIDTHS = pytest.mark.parametrize("viewport", ["desktop", "phone"])


def _plain(text: str) -> str:
    """Text as read, without the invisible marks that isolate quoted words for right-to-left text."""
    return " ".join(text.replace("\u2068", "").replace("\u2069", "").split())


def _feedback(page) -> str:
    return _plain(page.text_content("#feedback"))


@WIDTHS
def test_find_why_and_when_a_number_was_opted_out_from_the_overview(live, chromium, viewport):
    admin_volume.seed_history(live.service.db, events=2_000)
    live.service.handle(payloads.of_messages(payloads.text("Quiero darme de baja", wa_id="593991234567")))
    page = new_page(chromium, viewport, timezone_id="America/Guayaquil")
    live.login(page)
    assert page.text_content("h1") == "Overview"
    check_page(page, viewport)
    page.click("#recent-changes a[href='/admin/numbers/593991234567']")
    page.wait_for_url("**/admin/numbers/593991234567")
    assert "Opted out" in page.text_content("#state")
    assert "They wrote “Quiero darme de baja”" in _plain(page.text_content("#why"))
    when = page.locator("#state time").first
    assert when.get_attribute("title").endswith(" UTC")          # the UTC value on hover
    assert not when.text_content().endswith("UTC") and when.get_attribute("data-local") == "1"   # shown locally
    assert "Opt back in" in page.text_content("#consent-form button[type=submit]")
    check_page(page, viewport)


@WIDTHS
def test_work_1000_review_items_with_a_bulk_decision(live, chromium, viewport):
    admin_volume.seed_review(live.service.db, 1_000, rule="anywhere:es:para")
    admin_volume.seed_review(live.service.db, 4, rule="negated:en:stop", language="en", text="Don't stop, I love it",
                             prefix="wamid.keep", first_number=14155550100)
    page = new_page(chromium, viewport)
    live.login(page, "/admin/review")
    assert page.text_content("#pending-count") == "1,004 messages"
    check_page(page, viewport)
    # Enter in a reason box records nothing.
    page.fill("#reason-1", "asks about visiting the store")
    page.press("#reason-1", "Enter")
    assert "Enter does not record a decision" in page.text_content("#hint-1")
    assert live.service.db.execute("SELECT count(*) FROM review_queue WHERE state = 'pending'").fetchone()[0] == 1_004
    page.select_option("#f-rule", "anywhere:es:para")
    page.click("#review-filter button[type=submit]")
    assert "1,000 messages match the filter" in page.text_content("#pending-heading")
    page.fill("#bulk-reason", "asks about offers")
    page.click("#whole-filter button[value=not_opt_out]")
    assert "Not an opt-out: recorded for 1,000 messages (everything caught by the Spanish keyword “para”" in _feedback(page)
    page.goto(live.url + "/admin/review")
    assert page.text_content("#pending-count") == "4 messages"
    page.click("#pending tbody tr:first-child button[value=not_opt_out]")
    assert "Not an opt-out: recorded for +14155550100" in _feedback(page)
    page.click("#feedback button:has-text('Undo')")
    assert page.text_content("#pending-count") == "4 messages"
    check_page(page, viewport)


@WIDTHS
def test_add_a_keyword_see_the_impact_save_then_undo_it_after_300_audit_entries(live, chromium, viewport):
    ensure_absent(live.service, "es", "alto")
    live.service.handle(payloads.of_messages(payloads.text("El precio es muy alto", wa_id="593990000001")))
    page = new_page(chromium, viewport)
    live.login(page, "/admin/keywords?language=es")
    check_page(page, viewport)
    page.fill("#add-keyword", "alto")
    page.select_option("#add-intent", "opt_out")
    page.select_option("#add-match", "anywhere")
    page.click("#add-form button[type=submit]")
    assert "El precio es muy alto" in page.text_content("#impact")
    assert "Saving will not" in page.text_content("#what-saving-does")
    check_page(page, viewport)
    page.click("#save-form button[type=submit]")
    assert "Saved: added “alto” as an opt-out keyword (anywhere in the message) in Spanish" in _feedback(page)
    entry = live.service.db.execute("SELECT max(id) FROM audit_log").fetchone()[0]
    admin_volume.seed_audit(live.service.db, 300)
    page.goto(live.url + "/admin/audit")
    assert page.locator(f"#entry-{entry}").count() == 0          # 300 newer entries push it off the first page
    page.select_option("#a-kind", "keyword")
    page.click("#audit-filter button[type=submit]")
    row = page.locator(f"#entry-{entry}")
    assert "not a keyword" in row.text_content() and "an opt-out keyword (anywhere in the message)" in row.text_content()
    check_page(page, viewport)
    row.locator("button:has-text('Undo')").click()
    assert f"Undone: #{entry}" in _feedback(page)
    live.service.refresh(force=True)
    assert live.service.classifier.classify("El precio es muy alto").intent is Intent.NONE


@WIDTHS
def test_opt_a_number_back_in(live, chromium, viewport):
    live.service.handle(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    page = new_page(chromium, viewport)
    live.login(page, "/admin/numbers")
    page.fill("#q", "+1 415 555 0123")
    page.click("#numbers-filter button[type=submit]")
    page.click("#numbers a[href='/admin/numbers/14155550123']")
    assert page.locator("#consent-form button[type=submit]").count() == 1
    assert page.text_content("#consent-form button[type=submit]") == "Opt back in"
    check_page(page, viewport)
    page.fill("#reason", "asked again by phone, ticket 88")
    page.click("#consent-form button[type=submit]")
    assert "Opted back in: +14155550123." in _feedback(page)
    assert "Subscribed" in page.text_content("#state")
    assert "Changed by hand by ana: asked again by phone, ticket 88." in _plain(page.text_content("#history"))
    assert page.text_content("#consent-form button[type=submit]") == "Opt out"
    check_page(page, viewport)


@WIDTHS
def test_edit_an_arabic_reply(live, chromium, viewport):
    page = new_page(chromium, viewport)
    live.login(page, "/admin/keywords")
    page.select_option("#language-choice", "ar")
    page.click("#language-form button[type=submit]")
    box = page.locator("#reply-opt_out")
    assert box.evaluate("el => getComputedStyle(el).direction") == "rtl"
    check_page(page, viewport)
    page.fill("#reply-help", "للمساعدة اكتب مساعدة (مسودة)")              # an unsaved edit elsewhere
    reply = "تم إلغاء اشتراكك. اكتب ابدأ للعودة."
    page.fill("#reply-opt_out", reply)
    assert page.text_content("#reply-opt_out-count").startswith(f"{len(reply)} of 4,096 characters")
    page.click("button[name=save][value=opt_out]")
    assert "Saved the opt-out reply in Arabic (العربية)" in _feedback(page)
    assert page.input_value("#reply-opt_out") == "تم إلغاء اشتراكك. اكتب ابدأ للعودة."
    assert page.input_value("#reply-help") == "للمساعدة اكتب مساعدة (مسودة)"   # kept, marked not saved
    assert "not saved" in page.text_content("label[for=reply-help]")
    live.service.refresh(force=True)
    assert live.service.locales["ar"].replies[Intent.OPT_OUT] == "تم إلغاء اشتراكك. اكتب ابدأ للعودة."
    assert live.service.locales["ar"].replies[Intent.HELP] != "للمساعدة اكتب مساعدة (مسودة)"
    check_page(page, viewport)


MESSY = ("phone;date;reason\n"
         "tel:+1 (415) 555-0123;yesterday;old provider\n"
         "'593991234567;03/01/2025;\n"
         "+593 99-123-4568;1 March 2025;\n"
         "not a number;2025-01-01;\n")


@WIDTHS
def test_import_a_messy_csv_and_download_the_suppression_list(live, chromium, viewport, tmp_path):
    source = tmp_path / "old-provider.csv"
    source.write_text(MESSY, "utf-8")
    page = new_page(chromium, viewport)
    live.login(page, "/admin/import")
    check_page(page, viewport)
    page.set_input_files("#import-file", str(source))
    page.click("#import-form button[type=submit]")
    assert page.text_content("#count-added") == "3"
    assert page.text_content("#count-dates-unknown") == "2" and page.text_content("#count-rejected") == "1"
    assert "not a number" in page.text_content("#rejected")
    check_page(page, viewport)
    with page.expect_download() as rejected:
        page.click("#download-rejected")
    assert "not a number" in Path(rejected.value.path()).read_text("utf-8")
    page.goto(live.url + "/admin/numbers")
    with page.expect_download() as listed:
        page.click("#download-csv")
    lines = Path(listed.value.path()).read_text("utf-8").splitlines()
    assert lines[0] == "wa_id,since,source,rule,scope,person"
    assert sorted(line.split(",")[0] for line in lines[1:]) == ["14155550123", "593991234567", "593991234568"]
    check_page(page, viewport)


@WIDTHS
def test_every_admin_page_passes_the_accessibility_check(live, chromium, viewport):
    admin_volume.seed_history(live.service.db, events=500)
    admin_volume.seed_review(live.service.db, 60)
    admin_volume.seed_audit(live.service.db, 60)
    live.service.handle(payloads.of_messages(payloads.text("STOP", wa_id="14155550123")))
    page = new_page(chromium, viewport)
    page.goto(live.url + "/admin/login")
    check_page(page, viewport)
    live.login(page)
    for path in ("/admin/", "/admin/numbers", "/admin/numbers?state=all&page=2", "/admin/numbers/14155550123",
                 "/admin/review", "/admin/audit", "/admin/keywords?language=es", "/admin/keywords?language=he",
                 "/admin/import", "/admin/no-such-page"):
        page.goto(live.url + path)
        check_page(page, viewport)
    page.goto(live.url + "/admin/keywords?language=es")
    page.fill("#add-keyword", "altísimo")
    page.click("#add-form button[type=submit]")
    assert re.search("Preview", page.text_content("h1"))
    check_page(page, viewport)
    page.keyboard.press("Tab")   # the first Tab reaches the skip link
    assert page.evaluate("document.activeElement.className") == "skip-link"
