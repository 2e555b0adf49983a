"""The Cloud API's answer as the sender's client reads it: http.client's response, with
a plain reader of its header lines.

http.client hands the header block to the email package's parser (MIME machinery: some
60 µs for a handful of headers, once per send); the client only looks at Content-Length,
Transfer-Encoding, Connection and Retry-After. The header lines are read as http.client
reads them (its limits on line length and number); each `Name: value` line is stored in
the same HTTPMessage (a folded line continues the value before it; a line without a
colon is left out), so `getheader`, `will_close` and the body's length work as before.
"""
from __future__ import annotations

import http.client

MAX_HEADER_LINE = 65536   # http.client's limits
MAX_HEADERS = 100


class Answer(http.client.HTTPResponse):
    """A response that tells whether its status line came (see cloud_api._Tracked)."""

    began = False
    accepted = False     # its (last) status line said 2xx

    def _read_status(self):
        version, status, reason = super()._read_status()
        self.began = True
        self.accepted = 200 <= status < 300
        return version, status, reason

    def begin(self) -> None:
        """http.client's HTTPResponse.begin, with read_headers for its parse_headers."""
        if self.headers is not None:
            return
        while True:
            version, status, reason = self._read_status()
            if status != http.client.CONTINUE:
                break
            read_headers(self.fp)   # a 100 Continue's headers: skipped
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.headers = self.msg = read_headers(self.fp)
        encoding = self.headers.get("transfer-encoding")
        self.chunked = bool(encoding and encoding.lower() == "chunked")
        if self.chunked:
            self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None
        length = self.headers.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            else:
                if self.length < 0:
                    self.length = None
        if status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED) or 100 <= status < 200 \
                or self._method == "HEAD":
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True


def read_headers(fp) -> http.client.HTTPMessage:
    """The header lines up to the blank line, into an HTTPMessage (see the module doc)."""
    message = http.client.HTTPMessage()
    name: str | None = None
    value = ""
    for _ in range(MAX_HEADERS + 1):
        line = fp.readline(MAX_HEADER_LINE + 1)
        if len(line) > MAX_HEADER_LINE:
            raise http.client.LineTooLong("header line")
        if line in (b"\r\n", b"\n", b""):
            break
        text = line.decode("iso-8859-1")
        if text[0] in " \t" and name is not None:
            value = f"{value} {text.strip()}"
            continue
        if name is not None:
            message[name] = value
        head, colon, tail = text.partition(":")
        name, value = (head.strip(), tail.strip()) if colon else (None, "")
    else:
        raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
    if name is not None:
        message[name] = value
    return message
