"""The Bybit adapter against a real exchange_sim speaking Bybit v5 on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yarl

from harness.sim import SimConfig, SimKey, SimProcess, bybit_headers
from tests.support.sim import SkewedClock, running_sim
from tests.watchdog.venues.bad_answers import BAD_ANSWERS
from watchdog.venues import (
    Credentials,
    DcpUnsupported,
    KeyRefused,
    RateLimited,
    Side,
    VenueRejected,
    VenueTimeout,
)
from watchdog.venues.base import SubAccountRef
from watchdog.venues.bybit import Bybit, BybitEndpoint

ORDERS_PER_S = 1000  # the tests place orders in bursts; the venue's own limit is not under test


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimProcess]:
    with running_sim(
        tmp_path, SimConfig(book_ticker_hz=0, bybit_orders_per_s=ORDERS_PER_S), venue="bybit"
    ) as process:
        yield process


def adapter(
    sim: SimProcess, session: aiohttp.ClientSession, key: SimKey | None, **kw: Any
) -> Bybit:
    credentials = Credentials(key.api_key, key.secret) if key else None
    clock = kw.pop("clock", None)
    return Bybit(session, BybitEndpoint(sim.base_url, **kw), credentials, clock=clock)


async def place(
    sim: SimProcess,
    session: aiohttp.ClientSession,
    symbol: str,
    *,
    side: str = "Buy",
    qty: str = "0.01",
    price: str | None = None,
    key: SimKey | None = None,
) -> str:
    """The trader's order (or ``key``'s), sent the way any Bybit client sends it (not through
    the adapter)."""
    order: dict[str, str] = {"category": "linear", "symbol": symbol, "side": side, "qty": qty}
    order |= {"orderType": "Limit", "price": price} if price else {"orderType": "Market"}
    body = orjson.dumps(order).decode()
    headers = bybit_headers(key or sim.trader_key, body) | {"Content-Type": "application/json"}
    url = yarl.URL(f"{sim.base_url}/v5/order/create", encoded=True)
    async with session.post(url, data=body, headers=headers) as r:
        answer = await r.json(content_type=None)
    assert answer["retCode"] == 0, answer
    return str(answer["result"]["orderId"])


async def rest_orders(sim: SimProcess, session: aiohttp.ClientSession) -> list[str]:
    ids = [await place(sim, session, "BTCUSDT", price=f"{50000 + i}") for i in range(3)]
    ids += [await place(sim, session, "ETHUSDT", side="Sell", qty="0.1", price="3500")]
    return ids


# --- time ------------------------------------------------------------------------------------


async def test_a_skewed_clock_is_resynced_on_10002_and_the_call_then_succeeds(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    venue = adapter(sim, session, sim.watchdog_key, clock=SkewedClock(-3600.0))
    assert await venue.open_orders() == ()
    assert 3_590_000 < venue.time_offset_ms < 3_610_000


# --- open orders and cancel-all ----------------------------------------------------------------


async def test_open_orders_pages_through_every_order_on_every_symbol(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    ids = await rest_orders(sim, session)
    venue = adapter(sim, session, sim.watchdog_key, page_limit=1)
    orders = await venue.open_orders()
    assert sorted(o.order_id for o in orders) == sorted(ids)
    eth = next(o for o in orders if o.symbol == "ETHUSDT")
    assert (eth.side, eth.price, eth.orig_qty, eth.status) == (
        Side.SELL,
        Decimal("3500"),
        Decimal("0.1"),
        "New",
    )
    assert {o.order_id for o in await venue.open_orders("ETHUSDT")} == {eth.order_id}


async def test_cancel_all_cancels_one_symbol_and_leaves_the_other(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    await rest_orders(sim, session)
    venue = adapter(sim, session, sim.watchdog_key)
    assert "3 order(s)" in await venue.cancel_all("BTCUSDT")
    assert {o.symbol for o in await venue.open_orders()} == {"ETHUSDT"}


async def test_cancel_everything_cancels_both_symbols_and_is_verified_by_listing(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    ids = await rest_orders(sim, session)
    venue = adapter(sim, session, sim.watchdog_key)
    since = sim.admin.last_seq()
    report = await venue.cancel_everything()
    assert all(any(i in answer for answer in report.answers) for i in ids)
    assert report.rounds == 1
    assert sim.admin.open_orders("trader1") == []
    requests = [e["endpoint"] for e in sim.admin.journal(since=since) if e["kind"] == "request"]
    # One cancel-all per settle coin (every symbol of the book at once), sent while the books
    # are listed; then the verification: both books listed, empty, last.
    listing, cancel = "GET /v5/order/realtime", "POST /v5/order/cancel-all"
    assert sorted(requests[:4]) == [listing, listing, cancel, cancel]
    assert requests[4:] == [listing, listing]


# --- the account view ------------------------------------------------------------------------


async def test_account_view_has_the_wallet_and_the_signed_position(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    await place(sim, session, "ETHUSDT", side="Sell", qty="0.5")
    venue = adapter(sim, session, sim.watchdog_key)
    view = await venue.account()
    (position,) = view.positions
    assert (position.symbol, position.qty) == ("ETHUSDT", Decimal("-0.5"))
    assert position.mark_price is not None
    assert position.mark_price > 0
    assert view.equity == view.wallet + view.unrealized
    assert Decimal(0) < view.available < view.equity


async def test_position_risk_of_a_flat_symbol_is_a_zero_position(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    venue = adapter(sim, session, sim.watchdog_key)
    (position,) = await venue.position_risk("BTCUSDT")
    assert (position.symbol, position.qty) == ("BTCUSDT", Decimal(0))
    assert (await venue.account()).positions == ()


# --- key deletion ----------------------------------------------------------------------------


async def test_master_deletes_the_trader_key_and_the_probe_then_sees_it_refused(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    master = adapter(sim, session, sim.master_key)
    trader_key = sim.trader_key.api_key
    assert await master.key_accepted(trader_key) is True
    audit = await master.delete_sub_account_key(SubAccountRef(trader_key))
    assert trader_key not in audit
    assert await master.key_accepted(trader_key) is False
    assert sim.admin.key_status(trader_key)["status"] == "deleted"
    with pytest.raises(KeyRefused):
        await adapter(sim, session, sim.trader_key).open_orders()


async def test_the_probe_needs_no_secret_and_never_calls_a_key_refused_when_it_is_not(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    no_credentials = adapter(sim, session, None)
    assert await no_credentials.key_accepted(sim.trader_key.api_key) is True
    assert await no_credentials.key_accepted("NoSuchKey".ljust(64, "0")) is False


async def test_a_key_without_master_rights_cannot_delete_and_the_key_stays_accepted(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    watchdog = adapter(sim, session, sim.watchdog_key)
    with pytest.raises(VenueRejected):
        await watchdog.delete_sub_account_key(SubAccountRef(sim.trader_key.api_key))
    assert await watchdog.key_accepted(sim.trader_key.api_key) is True


# --- disconnection protection ----------------------------------------------------------------


async def test_dcp_is_armed_refreshed_and_read_back(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    venue = adapter(sim, session, sim.watchdog_key)  # the trading sub-account, configured
    before = await venue.dcp_state()
    assert before.configured
    armed = await venue.arm_dcp(5)
    assert (armed.status, armed.window_s) == ("ON", 5)
    refreshed = await venue.arm_dcp(7)
    assert refreshed.window_s == 7
    assert (await venue.dcp_state()).window_s == 7


async def test_dcp_the_venue_has_not_enabled_is_unsupported_and_nothing_is_set(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    sim = SimProcess.start(tmp_path, SimConfig(book_ticker_hz=0, dcp_enabled=False), venue="bybit")
    try:
        for key in (sim.master_key, sim.watchdog_key):
            venue = adapter(sim, session, key)
            assert not (await venue.dcp_state()).configured
            with pytest.raises(DcpUnsupported, match="unsupported here"):
                await venue.arm_dcp(5)
        endpoints = {e["endpoint"] for e in sim.admin.journal() if e["kind"] == "request"}
        assert "POST /v5/order/disconnected-cancel-all" not in endpoints
    finally:
        sim.stop()


@pytest.mark.parametrize("window_s", [2, 301])
async def test_a_dcp_window_outside_3_to_300_s_is_refused_before_sending(
    sim: SimProcess, session: aiohttp.ClientSession, window_s: int
) -> None:
    with pytest.raises(ValueError, match=r"3\.\.300"):
        await adapter(sim, session, sim.master_key).arm_dcp(window_s)


# --- bad answers -----------------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "error"), BAD_ANSWERS)
async def test_each_bad_answer_is_a_typed_error(
    sim: SimProcess, session: aiohttp.ClientSession, fault: dict[str, Any], error: type
) -> None:
    sim.admin.set_fault(fail_next={"count": 1, "endpoint": "GET /v5/order/realtime", **fault})
    with pytest.raises(error):
        await adapter(sim, session, sim.watchdog_key).open_orders("BTCUSDT")


async def test_an_unknown_ret_code_keeps_the_code_and_the_venues_words(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    sim.admin.set_fault(
        fail_next={"count": 1, "kind": "unknown_code", "endpoint": "POST /v5/order/cancel-all"}
    )
    with pytest.raises(VenueRejected) as caught:
        await adapter(sim, session, sim.watchdog_key).cancel_all("BTCUSDT")
    assert caught.value.code == 99999
    assert type(caught.value) is VenueRejected


async def test_a_timestamp_fault_is_resynced_and_retried_once(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    sim.admin.set_fault(
        fail_next={"count": 1, "kind": "-1021", "endpoint": "GET /v5/order/realtime"}
    )
    assert await adapter(sim, session, sim.watchdog_key).open_orders("BTCUSDT") == ()
    endpoints = [e["endpoint"] for e in sim.admin.journal() if e["kind"] == "request"]
    assert endpoints[-3:] == [
        "GET /v5/order/realtime",
        "GET /v5/market/time",
        "GET /v5/order/realtime",
    ]


async def test_a_rate_limited_adapter_holds_off_until_the_venues_reset(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    config = SimConfig(book_ticker_hz=0, bybit_orders_per_s=2)
    sim = SimProcess.start(tmp_path, config, venue="bybit")
    try:
        venue = adapter(sim, session, sim.watchdog_key)
        for _ in range(config.bybit_orders_per_s):
            await venue.cancel_all("BTCUSDT")
        with pytest.raises(RateLimited) as caught:
            await venue.cancel_all("BTCUSDT")
        assert caught.value.retry_after is not None
        assert 0 < caught.value.retry_after <= 1.5
        seq = sim.admin.last_seq()
        with pytest.raises(RateLimited, match="backing off"):
            await venue.cancel_all("BTCUSDT")
        assert sim.admin.journal(since=seq) == []
    finally:
        sim.stop()


async def test_no_answer_in_time_is_a_timeout(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    sim.admin.set_fault(rest_latency={"fixed_ms": 2000})
    with pytest.raises(VenueTimeout):
        await adapter(sim, session, sim.watchdog_key, request_timeout_s=0.2).open_orders()
