"""The sender's client: one keep-alive connection to the Cloud API, against the stand-in on loopback."""
import shutil
import subprocess
import time

import pytest

from handlers.testing.cloud_api_standin import Answer, CloudApiStandIn
from handlers.whatsapp.cloud_api import CloudApiClient, Disposition

PHONE_NUMBER_ID = "106540352242922"


@pytest.fixture
def client(cloud_api):
    client = CloudApiClient(cloud_api.url, "test-access-token", timeout=2.0)
    yield client
    client.close()


def send(client, to="14155550123", body="You are unsubscribed."):
    return client.send_text(PHONE_NUMBER_ID, to, body, callback_data="outbox:1")


def test_sends_share_one_connection(client, cloud_api):
    results = [send(client, to=f"1415555010{n}") for n in range(5)]
    assert [r.disposition for r in results] == [Disposition.SENT] * 5
    assert len({r.message_id for r in results}) == 5
    assert cloud_api.connections == 1
    (first, *_) = cloud_api.received
    assert first.path == f"/{PHONE_NUMBER_ID}/messages"
    assert first.authorization == "Bearer test-access-token"
    assert first.body == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "14155550100",
                          "type": "text", "text": {"body": "You are unsubscribed.", "preview_url": False},
                          "biz_opaque_callback_data": "outbox:1"}


def test_the_api_url_path_prefixes_every_send(cloud_api):
    client = CloudApiClient(cloud_api.url + "/v26.0/", "token")
    try:
        assert send(client).disposition is Disposition.SENT
    finally:
        client.close()
    assert cloud_api.received[0].path == f"/v26.0/{PHONE_NUMBER_ID}/messages"


def test_a_connection_the_server_closed_while_idle_loses_no_send():
    with CloudApiStandIn(idle_timeout=0.2) as stand_in:
        client = CloudApiClient(stand_in.url, "token", timeout=2.0)
        try:
            assert send(client).disposition is Disposition.SENT
            time.sleep(0.6)  # the server's keep-alive timeout closes the connection
            assert send(client).disposition is Disposition.SENT
            assert send(client).disposition is Disposition.SENT
        finally:
            client.close()
        assert len(stand_in.received) == 3
        assert stand_in.connections == 2


@pytest.mark.parametrize("drop", ["close", "reset"])
def test_a_reused_connection_closed_before_any_answer_is_sent_again_at_once(client, cloud_api, drop):
    assert send(client).disposition is Disposition.SENT
    cloud_api.script(Answer(drop=drop))  # the server ends the kept connection as the request arrives
    result = send(client, to="14155550999")
    assert result.disposition is Disposition.SENT
    assert cloud_api.requests == 3 and cloud_api.connections == 2
    assert [r.to for r in cloud_api.received] == ["14155550123", "14155550999"]


def test_a_new_connection_closed_before_any_answer_is_not_sent_again(client, cloud_api):
    cloud_api.script(Answer(drop="close"))
    result = send(client)
    assert result.disposition is Disposition.RETRY
    assert "RemoteDisconnected" in result.detail and result.reason.startswith("no response")
    assert cloud_api.requests == 1 and cloud_api.received == []
    assert send(client).disposition is Disposition.SENT  # and the next send opens another


def test_a_reused_connection_is_sent_on_again_only_once(client, cloud_api):
    assert send(client).disposition is Disposition.SENT
    cloud_api.script(Answer(drop="close"), Answer(drop="close"))
    assert send(client).disposition is Disposition.RETRY
    assert cloud_api.requests == 3  # the first send, the dropped one and its one resend


def test_a_reused_connection_reset_after_a_200_status_line_is_sent_not_sent_again(client, cloud_api):
    """The server had the request and said 200 before the reset: the message went out."""
    assert send(client).disposition is Disposition.SENT
    cloud_api.script(Answer(drop="reset_after_status"))
    result = send(client)
    assert (result.disposition, result.message_id) == (Disposition.SENT, None)
    assert cloud_api.requests == 2


def test_a_timeout_on_a_reused_connection_is_a_retry_not_a_resend(cloud_api):
    client = CloudApiClient(cloud_api.url, "token", timeout=0.3)
    try:
        assert send(client).disposition is Disposition.SENT
        cloud_api.script(Answer(delay=1.0))  # the server may well act on it: we must not send it twice
        result = send(client, to="14155550999")
        assert result.disposition is Disposition.RETRY and "timed out" in result.detail
        assert send(client).disposition is Disposition.SENT  # on a new connection
    finally:
        client.close()
    cloud_api.wait_for(3, timeout=3)
    assert cloud_api.requests == 3
    assert cloud_api.connections == 2


def test_connection_close_from_the_server_is_honoured(client, cloud_api):
    cloud_api.script(Answer(close=True))
    assert send(client).disposition is Disposition.SENT
    assert send(client).disposition is Disposition.SENT
    assert send(client).disposition is Disposition.SENT
    assert cloud_api.connections == 2


def test_errors_classify_as_before_on_a_kept_connection(client, cloud_api):
    cloud_api.script(Answer(500), Answer(503), Answer(429, error_code=130429, retry_after="30"),
                     Answer(400, error_code=131026), Answer(400, error_code=131056), Answer(401, error_code=190),
                     Answer(400, error_code=131049), Answer(404), Answer(200))
    results = [send(client) for _ in range(9)]
    assert [(r.disposition, r.http_status, r.error_code) for r in results] == [
        (Disposition.RETRY, 500, None), (Disposition.RETRY, 503, None),
        (Disposition.NUMBER_RATE_LIMIT, 429, 130429), (Disposition.PERMANENT, 400, 131026),
        (Disposition.PAIR_RATE_LIMIT, 400, 131056), (Disposition.OPERATOR, 401, 190),
        (Disposition.RETRY, 400, 131049), (Disposition.PERMANENT, 404, None), (Disposition.SENT, 200, None),
    ]
    assert results[2].retry_after == 30.0
    assert results[6].retry_after == 24 * 3600
    assert results[3].reason == "HTTP 400: code 131026: stand-in error 131026 / scripted by the test"
    assert cloud_api.connections == 1  # an error answer leaves the connection usable


def test_an_api_gone_away_is_a_retry(client, cloud_api):
    assert send(client).disposition is Disposition.SENT
    cloud_api.stop()  # its kept connection ends with it
    result = send(client)
    assert result.disposition is Disposition.RETRY
    assert result.reason.startswith("no response: ConnectionRefusedError")


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for 127.0.0.1 (made with the openssl command line)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return str(cert), str(key)


def test_https_verifies_the_certificate_by_default(certificate):
    with CloudApiStandIn(tls=certificate) as stand_in:
        assert stand_in.url.startswith("https://")
        client = CloudApiClient(stand_in.url, "token", timeout=2.0)
        try:
            result = send(client)
        finally:
            client.close()
        assert result.disposition is Disposition.RETRY
        assert "CERTIFICATE_VERIFY_FAILED" in result.detail
        assert stand_in.requests == 0


def test_https_keeps_one_connection(certificate):
    import ssl
    context = ssl.create_default_context(cafile=certificate[0])
    with CloudApiStandIn(tls=certificate) as stand_in:
        client = CloudApiClient(stand_in.url, "token", timeout=2.0, context=context)
        try:
            assert [send(client).disposition for _ in range(3)] == [Disposition.SENT] * 3
        finally:
            client.close()
        assert stand_in.connections == 1


def test_a_plain_http_proxy_from_the_environment_is_used_as_urllib_did(cloud_api, monkeypatch):
    monkeypatch.setenv("http_proxy", cloud_api.url)  # the stand-in plays the proxy: it sees the absolute URL
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    client = CloudApiClient("http://graph.example.invalid/v26.0", "token", timeout=2.0)
    try:
        assert send(client).disposition is Disposition.SENT
    finally:
        client.close()
    assert cloud_api.received[0].path == f"http://graph.example.invalid/v26.0/{PHONE_NUMBER_ID}/messages"


class RawServer:
    """A loopback server that answers every request with the same raw bytes, optionally a
    chunk at a time (a hostile or broken Cloud API), and counts the requests it read."""

    def __init__(self, answer: bytes, chunk: int = 0, interval: float = 0.0):
        import socket
        import threading
        self.answer, self.chunk, self.interval = answer, chunk, interval
        self.requests = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._stopping = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        import threading
        while not self._stopping.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        with conn:
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length"))
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests += 1
                if not self.chunk:
                    conn.sendall(self.answer)
                else:
                    for at in range(0, len(self.answer), self.chunk):
                        if self._stopping.is_set():
                            return
                        conn.sendall(self.answer[at:at + self.chunk])
                        time.sleep(self.interval)
                time.sleep(0.5)
            except OSError:
                pass

    def close(self):
        self._stopping.set()
        self._server.close()


def _raw_send(answer: bytes, timeout: float = 2.0, **server):
    raw = RawServer(answer, **server)
    client = CloudApiClient(raw.url, "token", timeout=timeout)
    try:
        started = time.monotonic()
        result = send(client)
        return result, time.monotonic() - started, raw.requests
    finally:
        client.close()
        raw.close()


def _ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        len(body), extra, body)


@pytest.mark.parametrize("body", [b'{"messages": [5]}', b'{"messages": 5}', b'{"messages": [{"id": 7}]}',
                                  b"[" * 200_000, b"not json"])
def test_an_accepted_send_with_an_odd_body_is_sent_without_a_message_id(body):
    result, _, requests = _raw_send(_ok(body))
    assert (result.disposition, result.message_id, requests) == (Disposition.SENT, None, 1)


def test_a_trickled_answer_ends_at_the_send_timeout_and_is_not_sent_again():
    answer = _ok(b'{"messages": [{"id": "wamid.1"}]}')
    result, seconds, requests = _raw_send(answer, timeout=0.5, chunk=1, interval=0.1)
    assert result.disposition is Disposition.RETRY and "timed out" in result.detail
    assert seconds < 2.0 and requests == 1


def test_an_answer_body_is_read_up_to_a_limit():
    from handlers.whatsapp.cloud_api import MAX_ANSWER_BYTES
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n"
    result, seconds, requests = _raw_send(head + b"x" * (MAX_ANSWER_BYTES * 2))
    assert (result.disposition, requests) == (Disposition.SENT, 1)
    assert seconds < 1.5


def test_an_accepted_send_whose_body_is_cut_short_is_not_sent_again():
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"messa"
    result, _, requests = _raw_send(answer + b"")
    assert (result.disposition, requests) == (Disposition.SENT, 1)


@pytest.mark.parametrize("retry_after, seconds", [("1000000000", 3600.0), ("1e400", 3600.0), ("-5", 0.0),
                                                  ("nan", None), ("Wed, 21 Oct 2026 07:28:00 GMT", None)])
def test_retry_after_is_capped_at_an_hour(client, cloud_api, retry_after, seconds):
    cloud_api.script(Answer(429, error_code=130429, retry_after=retry_after))
    result = send(client)
    assert (result.disposition, result.retry_after) == (Disposition.NUMBER_RATE_LIMIT, seconds)


def test_a_redirect_is_retried_not_failed(client, cloud_api):
    cloud_api.script(Answer(307))
    result = send(client)
    assert (result.disposition, result.http_status) == (Disposition.RETRY, 307)


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\n",                                                   # then nothing: the headers never end
    b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: v\r\n" % n for n in range(150)) + b"\r\n",   # too many headers
])
def test_an_accepted_status_line_whose_headers_fail_is_sent_not_sent_again(answer):
    result, seconds, requests = _raw_send(answer, timeout=0.5)
    assert (result.disposition, requests) == (Disposition.SENT, 1)
    assert seconds < 1.5


def test_the_send_timeout_bounds_a_resend_on_a_new_connection_too(cloud_api):
    client = CloudApiClient(cloud_api.url, "token", timeout=0.6)
    try:
        assert send(client).disposition is Disposition.SENT
        cloud_api.script(Answer(delay=0.45, drop="close"), Answer(delay=0.45, drop="close"))
        started = time.monotonic()
        result = send(client)
        assert result.disposition is Disposition.RETRY and "timed out" in result.detail
        assert time.monotonic() - started < 0.9
    finally:
        client.close()


def _watchdogs() -> int:
    import threading
    return sum(thread.name == "cloud-api-deadline" for thread in threading.enumerate())


def test_one_watchdog_thread_times_every_send_of_a_client(cloud_api):
    """The send timeout is kept by one thread per client, not a timer thread per send."""
    before = _watchdogs()
    client = CloudApiClient(cloud_api.url, "token", timeout=2.0)
    try:
        for n in range(3):
            assert send(client, to=f"1415555012{n}").disposition is Disposition.SENT
            assert _watchdogs() == before + 1
    finally:
        client.close()
    assert _watchdogs() == before


def test_every_send_of_a_client_is_held_to_the_send_timeout():
    """Each trickled answer ends at its own send's timeout, the first and the ones after it
    (the watchdog was waiting on an earlier send, or on none), and after a close."""
    raw = RawServer(_ok(b'{"messages": [{"id": "wamid.1"}]}'), chunk=1, interval=0.1)
    client = CloudApiClient(raw.url, "token", timeout=0.5)
    try:
        for _ in range(2):
            result = send(client)
            assert result.disposition is Disposition.RETRY and "timed out" in result.detail
        client.close()
        result = send(client)
        assert result.disposition is Disposition.RETRY and "timed out" in result.detail
        assert raw.requests == 3
    finally:
        client.close()
        raw.close()


def test_an_answer_s_headers_are_read_without_the_email_parser():
    """Retry-After, Content-Length and Connection come from the plain header reader: a
    folded value continues, a line without a colon is left out, names are matched in any case."""
    body = b'{"error": {"code": 130429}}'
    answer = (b"HTTP/1.1 429 Too Many Requests\r\nnot a header\r\nretry-after:\r\n 30\r\n"
              b"CONTENT-LENGTH: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
    result, _, requests = _raw_send(answer)
    assert (result.disposition, result.error_code, result.retry_after, requests) == (
        Disposition.NUMBER_RATE_LIMIT, 130429, 30.0, 1)


def test_an_answer_with_too_many_headers_is_a_retry_not_a_resend():
    answer = b"HTTP/1.1 500 Oops\r\n" + b"X-Filler: 1\r\n" * 150 + b"Content-Length: 0\r\n\r\n"
    result, _, requests = _raw_send(answer)
    assert (result.disposition, requests) == (Disposition.RETRY, 1)
    assert "more than 100 headers" in result.detail
