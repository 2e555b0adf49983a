"""What the admin overview shows about consent: opt-outs and opt-ins per day, where
they came from (source, language, rule), how many persons are suppressed (a person is
every id and form of one user: consent/identity.py), and the latest changes.
Read-only; each figure is one indexed query (see migration 5), so the overview stays
fast with hundreds of thousands of history events. Flask-free.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from handlers.storage import clock
from handlers.storage.db import Database


@dataclass
class DayCount:
    day: date
    opt_outs: int = 0
    opt_ins: int = 0


@dataclass
class Breakdown:
    """Opt-outs of the period by where they came from, largest first."""
    by_source: list[tuple[str, int]] = field(default_factory=list)
    by_language: list[tuple[str, int]] = field(default_factory=list)
    by_rule: list[tuple[str, int]] = field(default_factory=list)
    total: int = 0


def per_day(db: Database, days: int, today: date | None = None) -> list[DayCount]:
    """Consent signals that took effect per UTC day (by the user's own time), oldest first,
    one entry per day of the period including days with none. Since issue 11 every signal
    is an event even when it changes nothing (a second STOP), so these count requests:
    a late one a newer decision overruled (applied = 0) is left out."""
    today = today or clock.utcnow().date()
    first = today - timedelta(days=days - 1)
    counts = {first + timedelta(days=n): DayCount(first + timedelta(days=n)) for n in range(days)}
    rows = db.execute(
        "SELECT substr(occurred_at, 1, 10) AS day, action, count(*) FROM consent_events "
        "WHERE occurred_at >= ? AND applied = 1 GROUP BY day, action", [first.isoformat()])
    for day_text, action, n in rows:
        entry = counts.get(date.fromisoformat(day_text))
        if entry is None:
            continue  # a clock in the future: not a day of this period
        if action == "opt_out":
            entry.opt_outs = n
        else:
            entry.opt_ins = n
    return list(counts.values())


def breakdown(db: Database, days: int, limit: int = 10, today: date | None = None) -> Breakdown:
    """The period's opt-outs by source, language and matched rule (one pass over the index)."""
    today = today or clock.utcnow().date()
    first = (today - timedelta(days=days - 1)).isoformat()
    sources: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    result = Breakdown()
    rows = db.execute(
        "SELECT source, language, rule, count(*) FROM consent_events "
        "WHERE occurred_at >= ? AND applied = 1 AND action = 'opt_out' GROUP BY source, language, rule", [first])
    for source, language, rule, n in rows:
        sources[source] += n
        languages[language or ""] += n
        if rule:
            rules[rule] += n
        result.total += n
    result.by_source = sources.most_common(limit)
    result.by_language = languages.most_common(limit)
    result.by_rule = rules.most_common(limit)
    return result


def suppressed_count(db: Database) -> int:
    return db.execute("SELECT count(*) FROM suppressions WHERE suppressed = 1").fetchone()[0]


def recent_changes(db: Database, limit: int = 15) -> list[dict]:
    """The latest consent changes recorded (imports included), newest first."""
    return list(db.query(
        "SELECT id, wa_id, action, source, keyword, rule, language, actor, reason, occurred_at, recorded_at "
        "FROM consent_events WHERE applied = 1 ORDER BY id DESC LIMIT ?", [limit]))
