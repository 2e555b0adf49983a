"""Issue 5: every sample file, replayed alone, does what samples/expected.json says."""
import json
import re
import time
from pathlib import Path

import pytest

from handlers.ops.replay import encode, restamp
from handlers.testing.gunicorn import GunicornService
from tests.conftest import APP_SECRET

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
EXPECTED = json.loads((SAMPLES / "expected.json").read_text())


def test_every_sample_file_has_an_expectation():
    assert sorted(p.name for p in SAMPLES.glob("*.json") if p.name != "expected.json") == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_bodies_are_escaped_as_meta_sends_them(name):
    raw = (SAMPLES / name).read_bytes()
    assert raw.isascii()
    json.loads(raw)


def _effects(outcomes):
    return {
        "opt_outs": sorted(o["wa_id"] for o in outcomes if o["consent"] == "opt_out"),
        "opt_ins": sorted(o["wa_id"] for o in outcomes if o["consent"] == "opt_in"),
        "help": sorted(o["wa_id"] for o in outcomes if o["intent"] == "help"),
        "replies": sum(o["reply"] == "queued" for o in outcomes),
    }


def _expected(name):
    spec = EXPECTED[name]
    return {"opt_outs": sorted(spec["opt_outs"]), "opt_ins": sorted(spec["opt_ins"]),
            "help": sorted(spec["help"]), "replies": spec["replies"]}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_replayed_now_does_what_expected_json_says(post, name):
    body = encode(restamp(json.loads((SAMPLES / name).read_bytes())))
    response = post({}, body=body)
    assert response.status_code == 200
    assert _effects(response.json["outcomes"]) == _expected(name)
    assert not any(o["error"] for o in response.json["outcomes"])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_replayed_as_recorded_changes_consent_but_replies_nothing(post, name):
    response = post({}, body=(SAMPLES / name).read_bytes())
    assert response.status_code == 200
    effects = _effects(response.json["outcomes"])
    assert effects == {**_expected(name), "replies": 0}


def test_the_whole_samples_folder_replays_in_process(app):
    result = app.test_cli_runner().invoke(args=["replay", "--now", str(SAMPLES)])
    assert result.exit_code == 0, result.output
    assert "0 refused or failed" in result.output
    assert sum(1 for line in result.output.splitlines() if line.endswith(".json") or ".json " in line) == len(EXPECTED)


def test_the_whole_samples_folder_replays_against_gunicorn(tmp_path, cloud_api, app):
    with GunicornService(str(tmp_path / "served.db"), cloud_api.url, app_secret=APP_SECRET) as service:
        result = app.test_cli_runner().invoke(args=["replay", "--now", "--url", service.url, str(SAMPLES)])
        assert result.exit_code == 0, result.output
        for wa_id in ("14155550123", "79161234567", "593991234567", "US.13491208655302741918",
                      "525598765432", "MX.40417766130952871234",   # one person with 5215598765432
                      "US.77120938845501236677"):                   # US.1349…'s new id
            status, body = service.api("GET", f"/api/suppressions/{wa_id}")
            assert json.loads(body)["suppressed"] is True, wa_id
        queued = int(re.search(r"(\d+) replies queued", result.output).group(1))
        assert queued >= 10
        cloud_api.wait_for(queued, timeout=20)
        time.sleep(0.5)  # time enough for a duplicate to show up
        assert len(cloud_api.received) == queued
        assert len({r.body["biz_opaque_callback_data"] for r in cloud_api.received}) == queued
    assert "0 refused or failed" in result.output
