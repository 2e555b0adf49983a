"""Make `before_identity.sql`: a small database as the service wrote it before issue 11
(commit 1cc8a7a), for tests/test_identity_migration.py.

It drives the old code the way the world did (signed deliveries, the API, staff by hand,
a CSV import), so the dump holds what real databases hold: keys exactly as WhatsApp sent
them (`5215512345678`), E.164 keys written by staff, an unapplied event, a marketing-only
signal, a user-id change that became a dead letter. Run it against that commit, not the
current code:

    git archive 1cc8a7a | tar -x -C /tmp/base
    PYTHONPATH=/tmp/base python tests/data/make_before_identity_dump.py tests/data/before_identity.sql
"""
from __future__ import annotations

import sqlite3
import sys
import tempfile
from pathlib import Path

from app import create_app
from handlers.settings import Settings
from handlers.testing import payloads

T = 1764000000  # 2025-11-24T16:00:00Z


def build(db_path: str) -> None:
    app = create_app({"settings": Settings(app_secret="s", verify_token="v", admin_token="a",
                                           api_url="http://127.0.0.1:9", db_path=db_path), "TESTING": True})
    client = app.test_client()
    auth = {"Authorization": "Bearer a"}

    def post(payload):
        body = payloads.encode(payload)
        response = client.post("/webhook", data=body, headers=payloads.signed_headers(body, "s"))
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.json

    def stop(wa_id, at, text="STOP", id=None):
        return post(payloads.of_messages(payloads.text(text, wa_id=wa_id, timestamp=at, id=id)))

    try:
        stop("5215512345678", T, id="wamid.OLD.MX")                     # Mexico, as WhatsApp reports it
        stop("5491112345678", T + 1, text="BAJA", id="wamid.OLD.AR")    # Argentina
        stop("551187654321", T + 2, text="sair", id="wamid.OLD.BR")     # Brazil, before the ninth digit
        stop("22507123456", T + 3, text="stop", id="wamid.OLD.CI")      # Ivory Coast, 8 digits
        stop("79161234567", T + 4, text="стоп", id="wamid.OLD.RU")
        failed = payloads.status("wamid.OUT.OLD1", "failed", recipient="5215512349999", errors=[{"code": 131050}])
        post(payloads.delivery(payloads.change(statuses=[failed])))     # marketing only
        post(payloads.delivery(payloads.change(preferences=[payloads.preference("380501234567", "stop", timestamp=T)])))
        # A username user, then their id changes: the old code kept the change as a dead letter.
        item = payloads.text("STOP", id="wamid.OLD.USER", timestamp=T + 5)
        del item["from"]
        item["from_user_id"] = "US.13491208655302741918"
        post(payloads.of_messages(item))
        change = {"id": "wamid.OLD.IDCHANGE", "timestamp": str(T + 6), "type": "system",
                  "system": {"type": "user_changed_user_id", "user_id": "US.99887766554433221100",
                             "previous_user_id": "US.13491208655302741918",
                             "body": "User changed from US.13491208655302741918 to US.99887766554433221100"}}
        post(payloads.of_messages(change))
        # Opted out, then back in: not suppressed.
        stop("14155550123", T)
        post(payloads.of_messages(payloads.text("START", wa_id="14155550123", timestamp=T + 10)))
        # A late, older resume: kept with applied = 0.
        stop("14155550124", T + 20)
        post(payloads.delivery(payloads.change(preferences=[payloads.preference("14155550124", "resume", timestamp=T + 5)])))
        # Staff by hand (E.164 keys, as the old normalize() wrote them).
        for path, reason in (("+7 916 765-43-21/opt-out", "asked by phone"),
                             ("+52 55 1234 0000/opt-out", "asked by phone"),
                             ("+52 55 1234 0000/opt-in", "asked again")):
            answer = client.post(f"/api/suppressions/{path}", json={"reason": reason, "actor": "ana"}, headers=auth)
            assert answer.status_code == 200, answer.json
        # ...while WhatsApp's form of that same number had opted out: two rows that are one person.
        stop("5215512340000", T + 30, id="wamid.OLD.MX2")
        # An import from a previous provider.
        csv = Path(db_path).with_name("old-provider.csv")
        csv.write_text("phone,date\n+593 99 123 4567,2024-05-01\n+55 11 98765-0000,2024-05-02\n", "utf-8")
        result = app.test_cli_runner().invoke(args=["suppressions", "import", str(csv)])
        assert result.exit_code == 0, result.output
    finally:
        app.extensions["optout"].close()


def dump(db_path: str) -> str:
    conn = sqlite3.connect(db_path)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        lines = [line for line in conn.iterdump()]
    finally:
        conn.close()
    return "\n".join(lines) + f"\nPRAGMA user_version = {version};\n"


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "before.db")
        build(path)
        Path(sys.argv[1]).write_text(dump(path), "utf-8")
