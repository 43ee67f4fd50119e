"""A NautilusTrader node under the watchdog: Nautilus's own backtest engine with one simulated
venue (BINANCE, a USDT-margined BTCUSDT perpetual), a strategy, and the adapter's actor
(`killswitch_client.nautilus.WatchdogActor`). The world of the adapter's tests and of its bot
(`harness.nautilus_bot`).

The engine runs in streaming mode, one batch of quotes at a time (`Node.advance`), so a test
or the bot decides when time moves and can look at the node between batches. Nautilus types
are untyped (`Any`): see `killswitch_client.nautilus`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from killswitch_client.nautilus import Reporter, WatchdogActor
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.model.currencies import USDT
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.identifiers import TraderId, Venue
from nautilus_trader.model.objects import Money
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.trading.strategy import Strategy

START_S = 1_700_000_000  # the first quote's time, seconds since the epoch
MID = 50_000.0
QTY = Decimal("0.001")
BALANCE_USDT = 10_000


class Trading(Strategy):  # type: ignore[misc]  # Strategy is compiled and untyped (Any)
    """Places orders when told (`limit_buy`, `market`), or with `auto` one on every quote
    (at most one each `every_s` of the quotes' time): a resting limit buy far below the bid,
    the previous one canceled (no position builds up, so every new order is new exposure).
    Counts the orders sent and keeps the reasons of those the node denied.

    The instrument is the node's (`instrument_id`, from its cache): a backtest adds it before
    the strategy, a live node loads it from the venue when its clients connect."""

    def __init__(
        self, instrument_id: Any, *, auto: bool = False, qty: Decimal = QTY, every_s: float = 0.0
    ) -> None:
        super().__init__(StrategyConfig(strategy_id="Trading-001"))
        self.instrument_id = instrument_id
        self.auto = auto
        self.qty = qty
        self.every_ns = int(every_s * 1_000_000_000)
        self.denied: list[str] = []
        self.submitted = 0
        self._placed_ns: int | None = None

    @property
    def instrument(self) -> Any:
        return self.cache.instrument(self.instrument_id)

    def on_start(self) -> None:
        self.subscribe_quote_ticks(self.instrument_id)

    def on_quote_tick(self, tick: Any) -> None:
        if not self.auto:
            return
        if self._placed_ns is not None and tick.ts_event - self._placed_ns < self.every_ns:
            return
        self._placed_ns = tick.ts_event
        self.cancel_all_orders(self.instrument_id)
        self.limit_buy(float(tick.bid_price) * 0.9)

    def on_order_submitted(self, _event: Any) -> None:
        self.submitted += 1

    def on_order_denied(self, event: Any) -> None:
        self.denied.append(str(event.reason))

    def limit_buy(self, price: float) -> Any:
        order = self.order_factory.limit(
            self.instrument_id,
            OrderSide.BUY,
            self.instrument.make_qty(self.qty),
            self.instrument.make_price(price),
        )
        self.submit_order(order)
        return order

    def market(self, side: Any, *, reduce_only: bool = False) -> Any:
        order = self.order_factory.market(
            self.instrument_id, side, self.instrument.make_qty(self.qty), reduce_only=reduce_only
        )
        self.submit_order(order)
        return order


class Node:
    """A backtest engine with the strategy and the watchdog actor, advanced by hand."""

    def __init__(self, client: Reporter, *, auto: bool = False) -> None:
        config = BacktestEngineConfig(
            trader_id=TraderId("KILLSWITCH-001"),
            logging=LoggingConfig(bypass_logging=True),
        )
        self.engine: Any = BacktestEngine(config=config)
        self.engine.add_venue(
            Venue("BINANCE"),
            OmsType.NETTING,
            AccountType.MARGIN,
            starting_balances=[Money(BALANCE_USDT, USDT)],
            base_currency=USDT,
        )
        self.instrument: Any = TestInstrumentProvider.btcusdt_perp_binance()
        self.engine.add_instrument(self.instrument)
        self.strategy = Trading(self.instrument.id, auto=auto)
        self.actor = WatchdogActor(client, self.risk_engine)
        self.engine.add_actor(self.actor)
        self.engine.add_strategy(self.strategy)
        self._next_s = START_S

    @property
    def risk_engine(self) -> Any:
        return self.engine.kernel.risk_engine

    def advance(self, quotes: int = 1) -> None:
        """Run the node through `quotes` more quotes, one second apart."""
        self.engine.add_data([self._quote(self._next_s + i) for i in range(quotes)])
        self._next_s += quotes
        self.engine.run(streaming=True)
        self.engine.clear_data()

    def close(self) -> None:
        self.engine.end()
        self.engine.dispose()

    def _quote(self, second: int) -> Any:
        make_price, make_qty = self.instrument.make_price, self.instrument.make_qty
        ts = second * 1_000_000_000
        return QuoteTick(
            self.instrument.id,
            make_price(MID),
            make_price(MID + 1),
            make_qty(1),
            make_qty(1),
            ts,
            ts,
        )
