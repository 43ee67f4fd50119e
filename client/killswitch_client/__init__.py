"""killswitch-client: what a trading bot embeds to be supervised by its kill-switch watchdog.

Standard library only (orjson is used when present). `Client` for synchronous and threaded
bots, `AsyncClient` for asyncio ones. The contract (what to report, when, what each state
allows) is docs/client.md.
"""

from killswitch_client._core import ClientCounters, Clock, StateCallback
from killswitch_client.aio import AsyncClient
from killswitch_client.config import DEFAULT_SOCKET_PATH, ClientConfig, parse_address
from killswitch_client.errors import (
    ClientError,
    ConfigError,
    ProtocolError,
    ReportError,
    TradingHalted,
)
from killswitch_client.keyfile import load_key
from killswitch_client.protocol import VERSION as PROTOCOL_VERSION
from killswitch_client.states import OrderEventKind, Side, TradingState
from killswitch_client.sync import Client

__all__ = [
    "DEFAULT_SOCKET_PATH",
    "PROTOCOL_VERSION",
    "AsyncClient",
    "Client",
    "ClientConfig",
    "ClientCounters",
    "ClientError",
    "Clock",
    "ConfigError",
    "OrderEventKind",
    "ProtocolError",
    "ReportError",
    "Side",
    "StateCallback",
    "TradingHalted",
    "TradingState",
    "load_key",
    "parse_address",
]
