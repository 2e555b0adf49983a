"""Data at real volume for the admin pages: a consent history of any size, review items,
audit entries and outbox rows, written straight into the tables (plain INSERTs in one
transaction: 100,000 events take a few seconds). Shared by the tests, the overview
benchmark (bench/admin_overview.py) and the screenshot script (docs/screenshots.py).

The rows are consistent with what the service writes: each seeded number is an identity
of a person of its own, under its own key (no country rule of consent/numbers.py changes
the seeded numbers), and each person's `suppressions` row holds the newest decision of
each scope, as ledger.record keeps them. (This floor sits below consent/: plain SQL.)"""
from __future__ import annotations

import json
import random
from datetime import timedelta

from handlers.storage import clock
from handlers.storage.db import Database, executemany, transaction

LANGUAGES = ("es", "en", "pt", "ru", "ar", "fr", "de", "tr")
WORDS = {"es": ("baja", "whole_message"), "en": ("stop", "whole_message"), "pt": ("sair", "whole_message"),
         "ru": ("стоп", "whole_message"), "ar": ("إلغاء الاشتراك", "anywhere"), "fr": ("stop", "whole_message"),
         "de": ("abmelden", "anywhere"), "tr": ("iptal", "whole_message")}


def seed_history(db: Database, events: int = 100_000, days: int = 90, numbers: int | None = None,
                 first_number: int = 593_900_000_000, seed: int = 14) -> int:
    """`events` consent events over the last `days` days for `numbers` numbers (default:
    events // 2), mostly opt-outs by keyword, some buttons, Meta signals, staff, imports and
    opt-ins. Returns how many numbers are opted out at the end."""
    rng = random.Random(seed)
    numbers = numbers or max(1, events // 2)
    now = clock.utcnow()
    latest: dict[str, tuple[tuple, tuple | None]] = {}   # wa_id -> (newest event, newest covering everything)
    rows: list[tuple] = []
    for n in range(events):
        wa_id = str(first_number + rng.randrange(numbers))
        occurred = clock.iso(now - timedelta(seconds=rng.randrange(days * 86400)))
        language = rng.choice(LANGUAGES)
        word, kind = WORDS[language]
        roll = rng.random()
        action, source = "opt_out", "keyword"
        rule: str | None = f"{kind}:{language}:{word}"
        keyword: str | None = word.upper()
        actor: str | None = None
        reason: str | None = None
        if roll < 0.08:
            action, source, keyword = "opt_in", "keyword", "START"
            rule = f"whole_message:{language}:start"
        elif roll < 0.18:
            source, keyword, rule = "button", "Stop promotions", "anywhere:en:stop promotions"
        elif roll < 0.24:
            source, keyword, rule, reason = "meta_preference", None, None, "Meta user_preferences: marketing_messages=stop"
        elif roll < 0.27:
            source, keyword, rule, actor, reason = "staff", None, None, "ana", "asked by phone"
        elif roll < 0.30:
            source, keyword, rule, actor, reason = "import", None, None, "old-provider.csv", "previous provider"
        rows.append((n + 1, wa_id, action, source, keyword, rule, language, actor, reason, occurred))
    rows.sort(key=lambda row: row[9])
    with transaction(db):
        start = db.execute("SELECT coalesce(max(id), 0) FROM consent_events").fetchone()[0]
        recorded = clock.now_iso()
        for offset, (_, wa_id, action, source, keyword, rule, language, actor, reason, occurred) in enumerate(rows):
            event_id = start + offset + 1
            marketing_only = action == "opt_out" and (
                source in ("meta_preference", "meta_status_131050") or keyword == "Stop promotions")
            scope = "marketing" if marketing_only else "all"
            db.execute(
                "INSERT INTO consent_events (id, wa_id, action, source, scope, keyword, rule, language, message_id, "
                "actor, reason, applied, occurred_at, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
                [event_id, wa_id, action, source, scope, keyword, rule, language, f"wamid.seed{event_id}", actor,
                 reason, occurred, recorded])
            event = (action == "opt_out", event_id, occurred, source, rule)
            newest_all = latest[wa_id][1] if wa_id in latest else None
            latest[wa_id] = (event, event if scope == "all" else newest_all)
        executemany(db, "INSERT OR IGNORE INTO identities (wa_id, person, canonical, first_seen) VALUES (?, ?, ?, ?)",
                    [(wa_id, wa_id, wa_id, recorded) for wa_id in latest])
        executemany(db, "INSERT OR IGNORE INTO identity_keys (key, person, exact) VALUES (?, ?, 1)",
                    [(wa_id, wa_id) for wa_id in latest])
        states = [_state(wa_id, newest, newest_all) for wa_id, (newest, newest_all) in latest.items()]
        executemany(
            db, "INSERT OR REPLACE INTO suppressions (wa_id, suppressed, scope, since, source, rule, last_event_id, "
            "decided_at, all_suppressed, all_decided_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*state, recorded) for state in states])
    return sum(1 for state in states if state[1])


def _state(person: str, newest: tuple, newest_all: tuple | None) -> tuple:
    """A person's `suppressions` row after their events (without updated_at): the newest
    decision of any scope answers for marketing, the newest covering every category for
    the rest; the state began with the decision it stands on."""
    suppressed, _, occurred, _, _ = newest
    all_suppressed = bool(newest_all and newest_all[0])
    scope = "all" if all_suppressed else ("marketing" if suppressed else None)
    began = newest_all if all_suppressed and newest_all else newest
    return (person, int(suppressed or all_suppressed), scope, began[2], began[3], began[4], began[1], occurred,
            int(all_suppressed), newest_all[2] if newest_all else None)


def seed_review(db: Database, items: int, rule: str = "anywhere:es:para", language: str = "es",
                text: str = "¿Hay algo para mí en la tienda?", first_number: int = 593_980_000_000,
                prefix: str = "wamid.review") -> list[str]:
    """`items` pending review items caught by `rule`; returns their message ids."""
    now = clock.utcnow()
    classification = json.dumps({"intent": "none", "rule": rule, "keyword": rule.rsplit(":", 1)[-1],
                                 "language": language, "certain": False}, ensure_ascii=False)
    ids = [f"{prefix}{n:05d}" for n in range(items)]
    with transaction(db):
        executemany(db,
            "INSERT INTO review_queue (message_id, wa_id, text, classification, language, state, received_at) "
            "VALUES (?, ?, ?, ?, ?, 'pending', ?)",
            [(message_id, str(first_number + n), f"{text} ({n})", classification, language,
              clock.iso(now - timedelta(minutes=items - n))) for n, message_id in enumerate(ids)])
    return ids


def seed_audit(db: Database, entries: int, actor: str = "luis") -> None:
    """`entries` audit entries of decided review items (not undoable data of their own)."""
    now = clock.now_iso()
    with transaction(db):
        executemany(db,
            "INSERT INTO audit_log (actor, action, target, before, after, at) VALUES (?, ?, ?, ?, ?, ?)",
            [(actor, "consent.opt_out", str(593_970_000_000 + n), json.dumps({"suppressed": False}),
              json.dumps({"suppressed": True, "reason": f"asked by phone, ticket {n}"}), now) for n in range(entries)])


def seed_outbox(db: Database, pending: int, failed: int) -> None:
    now = clock.now_iso()
    rows = [(f"reply:wamid.outbox{n}", str(593_960_000_000 + n), "1234", "opt_out", "es", "Listo.",
             "pending" if n < pending else "failed", now, clock.later(86400), None if n < pending else "131026: undeliverable",
             now) for n in range(pending + failed)]
    with transaction(db):
        executemany(db,
            "INSERT INTO outbox (event_key, wa_id, phone_number_id, intent, language, body, state, next_attempt_at, "
            "deadline, last_error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
