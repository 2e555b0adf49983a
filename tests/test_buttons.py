"""Buttons through the webhook: Meta's "Stop promotions" quick reply always opts out, a
business's own "Cancel" reply button never does, and buttons.toml decides which payloads,
ids and titles mean what (validated at start-up like the locales)."""
from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import pytest

from app import create_app
from handlers.detection.buttons import (
    ButtonReply,
    ButtonsError,
    buttons_from_dict,
    load_buttons,
)
from handlers.detection.intents import Intent
from handlers.testing import payloads

LOCALES = Path(__file__).resolve().parent.parent / "locales"
WA_ID = "34612345678"


def _suppressed(api, wa_id=WA_ID):
    return api.get(f"/api/suppressions/{wa_id}").json["suppressed"]


@pytest.mark.parametrize("kind, content", [
    ("button", {"payload": "Stop promotions", "text": "Stop promotions"}),        # Meta's quick reply
    ("button", {"payload": "STOP_PROMOTIONS", "text": "Something the template said"}),
    ("button", {"payload": "xyz-1", "text": "Detener promociones"}),               # localised label
    ("button", {"payload": "xyz-2", "text": "Остановить рекламу"}),
    ("button", {"payload": "xyz-3", "text": "配信停止"}),                           # no entry: read as words
])
def test_the_marketing_opt_out_quick_reply_always_opts_out(post, api, read_db, kind, content):
    response = post(payloads.of_messages(payloads.message(kind, content, wa_id=WA_ID)))
    assert response.status_code == 200
    assert response.json["outcomes"][0]["intent"] == "opt_out"
    assert _suppressed(api)
    assert read_db("SELECT source FROM consent_events")[0]["source"] == "button"


@pytest.mark.parametrize("content", [
    {"type": "button_reply", "button_reply": {"id": "cancel", "title": "Cancel"}},
    {"type": "button_reply", "button_reply": {"id": "flow_cancel", "title": "Cancelar"}},
    {"type": "button_reply", "button_reply": {"id": "step-3", "title": "Annuler"}},
    {"type": "list_reply", "list_reply": {"id": "back", "title": "Back", "description": "Stop here"}},
])
def test_a_flows_own_cancel_button_is_not_an_opt_out(post, api, read_db, content):
    response = post(payloads.of_messages(payloads.message("interactive", content, wa_id=WA_ID)))
    outcome = response.json["outcomes"][0]
    assert (outcome["intent"], outcome["rule"].split(":")[0], outcome["certain"]) == ("none", "button", True)
    assert not _suppressed(api)
    assert read_db("SELECT * FROM review_queue") == []


def test_typing_cancel_is_still_the_carrier_keyword(post, api):
    response = post(payloads.of_messages(payloads.text("Cancel", wa_id=WA_ID)))
    assert response.json["outcomes"][0]["rule"] == "whole_message:en:cancel"
    assert _suppressed(api)


def test_a_resume_promotions_button_opts_back_in(post, api):
    # A second apart: at the same second an opt-out wins (issue 11's tie rule).
    post(payloads.of_messages(payloads.text("STOP", wa_id=WA_ID, timestamp=int(time.time()) - 1)))
    response = post(payloads.of_messages(payloads.message(
        "button", {"payload": "RESUME_PROMOTIONS", "text": "Resume promotions"}, wa_id=WA_ID)))
    assert response.json["outcomes"][0]["intent"] == "opt_in"
    assert not _suppressed(api)


@pytest.fixture
def custom_app(settings, tmp_path):
    """The service with a buttons.toml of its own: which payloads mean what is configuration."""
    locales = tmp_path / "locales"
    shutil.copytree(LOCALES, locales)
    (locales / "buttons.toml").write_text(
        '[opt_out]\npayloads = ["PROMO_NO"]\n[ignore]\nids = ["unsubscribe"]\ntitles = ["Stop"]\n', "utf-8")
    application = create_app({"settings": dataclasses.replace(settings, locales_dir=str(locales)), "TESTING": True})
    yield application
    application.extensions["optout"].close()


def test_which_buttons_mean_what_comes_from_buttons_toml(custom_app):
    client = custom_app.test_client()

    def tap(kind, content, wa_id):
        raw = payloads.encode(payloads.of_messages(payloads.message(kind, content, wa_id=wa_id)))
        return client.post("/webhook", data=raw, headers=payloads.signed_headers(raw, custom_app.extensions[
            "optout"].settings.app_secret)).json["outcomes"][0]

    assert tap("button", {"payload": "PROMO_NO", "text": "No thanks"}, "34600000001")["intent"] == "opt_out"
    # ignored here: an interactive "Stop" titled button and an id the default file does not know
    assert tap("interactive", {"type": "button_reply", "button_reply": {"id": "s1", "title": "Stop"}},
               "34600000002")["intent"] == "none"
    assert tap("interactive", {"type": "button_reply", "button_reply": {"id": "unsubscribe", "title": "Darme de baja"}},
               "34600000003")["intent"] == "none"
    # Meta's label is not in this file: the words "Stop promotions" still read as an opt-out
    assert tap("button", {"payload": "x", "text": "Stop promotions"}, "34600000004")["intent"] == "opt_out"


def test_the_shipped_buttons_file_loads():
    rules = load_buttons(LOCALES / "buttons.toml")
    assert rules.meaning(ButtonReply("template", "anything", "STOP PROMOTIONS!")).intent is Intent.OPT_OUT
    assert rules.meaning(ButtonReply("interactive", "cancel", "whatever")).intent is Intent.NONE
    assert rules.meaning(ButtonReply("interactive", "row-1", "Unsubscribe")) is None


@pytest.mark.parametrize("text, message", [
    ('[opt_out]\npayloads = ["A"]\n[stop]\ntitles = ["B"]\n', "buttons.toml, line 3: unknown section [stop]"),
    ('[opt_out]\npayload = ["A"]\n', "line 2: [opt_out]: unknown field 'payload'"),
    ('[opt_out]\ntitles = ["Stop promotions"]\n[ignore]\ntitles = ["stop  PROMOTIONS"]\n',
     "line 4: 'stop  PROMOTIONS' is in [ignore] and in [opt_out]"),
    ('[opt_in]\nids = [""]\n', "[opt_in] ids must be a list of non-empty strings"),
    ('[opt_in]\nids = "START"\n', "[opt_in] ids must be a list"),
])
def test_a_broken_buttons_file_names_the_line_and_the_problem(tmp_path, text, message):
    import tomllib
    with pytest.raises(ButtonsError) as error:
        buttons_from_dict(tomllib.loads(text), "buttons.toml", text)
    assert message in str(error.value)


def test_the_service_refuses_to_start_with_a_broken_buttons_file(settings, tmp_path):
    locales = tmp_path / "locales"
    shutil.copytree(LOCALES, locales)
    (locales / "buttons.toml").write_text('[opt_out]\ntitles = "Stop promotions"\n', "utf-8")
    with pytest.raises(ButtonsError, match="buttons.toml, line 2"):
        create_app({"settings": dataclasses.replace(settings, locales_dir=str(locales)), "TESTING": True})
