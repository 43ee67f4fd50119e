"""A second client holding the trader's key, acting behind the watchdog's back (no telemetry):
a runaway copy of the bot, or the test moving the trader's positions."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from decimal import Decimal

from harness.sim import SimProcess
from watchdog.venues import (
    BinanceFutures,
    Credentials,
    KeyRefused,
    OrderType,
    RateLimited,
    Side,
    VenueEndpoint,
    open_session,
)

# Far from the market (BTC 60000, ETH 3000): they rest.
RESTING = {
    "BTCUSDT": (Decimal("50000"), Decimal("0.002")),
    "ETHUSDT": (Decimal("2500"), Decimal("0.01")),
}


async def _flood(sim: SimProcess, limit: int) -> int:
    session = open_session()
    key = sim.trader_key
    venue = BinanceFutures(
        session, VenueEndpoint(sim.base_url), Credentials(key.api_key, key.secret)
    )
    placed = 0
    run = uuid.uuid4().hex[:8]
    symbols = itertools.cycle(RESTING)
    try:
        for n in range(limit):
            symbol = next(symbols)
            price, qty = RESTING[symbol]
            try:
                await venue.new_order(
                    symbol,
                    Side.BUY,
                    OrderType.LIMIT,
                    qty,
                    price=price,
                    client_order_id=f"flood-{run}-{n}",
                )
            except KeyRefused:
                return placed
            except RateLimited as exc:
                await asyncio.sleep(exc.retry_after or 0.05)  # a flooder, not a fool
                continue
            placed += 1
    finally:
        await session.close()
    raise AssertionError(f"the key was never refused after {limit} orders")


def flood_until_refused(sim: SimProcess, limit: int = 20_000) -> int:
    """Place resting orders as fast as the venue takes them until it refuses the key."""
    return asyncio.run(_flood(sim, limit))


async def _market(sim: SimProcess, symbol: str, side: Side, qty: Decimal) -> None:
    session = open_session()
    key = sim.trader_key
    venue = BinanceFutures(
        session, VenueEndpoint(sim.base_url), Credentials(key.api_key, key.secret)
    )
    try:
        await venue.new_order(symbol, side, OrderType.MARKET, qty)
    finally:
        await session.close()


def market_order(sim: SimProcess, symbol: str, side: Side, qty: Decimal) -> None:
    asyncio.run(_market(sim, symbol, side, qty))
