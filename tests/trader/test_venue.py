"""The order-entry adapter against exchange_sim: answers, errors and the send-time hook."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

import watchdog.venues as wv
from harness.sim import NEW_ORDER_ENDPOINT, VENUES, SimProcess
from harness.wait import wait_until
from trader.bybit_venue import BybitOrderVenue
from trader.errors import ConfigError
from trader.okx_venue import OkxOrderVenue
from trader.runner import watchdog_address
from trader.strategy import Side
from trader.venue import (
    BinanceOrderVenue,
    OrderReport,
    OrderRequest,
    OrderVenue,
    PostOnlyWouldCross,
    UnknownOrder,
    VenueRejected,
    VenueThrottled,
    VenueUnavailable,
    acknowledged,
    cancel_and_read_back,
    open_order_session,
)
from watchdog.clock import SystemClock


@dataclass(frozen=True)
class Venue:
    """One venue's order adapter for the test, and the words its sim uses for the same things."""

    name: str
    order_venue: OrderVenue
    create_endpoint: str  # the sim's name for the new-order endpoint, for scripted faults


def _order_venue(venue: str, sim: SimProcess, session: aiohttp.ClientSession) -> OrderVenue:
    key = sim.trader_key
    credentials = wv.Credentials(key.api_key, key.secret, key.passphrase)
    if venue == "okx":
        return OkxOrderVenue(
            session, sim.base_url, credentials, clock=SystemClock(), request_timeout_s=5.0
        )
    if venue == "bybit":
        bybit = wv.BybitEndpoint(sim.base_url, request_timeout_s=5.0)
        return BybitOrderVenue(wv.Bybit(session, bybit, credentials))
    binance = wv.VenueEndpoint(sim.base_url, request_timeout_s=5.0)
    return BinanceOrderVenue(wv.BinanceFutures(session, binance, credentials))


@pytest.fixture(scope="module", params=VENUES)
def sim(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SimProcess]:
    process = SimProcess.start(tmp_path_factory.mktemp(request.param), venue=request.param)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
async def venue(sim: SimProcess) -> AsyncIterator[Venue]:
    sim.admin.clear_faults()
    session = open_order_session()
    try:
        order_venue = _order_venue(sim.venue, sim, session)
        yield Venue(sim.venue, order_venue, NEW_ORDER_ENDPOINT[sim.venue])
    finally:
        # A fresh adapter: the test's one may be backing off after a scripted 429.
        sim.admin.clear_faults()
        cleaner = _order_venue(sim.venue, sim, session)
        for order in await cleaner.open_orders():
            await cleaner.cancel(order.symbol, order.client_id)
        await session.close()


def request(cid: str, price: str = "50000.0") -> OrderRequest:
    return OrderRequest("BTCUSDT", Side.BUY, price, "0.002", cid, reduce_only=False)


async def test_place_calls_the_sent_hook_once_and_the_order_rests(venue: Venue) -> None:
    sent: list[int] = []
    placed = await venue.order_venue.place(request("mm1t1"), lambda: sent.append(1))
    assert sent == [1]
    assert (placed.status, placed.client_id, placed.side) == ("NEW", "mm1t1", Side.BUY)
    listed = await venue.order_venue.open_orders()
    assert [(o.client_id, o.status, o.orig_qty) for o in listed] == [("mm1t1", "NEW", 0.002)]
    cancelled = await venue.order_venue.cancel("BTCUSDT", "mm1t1")
    assert (cancelled.final, cancelled.status) == (True, "CANCELED")
    assert (await venue.order_venue.query("BTCUSDT", "mm1t1")).status == "CANCELED"


async def test_a_post_only_order_that_would_cross_is_refused_as_would_cross(
    venue: Venue, sim: SimProcess
) -> None:
    ask = float(sim.admin.quotes()["BTCUSDT"]["ask"])
    with pytest.raises(PostOnlyWouldCross):
        await venue.order_venue.place(request("mm1t2", f"{ask + 100:.1f}"))
    assert await venue.order_venue.open_orders() == []


async def test_cancelling_an_unknown_order_is_unknown_order(venue: Venue) -> None:
    with pytest.raises(UnknownOrder):
        await venue.order_venue.cancel("BTCUSDT", "mm1never1")


async def test_querying_an_unknown_order_is_unknown_order(venue: Venue) -> None:
    with pytest.raises(UnknownOrder):
        await venue.order_venue.query("BTCUSDT", "mm1never2")


async def test_a_filled_order_reports_its_fill(venue: Venue, sim: SimProcess) -> None:
    bid = float(sim.admin.quotes()["BTCUSDT"]["bid"])
    await venue.order_venue.place(request("mm1t6", f"{bid:.1f}"))
    sim.admin.price_jump("BTCUSDT", -1.0)  # the book falls through our bid: it fills
    wait_until(lambda: not sim.admin.open_orders("trader1"), within=15.0, what="the fill")
    report = await venue.order_venue.query("BTCUSDT", "mm1t6")
    assert (report.status, report.executed_qty) == ("FILLED", 0.002)
    account = await venue.order_venue.account()
    assert account.position("BTCUSDT") == pytest.approx(0.002)


async def test_a_refused_order_is_a_definite_rejection(venue: Venue, sim: SimProcess) -> None:
    since = sim.admin.last_seq()
    with pytest.raises(VenueRejected) as refused:
        await venue.order_venue.place(
            OrderRequest("NOPEUSDT", Side.BUY, "1.0", "1", "mm1t3", False)
        )
    sent = [e for e in sim.admin.journal(since) if e.get("endpoint") == venue.create_endpoint]
    # OKX sizes in contracts: an instrument it does not list has none, so the OKX venue refuses
    # the order itself, before sending; the others send it and the venue refuses it.
    assert (refused.value.code != 0) == (venue.name != "okx")
    assert bool(sent) == (venue.name != "okx")


async def test_429_becomes_throttled_with_the_retry_after(venue: Venue, sim: SimProcess) -> None:
    sim.admin.set_fault(fail_next={"count": 1, "kind": "429", "endpoint": venue.create_endpoint})
    with pytest.raises(VenueThrottled) as throttled:
        await venue.order_venue.place(request("mm1t4"))
    # The sim's scripted Bybit refusal carries no reset header (its real limiter does, read by
    # watchdog.venues.bybit_wire.retry_after_seconds): the order manager then backs off itself.
    assert (throttled.value.retry_after_s is not None) == (venue.name == "binance")


async def test_a_5xx_is_an_unknown_outcome(venue: Venue, sim: SimProcess) -> None:
    sim.admin.set_fault(fail_next={"count": 1, "kind": "5xx", "endpoint": venue.create_endpoint})
    with pytest.raises(VenueUnavailable):
        await venue.order_venue.place(request("mm1t5"))


async def test_the_account_carries_equity(venue: Venue) -> None:
    account = await venue.order_venue.account()
    assert account.equity > 0


@pytest.mark.parametrize("venue", VENUES)
async def test_an_unreachable_venue_fails_the_warm_up_with_one_venue_error(venue: str) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}"  # nothing listens: refused
    session = open_order_session()
    credentials = wv.Credentials("K" * 64, "S" * 64, "P")
    order_venue: BinanceOrderVenue | BybitOrderVenue | OkxOrderVenue
    if venue == "okx":
        order_venue = OkxOrderVenue(
            session, url, credentials, clock=SystemClock(), request_timeout_s=2.0
        )
    elif venue == "bybit":
        order_venue = BybitOrderVenue(wv.Bybit(session, wv.BybitEndpoint(url), credentials))
    else:
        endpoint = wv.VenueEndpoint(url)
        order_venue = BinanceOrderVenue(wv.BinanceFutures(session, endpoint, credentials))
    try:
        with pytest.raises(VenueUnavailable):
            await order_venue.warm_up(2)
    finally:
        await session.close()


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


def test_an_order_acknowledged_with_its_ids_alone_rests_with_nothing_filled() -> None:
    order = OrderRequest("BTCUSDT", Side.SELL, "60000.5", "0.002", "mm1a", reduce_only=False)
    assert acknowledged(order) == OrderReport(
        "BTCUSDT", "mm1a", Side.SELL, "NEW", 60000.5, 0.002, 0.0, 0.0
    )


class ReadBack:
    """A venue's cancel and query as the read-back sees them: records each call, answers
    ``status`` to a query and raises ``refusal`` (when set) from the cancel."""

    def __init__(self, status: str, refusal: wv.VenueError | None = None) -> None:
        self.status = status
        self.refusal = refusal
        self.calls: list[tuple[str, str, str]] = []

    async def cancel(self, symbol: str, client_id: str) -> None:
        self.calls.append(("cancel", symbol, client_id))
        if self.refusal is not None:
            raise self.refusal

    async def query(self, symbol: str, client_id: str) -> OrderReport:
        self.calls.append(("query", symbol, client_id))
        return OrderReport(symbol, client_id, Side.BUY, self.status, 1.0, 2.0, 0.5, 1.0)


async def test_a_cancel_is_what_the_venue_reads_back_after_it() -> None:
    venue = ReadBack("CANCELED")
    report = await cancel_and_read_back("BTCUSDT", "mm1c", venue.cancel, venue.query)
    assert (report.status, report.executed_qty) == ("CANCELED", 0.5)
    assert venue.calls == [("cancel", "BTCUSDT", "mm1c"), ("query", "BTCUSDT", "mm1c")]


async def test_an_order_still_resting_after_its_cancel_is_an_unknown_outcome() -> None:
    venue = ReadBack("PARTIALLY_FILLED")
    with pytest.raises(VenueUnavailable, match="cancel of mm1c accepted, yet the venue lists it"):
        await cancel_and_read_back("BTCUSDT", "mm1c", venue.cancel, venue.query)


async def test_a_refused_cancel_is_the_order_managers_error_and_nothing_is_read_back() -> None:
    gone = wv.UnknownOrder(110001, "order not exists", http_status=200, endpoint="POST /c")
    venue = ReadBack("NEW", refusal=gone)
    with pytest.raises(UnknownOrder):
        await cancel_and_read_back("BTCUSDT", "mm1c", venue.cancel, venue.query)
    assert venue.calls == [("cancel", "BTCUSDT", "mm1c")]
