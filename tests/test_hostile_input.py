"""Hostile input at the webhook: never a 5xx, never a crash, never a change without a valid signature.

Property-based (hypothesis), through the Flask test client. One app per module
(built in a module-scoped fixture, so hypothesis' function-scoped-fixture check
does not apply); examples are capped so the default suite stays fast.
"""
from __future__ import annotations

import json
import sqlite3
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import create_app
from handlers.detection.normalize import MAX_NORMALIZED_CHARS, normalize
from handlers.settings import Settings
from handlers.testing import payloads
from handlers.whatsapp.signature import sign

SECRET = "hostile-secret"
TABLES = ("processed", "suppressions", "consent_events", "contacts", "outbox", "dead_letters")

settings.register_profile(
    "hostile", max_examples=150, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
hostile = settings.get_profile("hostile")


@pytest.fixture(scope="module")
def webhook(tmp_path_factory):
    db_path = str(tmp_path_factory.mktemp("hostile") / "optout.db")
    app = create_app({"settings": Settings(
        app_secret=SECRET, verify_token="v", admin_token="a", api_url="http://127.0.0.1:9", db_path=db_path,
    ), "TESTING": True})
    client = app.test_client()

    def counts() -> dict[str, int]:
        """Rows per table, ordinary chat still waiting for its batch included (written first)."""
        service = app.extensions["optout"]
        service.chat.write(service.db)
        conn = sqlite3.connect(db_path)
        try:
            return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}
        finally:
            conn.close()

    client.counts = counts
    client.db_path = db_path
    yield client
    app.extensions["optout"].close()


def post(client, body: bytes, signature: str | None = "valid", content_type: str = "application/json"):
    headers = {"Content-Type": content_type}
    if signature == "valid":
        headers["X-Hub-Signature-256"] = sign(body, SECRET)
    elif signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return client.post("/webhook", data=body, headers=headers)


scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    scalars, lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
# Values that may turn up where Meta puts a string, a list or an object.
wrong = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) \
    | st.text(max_size=20) | st.lists(st.integers(), max_size=3) | st.dictionaries(st.text(max_size=5), st.integers(), max_size=2) \
    | st.just("x" * 100_000)


def _paths(value, path=()):
    """Every (path) to a value inside a JSON document."""
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, path + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, path + (index,))


def _replace(document, path, new):
    if not path:
        return new
    target = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return document


def _realistic() -> dict:
    return payloads.delivery(
        payloads.change(messages=[
            payloads.text("STOP", wa_id="14155550123", id="wamid.H1"),
            payloads.message("button", {"text": "Stop promotions", "payload": "STOP"}, wa_id="14155550124", id="wamid.H2"),
            payloads.message("interactive", {"type": "list_reply", "list_reply": {"id": "x", "title": "baja"}},
                             wa_id="14155550125", id="wamid.H3"),
            payloads.message("system", {"body": "changed", "wa_id": "14155550199", "type": "user_changed_number"},
                             wa_id="14155550126", id="wamid.H4"),
        ], statuses=[payloads.status("wamid.S1", "failed", errors=[{"code": 131050}], callback="outbox:1")]),
        payloads.change(preferences=[payloads.preference("14155550127", "stop")]),
    )


@hostile
@given(document=json_values)
def test_any_signed_json_document_is_answered_without_a_server_error(webhook, document):
    response = post(webhook, json.dumps(document).encode())
    assert response.status_code in (200, 400)


@hostile
@given(data=st.data())
def test_wrong_types_anywhere_in_a_real_delivery_never_cause_a_server_error(webhook, data):
    document = _realistic()
    paths = list(_paths(document))
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(paths))
        try:
            document = _replace(document, path, data.draw(wrong))
        except (KeyError, IndexError, TypeError):
            continue  # the path vanished under an earlier replacement
        paths = list(_paths(document))
    response = post(webhook, payloads.encode(document) if isinstance(document, (dict, list)) else json.dumps(document).encode())
    assert response.status_code in (200, 400), response.get_data(as_text=True)


@hostile
@given(body=st.binary(max_size=2000))
def test_arbitrary_bytes_including_invalid_utf8_are_refused_cleanly(webhook, body):
    response = post(webhook, body)
    assert response.status_code in (200, 400)


@pytest.mark.parametrize("depth", [50, 500, 5_000, 200_000])
@pytest.mark.parametrize("shape", ["list", "object", "in_message"])
def test_deep_nesting_is_refused_or_handled_never_a_server_error(webhook, depth, shape):
    inner = "[" * depth + "]" * depth if shape != "object" else '{"a":' * depth + "1" + "}" * depth
    if shape == "in_message":
        body = ('{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages",'
                '"value":{"metadata":{"phone_number_id":"1"},"messages":[{"from":"14155550123","id":"wamid.DEEP%d",'
                '"type":"text","text":{"body":%s}}]}}]}]}' % (depth, inner)).encode()
    else:
        body = inner.encode()
    response = post(webhook, body)
    assert response.status_code in (200, 400), response.get_data(as_text=True)[:300]


def test_huge_strings_inside_a_delivery_are_handled(webhook):
    huge = "stop " * 500_000  # 2.5 MB: inside Meta's 3 MB
    document = payloads.of_messages(payloads.text(huge, wa_id="14155550140"),
                                    payloads.text("STOP", wa_id="x" * 100_000))
    response = post(webhook, payloads.encode(document))
    assert response.status_code == 200


def test_a_body_above_the_limit_is_refused_with_413(webhook):
    response = post(webhook, b" " * (9 * 1024 * 1024))
    assert response.status_code == 413


@hostile
@given(content_type=st.text(max_size=60) | st.sampled_from(
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml",
     "application/json; charset=latin-1", "application/vnd.api+json", "", "*/*", "application/json\x00"]))
def test_wrong_content_types_never_cause_a_server_error(webhook, content_type):
    body = payloads.encode(payloads.of_messages(payloads.text("hola", wa_id="14155550150")))
    try:
        response = post(webhook, body, content_type=content_type)
    except ValueError:
        return  # the test client itself refuses a header with a newline; a server never sees it
    assert response.status_code in (200, 415)


@hostile
@given(body=st.binary(max_size=500) | json_values.map(lambda v: json.dumps(v).encode()),
       forged=st.none() | st.text(max_size=80) | st.from_regex(r"sha256=[0-9a-f]{64}", fullmatch=True)
       | st.binary(max_size=32).map(lambda b: "sha256=" + sign(b, "some-other-secret")[7:]))
def test_forged_signatures_are_refused_and_change_nothing(webhook, body, forged):
    before = webhook.counts()
    try:
        response = post(webhook, body, signature=forged)
    except ValueError:
        return  # an unsendable header (newline): the test client refuses it
    assert response.status_code == 401
    assert webhook.counts() == before


@hostile
@given(index=st.integers(0, 3), tail=st.binary(min_size=1, max_size=20))
def test_a_valid_signature_replayed_on_another_body_is_refused(webhook, index, tail):
    original = payloads.encode(payloads.of_messages(payloads.text("STOP", wa_id=f"1415555016{index}")))
    stolen = sign(original, SECRET)
    before = webhook.counts()
    for body in (original + tail, original.replace(b"STOP", b"START"), tail + original):
        assert post(webhook, body, signature=stolen).status_code == 401
    assert webhook.counts() == before


def test_a_replayed_delivery_changes_nothing_the_second_time(webhook):
    body = payloads.encode(payloads.of_messages(payloads.text("STOP", wa_id="14155550170", id="wamid.REPLAY1")))
    assert post(webhook, body).status_code == 200
    after_first = webhook.counts()
    for _ in range(3):
        response = post(webhook, body)
        assert response.status_code == 200
        assert response.json["duplicates"] == 1
    assert webhook.counts() == after_first


# Characters that NFKC or case folding turns into three or more (U+FDFA: 18).
EXPANDING = sorted(c for c in map(chr, range(0x10000))
                   if not 0xD800 <= ord(c) <= 0xDFFF
                   and len(unicodedata.normalize("NFKC", c).casefold()) >= 3)
expanding_texts = st.tuples(
    st.text(alphabet=st.sampled_from(EXPANDING) | st.sampled_from(" .,stop"), min_size=1, max_size=40),
    st.integers(1, 3_000),
).map(lambda pair: pair[0] * pair[1])


@settings(hostile, max_examples=60)
@given(text=expanding_texts)
def test_expanding_characters_never_make_the_classifier_read_more_than_its_caps(text):
    normalized = normalize(text)
    assert len(normalized.text) <= MAX_NORMALIZED_CHARS
    assert len(normalized.tokens) <= MAX_NORMALIZED_CHARS // 2 + 1  # a token and its separator


@settings(hostile, max_examples=30)
@given(text=expanding_texts)
def test_expanding_characters_at_the_webhook_and_the_api_stay_within_the_caps(webhook, text):
    body = payloads.encode(payloads.of_messages(payloads.text(text, wa_id="14155550180")))
    assert post(webhook, body).status_code == 200
    answer = webhook.post("/api/keywords/test", json={"text": text}, headers={"Authorization": "Bearer a"})
    assert answer.status_code == 200
    # the words read; the spaces between words split out of unspaced scripts are not read text
    assert len(answer.json["normalized"].replace(" ", "")) <= MAX_NORMALIZED_CHARS


# Lone surrogates (a cut emoji, "\ud83d") are valid JSON escapes that SQLite cannot store as text.
with_surrogates = st.lists(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF) | st.characters(),
                           max_size=20).map("".join)


@hostile
@given(text=with_surrogates, message_id=with_surrogates, name=with_surrogates)
def test_lone_surrogates_anywhere_cost_only_their_item(webhook, text, message_id, name):
    stop = payloads.text("STOP", wa_id="14155550180", id="wamid.SURROGATE-STOP")
    odd = payloads.text(text, wa_id="14155550181", id="wamid." + message_id)
    document = payloads.of_messages(stop, odd)
    document["entry"][0]["changes"][0]["value"]["contacts"][1]["profile"]["name"] = name
    response = post(webhook, payloads.encode(document))  # ensure_ascii: surrogates travel as \\udXXX escapes
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["received"] == 2
    conn = sqlite3.connect(webhook.db_path)
    try:
        assert conn.execute("SELECT suppressed FROM suppressions WHERE wa_id = '14155550180'").fetchone() == (1,)
    finally:
        conn.close()


# Timestamps: Meta sends epoch seconds as text; a sender's clock, a proxy or an attacker may send anything.
any_timestamp = (st.integers() | st.integers(min_value=10**18, max_value=10**400) | st.floats(allow_nan=False)
                 | st.text(max_size=30) | st.none() | st.booleans() | st.integers().map(str))
_user_numbers = iter(range(14155560000, 14155569999))


def _suppressed(client, wa_id: str) -> bool:
    answer = client.get(f"/api/suppressions/{wa_id}", headers={"Authorization": "Bearer a"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.json["suppressed"]


@hostile
@given(timestamp=any_timestamp)
def test_a_stop_with_any_timestamp_is_applied(webhook, timestamp):
    wa_id = str(next(_user_numbers))
    item = payloads.text("STOP", wa_id=wa_id)
    item["timestamp"] = timestamp
    response = post(webhook, payloads.encode(payloads.of_messages(item)))
    assert response.status_code == 200 and not response.json["outcomes"][0]["error"], response.json
    assert _suppressed(webhook, wa_id)


@hostile
@given(ahead=st.integers(min_value=301, max_value=10**15) | st.integers(min_value=10**15).map(str))
def test_a_start_stamped_beyond_the_clock_never_outranks_a_later_stop(webhook, ahead):
    import time
    wa_id = str(next(_user_numbers))
    start = payloads.text("START", wa_id=wa_id)
    start["timestamp"] = str(int(time.time()) + int(ahead))
    assert post(webhook, payloads.encode(payloads.of_messages(start))).status_code == 200
    stop = payloads.text("STOP", wa_id=wa_id, timestamp=int(time.time()) + 2)
    assert post(webhook, payloads.encode(payloads.of_messages(stop))).status_code == 200
    assert _suppressed(webhook, wa_id)


sender_ids = (st.integers(min_value=0, max_value=10**20).map(str)
              | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=140)
              | st.from_regex(r"\A[A-Z]{2}(\.ENT)?\.[0-9A-Za-z]{1,120}\Z"))


@hostile
@given(sender=sender_ids)
def test_whatever_sender_a_verified_delivery_carries_can_be_looked_up_as_stored(webhook, sender):
    from urllib.parse import quote

    from handlers.consent.identity import readings
    item = payloads.text("STOP", wa_id=sender)
    response = post(webhook, payloads.encode(payloads.of_messages(item)))
    assert response.status_code == 200, response.get_data(as_text=True)
    if response.json["outcomes"][0]["error"]:
        return   # not a sender at all (kept in dead_letters): nothing was stored under it
    headers = {"Authorization": "Bearer a"}
    answer = webhook.get("/api/suppressions/" + quote(sender, safe=""), headers=headers)
    assert answer.status_code == 200 and answer.json["suppressed"], (sender, answer.get_data(as_text=True))
    checked = webhook.post("/api/suppressions/check", json={"wa_ids": [sender]}, headers=headers).json
    assert checked["suppressed"] == [readings(sender).written], (sender, checked)   # as written, reduced


@pytest.mark.parametrize("where", ["text", "button", "caption", "id", "order"])
def test_a_stop_carrying_a_lone_surrogate_itself_is_applied(webhook, where):
    wa_id = str(next(_user_numbers))
    cut = "STOP \ud83d"
    item = {"text": lambda: payloads.text(cut, wa_id=wa_id),
            "button": lambda: payloads.message("button", {"payload": cut, "text": cut}, wa_id=wa_id),
            "caption": lambda: payloads.message("image", {"id": "1", "caption": cut}, wa_id=wa_id),
            "id": lambda: payloads.text("STOP", wa_id=wa_id, id="wamid.\ud83d" + wa_id),
            "order": lambda: payloads.message("order", {"catalog_id": "1", "text": cut, "product_items": []},
                                              wa_id=wa_id)}[where]()
    response = post(webhook, payloads.encode(payloads.of_messages(item)))  # travels as the escape \\ud83d
    assert response.status_code == 200 and not response.json["outcomes"][0]["error"], response.json
    assert _suppressed(webhook, wa_id)
