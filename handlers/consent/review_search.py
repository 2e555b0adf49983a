"""Finding work in the review queue at volume: counts, filters (language, rule, date),
sorting and paging. Every query uses the queue's indexes (migration 5); the rule is
read with the same expression the index is built on. Flask-free."""
from __future__ import annotations

import json
from dataclasses import dataclass

from handlers.storage.db import Database

RULE = "json_extract(classification, '$.rule')"
SORTS = {"oldest": "received_at, message_id", "newest": "received_at DESC, message_id DESC"}
NO_RULE = "-"   # the filter value for items that matched no rule


@dataclass(frozen=True)
class ReviewFilter:
    language: str = ""
    rule: str = ""
    since: str = ""          # YYYY-MM-DD, received on or after (UTC)
    until: str = ""          # YYYY-MM-DD, received on or before (UTC)
    sort: str = "oldest"
    seen_until: str = ""     # received at or before: the queue as a page showed it (bulk decisions)

    def where(self) -> tuple[str, list]:
        clauses, params = ["state = 'pending'"], []
        if self.language:
            clauses.append("language = ?")
            params.append(self.language)
        if self.rule == NO_RULE:
            clauses.append(f"{RULE} IS NULL")
        elif self.rule:
            clauses.append(f"{RULE} = ?")
            params.append(self.rule)
        if self.since:
            clauses.append("received_at >= ?")
            params.append(self.since)
        if self.until:
            clauses.append("received_at < ?")
            params.append(self.until + "T99")  # the whole day: every time of it sorts below "T99"
        if self.seen_until:
            clauses.append("received_at <= ?")
            params.append(self.seen_until)
        return " AND ".join(clauses), params

    @property
    def active(self) -> bool:
        return bool(self.language or self.rule or self.since or self.until)


def newest_pending(db: Database) -> str:
    """When the newest pending item arrived: a page's snapshot, so "all N" means those N."""
    return db.execute("SELECT max(received_at) FROM review_queue WHERE state = 'pending'").fetchone()[0] or ""


def pending_count(db: Database) -> int:
    return db.execute("SELECT count(*) FROM review_queue WHERE state = 'pending'").fetchone()[0]


def count(db: Database, wanted: ReviewFilter) -> int:
    where, params = wanted.where()
    return db.execute(f"SELECT count(*) FROM review_queue WHERE {where}", params).fetchone()[0]


def search(db: Database, wanted: ReviewFilter, limit: int, offset: int = 0) -> list[dict]:
    where, params = wanted.where()
    order = SORTS.get(wanted.sort, SORTS["oldest"])
    rows = list(db.query(f"SELECT * FROM review_queue WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                         [*params, limit, offset]))
    for row in rows:
        row["classification"] = json.loads(row["classification"])
    return rows


def matching_ids(db: Database, wanted: ReviewFilter) -> list[str]:
    """Every pending item the filter selects ("everything this rule caught")."""
    where, params = wanted.where()
    return [row[0] for row in db.execute(f"SELECT message_id FROM review_queue WHERE {where} ORDER BY received_at",
                                         params)]


def pending_rules(db: Database) -> list[tuple[str, int]]:
    """The rules that sent the pending items here, with how many each, largest first."""
    rows = db.execute(f"SELECT {RULE} AS rule, count(*) AS n FROM review_queue WHERE state = 'pending' "
                      "GROUP BY rule ORDER BY n DESC, rule")
    return [(rule or NO_RULE, n) for rule, n in rows]


def pending_languages(db: Database) -> list[tuple[str, int]]:
    rows = db.execute("SELECT language, count(*) AS n FROM review_queue WHERE state = 'pending' "
                      "GROUP BY language ORDER BY n DESC, language")
    return [(language or "", n) for language, n in rows]


def recently_decided(db: Database, limit: int = 20) -> list[dict]:
    rows = list(db.query("SELECT * FROM review_queue WHERE state = 'decided' ORDER BY decided_at DESC LIMIT ?",
                         [limit]))
    for row in rows:
        row["classification"] = json.loads(row["classification"])
    return rows
