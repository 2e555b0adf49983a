"""The outbox worker: a thread in each service process that sends due confirmations.

Several processes may run one each; the database lease makes sure a row is in
one sender's hands at a time. On a clean stop the current send finishes first;
after a crash, the row's lease runs out and another sender takes it. A status
callback carrying the row id (biz_opaque_callback_data) marks a row sent even
when its sender died between sending and recording.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from handlers.consent.identity import mask
from handlers.delivery import outbox
from handlers.ops import metrics
from handlers.settings import Settings
from handlers.storage.db import connect
from handlers.whatsapp import cloud_api
from handlers.whatsapp.cloud_api import Disposition, SendResult

log = logging.getLogger("optout.sender")

OPERATOR_PAUSE_SECONDS = 300
NUMBER_RATE_PAUSE_SECONDS = 60
PAIR_RATE_DELAY_SECONDS = 7

SendFunction = Callable[..., SendResult]


class OutboxWorker:
    def __init__(self, settings: Settings, send: SendFunction = cloud_api.send_text,
                 on_result: Callable[[dict, SendResult], None] | None = None):
        self.settings = settings
        self._send = send
        self._on_result = on_result
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="outbox-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Called after a delivery queued a reply, so it goes out without waiting for the poll."""
        self._wake.set()

    def _run(self) -> None:
        db = connect(self.settings.database)
        try:
            while not self._stop.is_set():
                try:
                    worked = self.send_due(db)
                except Exception:
                    log.exception("outbox worker error; retrying shortly")
                    worked = 0
                if not worked:
                    self._wake.wait(self.settings.outbox_poll_seconds)
                    self._wake.clear()
        finally:
            db.close()

    def send_due(self, db, limit: int | None = None) -> int:
        """Send due rows until none is left (or `limit`); returns how many were attempted."""
        count = 0
        while not self._stop.is_set() and (limit is None or count < limit):
            row = outbox.claim_next(db, self.settings.outbox_lease_seconds)
            if row is None:
                break
            count += 1
            self._deliver(db, row)
        return count

    def _deliver(self, db, row: dict) -> None:
        result = self._send(
            self.settings.api_url, self.settings.access_token, row["phone_number_id"], row["wa_id"],
            row["body"], callback_data=f"outbox:{row['id']}", timeout=self.settings.send_timeout_seconds,
        )
        outcome = self._record(db, row, result)
        metrics.count_reply(outcome, row["intent"])
        log.info(
            "reply %s to=%s intent=%s lang=%s attempt=%d -> %s",
            row["id"], mask(row["wa_id"]), row["intent"], row["language"], row["attempts"],
            outcome if result.disposition is Disposition.SENT else f"{outcome} ({result.reason})",
        )
        if self._on_result:
            self._on_result(row, result)

    def _record(self, db, row: dict, result: SendResult) -> str:
        max_attempts = self.settings.outbox_max_attempts
        match result.disposition:
            case Disposition.SENT:
                outbox.mark_sent(db, row["id"], result.message_id)
                return "sent"
            case Disposition.PERMANENT:
                outbox.mark_failed(db, row, result.reason)
                return "failed"
            case Disposition.PAIR_RATE_LIMIT:
                return outbox.retry_later(db, row, result.reason,
                                          result.retry_after or PAIR_RATE_DELAY_SECONDS, max_attempts)
            case Disposition.NUMBER_RATE_LIMIT:
                pause = result.retry_after or NUMBER_RATE_PAUSE_SECONDS
                outbox.pause_number(db, row["phone_number_id"], pause, result.reason)
                return outbox.retry_later(db, row, result.reason, pause, max_attempts)
            case Disposition.OPERATOR:
                log.error("Cloud API refused our credentials or account (%s); replies are kept queued",
                          result.reason)
                outbox.pause_number(db, row["phone_number_id"], OPERATOR_PAUSE_SECONDS, result.reason)
                return outbox.retry_later(db, row, result.reason, OPERATOR_PAUSE_SECONDS, max_attempts,
                                          count_attempt=False)
            case _:
                return outbox.retry_later(db, row, result.reason, result.retry_after, max_attempts)
