"""The service's log lines, `<time> <level> <logger> <message>`, and a short way to write
the one line per delivery.

`LineFormatter` is the format of every line the service writes (app.py installs it on
the `optout` logger's one stream handler). `write_info(logger, text)` is
`logger.info(text)` for the webhook's line per delivery: when logging is set up as
the service sets it up (that one handler, nothing else on the way, INFO enabled), it
writes the same line straight to that handler's stream, under the handler's lock,
without a LogRecord, the handler chain or %-formatting, which cost a third of an inert
status's handling. Any other set-up (a handler added, a filter, a level raised, pytest's
log capture) goes through `logger.info` as before, so what it sees does not change.
"""
from __future__ import annotations

import contextlib
import logging
import time
from typing import cast

LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class LineFormatter(logging.Formatter):
    """`<time> <level> <logger> <message>`, with the time text made once a second:
    a line is written for every delivery, and strftime was a fifth of its cost."""

    def __init__(self):
        super().__init__(LINE_FORMAT)
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return self.stamp(record.created)

    def stamp(self, created: float) -> str:
        """The time of a line made at `created` (time.time()), as `asctime` shows it:
        local time to the second, a comma, the milliseconds (as LogRecord counts them)."""
        second = int(created)
        cached = self._second
        if cached[0] != second:
            cached = self._second = (second, time.strftime("%Y-%m-%d %H:%M:%S", self.converter(second)))
        return f"{cached[1]},{int((created - second) * 1000):03d}"


def install(name: str = "optout") -> logging.Logger:
    """The service's logging, as every process of it sets it up (the app's workers, the
    outbox sender): one stream handler with LineFormatter on the `name` logger, INFO,
    unless it has a handler already (tests, a host application's own set-up)."""
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(LineFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        # The file and line of each call are not in our lines; finding them walks the
        # stack on every call (the logging HOWTO's "Optimization" section).
        logging._srcfile = None
    return logger


def write_info(logger: logging.Logger, text: str) -> None:
    """`logger.info(text)`, the same line written directly when that is all logging would do."""
    handler = _only_handler(logger)
    if handler is None:
        logger.info(text)
        return
    formatter = handler.formatter
    assert isinstance(formatter, LineFormatter)  # checked by _only_handler
    line = f"{formatter.stamp(time.time())} INFO {logger.name} {text}{handler.terminator}"
    with handler.lock or contextlib.nullcontext():
        try:
            handler.stream.write(line)
            handler.flush()
        except RecursionError:
            raise
        except Exception:
            handler.handleError(logger.makeRecord(logger.name, logging.INFO, "", 0, text, (), None))


def _only_handler(logger: logging.Logger) -> logging.StreamHandler | None:
    """The one handler an INFO record of `logger` would reach, when it is a plain stream
    handler with our LineFormatter and no filter decides anything; else None."""
    if logger.disabled or logger.filters or not logger.isEnabledFor(logging.INFO):
        return None
    found: logging.StreamHandler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if (found is not None or type(handler) is not logging.StreamHandler or handler.filters
                    or handler.level > logging.INFO or not isinstance(handler.formatter, LineFormatter)):
                return None
            found = cast(logging.StreamHandler, handler)
        if not current.propagate:
            break
        current = current.parent
    return found
