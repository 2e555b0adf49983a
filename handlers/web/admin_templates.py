"""What the admin templates may call: plain-language filters, times, paging links."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

from handlers.storage import clock
from handlers.web import admin_words
from handlers.web.admin import bp
from handlers.web.admin_paging import url_with


def moment(value: str | None, with_seconds: bool = False) -> Markup:
    """A stored UTC time as <time>: shown as UTC text (admin.js turns it into the reader's
    local time), the exact UTC value on hover."""
    if not value:
        return Markup("—")
    try:
        when = clock.parse_iso(value)
    except ValueError:
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return Markup(escape(value))
    shown = when.strftime("%d %b %Y, %H:%M:%S" if with_seconds else "%d %b %Y, %H:%M")
    exact = when.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup(f'<time datetime="{when.strftime("%Y-%m-%dT%H:%M:%SZ")}" title="{exact}">{shown} UTC</time>')


def number_text(wa_id: str | None) -> str:
    """+593991234567 for a phone number; a business-scoped user id as it is."""
    if not wa_id:
        return "—"
    return f"+{wa_id}" if wa_id.isdigit() else wa_id


@bp.app_context_processor
def page_helpers():
    return {"url_with": url_with, "language_name": admin_words.language_name,
            "text_direction": admin_words.text_direction, "count": admin_words.count}


FILTERS: dict[str, Callable[..., Any]] = {
    "moment": moment, "number_text": number_text, "intent_name": admin_words.intent_name,
    "source_name": admin_words.source_name, "an_intent": admin_words.an_intent, "rule_text": admin_words.rule_text,
    "event_how": admin_words.event_how, "audit_action": admin_words.audit_action,
    "change_name": admin_words.change_name, "link_text": admin_words.link_text,
    "language_name": admin_words.language_name, "first_upper": admin_words.first_upper,
}
for _name, _filter in FILTERS.items():
    bp.add_app_template_filter(_filter, _name)
