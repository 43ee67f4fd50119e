"""What every venue adapter does the same way around one REST call.

The signing and the envelope are each venue's own (its wire module); sending the bytes with
bounded time, turning a transport failure into a typed error, reading a body that may be a
proxy's error page, and honouring the venue's rate-limit hold-off are not, so they live here once.
``Link.send`` is that whole path for a venue that takes JSON bodies (Bybit, OKX): the caller
brings the headers it signed and its envelope's reading of the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
import orjson
from yarl import URL

from watchdog.clock import Clock
from watchdog.venues.credentials import Credentials
from watchdog.venues.errors import (
    RateLimited,
    TimestampOutOfWindow,
    VenueError,
    VenueProtocolError,
    VenueTimeout,
    VenueUnavailable,
)

T = TypeVar("T")

log = logging.getLogger("watchdog.venues")

Answer = tuple[int, Mapping[str, str], object]  # HTTP status, headers, decoded JSON (or None)
# A venue's reading of an answer (status, decoded body, headers, endpoint): the error it
# means, or None for a success to be parsed. The wire modules' ``error_for``.
Judge = Callable[[int, object, Mapping[str, str], str], VenueError | None]


async def roundtrip(
    session: aiohttp.ClientSession,
    method: str,
    url: URL,
    *,
    headers: Mapping[str, str],
    body: bytes | None = None,
    request_timeout_s: float,
    connect_timeout_s: float,
    endpoint: str,
) -> Answer:
    """One request with bounded time; a transport failure is a typed, retryable error."""
    timeout = aiohttp.ClientTimeout(total=request_timeout_s, sock_connect=connect_timeout_s)
    try:
        async with session.request(
            method, url, headers=headers, data=body, timeout=timeout
        ) as answer:
            raw = await answer.read()
            return answer.status, answer.headers, decode(raw, answer.status, endpoint)
    except TimeoutError as exc:
        raise VenueTimeout(f"no answer within {request_timeout_s}s", endpoint=endpoint) from exc
    except aiohttp.ClientError as exc:
        raise VenueUnavailable(f"{type(exc).__name__}: {exc}", endpoint=endpoint) from exc


def decode(raw: bytes, status: int, endpoint: str) -> object:
    """The JSON body; None for an empty one or for an error page (the status alone decides)."""
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        if status >= 400:
            return None  # an error page (a proxy's HTML): the status alone decides
        raise VenueProtocolError(f"{endpoint}: answer is not JSON ({raw[:80]!r})") from None


async def resynced_once(
    call: Callable[[], Awaitable[T]], sync_time: Callable[[], Awaitable[object]]
) -> T:
    """``call``; when the venue says its timestamp is outside the window, learn the server's
    time again and make the call once more (``call`` must stamp itself anew each time)."""
    try:
        return await call()
    except TimestampOutOfWindow:
        await sync_time()
    return await call()


def require_credentials(credentials: Credentials | None, endpoint: str) -> Credentials:
    if credentials is None:
        raise VenueError(f"{endpoint}: this adapter was built without credentials")
    return credentials


class RateGate:
    """Holds calls back for as long as the venue last asked, so a ban is never extended."""

    def __init__(self, clock: Clock, why: str) -> None:
        self._clock = clock
        self._why = why  # what the refusal says while holding back
        self._blocked_until = 0.0

    def check(self, endpoint: str) -> None:
        remaining = self._blocked_until - self._clock.monotonic()
        if remaining > 0:
            raise RateLimited(
                None, self._why, http_status=429, endpoint=endpoint, retry_after=remaining
            )

    def note(self, error: VenueError) -> None:
        if isinstance(error, RateLimited) and error.retry_after:
            until = self._clock.monotonic() + error.retry_after
            self._blocked_until = max(self._blocked_until, until)
            log.warning(
                "venue_rate_limited",
                extra={"endpoint": error.endpoint, "retry_after_s": error.retry_after},
            )


@dataclass(frozen=True, slots=True)
class Link:
    """One adapter's way to its venue: the process's session, the venue's base URL, the
    bounds on each request's time, and the adapter's own rate gate."""

    session: aiohttp.ClientSession
    base_url: str
    request_timeout_s: float
    connect_timeout_s: float
    gate: RateGate

    async def send(
        self,
        method: str,
        path: str,
        query: str,
        body: str | None,
        headers: Mapping[str, str],
        judge: Judge,
    ) -> object:
        """One request: refused here while the venue's last rate limit lasts, a body sent as
        JSON, ``query`` (already percent-encoded, as signed) sent as it is. The answer is read
        by ``judge``; an error it names is noted by the gate, so a rate limit holds the next
        calls back, and raised. A success is the decoded body, for the wire module to parse."""
        endpoint = f"{method} {path}"
        self.gate.check(endpoint)
        if body is not None:
            headers = {**headers, "Content-Type": "application/json"}
        url = URL(f"{self.base_url}{path}" + (f"?{query}" if query else ""), encoded=True)
        status, answer_headers, answer = await roundtrip(
            self.session,
            method,
            url,
            headers=headers,
            body=None if body is None else body.encode(),
            request_timeout_s=self.request_timeout_s,
            connect_timeout_s=self.connect_timeout_s,
            endpoint=endpoint,
        )
        error = judge(status, answer, answer_headers, endpoint)
        if error is not None:
            self.gate.note(error)
            raise error
        return answer
