"""The README's pictures of the admin: the overview, the review queue and a number's page.

    python docs/screenshots.py

Builds a throw-away database with sample data (a 5,000-event history, review items, a
number with a few events), serves the admin from a thread and photographs it with
Debian's Chromium at desktop width (and a number's page at phone width). Writes
docs/admin-*.png.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from app import create_app  # noqa: E402
from handlers.consent import ledger  # noqa: E402
from handlers.consent.ledger import Action, ConsentChange, Source  # noqa: E402
from handlers.settings import Settings  # noqa: E402
from handlers.staff import accounts  # noqa: E402
from handlers.storage.db import transaction  # noqa: E402
from handlers.testing import admin_volume, payloads  # noqa: E402
from handlers.testing.live_server import serve  # noqa: E402
from tests.browser_support import PASSWORD, VIEWPORTS, launch_chromium  # noqa: E402

REVIEW = (
    ("anywhere:es:para", "es", "¿Tienen algo para regalar en Navidad?", 5),
    ("negated:en:stop", "en", "Don't stop sending me the weekly deals!", 2),
    ("typo:es:baja", "es", "Quiero saber si la talla M vaja de precio", 2),
    ("anywhere:pt:parar", "pt", "Vou parar na loja amanhã para trocar o tênis", 1),
)


def seed(service) -> None:
    db = service.db
    admin_volume.seed_history(db, events=5_000, days=30)
    for n, (rule, language, text, count) in enumerate(REVIEW):
        admin_volume.seed_review(db, count, rule=rule, language=language, text=text, prefix=f"wamid.shot{n}-",
                                 first_number=593_981_000_000 + n * 1000)
    admin_volume.seed_outbox(db, pending=3, failed=1)
    with transaction(db):
        ledger.record(db, ConsentChange(wa_id="593991234567", action=Action.OPT_OUT, source=Source.IMPORT,
                                        occurred_at="2025-03-01T00:00:00.000000Z", actor="old-provider.csv",
                                        reason="previous provider"))
        ledger.record(db, ConsentChange(wa_id="593991234567", action=Action.OPT_IN, source=Source.STAFF,
                                        occurred_at="2026-01-05T15:12:00.000000Z", actor="ana",
                                        reason="asked by phone, ticket 4411"))
    service.handle(payloads.of_messages(payloads.text("Quiero darme de baja, gracias", wa_id="593991234567")))
    accounts.add(db, "ana", PASSWORD)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(app_secret="s", verify_token="v", admin_token="a", db_path=f"{folder}/shots.db")
        app = create_app({"settings": settings})
        service = app.extensions["optout"]
        try:
            seed(service)
            with serve(app) as url, sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                for name, path, viewport in (("overview", "/admin/", "desktop"), ("review", "/admin/review", "desktop"),
                                             ("number", "/admin/numbers/593991234567", "desktop"),
                                             ("number-phone", "/admin/numbers/593991234567", "phone")):
                    page = browser.new_context(viewport=VIEWPORTS[viewport], timezone_id="America/Guayaquil",
                                               locale="en-GB").new_page()
                    page.goto(url + "/admin/login")
                    page.fill("#login-name", "ana")
                    page.fill("#login-password", PASSWORD)
                    page.click("button:has-text('Log in')")
                    page.goto(url + path)
                    target = ROOT / "docs" / f"admin-{name}.png"
                    page.screenshot(path=str(target), full_page=True)
                    print(f"wrote {target.relative_to(ROOT)}")
                browser.close()
        finally:
            service.close()


if __name__ == "__main__":
    main()
