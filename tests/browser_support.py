"""What the browser tests share: Debian's Chromium, the two screen widths, the admin app
served from a thread, logging in, and the checks every page must pass (axe-core, fits a
390 px phone, touch targets of at least 40 px)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from app import create_app
from handlers.settings import Settings
from handlers.staff import accounts
from handlers.testing.live_server import serve

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
PASSWORD = "browser test password"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
MIN_TARGET = 40


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); CI runs this test")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


class LiveAdmin:
    def __init__(self, url: str, service):
        self.url, self.service = url, service

    def login(self, page, then: str = "/admin/"):
        page.goto(self.url + "/admin/login")
        page.fill("#login-name", "ana")
        page.fill("#login-password", PASSWORD)
        page.click("button:has-text('Log in')")
        page.wait_for_url(self.url + "/admin/")
        if then != "/admin/":
            page.goto(self.url + then)


@pytest.fixture
def live(tmp_path, cloud_api):
    settings = Settings(app_secret="s", verify_token="v", admin_token="a", db_path=str(tmp_path / "live.db"),
                        api_url=cloud_api.url, config_poll_seconds=0)
    app = create_app({"settings": settings})
    service = app.extensions["optout"]
    accounts.add(service.db, "ana", PASSWORD)
    try:
        with serve(app) as url:
            yield LiveAdmin(url, service)
    finally:
        service.close()


def new_page(chromium, viewport: str, **options):
    context = chromium.new_context(viewport=VIEWPORTS[viewport], accept_downloads=True,
                                   has_touch=viewport == "phone", is_mobile=viewport == "phone",
                                   device_scale_factor=1, **options)
    return context.new_page()


def assert_accessible(page) -> None:
    """axe-core on the page as it is: no serious or critical violation."""
    from axe_playwright_python.sync_playwright import Axe
    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{page.url}:\n" + "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes'][:5]]}" for v in bad)


def assert_fits_a_phone(page) -> None:
    """Nothing wider than the screen, and every control at least 40 px tall (the label for a
    checkbox). Links inside running text are exempt, as WCAG's target-size rule has it."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url}: the page is {width} px wide"
    small = page.evaluate("""(minimum) => {
      const seen = [];
      const pick = 'button, select, textarea, input:not([type=hidden]):not([type=checkbox]), header a, .pager a, ' +
                   'summary, a.button, a.card, .table-box td a, label.check';
      for (const el of document.querySelectorAll(pick)) {
        const box = el.getBoundingClientRect();
        if (box.width === 0 && box.height === 0) continue;
        if (el.closest('[hidden]') || getComputedStyle(el).visibility === 'hidden') continue;
        if (box.height < minimum || box.width < Math.min(minimum, 24)) {
          seen.push(`${el.tagName.toLowerCase()}#${el.id || ''}.${el.className || ''} ${Math.round(box.width)}x${Math.round(box.height)}`);
        }
      }
      return seen;
    }""", MIN_TARGET)
    assert not small, f"{page.url}: controls smaller than {MIN_TARGET} px: {small[:10]}"


def check_page(page, viewport: str) -> None:
    assert_accessible(page)
    if viewport == "phone":
        assert_fits_a_phone(page)
