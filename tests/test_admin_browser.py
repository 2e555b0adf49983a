"""The admin page in headless Chromium against the real service under gunicorn (2 workers)."""
import json
import os
import sqlite3
from pathlib import Path

import pytest

from handlers.delivery.service import Service
from handlers.detection.intents import Intent
from handlers.settings import Settings
from handlers.staff import accounts, keyword_store
from handlers.testing import payloads
from handlers.testing.gunicorn import GunicornService

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "browser test password"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = pytest.mark.slow


def _prepare(db_path: str) -> None:
    """A staff account, and "baja" in no language yet (whatever locales/ ships)."""
    service = Service(Settings(app_secret="s", verify_token="v", admin_token="a", db_path=db_path))
    try:
        accounts.add(service.db, "ana", PASSWORD)
        for code, locale in service.locales.items():
            for intent, kind in keyword_store.placements(locale, "baja"):
                keyword_store.apply_change(service.db, service.file_locales,
                                           keyword_store.Change("remove", code, intent, "baja", kind), "setup")
    finally:
        service.close()


@pytest.fixture
def gunicorn(tmp_path, cloud_api):
    db_path = str(tmp_path / "browser.db")
    _prepare(db_path)
    with GunicornService(db_path, cloud_api.url, extra_env={"OPTOUT_CONFIG_POLL_SECONDS": "0"}) as service:
        service.db_path = db_path
        yield service


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); CI runs this test")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_staff_add_baja_in_the_browser_and_the_next_baja_unsubscribes(gunicorn, browser):
    page = browser.new_page()
    refused = []  # what the Content-Security-Policy blocked (nothing may be)
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None)
    page.goto(gunicorn.url + "/admin/keywords")
    assert "/admin/login" in page.url
    assert page.evaluate("getComputedStyle(document.body).margin") == "0px"  # admin.css applied under the CSP
    page.fill("input[name=name]", "ana")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.goto(gunicorn.url + "/admin/keywords?language=es")

    page.fill("#add-form input[name=keyword]", "baja")
    page.select_option("#add-form select[name=intent]", "opt_out")
    page.select_option("#add-form select[name=match]", "whole_message")
    page.click("#add-form button[type=submit]")
    page.fill("#try-form input[name=try_text]", "BAJA")
    page.fill("#try-form input[name=try_from]", "+593991234567")
    page.click("#try-form button[type=submit]")
    assert page.text_content("[data-testid='Now'] [data-field=intent]") == "none"
    assert page.text_content("[data-testid='With this change'] [data-field=intent]") == "opt_out"
    assert "baja" in page.text_content("[data-testid='With this change'] [data-field=rule]")

    page.click("#save-form button[type=submit]")
    assert "Saved" in page.text_content("[role=status]")

    status, body = gunicorn.post_delivery(payloads.of_messages(payloads.text("baja", wa_id="593991234567")))
    assert status == 200, body
    assert json.loads(body)["outcomes"][0]["consent"] == "opt_out"

    page.goto(gunicorn.url + "/admin/numbers/593991234567")
    assert "Opted out" in page.text_content("#state")
    history = page.text_content("#history")
    assert "keyword" in history and "baja" in history
    assert refused == []


def test_an_api_edit_reaches_every_gunicorn_worker(gunicorn):
    status, body = gunicorn.api("POST", "/api/keywords", json.dumps(
        {"language": "es", "intent": "opt_out", "keyword": "baja"}).encode())
    assert status == 201, body
    senders = [f"5939912345{n:02d}" for n in range(12)]
    for sender in senders:  # separate requests, spread over both workers
        status, body = gunicorn.post_delivery(payloads.of_messages(payloads.text("Baja", wa_id=sender)))
        assert status == 200 and json.loads(body)["outcomes"][0]["intent"] == Intent.OPT_OUT.value
    conn = sqlite3.connect(gunicorn.db_path)
    try:
        assert conn.execute("SELECT count(*) FROM suppressions WHERE suppressed = 1").fetchone()[0] == len(senders)
    finally:
        conn.close()
