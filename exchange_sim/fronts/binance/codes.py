"""The venue's error catalogue, written from Binance USD-M futures' public error-code list.

Each helper returns a ``VenueError`` with the code, message and HTTP status the venue uses, so
handlers raise ``codes.unknown_order()`` rather than repeating literals.
"""

from __future__ import annotations

from collections.abc import Callable

from exchange_sim.core.faults import FailNext
from exchange_sim.core.refusals import Reason, Refused
from exchange_sim.errors import VenueError


def internal_error() -> VenueError:
    return VenueError(
        -1001, "Internal error; unable to process your request. Please try again.", 503
    )


def service_unavailable() -> VenueError:
    return VenueError(-1001, "Service Unavailable.", 503)


def too_many_requests(limit: int) -> VenueError:
    return VenueError(
        -1003,
        f"Too many requests; current limit is {limit} requests per minute. Please use the "
        "websocket for live updates to avoid polling the API.",
        429,
    )


def banned(until_ms: int) -> VenueError:
    return VenueError(-1003, f"Way too many requests; IP banned until {until_ms}.", 418)


def too_many_orders(limit: int, interval: str) -> VenueError:
    return VenueError(
        -1015, f"Too many new orders; current limit is {limit} orders per {interval}.", 429
    )


def unknown_endpoint() -> VenueError:
    return VenueError(-1000, "An unknown error occured while processing the request.", 404)


def timestamp_outside() -> VenueError:
    return VenueError(-1021, "Timestamp for this request is outside of the recvWindow.", 400)


def timestamp_ahead() -> VenueError:
    return VenueError(
        -1021, "Timestamp for this request was 1000ms ahead of the server's time.", 400
    )


def bad_signature() -> VenueError:
    return VenueError(-1022, "Signature for this request is not valid.", 400)


def illegal_chars(name: str) -> VenueError:
    return VenueError(-1100, f"Illegal characters found in parameter '{name}'.", 400)


def duplicate_param(name: str) -> VenueError:
    return VenueError(-1101, f"Duplicate values for parameter '{name}'.", 400)


def too_many_params() -> VenueError:
    return VenueError(-1101, "Too many parameters sent for this endpoint.", 400)


def mandatory(name: str) -> VenueError:
    return VenueError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.", 400
    )


def not_required(name: str) -> VenueError:
    return VenueError(-1106, f"Parameter '{name}' sent when not required.", 400)


def bad_recv_window() -> VenueError:
    return VenueError(-1131, "recvWindow must be less than 60000", 400)


def invalid_tif() -> VenueError:
    return VenueError(-1115, "Invalid timeInForce.", 400)


def invalid_order_type() -> VenueError:
    return VenueError(-1116, "Invalid orderType.", 400)


def invalid_side() -> VenueError:
    return VenueError(-1117, "Invalid side.", 400)


def bad_param(name: str) -> VenueError:
    return VenueError(-1130, f"Data sent for parameter '{name}' is not valid.", 400)


def invalid_symbol() -> VenueError:
    return VenueError(-1121, "Invalid symbol.", 400)


def precision() -> VenueError:
    return VenueError(-1111, "Precision is over the maximum defined for this asset.", 400)


def listen_key_missing() -> VenueError:
    return VenueError(-1125, "This listenKey does not exist.", 400)


def unknown_order() -> VenueError:
    return VenueError(-2011, "Unknown order sent.", 400)


def no_such_order() -> VenueError:
    return VenueError(-2013, "Order does not exist.", 400)


def key_format() -> VenueError:
    return VenueError(-2014, "API-key format invalid.", 401)


def rejected_key() -> VenueError:
    return VenueError(-2015, "Invalid API-key, IP, or permissions for action.", 401)


def margin_insufficient() -> VenueError:
    return VenueError(-2019, "Margin is insufficient.", 400)


def reduce_only_rejected() -> VenueError:
    return VenueError(-2022, "ReduceOnly Order is rejected.", 400)


def quantity_invalid() -> VenueError:
    return VenueError(-4003, "Quantity less than or equal to zero.", 400)


def quantity_below_min() -> VenueError:
    return VenueError(-4004, "Quantity less than min quantity.", 400)


def quantity_above_max() -> VenueError:
    return VenueError(-4005, "Quantity greater than max quantity.", 400)


def price_invalid() -> VenueError:
    return VenueError(-4001, "Price less than 0.", 400)


def client_order_id_invalid() -> VenueError:
    return VenueError(-4015, "Client order id is not valid.", 400)


def client_order_id_duplicated() -> VenueError:
    return VenueError(-4116, "ClientOrderId is duplicated.", 400)


def max_open_orders() -> VenueError:
    return VenueError(-2025, "Reach max open order limit.", 400)


def min_notional(notional: str) -> VenueError:
    return VenueError(
        -4164,
        f"Order's notional must be no smaller than {notional} (unless you choose reduce only).",
        400,
    )


def fok_rejected() -> VenueError:
    return VenueError(
        -5021,
        "Due to the order could not be filled immediately, the FOK order has been rejected.",
        400,
    )


def gtx_rejected() -> VenueError:
    return VenueError(
        -5022,
        "Due to the order could not be executed as maker, the Post Only order will be rejected.",
        400,
    )


OVERLOADED = -1008
UNDOCUMENTED = -9999  # the admin's unknown_code fault: in no catalogue a client knows


def trading_disabled() -> VenueError:
    """What the admin's "reject every new order" fault answers by default: the venue's
    system-busy code, whose outcome a client cannot know (the order may exist)."""
    return VenueError(
        OVERLOADED,
        "Server is currently overloaded with other requests. Please try again in a few minutes.",
        503,
    )


def sub_account_missing() -> VenueError:
    return VenueError(-12022, "Sub-account not found.", 400)


def sub_account_key_missing() -> VenueError:
    return VenueError(-12023, "API key not found for this sub-account.", 400)


def refusal(err: Refused) -> VenueError:
    """The core's refusal in this venue's words."""
    if err.reason is Reason.MIN_NOTIONAL:
        return min_notional(err.detail)
    return _REFUSALS[err.reason]()


_REFUSALS: dict[Reason, Callable[[], VenueError]] = {
    Reason.NO_QUOTE: service_unavailable,
    Reason.OVERLOADED: trading_disabled,
    Reason.CLIENT_ID_DUPLICATED: client_order_id_duplicated,
    Reason.REDUCE_ONLY: reduce_only_rejected,
    Reason.MARGIN: margin_insufficient,
    Reason.MAX_OPEN_ORDERS: max_open_orders,
    Reason.POST_ONLY: gtx_rejected,
    Reason.FOK: fok_rejected,
    Reason.NOT_OPEN: unknown_order,
    Reason.NOT_FOUND: no_such_order,
    Reason.AMEND_INVALID: lambda: bad_param("quantity"),
    Reason.SUB_ACCOUNT_MISSING: sub_account_missing,
    Reason.SUB_KEY_MISSING: sub_account_key_missing,
}


def injected_failure(fail: FailNext, weight_limit: int) -> VenueError:
    """An admin ``fail_next`` fault in this venue's words."""
    if fail.kind == "429":
        return too_many_requests(weight_limit)
    if fail.kind == "-1021":
        return timestamp_outside()
    if fail.kind == "unknown_code":
        return VenueError(UNDOCUMENTED, "An error the venue never documented.", 400)
    err = internal_error()
    err.status = fail.status
    return err
