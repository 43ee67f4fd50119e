"""Venue errors: one root, and subclasses a retry policy can tell apart.

The kill path must decide, from the type alone, whether to retry now (``VenueUnavailable``),
retry after a pause the venue asked for (``RateLimited``), resync the clock first
(``TimestampOutOfWindow``), or stop because the request itself is wrong (``VenueRejected``).
A response the adapter cannot read is ``VenueProtocolError``: it is never taken as success.
"""

from __future__ import annotations

from watchdog.errors import ConfigError, WatchdogError

# Binance error codes the adapter gives their own type (documented in the venue's error list).
CODE_TOO_MANY_REQUESTS = -1003
CODE_TIMESTAMP_OUTSIDE_WINDOW = -1021
CODE_INVALID_SIGNATURE = -1022
CODE_UNKNOWN_ORDER_CANCEL = -2011
CODE_NO_SUCH_ORDER = -2013
CODE_BAD_API_KEY_FORMAT = -2014
CODE_API_KEY_REFUSED = -2015


class VenueError(WatchdogError):
    """Root of every error raised by ``watchdog.venues``."""


class CredentialsError(VenueError, ConfigError):
    """A credentials file is missing, unreadable, too open, or malformed."""


class VenueProtocolError(VenueError, ValueError):
    """The venue answered something the adapter cannot read: treated as a failure, never as OK."""


class VenueAnswerError(VenueError):
    """The venue answered with an error (HTTP status and, usually, a ``{"code", "msg"}`` body)."""

    def __init__(self, code: int | None, msg: str, *, http_status: int, endpoint: str) -> None:
        self.code = code
        self.msg = msg
        self.http_status = http_status
        self.endpoint = endpoint
        super().__init__(f"{endpoint}: venue answered HTTP {http_status}, code {code}: {msg}")


class VenueRejected(VenueAnswerError):
    """The venue refused the request itself: retrying it unchanged will not help."""


class KeyRefused(VenueRejected):
    """The API key is unknown, deleted, or lacks the permission (-2015, -2014)."""


class InvalidSignature(VenueRejected):
    """The signature did not match (-1022): the key itself was accepted."""


class UnknownOrder(VenueRejected):
    """The order does not exist or is no longer open (-2011, -2013)."""


class TimestampOutOfWindow(VenueAnswerError):
    """The request's timestamp fell outside recvWindow (-1021): resync the clock, then retry."""


class RateLimited(VenueAnswerError):
    """HTTP 429 or -1003: back off for ``retry_after`` seconds (None when the venue gave none)."""

    def __init__(
        self,
        code: int | None,
        msg: str,
        *,
        http_status: int,
        endpoint: str,
        retry_after: float | None,
    ) -> None:
        super().__init__(code, msg, http_status=http_status, endpoint=endpoint)
        self.retry_after = retry_after


class Banned(RateLimited):
    """HTTP 418: the IP is banned for ``retry_after`` seconds after ignoring 429s."""


class VenueUnavailable(VenueError, ConnectionError):
    """5xx, connection failure: the outcome is UNKNOWN (it may have been executed); retry."""

    def __init__(self, msg: str, *, endpoint: str, http_status: int | None = None) -> None:
        self.endpoint = endpoint
        self.http_status = http_status
        super().__init__(f"{endpoint}: {msg}")


class VenueTimeout(VenueUnavailable, TimeoutError):
    """No answer within the request's timeout: the outcome is UNKNOWN; retry."""


class OrdersRemain(VenueError):
    """Cancel-all answered, yet the venue still lists open orders after every round: not done."""

    def __init__(self, msg: str, *, remaining: int) -> None:
        self.remaining = remaining
        super().__init__(msg)


class DmsNotConfirmed(VenueError):
    """The venue did not confirm the dead man's switch as asked (per symbol, in the message)."""


class DcpUnsupported(VenueError):
    """The account has no disconnection protection configured: the venue cannot cancel for us
    if the watchdog dies. Unsupported here, never assumed armed."""


def is_retryable(exc: BaseException) -> bool:
    """True when the same request may succeed later without any change to it."""
    return isinstance(exc, VenueUnavailable | RateLimited | TimestampOutOfWindow)


def retry_delay(exc: BaseException, fallback: float) -> float:
    """How long to wait before the next try: the venue's Retry-After when it sent one."""
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        return max(exc.retry_after, fallback)
    return fallback
