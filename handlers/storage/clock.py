"""One timestamp convention for the whole service: ISO 8601 UTC text, microseconds, 'Z'.

Fixed width, so text comparison in SQL orders the same as time does.
"""
from datetime import UTC, datetime, timedelta

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """`_FORMAT`, written by isoformat (a delivery stamps several rows: strftime cost more)."""
    return f"{moment.astimezone(UTC).isoformat(timespec='microseconds')[:26]}Z"


def now_iso() -> str:
    return iso(utcnow())


def from_epoch(seconds: int | float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, _FORMAT).replace(tzinfo=UTC)


def later(seconds: float, start: datetime | None = None) -> str:
    return iso((start or utcnow()) + timedelta(seconds=seconds))
