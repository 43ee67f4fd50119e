"""Bybit v5's public linear stream as ``BookTicker``s: ``orderbook.1.<SYMBOL>``.

Why ``orderbook.1`` and not ``tickers``: both carry the best bid and ask, but the book topic
carries them with their sizes in every message and stamps each with the venue's ``ts``, which
the staleness check needs; a ``tickers`` delta leaves out whatever did not change, the best
prices included, so a decoder would have to keep a whole ticker to read one.

Bybit's book messages are a ``snapshot`` (the whole top level: replace the book) or a ``delta``
(``[price, size]`` levels to set; size 0 removes the level). A delta before any snapshot, or a
book left without a bid or an ask, is not a price the strategy may quote on: it is dropped as a
bad message, so the symbol goes stale unless a good one follows. The subscription is written
once connected, and Bybit's application-level ping (``{"op": "ping"}``) every 20 seconds, the
interval Bybit's WebSocket guide asks for; its answers (subscription acks, pongs) are not ticks.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import orjson

from trader.errors import FeedError
from trader.feed import BookTicker, Greeting, finite_top

PUBLIC_PATH = "/v5/public/linear"
PING = b'{"op":"ping"}'
PING_INTERVAL_S = 20.0
TOPICS_PER_REQUEST = 10  # Bybit's cap on args in one subscribe request (spot); safe for all


class _Levels(msgspec.Struct, gc=False):
    s: str
    b: list[tuple[float, float]]
    a: list[tuple[float, float]]
    u: int


class _Message(msgspec.Struct, gc=False):
    """A book message, or Bybit's answer to one of our requests (``op``, ``success``)."""

    topic: str = ""
    type: str = ""
    ts: int = 0
    data: _Levels | None = None
    op: str = ""
    success: bool = True
    ret_msg: str = ""


# strict=False: Bybit sends prices and sizes as decimal strings, read here as floats.
_DECODER = msgspec.json.Decoder(_Message, strict=False)


def sample_message(symbol: str) -> bytes:
    """A book snapshot as the venue sends it (for the hot-path heater; never traded on)."""
    data = {"s": symbol, "b": [["100.00", "1.000"]], "a": [["100.10", "1.000"]], "u": 1, "seq": 1}
    return orjson.dumps(
        {"topic": f"orderbook.1.{symbol}", "type": "snapshot", "ts": 0, "data": data, "cts": 0}
    )


def stream_url(ws_url: str) -> str:
    return f"{ws_url.rstrip('/')}{PUBLIC_PATH}"


def subscriptions(symbols: Sequence[str]) -> tuple[bytes, ...]:
    topics = [f"orderbook.1.{s}" for s in symbols]
    return tuple(
        orjson.dumps({"op": "subscribe", "args": topics[i : i + TOPICS_PER_REQUEST]})
        for i in range(0, len(topics), TOPICS_PER_REQUEST)
    )


class BybitBooks:
    """The top of each symbol's book on one connection; ``decode`` is the feed's decoder."""

    def __init__(self) -> None:
        self._bids: dict[str, dict[float, float]] = {}
        self._asks: dict[str, dict[float, float]] = {}

    def reset(self) -> None:
        """A new connection: every book starts again from its snapshot."""
        self._bids.clear()
        self._asks.clear()

    def greeting(self, symbols: Sequence[str]) -> Greeting:
        return Greeting(subscriptions(symbols), PING, PING_INTERVAL_S, self.reset)

    def decode(self, raw: bytes) -> BookTicker | None:
        try:
            message = _DECODER.decode(raw)
        except msgspec.DecodeError as exc:
            raise FeedError(f"bad Bybit book message: {exc}") from None
        levels = message.data
        if levels is None:
            return self._answer(message)
        symbol = levels.s
        if message.type == "snapshot":
            self._bids[symbol] = dict(levels.b)
            self._asks[symbol] = dict(levels.a)
        elif message.type == "delta":
            bids, asks = self._bids.get(symbol), self._asks.get(symbol)
            if bids is None or asks is None:
                raise FeedError(f"bad Bybit book message: a {symbol} delta before its snapshot")
            _apply(bids, levels.b)
            _apply(asks, levels.a)
        else:
            raise FeedError(f"bad Bybit book message: type {message.type!r}")
        return _top(symbol, self._bids[symbol], self._asks[symbol], message.ts, levels.u)

    @staticmethod
    def _answer(message: _Message) -> None:
        if message.topic:
            raise FeedError(f"bad Bybit book message: {message.topic} without data")
        if not message.success:
            raise FeedError(f"Bybit refused {message.op or 'a request'}: {message.ret_msg}")


def _apply(book: dict[float, float], levels: list[tuple[float, float]]) -> None:
    for price, size in levels:
        if size == 0.0:
            book.pop(price, None)
        else:
            book[price] = size


def _top(
    symbol: str, bids: dict[float, float], asks: dict[float, float], ts: int, update_id: int
) -> BookTicker:
    if not bids or not asks:
        raise FeedError(f"bad Bybit book message: {symbol} has no bid or no ask")
    bid, ask = max(bids), min(asks)
    where = "bad Bybit book message"
    return finite_top(where, symbol, (bid, bids[bid]), (ask, asks[ask]), ts, update_id)
