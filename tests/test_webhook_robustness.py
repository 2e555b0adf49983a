"""A bad character costs only its item; every answer is logged and counted; Meta's `errors` are kept."""
import io
import json
import logging
import re
from dataclasses import replace

import pytest

from app import create_app
from handlers.testing import payloads
from tests.test_ops import _value

STOP_USER = "14155550300"


def _with_bad_text(body_escape: bytes) -> bytes:
    """A delivery with STOP from one user and, from another, a text whose JSON holds `body_escape`."""
    delivery = payloads.of_messages(payloads.text("STOP", wa_id=STOP_USER, id="wamid.GOOD1"),
                                    payloads.text("PLACEHOLDER", wa_id="14155550301", id="wamid.BAD1"))
    return payloads.encode(delivery).replace(b"PLACEHOLDER", body_escape)


def _lines(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records
            if r.name == "optout.webhook" and r.getMessage().startswith("{")]


@pytest.mark.parametrize("bad", [
    b"hola \\ud83d",           # a cut emoji: a lone high surrogate, as a JSON escape
    b"\\udc00 tail",           # a lone low surrogate
    b"hola \xed\xa0\x80",      # raw bytes of an encoded surrogate (invalid UTF-8) inside the text
])
def test_a_lone_surrogate_in_one_text_costs_nothing(post, api, read_db, bad):
    response = post({}, body=_with_bad_text(bad))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert api.get(f"/api/suppressions/{STOP_USER}").json["suppressed"] is True
    assert read_db("SELECT kind, error FROM dead_letters") == []      # the odd text is read without its half emoji
    assert [o["error"] for o in response.json["outcomes"]] == [None, None]
    assert len(read_db("SELECT * FROM outbox")) == 1


def test_a_lone_surrogate_in_a_message_id_costs_nothing(post, api, read_db):
    delivery = payloads.of_messages(payloads.text("STOP", wa_id=STOP_USER, id="wamid.GOOD2"),
                                    payloads.text("STOP", wa_id="14155550302", id="wamid.IDPLACEHOLDER"))
    body = payloads.encode(delivery).replace(b"IDPLACEHOLDER", b"\\ud83d")
    response = post({}, body=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert api.get(f"/api/suppressions/{STOP_USER}").json["suppressed"] is True
    assert api.get("/api/suppressions/14155550302").json["suppressed"] is True   # its own STOP too
    assert read_db("SELECT raw FROM dead_letters") == []
    assert read_db("SELECT message_id FROM consent_events WHERE wa_id = '14155550302'") == [
        {"message_id": "wamid.\\ud83d"}]                                     # kept as its escape
    assert post({}, body=body).json["outcomes"][1]["duplicate"] is True     # and deduplicated by it


def test_a_lone_surrogate_in_a_profile_name_with_recording_on(settings, tmp_path):
    app = create_app({"settings": replace(settings, record_dir=str(tmp_path / "rec")), "TESTING": True})
    try:
        delivery = payloads.of_messages(payloads.text("STOP", wa_id=STOP_USER, id="wamid.GOOD3"))
        delivery["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = "NAMEPLACEHOLDER"
        body = payloads.encode(delivery).replace(b"NAMEPLACEHOLDER", b"Ana \\ud83d")
        response = app.test_client().post("/webhook", data=body, headers=payloads.signed_headers(
            body, settings.app_secret))
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.json["outcomes"][0]["consent"] == "opt_out"
    finally:
        app.extensions["optout"].close()


def test_every_answer_has_its_log_line_and_metric_413_and_500_included(app, client, post, caplog, monkeypatch):
    def count(status):
        return _value(client.get("/metrics").get_data(as_text=True), "optout_webhook_requests_total",
                      status=str(status))

    before = {status: count(status) for status in (413, 500)}
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    with caplog.at_level(logging.INFO, logger="optout.webhook"):
        assert post({}, body=b'{"pad": "' + b"x" * 20_000 + b'"}').status_code == 413

        def broken(payload, dry_run=False):
            raise RuntimeError("a bug nobody foresaw")
        monkeypatch.setattr(app.extensions["optout"], "handle", broken)
        response = post(payloads.of_messages(payloads.text("hola")))
        assert response.status_code == 500
        assert "retry" in response.json["error"]
    assert [line["status"] for line in _lines(caplog)] == [413, 500]
    assert count(413) - before[413] == 1 and count(500) - before[500] == 1


def test_meta_errors_in_a_delivery_are_logged_and_counted(client, post, caplog):
    def count(level, code):
        return _value(client.get("/metrics").get_data(as_text=True), "optout_delivery_errors_total",
                      level=level, code=code)

    before = (count("account", "130429"), count("message", "131051"))
    delivery = payloads.of_messages(payloads.message("unsupported", {"type": "edit"}, wa_id="14155550303"))
    value = delivery["entry"][0]["changes"][0]["value"]
    value["messages"][0]["errors"] = [{"code": 131051, "title": "Message type unknown"}]
    value["errors"] = [{"code": 130429, "title": "Rate limit hit",
                        "error_data": {"details": "Cloud API message throughput has been reached."}}]
    with caplog.at_level(logging.INFO, logger="optout.webhook"):
        assert post(delivery).status_code == 200
    (line,) = _lines(caplog)
    assert line["errors"] == [{"level": "account", "code": 130429, "title": "Rate limit hit"},
                              {"level": "message", "code": 131051, "title": "Message type unknown"}]
    assert count("account", "130429") - before[0] == 1
    assert count("message", "131051") - before[1] == 1


def test_the_delivery_line_written_directly_is_the_line_logging_writes(post, monkeypatch):
    """With logging as the service sets it up (one stream handler, nothing else on the way),
    the line per delivery goes straight to the stream, without a LogRecord; with anything
    else listening (here pytest's capture) it goes through logging. Same line either way."""
    service_logger = logging.getLogger("optout")
    (handler,) = service_logger.handlers
    stream = io.StringIO()
    previous, previous_level = handler.setStream(stream), service_logger.level
    service_logger.setLevel(logging.INFO)   # as the service sets it (`flask replay` lowers it)
    handled: list[str] = []
    original_handle = logging.Logger.handle

    def counting_handle(self, record):
        handled.append(record.name)
        return original_handle(self, record)

    monkeypatch.setattr(logging.Logger, "handle", counting_handle)
    try:
        delivery = payloads.of_messages(payloads.text("STOP", wa_id="14155550310", id="wamid.LINE1"))
        with monkeypatch.context() as quiet:
            quiet.setattr(logging.getLogger(), "handlers", [])   # pytest's capture handlers
            assert post(delivery).status_code == 200
        assert "optout.webhook" not in handled                   # no LogRecord: written directly
        assert post(delivery).status_code == 200                 # a redelivery, through logging
        assert "optout.webhook" in handled
    finally:
        handler.setStream(previous)
        service_logger.setLevel(previous_level)
    direct, through_logging = [line for line in stream.getvalue().splitlines() if " optout.webhook {" in line]
    pattern = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO optout\.webhook (\{.*\})$")
    first, second = json.loads(pattern.match(direct)[1]), json.loads(pattern.match(through_logging)[1])
    assert first["event"] == second["event"] == "delivery" and first["status"] == second["status"] == 200
    assert first["consent"] == [{"wa_id": "1415*****10", "change": "opt_out", "source": "keyword", "lang": "en"}]
    assert second["duplicates"] == 1
    assert sorted(first) == sorted(second)
