"""One timestamp convention: ISO 8601 UTC text, microseconds, 'Z', fixed width."""
from datetime import UTC, datetime, timedelta, timezone

import pytest

from handlers.storage import clock


@pytest.mark.parametrize("moment", [
    datetime(2026, 11, 26, 3, 47, 24, 376208, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),                                      # no fraction: .000000
    datetime(2025, 12, 31, 23, 30, 0, 5, tzinfo=timezone(timedelta(hours=-5))),     # another zone: in UTC
    datetime.fromtimestamp(2**37 - 1, UTC),                                         # the latest time a delivery may carry
])
def test_times_are_written_in_one_fixed_width_utc_form(moment):
    text = clock.iso(moment)
    assert text == moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert len(text) == 27 and text.endswith("Z")
    assert clock.parse_iso(text) == moment
