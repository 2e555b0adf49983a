"""Issue 12, item 3: what one message may cost the classifier is capped, and the impact
preview is bounded (newest first, then "check the next"), so staff can always save.

Structural checks only (how much text the classifier reads, how far a preview got),
never timings."""
import json

import pytest

from handlers.detection import normalize as normalize_module
from handlers.detection.normalize import MAX_INPUT_CHARS, MAX_NORMALIZED_CHARS, normalize
from handlers.settings import WHATSAPP_TEXT_LIMIT
from handlers.staff import impact
from handlers.storage.db import transaction
from handlers.testing import payloads
from tests.admin_client import ensure_absent

EXPANDS_18_TIMES = "\ufdfa"  # NFKC: "صلى الله عليه وسلم"


def test_the_classifier_reads_at_most_whatsapps_text_limit(api, monkeypatch):
    seen = []
    original = normalize_module.unicodedata.normalize

    def spy(form, text):
        seen.append(len(text))
        return original(form, text)
    monkeypatch.setattr(normalize_module.unicodedata, "normalize", spy)
    response = api.post("/api/keywords/test", json={"text": "hola " * 100_000})
    assert response.status_code == 200
    assert seen and max(seen) <= MAX_INPUT_CHARS == WHATSAPP_TEXT_LIMIT


def test_nfkc_expansion_is_bounded(api):
    response = api.post("/api/keywords/test", json={"text": EXPANDS_18_TIMES * 4096})
    assert response.status_code == 200
    assert len(response.json["normalized"]) <= MAX_NORMALIZED_CHARS == 2 * WHATSAPP_TEXT_LIMIT


def test_an_opt_out_within_the_limit_is_still_found_in_a_long_message(api):
    # (not "x": in Malay chat "x" is "tak", a negation)
    text = "unsubscribe " + "q" * (WHATSAPP_TEXT_LIMIT - 20)
    assert api.post("/api/keywords/test", json={"text": text}).json["intent"] == "opt_out"


def test_a_huge_message_through_the_webhook_is_classified_within_the_cap(post, monkeypatch):
    lengths = []
    original = normalize_module.normalize

    def spy(text):
        result = original(text)
        lengths.append((len(text), len(result.text)))
        return result
    monkeypatch.setattr("handlers.detection.classify.normalize", spy)
    response = post(payloads.of_messages(payloads.text(EXPANDS_18_TIMES * 200_000, wa_id="14155550140")))
    assert response.status_code == 200
    assert lengths and all(normalized <= MAX_NORMALIZED_CHARS for _, normalized in lengths)


def _keep_messages(service, count: int, text: str = EXPANDS_18_TIMES * 4096) -> None:
    with transaction(service.db):
        for index in range(count):
            service.db.execute(
                "INSERT INTO inbound_messages (message_id, wa_id, words, received_at, intent, rule) "
                "VALUES (?, ?, ?, ?, 'none', NULL)",
                [f"wamid.HEAVY{index:03d}", f"5939900000{index:02d}", json.dumps([f"muy alto {index} " + text]),
                 f"2025-11-24T16:{index // 60:02d}:{index % 60:02d}.000000Z"])


ALTO = {"op": "add", "language": "es", "intent": "opt_out", "keyword": "alto", "match": "anywhere"}


@pytest.fixture
def small_budget(monkeypatch):
    """A budget that three heavy messages overrun and two do not (each costs about 2 x 8,192
    normalised characters: it is classified before and after the change)."""
    monkeypatch.setattr(impact, "PREVIEW_BUDGET", 5 * MAX_NORMALIZED_CHARS)


def test_api_preview_over_its_budget_says_partial_and_continues_where_it_stopped(api, service, small_budget):
    ensure_absent(service, "es", "alto")
    _keep_messages(service, 10)
    seen, answers, body = [], [], dict(ALTO)
    while True:
        answer = api.post("/api/keywords/preview", json=body).json
        answers.append(answer)
        seen += [row["message_id"] for row in answer["changed"]]
        if answer["complete"]:
            break
        assert answer["stopped"] == "budget" and answer["continue_after"]
        body = {**ALTO, "continue_after": answer["continue_after"]}
        assert len(answers) < 10
    first = answers[0]
    assert first["complete"] is False and first["total"] == 10 and first["checked"] == 3
    assert first["covered"] == 3 and first["remaining"] == 7
    assert [a["covered"] for a in answers] == [3, 6, 9, 10]
    assert answers[-1]["continue_after"] is None and answers[-1]["stopped"] is None
    assert sorted(seen) == [f"wamid.HEAVY{index:03d}" for index in range(10)]  # each once, none skipped
    assert seen[0] == "wamid.HEAVY009"  # newest first


def test_admin_preview_over_its_budget_shows_progress_and_a_way_on_and_save_stays(admin, service, small_budget):
    ensure_absent(service, "es", "alto")
    _keep_messages(service, 5)
    html = admin.post("/admin/keywords/preview", ALTO).text
    progress = html.split('id="impact-progress"')[1].split("</p>")[0]
    assert 'data-complete="no"' in progress and "Partial" in progress and "newest 3 of 5" in progress
    assert 'id="save-form"' in html
    form = html.split('id="continue-form"')[1].split("</form>")[0]
    fields = dict(part.split('" value="') for part in
                  (chunk.split('name="')[1].split('">')[0] for chunk in form.split("<input")[1:]))
    assert fields["continue_message_id"] == "wamid.HEAVY002"
    html = admin.post("/admin/keywords/preview", {**ALTO, "continue_received_at": fields["continue_received_at"],
                                                  "continue_message_id": fields["continue_message_id"]}).text
    progress = html.split('id="impact-progress"')[1].split("</p>")[0]
    assert 'data-complete="yes"' in progress and "newest 5 of 5" in progress
    assert 'id="continue-form"' not in html
    assert "wamid" not in html.split('id="impact"')[1].split("<table>")[0]


def test_a_preview_within_its_budget_is_complete(api, service):
    ensure_absent(service, "es", "alto")
    _keep_messages(service, 2, text="")
    answer = api.post("/api/keywords/preview", json=ALTO).json
    assert answer["complete"] is True and answer["checked"] == answer["total"] == 2 and answer["stopped"] is None


def test_preview_continue_after_must_be_what_a_preview_returned(api):
    response = api.post("/api/keywords/preview", json={**ALTO, "continue_after": "yesterday"})
    assert response.status_code == 400 and "continue_after" in response.json["error"]


def test_normalisation_of_a_keyword_is_unchanged_by_the_caps():
    assert normalize("Darme de BAJA").text == "darme de baja"
