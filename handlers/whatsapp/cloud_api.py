"""The WhatsApp Cloud API as the sender sees it: send one text, classify the answer."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from enum import StrEnum

from handlers.settings import WHATSAPP_TEXT_LIMIT


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
    payload = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"body": body[:WHATSAPP_TEXT_LIMIT], "preview_url": False},
    }
    if callback_data:
        payload["biz_opaque_callback_data"] = callback_data
    request = urllib.request.Request(
        f"{api_url.rstrip('/')}/{phone_number_id}/messages",
        data=json.dumps(payload).encode(),
        headers={"Authorization": f"Bearer {access_token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = _json(response.read())
            message_id = (answer.get("messages") or [{}])[0].get("id") if isinstance(answer, dict) else None
            return SendResult(Disposition.SENT, message_id=message_id, http_status=response.status)
    except urllib.error.HTTPError as error:
        return classify_error(error.code, _json(error.read()), error.headers.get("Retry-After"))
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
        return SendResult(Disposition.RETRY, detail=f"{type(error).__name__}: {error}")


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
    elif http_status >= 500 or http_status == 408:
        disposition = Disposition.RETRY
    else:
        disposition = Disposition.PERMANENT  # any other 4xx: the request itself is wrong
    return SendResult(disposition, http_status=http_status, error_code=code, detail=detail, retry_after=wait)


def _json(raw: bytes) -> object:
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        return {}


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
