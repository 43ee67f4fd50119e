"""OKX v5's error codes for the subset simulated, written from OKX's public error-code pages
(docs-v5, "Error Code": REST API Public, Trade, Sub-account). ``VenueError.status`` is the HTTP
status OKX documents for the code; OKX sends codes as strings, the front renders them so."""

from __future__ import annotations

from exchange_sim.core.faults import FailNext
from exchange_sim.errors import VenueError

OPERATION_FAILED = 1  # every item of a (batch) operation failed: details per item
PARTIAL = 2  # a batch operation partially succeeded
UNDOCUMENTED = 99999  # the admin's unknown_code fault: in no catalogue a client knows


def failed(code: int, msg: str, status: int = 200) -> VenueError:
    return VenueError(code, msg, status)


def service_unavailable() -> VenueError:
    return VenueError(50001, "Service temporarily unavailable. Please try again later.", 503)


def route() -> VenueError:
    return VenueError(50005, "API endpoint is inactive or unavailable.", 404)


def method() -> VenueError:
    return VenueError(50115, "Invalid request method.", 405)


def rate_limit() -> VenueError:
    return VenueError(50011, "Too Many Requests", 429)


def empty(param: str) -> VenueError:
    return VenueError(50014, f"Parameter {param} can not be empty.", 400)


def param(name: str) -> VenueError:
    return VenueError(51000, f"Parameter {name} error", 400)


def body_not_json() -> VenueError:
    return VenueError(50002, "JSON syntax error", 400)


def ip_binding_required() -> VenueError:
    return VenueError(50035, "This endpoint requires that APIKey must be bound to IP", 403)


def timestamp_expired() -> VenueError:
    return VenueError(50102, "Timestamp request expired.", 401)


def missing_header(header: str) -> VenueError:
    code = {
        "OK-ACCESS-KEY": 50103,
        "OK-ACCESS-PASSPHRASE": 50104,
        "OK-ACCESS-SIGN": 50106,
        "OK-ACCESS-TIMESTAMP": 50107,
    }[header]
    return VenueError(code, f'Request header "{header}" cannot be empty.', 401)


def passphrase() -> VenueError:
    return VenueError(50105, 'Request header "OK-ACCESS-PASSPHRASE" incorrect.', 401)


def ip_not_allowed(ip: str) -> VenueError:
    return VenueError(50110, f"Your IP {ip} is not included in your API key's IP whitelist.", 401)


def key_invalid() -> VenueError:
    return VenueError(50111, "Invalid OK-ACCESS-KEY.", 401)


def timestamp_invalid() -> VenueError:
    return VenueError(50112, "Invalid OK-ACCESS-TIMESTAMP.", 401)


def sign() -> VenueError:
    return VenueError(50113, "Invalid signature.", 401)


def permission() -> VenueError:
    return VenueError(50120, "This API key doesn't have permission to use this function", 200)


def instrument() -> VenueError:
    return VenueError(51001, "Instrument ID, Instrument ID code or Spread ID doesn't exist.", 200)


def order_ref_required() -> VenueError:
    return VenueError(51003, "Either client order ID or order ID is required.", 200)


def order_not_found() -> VenueError:
    return VenueError(51603, "Order does not exist", 200)


def too_many_orders(limit: int) -> VenueError:
    return VenueError(51111, f"Maximum {limit} orders can be placed in bulk.", 200)


def too_many_cancels(limit: int) -> VenueError:
    return VenueError(51406, f"Canceled - order count exceeds the limit {limit}", 200)


def too_many_amends(limit: int) -> VenueError:
    return VenueError(51501, f"Maximum {limit} orders can be modified", 200)


def master_only() -> VenueError:
    return VenueError(59500, "Only the APIKey of the main account has permission", 200)


def sub_key_missing() -> VenueError:
    return VenueError(59506, "APIKey does not exist", 200)


def overloaded() -> VenueError:
    """The order's outcome is unknown: the venue says so in this code's own words."""
    return VenueError(
        51149,
        "Order timed out. Please try again. (does not mean that the request was successful "
        "or failed, please check the request result)",
        500,
    )


def injected_failure(fail: FailNext) -> VenueError:
    """An admin ``fail_next`` fault in OKX's words: 5xx keeps its HTTP status."""
    if fail.kind == "429":
        return rate_limit()
    if fail.kind == "-1021":
        return timestamp_expired()
    if fail.kind == "unknown_code":
        return VenueError(UNDOCUMENTED, "An error the venue never documented.", 200)
    err = service_unavailable()
    err.status = fail.status
    return err


ITEM_FAILURES: dict[str, tuple[int, str]] = {
    # (operation, core refusal) -> OKX's per-item sCode and sMsg
    "place CLIENT_ID_DUPLICATED": (51016, "Duplicated clOrdId"),
    "place MIN_NOTIONAL": (51020, "Order amount should be greater than the min available amount."),
    "place REDUCE_ONLY": (
        51169,
        "Order failed because you don't have any positions in this direction for this "
        "contract to reduce or close.",
    ),
    "place MARGIN": (51008, "Order failed. Insufficient USDT margin in account"),
    "place MAX_OPEN_ORDERS": (
        51102,
        "Order failed, the number of pending orders for this instId can't be more than the limit",
    ),
    "place POST_ONLY": (51000, "Parameter ordType error: post_only order would take liquidity"),
    "place FOK": (51000, "Parameter ordType error: fok order cannot be filled at once"),
    "cancel NOT_OPEN": (51400, "Cancellation failed as the order does not exist."),
    "cancel CANCELED": (51401, "Cancellation failed as the order is already canceled."),
    "cancel FILLED": (51402, "Cancellation failed as the order is already completed."),
    "amend NOT_OPEN": (51503, "Order modification failed as the order does not exist."),
    "amend CANCELED": (51509, "Modification failed as the order has been canceled."),
    "amend FILLED": (51510, "Modification failed as the order has been completed."),
    "amend MARGIN": (51502, "Order modification failed for insufficient margin or balance."),
    "amend AMEND_INVALID": (51000, "Parameter newSz error"),
    "amend POST_ONLY": (
        51511,
        "Modification failed as the order price did not meet the requirement for Post Only.",
    ),
}
