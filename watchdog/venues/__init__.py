"""Venue adapters: what the watchdog and the trader need from an exchange.

``watchdog.venues`` never imports ``watchdog.daemon``: the trader imports it for order entry.
"""

from watchdog.venues.base import (
    AccountView,
    CountdownAck,
    KeyAdmin,
    OpenOrder,
    OrderAck,
    OrderType,
    Position,
    RateState,
    Side,
    TimeInForce,
    Venue,
)
from watchdog.venues.binance_futures import BinanceFutures, VenueEndpoint, open_session
from watchdog.venues.credentials import Credentials, load_api_key_id, load_credentials
from watchdog.venues.errors import (
    Banned,
    CredentialsError,
    InvalidSignature,
    KeyRefused,
    RateLimited,
    TimestampOutOfWindow,
    UnknownOrder,
    VenueAnswerError,
    VenueError,
    VenueProtocolError,
    VenueRejected,
    VenueTimeout,
    VenueUnavailable,
    is_retryable,
    retry_delay,
)

__all__ = [
    "AccountView",
    "Banned",
    "BinanceFutures",
    "CountdownAck",
    "Credentials",
    "CredentialsError",
    "InvalidSignature",
    "KeyAdmin",
    "KeyRefused",
    "OpenOrder",
    "OrderAck",
    "OrderType",
    "Position",
    "RateLimited",
    "RateState",
    "Side",
    "TimeInForce",
    "TimestampOutOfWindow",
    "UnknownOrder",
    "Venue",
    "VenueAnswerError",
    "VenueEndpoint",
    "VenueError",
    "VenueProtocolError",
    "VenueRejected",
    "VenueTimeout",
    "VenueUnavailable",
    "is_retryable",
    "load_api_key_id",
    "load_credentials",
    "open_session",
    "retry_delay",
]
