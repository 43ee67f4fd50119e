"""OKX's bbo-tbt pushes as the strategy's book tickers; its answers and keepalive; the names."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from trader import okx_feed
from trader.errors import FeedError
from trader.feed import BookTicker


def push(bids: list[list[str]], asks: list[list[str]], *, ts: str = "1234", **arg: str) -> bytes:
    top: dict[str, Any] = {"asks": asks, "bids": bids, "ts": ts, "seqId": 7}
    where = {"channel": "bbo-tbt", "instId": "BTC-USDT-SWAP"} | arg
    return orjson.dumps({"arg": where, "data": [top]})


def test_a_push_is_the_top_of_book_under_the_traders_symbol_with_the_venue_time() -> None:
    ticker = okx_feed.decode(push([["100.5", "2", "0", "1"]], [["100.6", "3", "0", "4"]]))
    assert ticker == BookTicker("BTCUSDT", 100.5, 2.0, 100.6, 3.0, event_ms=1234, update_id=7)


@pytest.mark.parametrize(
    ("message", "match"),
    [
        (push([], [["1", "1", "0", "1"]]), "no bid or no ask"),
        (push([["nan", "1", "0", "1"]], [["2", "1", "0", "1"]]), "not finite"),
        (push([["1", "1", "0", "1"]], [["2", "1", "0", "1"]], channel="tickers"), "bbo-tbt"),
        (b'{"arg":{"channel":"bbo-tbt","instId":"BTC-USDT-SWAP"},"data":[]}', "bbo-tbt"),
        (b"<html>", "bad OKX message"),
        (b"{}", "neither a push nor an event"),
        (b'{"event":"error","code":"60018","msg":"no such channel"}', "refused a request: 60018"),
    ],
)
def test_what_is_not_a_price_to_quote_on_is_a_feed_error(message: bytes, match: str) -> None:
    with pytest.raises(FeedError, match=match):
        okx_feed.decode(message)


@pytest.mark.parametrize(
    "answer",
    [b"pong", b'{"event":"subscribe","arg":{"channel":"bbo-tbt","instId":"BTC-USDT-SWAP"}}'],
)
def test_answers_to_our_requests_are_not_ticks(answer: bytes) -> None:
    assert okx_feed.decode(answer) is None


@pytest.mark.parametrize("instrument", ["BTC-USDT", "BTC-USD-SWAP", "BTC-USDT-250328"])
def test_a_push_for_an_instrument_that_is_no_usdt_swap_is_a_feed_error(instrument: str) -> None:
    with pytest.raises(FeedError, match="USDT perpetual"):
        okx_feed.decode(push([["1", "1", "0", "1"]], [["2", "1", "0", "1"]], instId=instrument))


def test_the_subscription_and_the_keepalive_follow_okxs_requests() -> None:
    greeting = okx_feed.greeting(["BTCUSDT", "ETHUSDT"])
    assert [orjson.loads(r) for r in greeting.requests] == [
        {
            "op": "subscribe",
            "args": [
                {"channel": "bbo-tbt", "instId": "BTC-USDT-SWAP"},
                {"channel": "bbo-tbt", "instId": "ETH-USDT-SWAP"},
            ],
        }
    ]
    assert (greeting.ping, greeting.ping_interval_s) == (b"ping", 20.0)
    assert okx_feed.stream_url("wss://ws.example:8443/") == "wss://ws.example:8443/ws/v5/public"


def test_the_okx_sample_is_a_real_push() -> None:
    ticker = okx_feed.decode(okx_feed.sample_message("ETHUSDT"))
    assert ticker is not None
    assert (ticker.symbol, ticker.bid, ticker.ask) == ("ETHUSDT", 100.0, 100.1)
