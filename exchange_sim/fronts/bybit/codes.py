"""Bybit v5's retCode catalogue for the subset simulated, written from Bybit's public error-code
page (docs/v5/error). ``VenueError.status`` is the HTTP status: Bybit answers most refusals with
HTTP 200 and a non-zero ``retCode``."""

from __future__ import annotations

from collections.abc import Callable

from exchange_sim.core.faults import FailNext
from exchange_sim.core.refusals import Reason, Refused
from exchange_sim.errors import VenueError

PARAMS = 10001
TIMESTAMP = 10002
KEY_INVALID = 10003
SIGN = 10004
PERMISSION = 10005
RATE_LIMIT = 10006
SYSTEM = 10016
ROUTE = 10017
IP_RATE_LIMIT = 10018
ORDER_NOT_FOUND = 110001
INSUFFICIENT_AVAILABLE = 110007
REDUCE_ONLY = 110017
TOO_MANY_ORDERS = 110020
AMEND_QTY = 110063
UNDOCUMENTED = 99999  # the admin's unknown_code fault: in no catalogue a client knows


def params(what: str) -> VenueError:
    return VenueError(PARAMS, f"params error: {what}", 200)


def timestamp(now_ms: int, sent: int, window: int) -> VenueError:
    return VenueError(
        TIMESTAMP,
        "invalid request, please check your server timestamp or recv_window param. "
        f"req_timestamp[{sent}],server_timestamp[{now_ms}],recv_window[{window}]",
        200,
    )


def key_invalid() -> VenueError:
    return VenueError(KEY_INVALID, "API key is invalid.", 200)


def missing_auth() -> VenueError:
    """No API key or signature header at all: the venue's HTTP 401."""
    return VenueError(KEY_INVALID, "API key is invalid.", 401)


def sign() -> VenueError:
    return VenueError(SIGN, "error sign! please check your signature generation algorithm.", 200)


def permission() -> VenueError:
    return VenueError(PERMISSION, "Permission denied, please check your API key permissions.", 200)


def rate_limit() -> VenueError:
    return VenueError(RATE_LIMIT, "Too many visits. Exceeded the API Rate Limit.", 200)


def ip_rate_limit() -> VenueError:
    """Too many requests from one address: the venue's HTTP 403."""
    return VenueError(IP_RATE_LIMIT, "Exceeded the IP Rate Limit.", 403)


def system() -> VenueError:
    return VenueError(SYSTEM, "Internal System Error.", 200)


def route() -> VenueError:
    return VenueError(ROUTE, "Route not found.", 404)


def order_not_found() -> VenueError:
    return VenueError(ORDER_NOT_FOUND, "Order does not exist.", 200)


def insufficient_available() -> VenueError:
    return VenueError(INSUFFICIENT_AVAILABLE, "Insufficient available balance.", 200)


def reduce_only() -> VenueError:
    return VenueError(REDUCE_ONLY, "ReduceOnly rule not satisfied.", 200)


def too_many_orders() -> VenueError:
    return VenueError(TOO_MANY_ORDERS, "Too many active orders on the symbol.", 200)


def amend_qty() -> VenueError:
    return VenueError(
        AMEND_QTY,
        "The number of contracts modified cannot be less than or equal to the filled quantity.",
        200,
    )


_REFUSALS: dict[Reason, Callable[[Refused], VenueError]] = {
    Reason.NO_QUOTE: lambda _: system(),
    Reason.OVERLOADED: lambda _: system(),
    Reason.CLIENT_ID_DUPLICATED: lambda _: params("orderLinkId is duplicated"),
    Reason.MIN_NOTIONAL: lambda r: params(f"order value below the minimum of {r.detail} USDT"),
    Reason.REDUCE_ONLY: lambda _: reduce_only(),
    Reason.MARGIN: lambda _: insufficient_available(),
    Reason.MAX_OPEN_ORDERS: lambda _: too_many_orders(),
    Reason.POST_ONLY: lambda _: params("PostOnly order would take liquidity"),
    Reason.FOK: lambda _: params("FOK order cannot be filled at once"),
    Reason.NOT_OPEN: lambda _: order_not_found(),
    Reason.NOT_FOUND: lambda _: order_not_found(),
    Reason.AMEND_INVALID: lambda _: amend_qty(),
    Reason.SUB_ACCOUNT_MISSING: lambda _: params("sub-account not found"),
    Reason.SUB_KEY_MISSING: lambda _: params("apikey not found on a sub-account"),
}


def refusal(err: Refused) -> VenueError:
    """The core's refusal in Bybit's words."""
    return _REFUSALS[err.reason](err)


def injected_failure(fail: FailNext) -> VenueError:
    """An admin ``fail_next`` fault in Bybit's words: 5xx keeps its HTTP status."""
    if fail.kind == "429":
        return rate_limit()
    if fail.kind == "-1021":
        return VenueError(TIMESTAMP, "The request time exceeds the time window range.", 200)
    if fail.kind == "unknown_code":
        return VenueError(UNDOCUMENTED, "An error the venue never documented.", 200)
    err = system()
    err.status = fail.status
    return err
