"""Bybit's orderbook.1 messages as the strategy's book tickers: snapshots, deltas, answers."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from trader.bybit_feed import BybitBooks, stream_url, subscriptions
from trader.errors import FeedError
from trader.feed import BookTicker


def book(kind: str, bids: list[list[str]], asks: list[list[str]], *, ts: int = 1000) -> bytes:
    data: dict[str, Any] = {"s": "BTCUSDT", "b": bids, "a": asks, "u": 7, "seq": 9}
    return orjson.dumps({"topic": "orderbook.1.BTCUSDT", "type": kind, "ts": ts, "data": data})


def test_a_snapshot_is_the_top_of_book_with_the_venue_time() -> None:
    ticker = BybitBooks().decode(book("snapshot", [["100.5", "2"]], [["100.6", "3"]], ts=1234))
    assert ticker == BookTicker("BTCUSDT", 100.5, 2.0, 100.6, 3.0, event_ms=1234, update_id=7)


def test_a_delta_removes_zero_sized_levels_and_sets_the_others() -> None:
    books = BybitBooks()
    books.decode(book("snapshot", [["100.5", "2"]], [["100.6", "3"]]))
    ticker = books.decode(book("delta", [["100.5", "0"], ["100.4", "5"]], [["100.6", "1"]]))
    assert ticker is not None
    assert (ticker.bid, ticker.bid_qty, ticker.ask, ticker.ask_qty) == (100.4, 5.0, 100.6, 1.0)


def test_a_new_snapshot_replaces_the_book() -> None:
    books = BybitBooks()
    books.decode(book("snapshot", [["100.5", "2"]], [["100.6", "3"]]))
    ticker = books.decode(book("snapshot", [["99.0", "1"]], [["99.1", "1"]]))
    assert ticker is not None
    assert (ticker.bid, ticker.ask) == (99.0, 99.1)


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ([book("delta", [["1", "1"]], [["2", "1"]])], "delta before its snapshot"),
        (
            [book("snapshot", [["1", "1"]], [["2", "1"]]), book("delta", [["1", "0"]], [])],
            "no bid or no ask",
        ),
        ([book("snapshot", [["nan", "1"]], [["2", "1"]])], "not finite"),
        ([book("partial", [["1", "1"]], [["2", "1"]])], "type 'partial'"),
        ([b'{"topic":"orderbook.1.BTCUSDT","type":"snapshot"}'], "without data"),
        ([b"<html>"], "bad Bybit book message"),
        ([b'{"success":false,"ret_msg":"Invalid topic","op":"subscribe"}'], "refused subscribe"),
    ],
)
def test_what_is_not_a_price_to_quote_on_is_a_feed_error(messages: list[bytes], match: str) -> None:
    books = BybitBooks()
    *before, last = messages
    for message in before:
        books.decode(message)
    with pytest.raises(FeedError, match=match):
        books.decode(last)


def test_a_reconnect_forgets_the_books_until_their_snapshot() -> None:
    books = BybitBooks()
    books.decode(book("snapshot", [["1", "1"]], [["2", "1"]]))
    books.greeting(["BTCUSDT"]).on_connect()
    with pytest.raises(FeedError, match="before its snapshot"):
        books.decode(book("delta", [["1", "2"]], []))


@pytest.mark.parametrize(
    "answer",
    [
        b'{"success":true,"ret_msg":"","conn_id":"a","op":"subscribe"}',
        b'{"success":true,"ret_msg":"pong","conn_id":"a","op":"ping"}',
    ],
)
def test_answers_to_our_requests_are_not_ticks(answer: bytes) -> None:
    assert BybitBooks().decode(answer) is None


def test_the_subscription_and_the_ping_follow_bybits_requests() -> None:
    symbols = [f"S{i}USDT" for i in range(12)]
    requests = [orjson.loads(r) for r in subscriptions(symbols)]
    assert [len(r["args"]) for r in requests] == [10, 2]
    assert requests[0] == {"op": "subscribe", "args": [f"orderbook.1.S{i}USDT" for i in range(10)]}
    greeting = BybitBooks().greeting(symbols)
    assert orjson.loads(greeting.ping) == {"op": "ping"}
    assert greeting.ping_interval_s == 20.0
    assert stream_url("wss://stream.example/") == "wss://stream.example/v5/public/linear"
