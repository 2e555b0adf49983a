"""Slow: the crash and outage scripts' checks, with smaller parameters (see bench/)."""
import pytest

from bench import crash_test


@pytest.mark.slow
def test_no_opt_out_lost_and_no_confirmation_doubled_when_the_service_is_sigkilled():
    lines = []
    problems = crash_test.run(cycles=2, clients=3, cycle_seconds=1.5, lease_seconds=6.0, out=lines.append)
    assert problems == [], "\n".join(lines)
