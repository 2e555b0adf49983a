"""Slow: the crash and outage scripts' checks, with smaller parameters (see bench/)."""
import pytest

from handlers.testing import crash_drill


@pytest.mark.slow
def test_no_opt_out_lost_and_no_confirmation_doubled_when_the_service_is_sigkilled():
    lines = []
    # The lease must outlast a restart plus the stand-in's 'sent' callback (which marks a row sent
    # when the sender was killed between the API's answer and its own write); on a loaded machine
    # that took 11.3 s, and a 6 s lease then resent two confirmations. Production's lease is 60 s.
    problems = crash_drill.run(cycles=2, clients=3, cycle_seconds=1.5, lease_seconds=15.0, out=lines.append)
    assert problems == [], "\n".join(lines)


@pytest.mark.slow
def test_cloud_api_outage_neither_slows_the_webhook_nor_loses_or_doubles_confirmations():
    from handlers.testing import outage_drill
    lines = []
    problems = outage_drill.run(phase_seconds=2.0, rate=30.0, out=lines.append)
    assert problems == [], "\n".join(lines)
