"""How long the admin pages take with a consent history of real size.

    python -m bench.admin_overview [--events 100000] [--runs 5]

Builds a fresh database in a temporary folder with EVENTS history events (about half
as many numbers), 2,000 review items, 300 audit entries and some outbox rows, logs a
staff member in through Flask's test client, and times each page (the server's whole
answer: queries, template, HTML) after one warm-up request. Prints the median per page;
the overview's target is under a second. Not part of the test suite.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from handlers.settings import Settings  # noqa: E402
from handlers.staff import accounts  # noqa: E402
from handlers.testing import admin_volume  # noqa: E402

PAGES = ("/admin/", "/admin/?days=90", "/admin/numbers", "/admin/numbers?language=es&source=keyword",
         "/admin/numbers?q=59390000", "/admin/review", "/admin/review?rule=anywhere:es:para&sort=newest",
         "/admin/audit", "/admin/audit?kind=consent", "/admin/numbers/593900000001")
PASSWORD = "benchmark password"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(app_secret="bench", verify_token="bench", admin_token="bench", db_path=f"{folder}/bench.db")
        app = create_app({"settings": settings})
        service = app.extensions["optout"]
        try:
            started = time.perf_counter()
            opted_out = admin_volume.seed_history(service.db, events=args.events)
            admin_volume.seed_review(service.db, 2_000)
            admin_volume.seed_audit(service.db, 300)
            admin_volume.seed_outbox(service.db, pending=40, failed=7)
            accounts.add(service.db, "bench", PASSWORD)
            print(f"seeded {args.events:,} history events ({opted_out:,} numbers opted out), 2,000 review items, "
                  f"300 audit entries in {time.perf_counter() - started:.1f} s")
            client = app.test_client()
            found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/admin/login").text)
            token = found.group(1) if found else ""
            client.post("/admin/login", data={"csrf_token": token, "name": "bench", "password": PASSWORD})
            for path in PAGES:
                assert client.get(path).status_code == 200, path  # warm-up (and a check)
                times = []
                for _ in range(args.runs):
                    begin = time.perf_counter()
                    response = client.get(path)
                    times.append(time.perf_counter() - begin)
                    assert response.status_code == 200
                print(f"{path:55} median {statistics.median(times) * 1000:7.1f} ms  (max {max(times) * 1000:.1f} ms)")
        finally:
            service.close()


if __name__ == "__main__":
    main()
