"""A live NautilusTrader node against exchange_sim: Nautilus's own Binance USDⓈ-M futures data
and execution clients, their base URLs pointed at the sim's Binance front, the strategy of
`harness.nautilus_world` and the adapter's actor (`killswitch_client.nautilus.WatchdogActor`).

Nothing here is a stand-in for the venue: the node loads BTCUSDT-PERP from the sim's exchange
info, follows its quotes on the market stream, places and cancels orders over signed REST and
hears their fate on the user-data stream. `harness.nautilus_bot --live` runs it under a real
watchdog. Nautilus types are untyped (`Any`): see `killswitch_client.nautilus`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from killswitch_client.nautilus import Reporter, WatchdogActor
from nautilus_trader.adapters.binance.common.enums import BinanceAccountType
from nautilus_trader.adapters.binance.config import (
    BinanceDataClientConfig,
    BinanceExecClientConfig,
)
from nautilus_trader.adapters.binance.factories import (
    BinanceLiveDataClientFactory,
    BinanceLiveExecClientFactory,
)
from nautilus_trader.config import InstrumentProviderConfig, LoggingConfig, TradingNodeConfig
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.identifiers import InstrumentId, TraderId

from harness.nautilus_world import Trading

BINANCE = "BINANCE"
INSTRUMENT = "BTCUSDT-PERP.BINANCE"  # how Nautilus names the venue's BTCUSDT perpetual
# 0.002 BTC at 90% of ~60,000: above the sim's 100 USDT minimum notional.
QTY = Decimal("0.002")
ORDER_EVERY_S = 0.5


@dataclass(frozen=True)
class SimVenue:
    """Where the sim's Binance front listens, and the bot's own key there."""

    base_url: str  # http://127.0.0.1:PORT
    ws_url: str  # ws://127.0.0.1:PORT
    api_key: str
    secret: str


def venue_symbol(instrument_id: Any) -> str:
    """`BTCUSDT-PERP.BINANCE` -> `BTCUSDT`: the symbol the venue and the watchdog know."""
    return str(instrument_id.symbol.value).removesuffix("-PERP")


def node_config(venue: SimVenue, log_level: str = "WARNING") -> TradingNodeConfig:
    """Nautilus's Binance USDⓈ-M futures clients with only their URLs and keys changed."""
    common: dict[str, Any] = {
        "api_key": venue.api_key,
        "api_secret": venue.secret,
        "account_type": BinanceAccountType.USDT_FUTURES,
        "base_url_http": venue.base_url,
        "base_url_ws": venue.ws_url,
        "instrument_provider": InstrumentProviderConfig(load_ids=frozenset({INSTRUMENT})),
    }
    return TradingNodeConfig(
        trader_id=TraderId("KILLSWITCH-001"),
        logging=LoggingConfig(log_level=log_level),
        data_clients={BINANCE: BinanceDataClientConfig(**common)},
        exec_clients={BINANCE: BinanceExecClientConfig(**common)},
    )


class LiveNode:
    """A `TradingNode` on the running loop with the auto-trading strategy and the watchdog
    actor; `run()` until the event is set, then a graceful stop."""

    def __init__(self, client: Reporter, venue: SimVenue, *, log_level: str = "WARNING") -> None:
        self.node: Any = TradingNode(node_config(venue, log_level), loop=asyncio.get_running_loop())
        self.node.add_data_client_factory(BINANCE, BinanceLiveDataClientFactory)
        self.node.add_exec_client_factory(BINANCE, BinanceLiveExecClientFactory)
        self.strategy = Trading(
            InstrumentId.from_str(INSTRUMENT), auto=True, qty=QTY, every_s=ORDER_EVERY_S
        )
        self.actor = WatchdogActor(client, self.risk_engine, symbol_of=venue_symbol)
        self.node.trader.add_actor(self.actor)
        self.node.trader.add_strategy(self.strategy)
        self.node.build()

    @property
    def risk_engine(self) -> Any:
        return self.node.kernel.risk_engine

    async def run(self, stop: asyncio.Event) -> None:
        """Run the node until `stop` is set, then stop it gracefully.

        Not disposed: `TradingNode.dispose` stops the event loop it runs on, which belongs to
        the caller."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.node.run_async())
            await stop.wait()
            await self.node.stop_async()
