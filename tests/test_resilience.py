"""Slow: the crash and outage scripts' checks, with smaller parameters (see bench/)."""
import pytest

from handlers.testing import crash_drill


@pytest.mark.slow
def test_no_opt_out_lost_and_no_confirmation_doubled_when_the_service_is_sigkilled():
    lines = []
    problems = crash_drill.run(cycles=2, clients=3, cycle_seconds=1.5, lease_seconds=6.0, out=lines.append)
    assert problems == [], "\n".join(lines)


@pytest.mark.slow
def test_cloud_api_outage_neither_slows_the_webhook_nor_loses_or_doubles_confirmations():
    from handlers.testing import outage_drill
    lines = []
    problems = outage_drill.run(phase_seconds=2.0, rate=30.0, out=lines.append)
    assert problems == [], "\n".join(lines)
