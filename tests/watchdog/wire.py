"""Shared by the wire tests: keys, ids, a strategy for valid events (as the protocol carries
them), and condition polling."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

from hypothesis import strategies as st
from killswitch_client.protocol import (
    MAX_ORDER_ID,
    MAX_REASON,
    MAX_SYMBOL,
    AccountSnapshot,
    FeedStatus,
    Heartbeat,
    OpenOrdersSnapshot,
    OrderEvent,
    PositionSnapshot,
    TelemetryEvent,
    TraderState,
)
from killswitch_client.states import OrderEventKind, Side, TradingState

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
TRADER = "mm-btc.1"
SESSION = bytes(16)
NOW = 1_700_000_000.0

_ts = st.floats(min_value=0, max_value=4e9, allow_nan=False, allow_infinity=False)
_num = st.floats(min_value=-1e15, max_value=1e15, allow_nan=False, allow_infinity=False)
_nonneg = st.floats(min_value=0, max_value=1e15, allow_nan=False, allow_infinity=False)
_symbol = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=MAX_SYMBOL
)
# The client replaces unprintable characters, so every event fits one datagram.
_reason = st.text(
    st.characters(categories=["L", "N", "P", "S"], include_characters=" "),
    max_size=MAX_REASON,
)

# Venues' client order ids are printable ASCII.
_order_id = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=MAX_ORDER_ID)

events: st.SearchStrategy[TelemetryEvent] = st.one_of(
    st.builds(Heartbeat, ts=_ts, answers=st.integers(0, 2**32 - 1)),
    st.builds(
        AccountSnapshot,
        ts=_ts,
        equity=_num,
        realized_pnl=_num,
        unrealized_pnl=_num,
    ),
    st.builds(PositionSnapshot, ts=_ts, symbol=_symbol, qty=_num, mark_price=_nonneg),
    st.builds(
        OrderEvent,
        ts=_ts,
        kind=st.sampled_from(OrderEventKind),
        symbol=_symbol,
        side=st.sampled_from(Side),
        qty=_nonneg,
        price=_nonneg,
        reason=_reason,
        realized_pnl=st.none() | _num,
        order_id=_order_id,
    ),
    st.builds(FeedStatus, ts=_ts, symbol=_symbol, last_event_ts=_ts),
    st.builds(
        OpenOrdersSnapshot,
        ts=_ts,
        count=st.integers(min_value=0, max_value=2**63 - 1),
    ),
    st.builds(TraderState, ts=_ts, state=st.sampled_from(TradingState), reason=_reason),
)


def fill(ts: float = NOW, pnl: float | None = -12.5) -> OrderEvent:
    return OrderEvent(
        ts=ts,
        kind=OrderEventKind.FILL,
        symbol="BTCUSDT",
        side=Side.SELL,
        qty=0.01,
        price=65_000.0,
        reason="",
        realized_pnl=pnl,
    )


async def send(sock: socket.socket, data: bytes) -> None:
    """Send one datagram without blocking the loop (a Unix datagram queue holds only ~10)."""
    await asyncio.get_running_loop().sock_sendall(sock, data)


async def wait_until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.002)
