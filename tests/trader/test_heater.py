"""The hot-path heater rehearses the tick path and changes nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import watchdog.venues as wv
from tests.trader.helpers import wait_until
from tests.trader.test_app import AccountVenue, RecordingLink, build, quoting
from trader import bybit_feed
from trader.bybit_feed import BybitBooks
from trader.config import load_config
from trader.errors import ConfigError
from trader.fastpath import OrderSigner
from trader.feed import parse_book_ticker
from trader.heater import HotPathHeater, sample_message
from trader.strategy import Side, Top
from trader.venue_kind import hot_path_heater

EXAMPLE = Path(__file__).parents[2] / "examples" / "trader.toml"
SIGNER = OrderSigner("http://127.0.0.1:1", wv.Credentials("K" * 64, "S" * 64), 5000)


def test_the_sample_message_is_a_real_book_ticker() -> None:
    ticker = parse_book_ticker(sample_message("ETHUSDT"))
    assert (ticker.symbol, ticker.bid, ticker.ask) == ("ETHUSDT", 100.0, 100.1)


def test_the_bybit_sample_is_a_real_book_snapshot() -> None:
    ticker = BybitBooks().decode(bybit_feed.sample_message("ETHUSDT"))
    assert ticker is not None
    assert (ticker.symbol, ticker.bid, ticker.ask) == ("ETHUSDT", 100.0, 100.1)


@pytest.mark.parametrize("kind", ["binance_futures", "bybit", "okx"])
def test_the_heater_decodes_its_venues_own_messages(kind: str) -> None:
    # A venue's sample through another venue's decoder is a FeedError: warming would fail.
    heater = hot_path_heater(kind, build(AccountVenue(), RecordingLink()), ["BTCUSDT"], None, 0.001)
    heater.warm_once()
    assert heater.rounds == 1


async def test_warming_sends_records_and_changes_nothing() -> None:
    async with quoting() as (trader, venue, link):
        await wait_until(lambda: len(link.kinds("order")) >= 4, what="submits and acks")
        resting, reports = dict(venue.resting), list(link.reports)
        submitted = trader.orders.submitted
        heater = HotPathHeater(trader, ["BTCUSDT"], SIGNER, interval_s=0.001)
        for _ in range(200):
            heater.warm_once()
        await asyncio.sleep(0.05)  # give anything the rehearsal might have started a chance
        assert venue.resting == resting
        assert link.reports == reports
        assert trader.orders.submitted == submitted
        assert heater.rounds == 200
        # The SUBMIT report each order is preceded by was rehearsed too, never reported.
        assert len(link.rehearsed) >= 200
        assert {symbol for symbol, _ in link.rehearsed} == {"BTCUSDT"}


async def test_a_rehearsal_decides_the_quotes_a_moved_market_would_get() -> None:
    async with quoting() as (trader, venue, _link):
        trader._tops["BTCUSDT"] = Top(1_000_000, 1_000_010)  # the market moved, in ticks
        requests = trader.rehearse("BTCUSDT")  # far from the resting quotes: a requote is due
        assert {r.side for r in requests} == {Side.BUY, Side.SELL}
        assert all(99_000 < float(r.price) < 101_000 for r in requests)  # at the moved market
        assert len(venue.resting) == 2  # ...but nothing was executed
        assert trader.orders.submitted == 2
        assert all(not trader.orders.is_own(r.client_id) or r.client_id.endswith("-0")
                   for r in requests)  # fmt: skip


async def test_the_heater_runs_until_cancelled() -> None:
    venue, link = AccountVenue(), RecordingLink()
    trader = build(venue, link)
    heater = HotPathHeater(trader, ["BTCUSDT"], None, interval_s=0.001)
    task = asyncio.create_task(heater.run())
    await wait_until(lambda: heater.rounds >= 10, what="ten warm rounds")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_warm_interval_is_configurable_and_validated(tmp_path: Path) -> None:
    assert load_config(EXAMPLE).strategy.warm_interval_ms == 1.0
    text = EXAMPLE.read_text().replace("warm_interval_ms = 1.0", "warm_interval_ms = -1", 1)
    bad = tmp_path / "trader.toml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match="warm_interval_ms"):
        load_config(bad)
