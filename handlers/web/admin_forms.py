"""What every admin form handler shares: who is acting, and the feedback after an
action (what was done, to what, and an Undo button when it can be undone)."""
from __future__ import annotations

from typing import Any

from flask import flash, g, url_for


def actor() -> str:
    return g.staff


def done(text: str, undo_entry: int | None = None, undo_label: str = "Undo") -> None:
    """A success message for the next page, with an Undo button for the audit entry."""
    message: dict = {"text": text}
    if undo_entry:
        message["undo"] = {"url": url_for("admin.undo", entry_id=undo_entry), "label": undo_label,
                           "entry": undo_entry}
    _flash(message, "ok")


def refused(text: str) -> None:
    _flash({"text": text}, "error")


def _flash(message: dict, category: str) -> None:
    """Flask keeps any value the session can hold; its type hint says str."""
    as_any: Any = message
    flash(as_any, category)
