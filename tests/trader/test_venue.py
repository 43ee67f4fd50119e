"""The order-entry adapter against exchange_sim: answers, errors and the send-time hook."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import watchdog.venues as wv
from harness.sim import SimProcess
from trader.errors import ConfigError
from trader.runner import watchdog_address
from trader.strategy import Side
from trader.venue import (
    BinanceOrderVenue,
    OrderRequest,
    UnknownOrder,
    VenueRejected,
    VenueThrottled,
    VenueUnavailable,
    open_order_session,
)

BID = OrderRequest("BTCUSDT", Side.BUY, "50000.0", "0.002", "mm1-t-1", reduce_only=False)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    process = SimProcess.start(tmp_path_factory.mktemp("venue"))
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
async def venue(sim: SimProcess) -> AsyncIterator[BinanceOrderVenue]:
    sim.admin.clear_faults()
    session = open_order_session()
    key = sim.trader_key
    endpoint = wv.VenueEndpoint(sim.base_url, request_timeout_s=5.0)
    adapter = wv.BinanceFutures(session, endpoint, wv.Credentials(key.api_key, key.secret))
    try:
        yield BinanceOrderVenue(adapter)
    finally:
        # A fresh adapter: the test's one may be backing off after a scripted 429.
        sim.admin.clear_faults()
        cleaner = wv.BinanceFutures(session, endpoint, wv.Credentials(key.api_key, key.secret))
        for order in await cleaner.open_orders():
            await cleaner.cancel_order(order.symbol, client_order_id=order.client_order_id)
        await session.close()


def request(cid: str, price: str = "50000.0") -> OrderRequest:
    return OrderRequest("BTCUSDT", Side.BUY, price, "0.002", cid, reduce_only=False)


async def test_place_calls_the_sent_hook_once_and_the_order_rests(venue: BinanceOrderVenue) -> None:
    sent: list[int] = []
    placed = await venue.place(request("mm1-t-1"), lambda: sent.append(1))
    assert sent == [1]
    assert (placed.status, placed.client_id, placed.side) == ("NEW", "mm1-t-1", Side.BUY)
    assert [o.client_id for o in await venue.open_orders()] == ["mm1-t-1"]
    cancelled = await venue.cancel("BTCUSDT", "mm1-t-1")
    assert cancelled.final
    assert (await venue.query("BTCUSDT", "mm1-t-1")).status == "CANCELED"


async def test_a_post_only_order_that_would_cross_is_a_definite_rejection(
    venue: BinanceOrderVenue, sim: SimProcess
) -> None:
    ask = float(sim.admin.quotes()["BTCUSDT"]["ask"])
    with pytest.raises(VenueRejected) as refused:
        await venue.place(request("mm1-t-2", f"{ask + 100:.1f}"))
    assert refused.value.code == -5022
    assert await venue.open_orders() == []


async def test_cancelling_an_unknown_order_is_unknown_order(venue: BinanceOrderVenue) -> None:
    with pytest.raises(UnknownOrder):
        await venue.cancel("BTCUSDT", "mm1-never-1")


async def test_a_refused_order_is_a_definite_rejection(venue: BinanceOrderVenue) -> None:
    with pytest.raises(VenueRejected) as refused:
        await venue.place(OrderRequest("NOPEUSDT", Side.BUY, "1.0", "1", "mm1-t-3", False))
    assert refused.value.code < 0


async def test_429_becomes_throttled_with_the_retry_after(
    venue: BinanceOrderVenue, sim: SimProcess
) -> None:
    sim.admin.set_fault(fail_next={"count": 1, "kind": "429", "endpoint": "POST /fapi/v1/order"})
    with pytest.raises(VenueThrottled) as throttled:
        await venue.place(request("mm1-t-4"))
    assert throttled.value.retry_after_s is not None


async def test_a_5xx_is_an_unknown_outcome(venue: BinanceOrderVenue, sim: SimProcess) -> None:
    sim.admin.set_fault(fail_next={"count": 1, "kind": "5xx", "endpoint": "POST /fapi/v1/order"})
    with pytest.raises(VenueUnavailable):
        await venue.place(request("mm1-t-5"))


async def test_the_account_carries_equity(venue: BinanceOrderVenue) -> None:
    account = await venue.account()
    assert account.equity > 0


def test_watchdog_addresses_are_a_socket_path_or_udp_host_port() -> None:
    assert watchdog_address("/run/w.sock") == "/run/w.sock"
    assert watchdog_address("udp://10.0.0.2:9999") == ("10.0.0.2", 9999)
    with pytest.raises(ConfigError, match="udp://host:port"):
        watchdog_address("udp://nohost")


def test_credentials_files_are_checked_by_the_venue_loader(tmp_path: Path) -> None:
    path = tmp_path / "venue.key"
    path.write_text('api_key = "k"\nsecret = "s"\n')
    path.chmod(0o644)
    with pytest.raises(wv.CredentialsError, match="chmod 600"):
        wv.load_credentials(path)
