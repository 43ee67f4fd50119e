"""A small, strict HTTP/1.1 response parser for order entry: bytes in, responses out.

Pure (no socket, no clock), in the manner of h11: ``feed(data)`` returns the responses completed
by those bytes, ``feed_eof()`` ends a body delimited by the connection's close. It understands
exactly what a REST venue sends: a status line, headers, and a body framed by Content-Length,
by chunked transfer coding, or by the close. Everything else (a malformed line, conflicting or
invalid framing, an oversized head or body, bytes after a ``Connection: close`` answer) raises
``HttpParseError`` and the connection must be dropped: an answer we cannot read with certainty
is treated as no answer at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, auto

from multidict import CIMultiDict

from trader.errors import TraderError

MAX_HEAD = 64 * 1024
MAX_BODY = 4 * 1024 * 1024

_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([1-9][0-9]{2})(?: ([\t\x20-\x7e\x80-\xff]*))?")
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,15})(?:[ \t]*;[\t\x20-\x7e\x80-\xff]*)?")
_DIGITS = re.compile(rb"[0-9]{1,15}")


class HttpParseError(TraderError, ValueError):
    """The peer sent bytes that are not a well-formed HTTP/1.1 response: drop the connection."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]  # names lower-cased, in the order received
    body: bytes
    keep_alive: bool  # False: the server closes after this answer

    def header(self, name: str) -> str | None:
        """The last value of header ``name`` (lower-case), or None."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = value
        return found

    def header_map(self) -> Mapping[str, str]:
        """Case-insensitive headers, for ``watchdog.venues.binance_wire`` (Retry-After, weights)."""
        return CIMultiDict(self.headers)


class _Phase(Enum):
    HEAD = auto()
    LENGTH = auto()
    CHUNK_SIZE = auto()
    CHUNK_DATA = auto()
    CHUNK_CRLF = auto()
    TRAILERS = auto()
    UNTIL_CLOSE = auto()
    DONE = auto()  # after a close-delimited or ``Connection: close`` answer: nothing may follow


@dataclass(frozen=True, slots=True)
class _Head:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    keep_alive: bool


class ResponseParser:
    """Parses a stream of responses on one connection, in order, split at any byte boundary."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._phase = _Phase.HEAD
        self._head: _Head | None = None
        self._body = bytearray()
        self._remaining = 0
        self._error: HttpParseError | None = None  # raised on the next call: see feed()

    @property
    def idle(self) -> bool:
        """No partial response is buffered (a response boundary)."""
        return self._phase is _Phase.HEAD and not self._buf

    def feed(self, data: bytes) -> list[HttpResponse]:
        """The responses `data` completes. Responses completed before a parse error in the same
        bytes are returned, and the error is raised on the next call: how the bytes were split
        into reads must never decide whether a complete answer is seen."""
        self._raise_pending()
        if self._phase is _Phase.DONE:
            if data:
                raise HttpParseError("bytes after the last response of the connection")
            return []
        self._buf += data
        out: list[HttpResponse] = []
        while True:
            try:
                response = self._step()
            except HttpParseError as exc:
                if not out:
                    raise
                self._error = exc
                return out
            if response is None:
                return out
            out.append(response)

    @property
    def pending_error(self) -> HttpParseError | None:
        """A parse error found after the responses the last call returned."""
        return self._error

    def _raise_pending(self) -> None:
        if self._error is not None:
            raise self._error

    def feed_eof(self) -> list[HttpResponse]:
        """The peer closed: completes a close-delimited body; a partial response is an error."""
        self._raise_pending()
        if self._phase is _Phase.UNTIL_CLOSE:
            self._body += self._buf
            self._buf.clear()
            self._check_body_size()
            return [self._finish(keep_alive=False)]
        if self._phase is _Phase.DONE or self.idle:
            return []
        raise HttpParseError("connection closed in the middle of a response")

    # -- the state machine -----------------------------------------------------------------

    def _step(self) -> HttpResponse | None:
        """Advance as far as the buffer allows; a response when one completes."""
        while True:
            phase = self._phase
            if phase is _Phase.HEAD:
                if not self._read_head():
                    return None
            elif phase is _Phase.LENGTH:
                return self._read_length()
            elif phase is _Phase.CHUNK_SIZE:
                if not self._read_chunk_size():
                    return None
            elif phase is _Phase.CHUNK_DATA:
                if not self._read_chunk_data():
                    return None
            elif phase is _Phase.CHUNK_CRLF:
                if not self._read_chunk_crlf():
                    return None
            elif phase is _Phase.TRAILERS:
                return self._read_trailers()
            elif phase is _Phase.UNTIL_CLOSE:
                self._body += self._buf
                self._buf.clear()
                self._check_body_size()
                return None
            else:  # DONE
                if self._buf:
                    raise HttpParseError("bytes after the last response of the connection")
                return None

    def _read_head(self) -> bool:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > MAX_HEAD:
                raise HttpParseError(f"response head larger than {MAX_HEAD} bytes")
            return False
        if end > MAX_HEAD:
            raise HttpParseError(f"response head larger than {MAX_HEAD} bytes")
        raw = bytes(self._buf[:end])
        del self._buf[: end + 4]
        head = _parse_head(raw)
        if 100 <= head.status < 200:
            if head.status == 101:
                raise HttpParseError("unexpected 101 Switching Protocols")
            return True  # informational: the real answer follows
        self._head = head
        self._body.clear()
        self._phase, self._remaining = _framing(head)
        return True

    def _read_length(self) -> HttpResponse | None:
        take = min(self._remaining, len(self._buf))
        self._body += self._buf[:take]
        del self._buf[:take]
        self._remaining -= take
        if self._remaining:
            return None
        return self._finish()

    def _read_chunk_size(self) -> bool:
        end = self._buf.find(b"\r\n")
        if end < 0:
            if len(self._buf) > 1024:
                raise HttpParseError("chunk size line too long")
            return False
        line = bytes(self._buf[:end])
        del self._buf[: end + 2]
        match = _CHUNK_SIZE.fullmatch(line)
        if match is None:
            raise HttpParseError(f"bad chunk size line {line[:40]!r}")
        self._remaining = int(match.group(1), 16)
        if len(self._body) + self._remaining > MAX_BODY:
            raise HttpParseError(f"response body larger than {MAX_BODY} bytes")
        self._phase = _Phase.CHUNK_DATA if self._remaining else _Phase.TRAILERS
        return True

    def _read_chunk_data(self) -> bool:
        take = min(self._remaining, len(self._buf))
        self._body += self._buf[:take]
        del self._buf[:take]
        self._remaining -= take
        if self._remaining:
            return False
        self._phase = _Phase.CHUNK_CRLF
        return True

    def _read_chunk_crlf(self) -> bool:
        if len(self._buf) < 2:
            return False
        if self._buf[:2] != b"\r\n":
            raise HttpParseError("chunk data not followed by CRLF")
        del self._buf[:2]
        self._phase = _Phase.CHUNK_SIZE
        return True

    def _read_trailers(self) -> HttpResponse | None:
        if self._buf[:2] == b"\r\n":
            del self._buf[:2]
            return self._finish()
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > MAX_HEAD:
                raise HttpParseError(f"trailers larger than {MAX_HEAD} bytes")
            return None
        for line in bytes(self._buf[:end]).split(b"\r\n"):
            _parse_field(line)  # validated, then dropped: the venue's answer is in the body
        del self._buf[: end + 4]
        return self._finish()

    def _check_body_size(self) -> None:
        if len(self._body) > MAX_BODY:
            raise HttpParseError(f"response body larger than {MAX_BODY} bytes")

    def _finish(self, keep_alive: bool | None = None) -> HttpResponse:
        head = self._head
        assert head is not None  # a body phase is only entered after a head
        alive = head.keep_alive if keep_alive is None else keep_alive
        response = HttpResponse(head.status, head.reason, head.headers, bytes(self._body), alive)
        self._head = None
        self._body.clear()
        self._phase = _Phase.HEAD if alive else _Phase.DONE
        return response


def _parse_head(raw: bytes) -> _Head:
    lines = raw.split(b"\r\n")
    match = _STATUS_LINE.fullmatch(lines[0])
    if match is None:
        raise HttpParseError(f"bad status line {lines[0][:60]!r}")
    minor, status, reason = match.group(1), int(match.group(2)), match.group(3) or b""
    headers = tuple(_parse_field(line) for line in lines[1:])
    tokens = {t.strip().lower() for k, v in headers if k == "connection" for t in v.split(",")}
    keep_alive = "close" not in tokens and (minor == b"1" or "keep-alive" in tokens)
    return _Head(status, reason.decode("latin-1"), headers, keep_alive)


def _parse_field(line: bytes) -> tuple[str, str]:
    name, colon, value = line.partition(b":")
    if not colon or _TOKEN.fullmatch(name) is None:
        raise HttpParseError(f"bad header line {line[:60]!r}")
    value = value.strip(b" \t")
    if _FIELD_VALUE.fullmatch(value) is None:
        raise HttpParseError(f"bad header value for {name[:40]!r}")
    return name.decode("ascii").lower(), value.decode("latin-1")


def _framing(head: _Head) -> tuple[_Phase, int]:
    """How the body of ``head`` ends (RFC 9112 section 6.3, minus what a venue never sends)."""
    if head.status in (204, 304):
        return _Phase.LENGTH, 0
    encodings = [v for k, v in head.headers if k == "transfer-encoding"]
    lengths = [v for k, v in head.headers if k == "content-length"]
    if encodings:
        if lengths:
            raise HttpParseError("both Transfer-Encoding and Content-Length (request smuggling)")
        codings = [c.strip().lower() for v in encodings for c in v.split(",")]
        if codings != ["chunked"]:
            raise HttpParseError(f"unsupported transfer coding {', '.join(codings)!r}")
        return _Phase.CHUNK_SIZE, 0
    if lengths:
        values = {v.strip() for v in ",".join(lengths).split(",")}
        if len(values) != 1 or _DIGITS.fullmatch(next(iter(values)).encode()) is None:
            raise HttpParseError(f"bad Content-Length {', '.join(lengths)[:40]!r}")
        length = int(next(iter(values)))
        if length > MAX_BODY:
            raise HttpParseError(f"response body larger than {MAX_BODY} bytes")
        return _Phase.LENGTH, length
    return _Phase.UNTIL_CLOSE, 0
