"""NautilusTrader adapter: one `Actor` that puts a node (live or backtest) under the watchdog.

It does two jobs, both inside the node's own event loop:

1. **Reports.** It listens on the node's message bus to every strategy's order events and to
   the account's state, and reports them through the watchdog client: SUBMIT when the
   execution client sends the order (`OrderSubmitted`, with the client order id the venue
   knows it by), ACK / REJECT / FILL / CANCEL from `OrderAccepted`, `OrderRejected`,
   `OrderFilled`, `OrderCanceled` / `OrderExpired`, an account snapshot from each
   `AccountState` (equity = the settlement currency's total balance plus the portfolio's
   unrealized PnL in it), and the instrument's net position from each position event.
2. **Obeys.** It sets the node's `RiskEngine` trading state to what the watchdog's state
   allows (`TradingState.allows_new_orders`, `.allows_reduce_only`): ACTIVE and WARN ->
   ACTIVE; REDUCING and HALTED -> HALTED, except for an order flagged reduce-only, which is
   judged under Nautilus's REDUCING (the watchdog's promise: exits pass); KILLED -> HALTED
   for every order, for good (a latch in the adapter: nothing the client says afterwards
   lifts it). Nautilus's REDUCING alone would not do: it lets a flat node open a position
   and an order flip one. The actor re-reads the client's state on a timer of the node's
   clock and on every new order: `OrderInitialized` is published before the strategy routes
   the order, so the state is set before the risk engine judges that very order, and an
   order placed after the watchdog halted is denied by the node itself. The client's state
   fails closed (HALTED without a fresh ack), so a node whose watchdog is silent stops
   opening too. Cancels pass in every state.

Nautilus ships no type stubs for its compiled modules: everything taken from it is `Any`,
and what this module needs of the client and of the risk engine is written down as the
`Reporter` and `StateTarget` protocols below.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import ActorConfig
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import TradingState as NodeState
from nautilus_trader.model.events import (
    AccountState,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderInitialized,
    OrderRejected,
    OrderSubmitted,
    PositionEvent,
)
from nautilus_trader.model.identifiers import Venue

from killswitch_client.states import TradingState

STATE_TIMER = "killswitch-watchdog-state"

# The order events reported, by the watchdog's name for the step.
REPORTED: dict[type, str] = {
    OrderSubmitted: "SUBMIT",
    OrderAccepted: "ACK",
    OrderRejected: "REJECT",
    OrderFilled: "FILL",
    OrderCanceled: "CANCEL",
    OrderExpired: "CANCEL",
}


class Reporter(Protocol):
    """What the adapter uses of a watchdog client (`Client`, `AsyncClient`)."""

    @property
    def state(self) -> TradingState: ...

    def report_order(
        self,
        kind: str,
        symbol: str,
        side: str,
        qty: float,
        price: float,
        /,
        *,
        reason: str = ...,
        order_id: str = ...,
    ) -> None: ...

    def report_account(self, equity: float, realized_pnl: float, unrealized_pnl: float) -> None: ...

    def report_position(self, symbol: str, qty: float, mark_price: float) -> None: ...


class StateTarget(Protocol):
    """The node's `RiskEngine` (`node.kernel.risk_engine`, `engine.kernel.risk_engine`)."""

    @property
    def trading_state(self) -> Any: ...

    def set_trading_state(self, state: Any) -> None: ...


def node_state(state: TradingState, latched: bool, reduce_only: bool = False) -> Any:
    """The node's trading state for the watchdog's, to judge an order flagged `reduce_only`
    or any other; `latched`: a KILLED was seen before, or something was not reported."""
    if latched or not state.allows_reduce_only:
        return NodeState.HALTED
    if state.allows_new_orders:
        return NodeState.ACTIVE
    return NodeState.REDUCING if reduce_only else NodeState.HALTED


def default_symbol(instrument_id: Any) -> str:
    """`BTCUSDT.BINANCE` -> `BTCUSDT`: the instrument's symbol without its venue."""
    return str(instrument_id.symbol.value)


class WatchdogActor(Actor):  # type: ignore[misc]  # Actor is compiled and untyped (Any)
    """Reports a node's orders and account to the watchdog and holds its trading state.

    `client`: a started watchdog client whose calls are made on this thread (the node's
    loop for a live node). `risk_engine`: the node's risk engine, whose state this actor
    owns while it runs. `symbol_of`: the symbol the watchdog knows an instrument by (the
    venue's), `default_symbol` unless the node names it differently (`BTCUSDT-PERP`).
    """

    def __init__(
        self,
        client: Reporter,
        risk_engine: StateTarget,
        *,
        state_interval: timedelta = timedelta(milliseconds=100),
        symbol_of: Callable[[Any], str] = default_symbol,
        config: ActorConfig | None = None,
    ) -> None:
        super().__init__(config or ActorConfig(component_id="KillswitchWatchdog"))
        self._client = client
        self._risk_engine = risk_engine
        self._state_interval = state_interval
        self._symbol_of = symbol_of
        self._killed = False
        self._held: str | None = None
        # Orders not flagged reduce-only, from their placing until the risk engine has judged
        # them (a live node's engine takes commands from a queue, and the watchdog may halt
        # meanwhile): while any waits, no order is judged under REDUCING, which would let
        # that one through.
        self._unjudged: set[Any] = set()
        self._account_topics: tuple[str, ...] = ()

    @property
    def killed(self) -> bool:
        """The watchdog said KILLED while this actor ran: the node stays HALTED."""
        return self._killed

    @property
    def held(self) -> str | None:
        """What could not be reported, which holds the node HALTED."""
        return self._held

    # -- lifecycle (called by the node) ---------------------------------------------------

    def on_start(self) -> None:
        self.sync_state()
        self.msgbus.subscribe(topic="events.order.*", handler=self._on_order_event)
        self.msgbus.subscribe(topic="events.position.*", handler=self._on_position_event)
        self._subscribe_accounts()
        self.clock.set_timer(STATE_TIMER, self._state_interval, callback=self._on_timer)

    def on_stop(self) -> None:
        self.clock.cancel_timer(STATE_TIMER)
        self.msgbus.unsubscribe(topic="events.order.*", handler=self._on_order_event)
        self.msgbus.unsubscribe(topic="events.position.*", handler=self._on_position_event)
        for topic in self._account_topics:
            self.msgbus.unsubscribe(topic=topic, handler=self._on_account_state)

    # -- the watchdog's state -> the node's -----------------------------------------------

    def sync_state(self, placed: Any = None) -> None:
        """Set the risk engine's state from the client's (fail-closed, KILLED latched); for
        the order about to be judged when `placed` is its `OrderInitialized`."""
        state = self._client.state
        self._killed = self._killed or state is TradingState.KILLED
        reduce_only = placed is not None and placed.reduce_only
        if placed is not None and not reduce_only:
            self._unjudged.add(placed.client_order_id)
        latched = self._killed or self._held is not None
        wanted = node_state(state, latched, reduce_only and not self._unjudged)
        if self._risk_engine.trading_state != wanted:
            self._risk_engine.set_trading_state(wanted)

    def _on_timer(self, _event: Any) -> None:
        self.sync_state()

    # -- the node's events -> reports -----------------------------------------------------

    def _on_order_event(self, event: Any) -> None:
        if isinstance(event, OrderInitialized):
            self.sync_state(event)  # before the risk engine judges this very order
            return
        self._unjudged.discard(event.client_order_id)  # denied, sent, or off to an emulator
        kind = REPORTED.get(type(event))
        if kind is None:
            return
        if isinstance(event, OrderFilled):  # a fill says all about itself
            side, qty, price = event.order_side, float(event.last_qty), float(event.last_px)
        else:
            order = self.cache.order(event.client_order_id)
            if order is None:
                self._hold(f"{kind} of {event.client_order_id.value}: the order is not cached")
                return
            # A market order has no price: 0, which the watchdog reads as "at market".
            side, qty = order.side, float(order.quantity)
            price = float(order.price) if order.has_price else 0.0
        self._client.report_order(
            kind,
            self._symbol_of(event.instrument_id),
            "BUY" if side == OrderSide.BUY else "SELL",
            qty,
            price,
            reason=str(event.reason) if isinstance(event, OrderRejected) else "",
            order_id=event.client_order_id.value,
        )

    def _hold(self, unreported: str) -> None:
        """What the watchdog cannot be told holds the node: an order step (it would not know
        this node's orders, and a venue acknowledgement it never heard of is key misuse, a
        kill) or the equity. The node opens no more orders until it restarts; the log says
        what could not be reported."""
        self.log.error(f"killswitch: cannot report {unreported}; node held HALTED")
        self._held = unreported
        self.sync_state()

    def _on_position_event(self, event: Any) -> None:
        """The instrument's net position (every position on it, hedging or netting), marked at
        the price of the fill that moved it."""
        if not isinstance(event, PositionEvent):
            return
        net = self.portfolio.net_position(event.instrument_id)
        symbol = self._symbol_of(event.instrument_id)
        self._client.report_position(symbol, float(net), float(event.last_px))

    def _subscribe_accounts(self) -> None:
        """Every account's state, those the node has already registered by their own topic.

        The message bus matches a wildcard subscription only against topics first published
        after it: an account registered before this actor started would go unheard."""
        topics = {"events.account.*"} | {f"events.account.{a.id}" for a in self.cache.accounts()}
        self._account_topics = tuple(sorted(topics))
        for topic in self._account_topics:
            self.msgbus.subscribe(topic=topic, handler=self._on_account_state)
        for account in self.cache.accounts():  # the watchdog holds HALTED until it knows equity
            self._on_account_state(account.last_event)

    def _on_account_state(self, event: Any) -> None:
        """Equity in the account's settlement currency: its balance plus unrealized PnL."""
        if not isinstance(event, AccountState):
            return
        balance = settlement_balance(event)
        if balance is None:  # equity the watchdog could trust cannot be told
            self._hold(f"the equity of account {event.account_id}: no single settlement currency")
            return
        venue = Venue(event.account_id.get_issuer())
        unrealized = _in_currency(self.portfolio.unrealized_pnls(venue), balance.currency)
        realized = _in_currency(self.portfolio.realized_pnls(venue), balance.currency)
        self._client.report_account(float(balance.total) + unrealized, realized, unrealized)


def settlement_balance(state: Any) -> Any:
    """The balance equity is counted in: the base currency's, or the only one; None for an
    account of several currencies and no base, whose equity needs prices to add up."""
    balances = list(state.balances)
    if state.base_currency is not None:
        balances = [b for b in balances if b.currency == state.base_currency]
    return balances[0] if len(balances) == 1 else None


def _in_currency(amounts: dict[Any, Any], currency: Any) -> float:
    money = amounts.get(currency)
    return 0.0 if money is None else float(money)
