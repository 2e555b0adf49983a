"""The landing page: opt-outs and opt-ins per day (a chart), where the opt-outs came
from, the review queue's size, the outbox, and the latest consent changes."""
from __future__ import annotations

from flask import render_template, request

from handlers import current
from handlers.consent import review_search, stats
from handlers.delivery import outbox
from handlers.web.admin import bp
from handlers.web.admin_chart import consent_chart

PERIODS = (7, 30, 90)


@bp.get("/")
def home():
    db = current.service().db
    days = request.args.get("days", type=int)
    days = days if days in PERIODS else 30
    per_day = stats.per_day(db, days)
    return render_template(
        "admin/overview.html", days=days, periods=PERIODS, per_day=per_day,
        chart=consent_chart(per_day, f"Opt-outs and opt-ins per day, last {days} days"),
        totals={"opt_outs": sum(d.opt_outs for d in per_day), "opt_ins": sum(d.opt_ins for d in per_day)},
        breakdown=stats.breakdown(db, days), suppressed=stats.suppressed_count(db),
        waiting=review_search.pending_count(db), outbox=outbox.backlog(db),
        oldest_pending=outbox.oldest_pending_seconds(db), recent=stats.recent_changes(db),
    )
