"""The NautilusTrader adapter inside a real Nautilus backtest node, with a client that records
what it is told and says what the test sets: which events become which reports, and how the
watchdog's state moves the node's risk engine."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from killswitch_client import TradingState
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.model.currencies import BTC, USDT
from nautilus_trader.model.enums import AccountType, OrderSide
from nautilus_trader.model.enums import TradingState as NodeState
from nautilus_trader.model.events import AccountState, OrderAccepted
from nautilus_trader.model.identifiers import AccountId, StrategyId, VenueOrderId
from nautilus_trader.model.objects import AccountBalance, Money

from harness.nautilus_world import BALANCE_USDT, MID, Node


@dataclass
class RecordingClient:
    """The client's surface the adapter uses: records reports, answers with `state`."""

    state: TradingState = TradingState.ACTIVE
    orders: list[tuple[str, str, str, float, float, str, str]] = field(default_factory=list)
    accounts: list[tuple[float, float, float]] = field(default_factory=list)
    positions: list[tuple[str, float, float]] = field(default_factory=list)

    def report_order(self, *step: Any, **details: str) -> None:
        kind, symbol, side, qty, price = step
        self.orders.append((kind, symbol, side, qty, price, details["reason"], details["order_id"]))

    def report_account(self, equity: float, realized_pnl: float, unrealized_pnl: float) -> None:
        self.accounts.append((equity, realized_pnl, unrealized_pnl))

    def report_position(self, symbol: str, qty: float, mark_price: float) -> None:
        self.positions.append((symbol, qty, mark_price))

    def kinds(self, order_id: str) -> list[str]:
        return [kind for kind, *_, oid in self.orders if oid == order_id]


@pytest.fixture
def client() -> RecordingClient:
    return RecordingClient()


@pytest.fixture
def node(client: RecordingClient) -> Iterator[Node]:
    node = Node(client)
    node.advance()  # the node starts: the actor syncs the state and hears the account
    yield node
    node.close()


def oid(order: Any) -> str:
    return str(order.client_order_id.value)


def test_the_account_the_node_started_with_is_reported_at_once(
    node: Node, client: RecordingClient
) -> None:
    # The venue's account is registered before any actor starts; without it the watchdog
    # would hold the trader HALTED for want of equity.
    assert client.accounts[0] == (float(BALANCE_USDT), 0.0, 0.0)


def test_a_resting_order_is_reported_submitted_then_acknowledged_then_canceled(
    node: Node, client: RecordingClient
) -> None:
    order = node.strategy.limit_buy(MID * 0.9)
    node.advance()
    node.strategy.cancel_order(order)
    node.advance()
    assert client.kinds(oid(order)) == ["SUBMIT", "ACK", "CANCEL"]
    submit = client.orders[[o[-1] for o in client.orders].index(oid(order))]
    assert submit[:5] == ("SUBMIT", "BTCUSDT-PERP", "BUY", 0.001, MID * 0.9)


def test_a_market_order_is_reported_with_its_fill_price_and_moves_the_equity(
    node: Node, client: RecordingClient
) -> None:
    order = node.strategy.market(OrderSide.SELL)
    node.advance()
    kinds = client.kinds(oid(order))
    assert kinds[0] == "SUBMIT"
    assert kinds[-1] == "FILL"
    fill = next(o for o in client.orders if o[0] == "FILL")
    assert fill[2:5] == ("SELL", 0.001, MID)  # sold at the bid
    assert next(o for o in client.orders if o[0] == "SUBMIT")[4] == 0.0  # at market
    # The account's topic was first published before the actor subscribed: Nautilus's bus
    # would not match a wildcard subscription made after that, and this update would be lost.
    equity, realized, _ = client.accounts[-1]
    assert realized < 0
    assert equity < BALANCE_USDT


def test_the_net_position_is_reported_as_fills_move_it(node: Node, client: RecordingClient) -> None:
    node.strategy.market(OrderSide.SELL)
    node.advance()
    node.strategy.market(OrderSide.SELL)
    node.advance()
    node.strategy.market(OrderSide.BUY)
    node.advance()
    assert client.positions == [
        ("BTCUSDT-PERP", -0.001, MID),
        ("BTCUSDT-PERP", -0.002, MID),
        ("BTCUSDT-PERP", -0.001, MID + 1),  # bought back at the ask
    ]


def test_a_venue_rejection_is_reported_with_its_reason(node: Node, client: RecordingClient) -> None:
    order = node.strategy.market(OrderSide.BUY, reduce_only=True)  # nothing to reduce
    node.advance()
    assert client.kinds(oid(order)) == ["SUBMIT", "REJECT"]
    reject = next(o for o in client.orders if o[0] == "REJECT")
    assert "reduce" in reject[5].lower()


def test_a_halt_from_the_watchdog_denies_the_very_next_order_before_it_goes_out(
    node: Node, client: RecordingClient
) -> None:
    client.state = TradingState.HALTED  # no timer has fired since: only the order can see it
    order = node.strategy.limit_buy(MID * 0.9)
    node.advance()
    assert node.risk_engine.trading_state == NodeState.HALTED
    assert client.kinds(oid(order)) == []  # never sent, so never reported
    assert len(node.strategy.denied) == 1
    assert "HALTED" in node.strategy.denied[0]


def test_the_node_follows_the_watchdog_on_its_timer_and_cancels_still_pass(
    node: Node, client: RecordingClient
) -> None:
    resting = node.strategy.limit_buy(MID * 0.9)
    node.advance()
    client.state = TradingState.HALTED
    node.advance()
    assert node.risk_engine.trading_state == NodeState.HALTED
    node.strategy.cancel_order(resting)
    node.advance()
    assert client.kinds(oid(resting))[-1] == "CANCEL"
    client.state = TradingState.WARN  # a warning trades on
    node.advance()
    assert node.risk_engine.trading_state == NodeState.ACTIVE


@pytest.mark.parametrize(
    "state", [TradingState.REDUCING, TradingState.HALTED], ids=lambda s: s.name
)
def test_reducing_and_halted_let_only_reduce_only_orders_through(
    node: Node, client: RecordingClient, state: TradingState
) -> None:
    # The watchdog's REDUCING and HALTED stop new exposure but never a reduce-only exit.
    node.strategy.market(OrderSide.BUY)
    node.advance()
    client.state = state
    node.advance()
    assert node.risk_engine.trading_state == NodeState.HALTED
    adding = node.strategy.market(OrderSide.BUY)
    node.advance()
    # Nautilus's REDUCING alone would let this one through: it reduces the long, but it is
    # not flagged reduce-only, so nothing stops it from being larger than the position.
    unflagged = node.strategy.market(OrderSide.SELL)
    node.advance()
    closing = node.strategy.market(OrderSide.SELL, reduce_only=True)
    node.advance()
    assert client.kinds(oid(adding)) == []
    assert client.kinds(oid(unflagged)) == []
    assert len(node.strategy.denied) == 2
    assert client.kinds(oid(closing))[-1] == "FILL"


def test_a_flat_node_opens_nothing_while_reducing(node: Node, client: RecordingClient) -> None:
    client.state = TradingState.REDUCING  # Nautilus's REDUCING would let a flat node open
    opening = node.strategy.limit_buy(MID * 0.9)
    node.advance()
    assert client.kinds(oid(opening)) == []
    assert len(node.strategy.denied) == 1


def test_killed_latches_the_node_halted_whatever_the_client_says_next(
    node: Node, client: RecordingClient
) -> None:
    client.state = TradingState.KILLED
    node.advance()
    client.state = TradingState.ACTIVE  # e.g. a re-armed watchdog: this node still stays down
    order = node.strategy.limit_buy(MID * 0.9)
    node.advance()
    assert node.actor.killed
    assert node.risk_engine.trading_state == NodeState.HALTED
    assert client.kinds(oid(order)) == []


def test_a_kill_refuses_even_a_reduce_only_exit(node: Node, client: RecordingClient) -> None:
    node.strategy.market(OrderSide.BUY)
    node.advance()
    client.state = TradingState.KILLED  # the watchdog is cancelling and flattening itself
    node.advance()
    exit_order = node.strategy.market(OrderSide.SELL, reduce_only=True)
    node.advance()
    assert client.kinds(oid(exit_order)) == []
    assert "HALTED" in node.strategy.denied[-1]


def test_a_node_opens_nothing_until_the_watchdog_says_so(client: RecordingClient) -> None:
    client.state = TradingState.HALTED  # what a client without a fresh ack says
    node = Node(client)
    try:
        node.advance()
        assert node.risk_engine.trading_state == NodeState.HALTED
        client.state = TradingState.ACTIVE
        node.advance()
        assert node.risk_engine.trading_state == NodeState.ACTIVE
    finally:
        node.close()


def test_an_order_step_that_cannot_be_reported_holds_the_node_halted(
    node: Node, client: RecordingClient
) -> None:
    # An acknowledgement of an order this node never cached (so never reported as sent): the
    # watchdog would see the venue's order without the trader's, so the node stops opening.
    stray = node.strategy.order_factory.limit(
        node.instrument.id,
        OrderSide.BUY,
        node.instrument.make_qty(0.001),
        node.instrument.make_price(1),
    )
    accepted = OrderAccepted(
        node.engine.trader_id,
        StrategyId("Stray-001"),
        node.instrument.id,
        stray.client_order_id,
        VenueOrderId("1"),
        AccountId("BINANCE-001"),
        UUID4(),
        0,
        0,
    )
    node.engine.kernel.msgbus.publish("events.order.Stray-001", accepted)
    assert node.actor.held == f"ACK of {oid(stray)}: the order is not cached"
    order = node.strategy.limit_buy(MID * 0.9)
    node.advance()
    assert node.risk_engine.trading_state == NodeState.HALTED
    assert client.kinds(oid(order)) == []


@pytest.mark.parametrize(
    "placed_in", [TradingState.ACTIVE, TradingState.HALTED], ids=lambda s: s.name
)
def test_an_exit_waits_while_a_new_order_is_not_yet_judged(
    node: Node, client: RecordingClient, placed_in: TradingState
) -> None:
    # A live node's risk engine takes commands from a queue: an order may still wait there
    # when the watchdog halts and a reduce-only exit is placed after it. Judged under
    # REDUCING (for the exit), the waiting one would pass if it reduced; so the node stays
    # HALTED until it has been judged. Here its OrderInitialized is published with its
    # command still unsent.
    node.strategy.market(OrderSide.BUY)
    node.advance()
    client.state = placed_in
    waiting = node.strategy.order_factory.market(
        node.instrument.id, OrderSide.SELL, node.instrument.make_qty(0.001)
    )
    node.engine.kernel.msgbus.publish("events.order.Trading-001", waiting.init_event)
    client.state = TradingState.HALTED
    exit_order = node.strategy.market(OrderSide.SELL, reduce_only=True)
    node.advance()
    assert client.kinds(oid(exit_order)) == []
    assert node.risk_engine.trading_state == NodeState.HALTED


def test_an_account_of_several_currencies_without_a_base_holds_the_node_halted(
    node: Node, client: RecordingClient
) -> None:
    # Its equity needs prices to add up: the watchdog would judge losses on a wrong figure.
    several = AccountState(
        AccountId("BINANCE-001"),
        AccountType.CASH,
        None,
        True,
        [balance(Money(1, BTC)), balance(Money(10_000, USDT))],
        [],
        {},
        UUID4(),
        0,
        0,
    )
    reported = len(client.accounts)
    node.engine.kernel.msgbus.publish("events.account.BINANCE-001", several)
    assert len(client.accounts) == reported
    assert node.actor.held == "the equity of account BINANCE-001: no single settlement currency"
    order = node.strategy.limit_buy(MID * 0.9)
    node.advance()
    assert client.kinds(oid(order)) == []


def balance(total: Money) -> AccountBalance:
    return AccountBalance(total, Money(0, total.currency), total)
