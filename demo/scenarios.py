"""The failures the demo can inject, and what each must end with.

Every scenario ends in a kill: the watchdog latches KILLED, cancels everything, revokes the
trader's key and stops it. A stale feed and a storm of venue rejects first HALT (transient
rules in docs/limits.md); the demo's limits set their `kill_after_s`, so a halt that holds
escalates to the kill.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from demo import configs
from demo.errors import DemoError
from demo.world import World


@dataclass(frozen=True)
class Trigger:
    mono: float  # CLOCK_MONOTONIC just before the failure was injected
    detail: str


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str  # one line for --list and the header
    inject: Callable[[World], Trigger]
    bot: str = "trader"  # who trades: the reference trader, or "ccxt": examples/ccxt_bot.py


def _signal_trader(signum: signal.Signals, what: str) -> Callable[[World], Trigger]:
    def inject(world: World) -> Trigger:
        trader = world.proc("trader")
        mono = time.monotonic()
        trader.send(signum)
        return Trigger(mono, f"{what} sent to the trader (pid {trader.pid})")

    return inject


CRASH_PCT = 25.0  # one crash moves the mark far past the daily-loss limit on any position
MAX_CRASHES = 3


def _crash(world: World) -> Trigger:
    """Jump the price against the trader's position (down when long or flat: the resting bid
    fills on the way down). Repeat, against the new position, until the watchdog kills."""
    first: Trigger | None = None
    for _ in range(MAX_CRASHES):
        qty = _position(world)
        pct = -CRASH_PCT if qty >= 0 else CRASH_PCT
        mono = time.monotonic()
        world.admin.price_jump(configs.TRADED, pct)
        if first is None:
            first = Trigger(
                mono,
                f"price crash {pct:+g}% on {configs.TRADED} (sim admin) with the trader at "
                f"{qty:+g}; daily-loss limit {configs.DAILY_LOSS_QUOTE:g} USDT",
            )
        if _wait_state(world, "KILLED", within=5.0):
            break
    if first is None:
        raise DemoError("no price crash was made")
    return first


def _position(world: World) -> float:
    for position in world.admin.positions(configs.TRADER_ACCOUNT):
        if position.get("symbol") == configs.TRADED:
            return float(position.get("positionAmt", 0.0))
    return 0.0


def _wait_state(world: World, state: str, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if world.trader_status().get("state") == state:
            return True
        time.sleep(0.05)
    return False


FLOOD_MAX_S = 20.0
FLOOD_ORDERS_PER_S = 250.0  # a runaway loop, far above the 80/s limit


def _flood(world: World) -> Trigger:
    """Orders straight to the venue with the trader's key, bypassing the trader (so no
    telemetry): only the watchdog's own view of the venue can see them."""
    prices = {s: _far_bid(world, s) for s in configs.SYMBOLS}
    client = world.trader_client()
    placed = 0
    mono = time.monotonic()
    try:
        while time.monotonic() - mono < FLOOD_MAX_S:
            symbol = configs.SYMBOLS[placed % len(configs.SYMBOLS)]
            price, qty = prices[symbol]
            sent = time.monotonic()
            answer = client.place_limit_buy(symbol, price, qty, f"runaway-{placed}")
            if answer.key_refused:
                break
            placed += 1 if answer.code is None else 0
            time.sleep(max(0.0, 1.0 / FLOOD_ORDERS_PER_S - (time.monotonic() - sent)))
    finally:
        client.close()
    return Trigger(
        mono, f"runaway orders with the trader's key, no telemetry: {placed} accepted, then refused"
    )


def _far_bid(world: World, symbol: str) -> tuple[str, str]:
    """A BUY 15% under the market (it rests), worth about 200 USDT (above min notional)."""
    quotes = world.admin.quotes()
    entry = quotes[symbol] if isinstance(quotes, dict) else None
    if not isinstance(entry, dict) or "mid" not in entry:
        raise DemoError(f"the sim has no quote for {symbol}")
    tick = Decimal("0.1") if symbol == "BTCUSDT" else Decimal("0.01")
    price = (Decimal(str(entry["mid"])) * Decimal("0.85") / tick).to_integral_value(ROUND_DOWN)
    price *= tick
    qty = (Decimal(200) / price).quantize(Decimal("0.001"), ROUND_DOWN) + Decimal("0.001")
    return str(price), str(qty)


def _reject_storm(world: World) -> Trigger:
    mono = time.monotonic()
    world.admin.faults(reject_orders={"code": configs.REJECT_CODE})
    return Trigger(
        mono,
        "the venue rejects every new order: margin is insufficient (sim admin reject_orders)",
    )


def _feed_dead(world: World) -> Trigger:
    mono = time.monotonic()
    world.admin.streams("stall", "market")
    return Trigger(mono, "market streams stalled: sockets open, nothing sent (sim admin)")


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("trader-kill9", "the trader process is killed (SIGKILL)",
                 _signal_trader(signal.SIGKILL, "SIGKILL")),
        Scenario("trader-hang", "the trader hangs (SIGSTOP): heartbeats stop",
                 _signal_trader(signal.SIGSTOP, "SIGSTOP")),
        Scenario("daily-loss", "a price crash takes the position through the daily-loss limit",
                 _crash),
        Scenario("order-flood", "runaway orders with the trader's key, bypassing its telemetry",
                 _flood),
        Scenario("reject-storm", "the venue rejects every new order (halt, sustained: kill)",
                 _reject_storm),
        Scenario("feed-dead", "the market data feed stalls (halt, sustained: kill)",
                 _feed_dead),
        Scenario("ccxt-bot", "a plain ccxt bot, supervised in two lines, hangs (SIGSTOP)",
                 _signal_trader(signal.SIGSTOP, "SIGSTOP"), bot="ccxt"),
    )
}  # fmt: skip
