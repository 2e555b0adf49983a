"""The WhatsApp Cloud API as the sender sees it: send one text, classify the answer.

The sender sends through one CloudApiClient: a keep-alive HTTP(S) connection reused from
one send to the next (urllib opened a connection, and with Meta a TLS session, per send).
"""
from __future__ import annotations

import base64
import http.client
import json
import math
import select
import ssl
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass
from enum import StrEnum

from handlers.settings import WHATSAPP_TEXT_LIMIT
from handlers.whatsapp.answer import Answer
from handlers.whatsapp.deadline import Watchdog


class Disposition(StrEnum):
    SENT = "sent"
    RETRY = "retry"                    # transient: back off and try again
    PAIR_RATE_LIMIT = "pair_rate"      # too many messages to this user: delay this one
    NUMBER_RATE_LIMIT = "number_rate"  # throughput or spam limit: pause the business number
    OPERATOR = "operator"              # auth / account problem: keep the queue, alert
    PERMANENT = "permanent"            # will never succeed: mark failed


# Error codes from Meta's documentation (see shared WHATSAPP_NOTES.md).
PERMANENT_CODES = {131050, 131047, 131026, 130403, 131051, 131052, 131053, 100, 131008, 131009}
PAIR_RATE_CODES = {131056}
NUMBER_RATE_CODES = {130429, 131048, 4, 80007}
DAY_LATER_CODES = {131049, 130472}
OPERATOR_CODES = {0, 3, 10, 190, 200, 368, 131031, 131005, 133010}


@dataclass(frozen=True)
class SendResult:
    disposition: Disposition
    message_id: str | None = None
    http_status: int | None = None
    error_code: int | None = None
    detail: str = ""
    retry_after: float | None = None

    @property
    def reason(self) -> str:
        parts = [f"HTTP {self.http_status}" if self.http_status else "no response"]
        if self.error_code is not None:
            parts.append(f"code {self.error_code}")
        if self.detail:
            parts.append(self.detail[:300])
        return ": ".join(parts)


def send_text(api_url: str, access_token: str, phone_number_id: str, to: str, body: str,
              callback_data: str | None = None, timeout: float = 10.0) -> SendResult:
    """One send on a connection of its own (tools, one-off use); the sender keeps a CloudApiClient."""
    client = CloudApiClient(api_url, access_token, timeout)
    try:
        return client.send_text(phone_number_id, to, body, callback_data)
    finally:
        client.close()


class CloudApiClient:
    """One keep-alive connection to the Cloud API, reused across sends and opened again
    when the server closes it (`Connection: close`, an idle timeout) or after any error.
    https verifies the certificate and host name (the system's CAs), as urllib did; the
    proxy settings urllib honoured (`https_proxy`, `no_proxy`...) apply too.

    A send on a reused connection that fails before any of the answer came (the server
    closed the connection as we sent, or before its status line: RemoteDisconnected,
    ConnectionResetError, BrokenPipeError) never reached a request handler, and is sent
    once more at once on a new connection. A 2xx status line counts as sent, whatever
    follows it. Any other failure (the send's deadline passing, a reset after another
    status line, a new connection refused, an answer that cannot be read) is a RETRY:
    the outbox backs off. One per sender; sends are serialised."""

    def __init__(self, api_url: str, access_token: str, timeout: float = 10.0,
                 context: ssl.SSLContext | None = None):
        parts = urllib.parse.urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the Cloud API URL must be http(s)://host[:port][/path], got {api_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._prefix = parts.path.rstrip("/")
        self._headers = {"Authorization": f"Bearer {access_token}", "Content-Type": "application/json",
                         "User-Agent": USER_AGENT}
        self._timeout = timeout
        self._context = context
        self._proxy = _proxy_for(parts.scheme, self._host)
        self._connection: _Connection | _TlsConnection | None = None
        self._lock = threading.Lock()
        self._watchdog = Watchdog()   # the sends' time limit (see deadline.py)

    def send_text(self, phone_number_id: str, to: str, body: str, callback_data: str | None = None) -> SendResult:
        payload = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "text",
            "text": {"body": body[:WHATSAPP_TEXT_LIMIT], "preview_url": False},
        }
        if callback_data:
            payload["biz_opaque_callback_data"] = callback_data
        try:
            with self._lock:
                status, retry_after, raw = self._post(f"{self._prefix}/{phone_number_id}/messages",
                                                      json.dumps(payload).encode())
            if not 200 <= status < 300:
                return classify_error(status, _json(raw), retry_after)
            return SendResult(Disposition.SENT, message_id=_message_id(_json(raw)), http_status=status)
        except Exception as error:  # noqa: BLE001 - whatever an answer does, the outbox gets an outcome to record
            # OSError (timeouts, resets, TLS), HTTPException (a bad status line), and anything a
            # hostile answer may raise: the row is retried with back-off, never left unrecorded
            return SendResult(Disposition.RETRY, detail=f"{type(error).__name__}: {str(error)[:200]}")

    def close(self) -> None:
        """Close the connection (after the send in progress, if any) and stop the deadline's
        watchdog; a later send opens (and starts) them again."""
        with self._lock:
            self._disconnect()
            self._watchdog.close()

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _post(self, path: str, data: bytes) -> tuple[int, str | None, bytes]:
        """POST on the kept connection: (status, Retry-After, body). Sent once more on a new
        connection when a reused one fails before the answer began (see the class)."""
        if self._proxy and not self._https:
            path = self._origin + path  # to a plain-HTTP proxy, the absolute URL
        deadline = self._watchdog.begin(self._timeout)  # the socket timeout bounds each read; this, the whole send
        try:
            while True:
                connection = self._connection
                reused = connection is not None and connection.sock is not None and not _dropped(connection.sock)
                if connection is None or not reused:
                    self._disconnect()
                    connection = self._connection = self._connect()
                deadline.watch(connection)
                try:
                    connection.request("POST", path, body=data, headers=self._headers)
                    response = connection.getresponse()
                except BaseException as error:
                    self._disconnect()
                    if connection.accepted:
                        return 200, None, b""  # a 2xx status line came, then the rest failed: sent, not again
                    if deadline.passed:
                        raise deadline.error() from error
                    if isinstance(error, (BrokenPipeError, ConnectionResetError)) and reused \
                            and not connection.answer_began:  # RemoteDisconnected is a ConnectionResetError
                        continue  # closed under us before it took the request: once more, on a new connection
                    raise
                status, retry_after = response.status, response.getheader("Retry-After")
                if deadline.passed and not 200 <= status < 300:
                    self._disconnect()
                    raise deadline.error()
                try:
                    raw = response.read(MAX_ANSWER_BYTES + 1)
                except BaseException:
                    self._disconnect()
                    if 200 <= status < 300:
                        return status, retry_after, b""  # the status line says accepted: sending again would repeat it
                    raise
                if deadline.passed or response.will_close or not response.isclosed():
                    self._disconnect()  # `Connection: close`, or an answer longer than we read, or cut off
                return status, retry_after, raw[:MAX_ANSWER_BYTES]
        finally:
            self._watchdog.end(deadline)

    def _connect(self) -> _Connection | _TlsConnection:
        host, port = (self._proxy[0], self._proxy[1]) if self._proxy else (self._host, self._port)
        connection: _Connection | _TlsConnection
        if self._https:
            if self._context is None:
                self._context = ssl.create_default_context()  # urllib's default: CAs, host name checked
            connection = _TlsConnection(host, port, timeout=self._timeout, context=self._context)
            if self._proxy:
                connection.set_tunnel(self._host, self._port, headers=self._proxy[2])
        else:
            connection = _Connection(host, port, timeout=self._timeout)
            if self._proxy:
                self._headers.update(self._proxy[2])
        return connection


USER_AGENT = "optout-webhook"
MAX_ANSWER_BYTES = 64 * 1024         # of an answer's body we read; Meta's are a few hundred bytes
MAX_RETRY_AFTER_SECONDS = 3600.0     # a Retry-After longer than this is read as this


class _Tracked:
    """http.client's connection, remembering the answer being read: after a failure, whether
    any of it had come (the status line), or the server never answered this request."""

    _answer: Answer | None = None

    def _new_answer(self, sock, *args, **kwargs) -> Answer:
        self._answer = Answer(sock, *args, **kwargs)
        return self._answer

    @property
    def answer_began(self) -> bool:
        return self._answer is not None and self._answer.began

    @property
    def accepted(self) -> bool:
        """Whether the answer being read said 2xx before anything failed: the message is sent."""
        return self._answer is not None and self._answer.accepted

    def request(self, *args, **kwargs) -> None:
        self._answer = None
        super().request(*args, **kwargs)  # type: ignore[misc]

    def _send_output(self, message_body=None, encode_chunked=False) -> None:
        """The head and a bytes body in one write (http.client makes two): one TCP segment
        and TLS record, one system call."""
        if not isinstance(message_body, bytes) or encode_chunked:
            super()._send_output(message_body, encode_chunked)  # type: ignore[misc]
            return
        buffer = self._buffer  # type: ignore[attr-defined]
        buffer.extend((b"", message_body))
        message = b"\r\n".join(buffer)
        del buffer[:]
        self.send(message)  # type: ignore[attr-defined]


class _Connection(_Tracked, http.client.HTTPConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.response_class = self._new_answer  # http.client's factory hook


class _TlsConnection(_Tracked, http.client.HTTPSConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.response_class = self._new_answer


def _dropped(sock) -> bool:
    """An idle kept connection that has something to read has been closed by the server (or
    is out of step): open a new one rather than send on it."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _proxy_for(scheme: str, host: str) -> tuple[str, int, dict[str, str]] | None:
    """The proxy urllib would use for this host (the environment's `<scheme>_proxy`, unless
    `no_proxy` names it): (host, port, the headers it needs: credentials from its URL)."""
    proxy = urllib.request.getproxies().get(scheme)
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if not parts.hostname:
        return None
    headers = {}
    if parts.username is not None:
        credentials = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    return parts.hostname, parts.port or 80, headers


def classify_error(http_status: int, answer: object, retry_after: str | None = None) -> SendResult:
    error = answer.get("error") if isinstance(answer, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    details = (error.get("error_data") or {}).get("details") if isinstance(error.get("error_data"), dict) else None
    detail = " / ".join(str(part) for part in (error.get("message"), details) if part)
    wait = _seconds(retry_after)
    if code in PERMANENT_CODES:
        disposition = Disposition.PERMANENT
    elif code in PAIR_RATE_CODES:
        disposition = Disposition.PAIR_RATE_LIMIT
    elif code in NUMBER_RATE_CODES or http_status == 429:
        disposition = Disposition.NUMBER_RATE_LIMIT
    elif code in DAY_LATER_CODES:
        disposition, wait = Disposition.RETRY, wait or 24 * 3600
    elif code in OPERATOR_CODES or http_status in (401, 403):
        disposition = Disposition.OPERATOR
    elif 400 <= http_status < 500 and http_status != 408:
        disposition = Disposition.PERMANENT  # any other 4xx: the request itself is wrong
    else:
        disposition = Disposition.RETRY      # 5xx, 408, and a redirect or any other status we do not follow
    return SendResult(disposition, http_status=http_status, error_code=code, detail=detail, retry_after=wait)


def _json(raw: bytes) -> object:
    try:
        return json.loads(raw or b"{}")
    except (ValueError, RecursionError):   # not JSON, or nested past the parser's depth
        return {}


def _message_id(answer: object) -> str | None:
    """`messages[0].id` of a send's answer, if the answer has that shape."""
    messages = answer.get("messages") if isinstance(answer, dict) else None
    first = messages[0] if isinstance(messages, list) and messages else None
    message_id = first.get("id") if isinstance(first, dict) else None
    return message_id if isinstance(message_id, str) else None


def _seconds(value: str | None) -> float | None:
    """A Retry-After in seconds, at most MAX_RETRY_AFTER_SECONDS (a date or nonsense: None)."""
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    if seconds is None or math.isnan(seconds):
        return None
    return min(MAX_RETRY_AFTER_SECONDS, max(0.0, seconds))
