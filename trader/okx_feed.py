"""OKX v5's public stream as ``BookTicker``s: the ``bbo-tbt`` channel of each swap's ``instId``.

Why ``bbo-tbt`` and not ``tickers``: both carry the best bid and ask with the venue's ``ts``, but
``bbo-tbt`` is pushed on every change of the top of the book (tick by tick) while ``tickers`` is
throttled by the venue to one push per 100 ms at best, which a quoting strategy would read as a
stale price. A ``bbo-tbt`` message is the whole top level (``[price, size, 0, orders]`` for one
bid and one ask), so no book is kept between messages: each one stands alone.

OKX names a USDT-margined perpetual swap ``BASE-USDT-SWAP``: the trader's symbols stay the
suite's (``BTCUSDT``) and become ``instId``s only on the wire, through the watchdog adapter's
own mapping (``watchdog.venues.okx_wire``), so both sides name an instrument alike. Sizes in
a ``bbo-tbt`` level are contracts (the instrument's ``ctVal`` each); the strategy reads prices
only, so they are passed on as the venue sent them.

The subscription is written once connected. OKX closes a connection that has been silent for
30 s; the client's keepalive is the text ``ping``, answered with the text ``pong`` (not JSON),
sent every 20 s. Answers to our requests (the subscription's ``event``, a pong) are not ticks;
an ``error`` event is a bad message (the symbol stays stale unless good ones follow).
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import orjson

from trader.errors import FeedError
from trader.feed import BookTicker, Greeting, finite_top
from watchdog.venues.errors import VenueProtocolError
from watchdog.venues.okx_wire import inst_id, symbol_of

PUBLIC_PATH = "/ws/v5/public"
CHANNEL = "bbo-tbt"
PING = b"ping"
PONG = b"pong"
PING_INTERVAL_S = 20.0  # OKX drops a connection silent for 30 s


class _Arg(msgspec.Struct, gc=False):
    channel: str = ""
    inst_id: str = msgspec.field(default="", name="instId")


class _Top(msgspec.Struct, gc=False):
    # Levels are [price, size, deprecated 0, number of orders], all decimal strings.
    bids: list[tuple[float, float, float, float]]
    asks: list[tuple[float, float, float, float]]
    ts: int
    seq_id: int = msgspec.field(default=0, name="seqId")


class _Message(msgspec.Struct, gc=False):
    """A channel push, or OKX's answer to one of our requests (``event``, ``code``, ``msg``)."""

    arg: _Arg | None = None
    data: list[_Top] | None = None
    event: str = ""
    code: str = ""
    msg: str = ""


# strict=False: OKX sends prices, sizes and ts as decimal strings, read here as numbers.
_DECODER = msgspec.json.Decoder(_Message, strict=False)


def sample_message(symbol: str) -> bytes:
    """A ``bbo-tbt`` push as the venue sends it (for the hot-path heater; never traded on)."""
    top = {
        "asks": [["100.10", "10", "0", "1"]],
        "bids": [["100.00", "10", "0", "1"]],
        "ts": "0",
        "seqId": 1,
    }
    return orjson.dumps({"arg": {"channel": CHANNEL, "instId": inst_id(symbol)}, "data": [top]})


def stream_url(ws_url: str) -> str:
    return f"{ws_url.rstrip('/')}{PUBLIC_PATH}"


def subscription(symbols: Sequence[str]) -> bytes:
    args = [{"channel": CHANNEL, "instId": inst_id(s)} for s in symbols]
    return orjson.dumps({"op": "subscribe", "args": args})


def greeting(symbols: Sequence[str]) -> Greeting:
    return Greeting((subscription(symbols),), PING, PING_INTERVAL_S, _nothing)


def _nothing() -> None:
    """Each message is the whole top of the book: nothing to reset on a new connection."""


def decode(raw: bytes) -> BookTicker | None:
    """The feed's decoder: a ``bbo-tbt`` push as a ``BookTicker``; None for an answer."""
    if raw == PONG:
        return None
    try:
        message = _DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise FeedError(f"bad OKX message: {exc}") from None
    if message.data is None:
        _check_answer(message)
        return None
    arg = message.arg
    if arg is None or arg.channel != CHANNEL or len(message.data) != 1:
        raise FeedError(f"bad OKX message: not one {CHANNEL} push")
    try:
        symbol = symbol_of(arg.inst_id)
    except VenueProtocolError as exc:
        raise FeedError(f"bad OKX message: {exc}") from None
    return _ticker(symbol, message.data[0])


def _check_answer(message: _Message) -> None:
    if message.event == "error":
        raise FeedError(f"OKX refused a request: {message.code} {message.msg}")
    if not message.event:
        raise FeedError("bad OKX message: neither a push nor an event")


def _ticker(symbol: str, top: _Top) -> BookTicker:
    if not top.bids or not top.asks:
        raise FeedError(f"bad OKX message: {symbol} has no bid or no ask")
    bid, ask = (top.bids[0][0], top.bids[0][1]), (top.asks[0][0], top.asks[0][1])
    return finite_top("bad OKX message", symbol, bid, ask, top.ts, top.seq_id)
