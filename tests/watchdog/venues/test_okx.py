"""The OKX adapter on a scripted fake venue: what it sends, and answers the simulator never gives
(pages, per-item failures, a switch the venue did not set, unreadable bodies)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from harness.sim import (
    MASTER_ACCOUNT,
    MASTER_KEY,
    TRADER_ACCOUNT,
    SimConfig,
    SimKey,
    SimProcess,
)
from tests.support.sim import SkewedClock, running_sim
from tests.watchdog.venues.bad_answers import BAD_ANSWERS
from tests.watchdog.venues.fake_venue import FakeVenue, Recorded, Reply, running
from tests.watchdog.wire import wait_until as async_wait_until
from watchdog.clock import FakeClock
from watchdog.venues import (
    Credentials,
    DmsMode,
    DmsNotConfirmed,
    DmsState,
    KeyRefused,
    OrdersRemain,
    RateLimited,
    Side,
    SubAccountRef,
    VenueProtocolError,
    VenueRejected,
    VenueTimeout,
    VenueUnavailable,
)
from watchdog.venues.okx import Okx, OkxEndpoint

KEY = Credentials("K" * 18, "S" * 32, passphrase="pass-phrase")
NOW_MS = 1_700_000_000_000
TRADER = SubAccountRef("T" * 18, sub_account="trader1")
PENDING = "GET /api/v5/trade/orders-pending"
BATCH = "POST /api/v5/trade/cancel-batch-orders"


def ok(data: list[Any], code: str = "0") -> Reply:
    return Reply(200, {"code": code, "msg": "", "data": data})


def refused(code: str, status: int = 200) -> Reply:
    return Reply(status, {"code": code, "msg": f"refused {code}", "data": []})


def order(ord_id: str, inst: str = "BTC-USDT-SWAP", sz: str = "3") -> dict[str, object]:
    return {
        "instId": inst, "ordId": ord_id, "clOrdId": "", "side": "buy", "ordType": "limit",
        "state": "live", "px": "50000", "sz": sz, "accFillSz": "0", "reduceOnly": "false",
        "cTime": "1700000000000",
    }  # fmt: skip


def items(*codes: str) -> list[dict[str, str]]:
    return [{"ordId": str(i), "clOrdId": "", "sCode": c, "sMsg": "", "ts": "1"}
            for i, c in enumerate(codes)]  # fmt: skip


INSTRUMENTS = ok([
    {"instId": "BTC-USDT-SWAP", "ctVal": "0.01", "ctMult": "1"},
    {"instId": "ETH-USDT-SWAP", "ctVal": "0.1", "ctMult": "1"},
])  # fmt: skip


@pytest.fixture
async def fake() -> AsyncIterator[FakeVenue]:
    async with running(FakeVenue(secrets={})) as venue:
        venue.defaults["GET /api/v5/public/instruments"] = INSTRUMENTS
        yield venue


def adapter(fake: FakeVenue, session: aiohttp.ClientSession, **kw: Any) -> Okx:
    clock = FakeClock(wall=NOW_MS / 1000)
    return Okx(session, OkxEndpoint(fake.base_url, **kw), KEY, clock=clock)


def signature_of(call: Recorded) -> str:
    path = call.path + (f"?{call.query}" if call.query else "")
    stamp = call.headers["OK-ACCESS-TIMESTAMP"]
    message = f"{stamp}{call.method}{path}".encode() + call.body
    digest = hmac.new(KEY.secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def test_credentials_without_a_passphrase_are_refused_at_once() -> None:
    with pytest.raises(ValueError, match="passphrase"):
        Okx(None, OkxEndpoint("http://x"), Credentials("K", "S"))  # type: ignore[arg-type]


async def test_a_signed_get_and_post_carry_the_four_headers_over_path_query_and_body(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    fake.script(PENDING, ok([]), ok([order("1")]))
    fake.script(BATCH, ok(items("0")))
    venue = adapter(fake, session)
    await venue.open_orders("BTCUSDT")
    await venue.cancel_all("BTCUSDT")
    (get, _) = fake.calls(PENDING)
    (post,) = fake.calls(BATCH)
    assert orjson.loads(post.body) == [{"instId": "BTC-USDT-SWAP", "ordId": "1"}]
    assert post.headers["OK-ACCESS-SIGN"] == signature_of(post)
    assert post.headers["Content-Type"] == "application/json"
    assert get.query == "instType=SWAP&instId=BTC-USDT-SWAP&limit=100"
    assert get.headers["OK-ACCESS-KEY"] == KEY.api_key
    assert get.headers["OK-ACCESS-PASSPHRASE"] == "pass-phrase"
    assert get.headers["OK-ACCESS-TIMESTAMP"] == "2023-11-14T22:13:20.000Z"
    assert get.headers["OK-ACCESS-SIGN"] == signature_of(get)


async def test_pending_orders_are_read_page_after_page_and_sized_in_the_base_coin(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    fake.script(PENDING, ok([order("5"), order("4")]), ok([order("3"), order("2")]),
                ok([order("1", "ETH-USDT-SWAP", "7")]))  # fmt: skip
    listed = await adapter(fake, session, page_limit=2).open_orders()
    assert [o.order_id for o in listed] == ["5", "4", "3", "2", "1"]
    assert (listed[0].orig_qty, listed[-1].orig_qty) == (Decimal("0.03"), Decimal("0.7"))
    assert [c.query for c in fake.calls(PENDING)] == [
        "limit=2",
        "limit=2&after=4",
        "limit=2&after=2",
    ]


async def test_a_page_that_repeats_itself_is_an_error_not_a_short_list(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    fake.defaults[PENDING] = ok([order("2"), order("1")])
    fake.script(PENDING, ok([order("1"), order("1")]))
    with pytest.raises(VenueProtocolError, match="repeated page '1'"):
        await adapter(fake, session, page_limit=2).open_orders()


async def test_an_instrument_the_venue_does_not_list_is_never_sized_by_a_guess(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    fake.script(PENDING, ok([order("1", "DOGE-USDT-SWAP")]))
    with pytest.raises(VenueProtocolError, match="no USDT swap 'DOGEUSDT' listed"):
        await adapter(fake, session).open_orders()


async def test_cancel_everything_cancels_45_orders_in_three_batches_then_lists_none(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    resting = [order(str(i), "BTC-USDT-SWAP" if i % 2 else "ETH-USDT-SWAP") for i in range(45)]
    fake.script(PENDING, ok(resting), ok([]))
    fake.script(BATCH, ok(items(*["0"] * 20)), ok(items(*["0"] * 20)), ok(items(*["0"] * 5)))
    venue = adapter(fake, session, cancel_concurrency=1)
    report = await venue.cancel_everything()
    assert report.rounds == 2
    assert report.answers == ("3 batch(es): 45 cancelled, 0 already gone",)
    sent = [orjson.loads(c.body) for c in fake.calls(BATCH)]
    assert [len(b) for b in sent] == [20, 20, 5]
    assert sent[0][0] == {"instId": "ETH-USDT-SWAP", "ordId": "0"}
    assert all(c.headers["OK-ACCESS-SIGN"] == signature_of(c) for c in fake.calls(BATCH))


async def test_an_order_already_gone_is_no_failure_the_listing_decides(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    fake.script(PENDING, ok([order("1"), order("2")]), ok([]))
    fake.script(BATCH, ok(items("0", "51400"), code="2"))
    report = await adapter(fake, session).cancel_everything()
    assert report.answers == ("1 batch(es): 1 cancelled, 1 already gone",)


@pytest.mark.parametrize(("code", "error"), [("51000", VenueRejected), ("50011", RateLimited)])
async def test_an_item_the_venue_would_not_cancel_is_raised_as_its_own_error(
    fake: FakeVenue, session: aiohttp.ClientSession, code: str, error: type[Exception]
) -> None:
    fake.script(PENDING, ok([order("1"), order("2")]))
    fake.script(BATCH, ok(items("0", code), code="2"))
    with pytest.raises(error, match="order 1"):
        await adapter(fake, session).cancel_everything()


async def test_orders_that_survive_every_round_are_reported_with_the_count(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    fake.defaults[PENDING] = ok([order("1")])
    fake.defaults[BATCH] = ok(items("0"))
    with pytest.raises(OrdersRemain) as caught:
        await adapter(fake, session).cancel_everything(max_rounds=2)
    assert caught.value.remaining == 1
    assert (len(fake.calls(BATCH)), len(fake.calls(PENDING))) == (2, 3)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, b"<html><body>maintenance</body></html>"),
        Reply(200, {}),
        Reply(200, {"code": "0", "msg": ""}),
        Reply(200, {"code": "0", "msg": "", "data": [{"ordId": "0"}]}),
    ],
)
async def test_a_batch_answer_that_cannot_be_read_is_an_error_never_a_cancel(
    fake: FakeVenue, session: aiohttp.ClientSession, reply: Reply
) -> None:
    fake.script(PENDING, ok([order("1")]))
    fake.script(BATCH, reply)
    with pytest.raises(VenueProtocolError):
        await adapter(fake, session).cancel_everything()


async def test_a_503_page_is_an_unknown_outcome(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    fake.script(PENDING, ok([order("1")]))
    fake.script(BATCH, Reply(503, b"<html>bad gateway</html>"))
    with pytest.raises(VenueUnavailable):
        await adapter(fake, session).cancel_everything()


def after(trigger_ms: int, ts_ms: int = NOW_MS) -> Reply:
    return ok([{"triggerTime": str(trigger_ms), "tag": "", "ts": str(ts_ms)}])


async def test_the_switch_is_armed_only_as_the_venue_answers_it(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    route = "POST /api/v5/trade/cancel-all-after"
    fake.script(route, after(NOW_MS + 30_000), after(NOW_MS + 5_000), after(0))
    venue = adapter(fake, session)
    state = await venue.arm_dms(30_000, ["BTCUSDT"])
    assert (state.mode, state.window_ms) == (DmsMode.ARMED, 30_000)
    assert await venue.dms_state() == state
    with pytest.raises(DmsNotConfirmed, match="triggerTime 1700000005000"):
        await venue.arm_dms(30_000, ["BTCUSDT"])
    with pytest.raises(DmsNotConfirmed, match="triggerTime 0"):
        await venue.arm_dms(30_000, ["BTCUSDT"])
    assert [orjson.loads(c.body) for c in fake.calls(route)] == [{"timeOut": "30"}] * 3


async def test_disarming_is_confirmed_only_by_a_trigger_time_of_zero(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    route = "POST /api/v5/trade/cancel-all-after"
    fake.script(route, after(0), after(NOW_MS + 10_000))
    venue = adapter(fake, session)
    assert (await venue.arm_dms(0, [])).mode is DmsMode.OFF
    with pytest.raises(DmsNotConfirmed):
        await venue.arm_dms(0, [])


@pytest.mark.parametrize("window_ms", [5_000, 121_000, 10_500])
async def test_a_window_outside_what_okx_counts_is_refused_before_sending(
    fake: FakeVenue, session: aiohttp.ClientSession, window_ms: int
) -> None:
    with pytest.raises(ValueError, match=r"timeout_s must be|whole seconds"):
        await adapter(fake, session).arm_dms(window_ms, [])
    assert not fake.requests


@pytest.mark.parametrize(("code", "accepted"), [("50111", False), ("50119", False),
                                                ("50113", True), ("50105", True)])  # fmt: skip
async def test_the_probe_reads_the_key_from_the_venues_refusal(
    fake: FakeVenue, session: aiohttp.ClientSession, code: str, accepted: bool
) -> None:
    fake.script("GET /api/v5/account/balance", refused(code, 401))
    assert await adapter(fake, session).key_accepted("T" * 18) is accepted
    (call,) = fake.calls("GET /api/v5/account/balance")
    assert call.headers["OK-ACCESS-KEY"] == "T" * 18
    assert call.headers["OK-ACCESS-PASSPHRASE"] != KEY.passphrase


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (refused("50001"), VenueUnavailable),
        (refused("51000"), VenueRejected),
        (ok([]), VenueProtocolError),
    ],
)
async def test_a_probe_answer_that_is_neither_refused_nor_accepted_raises(
    fake: FakeVenue, session: aiohttp.ClientSession, reply: Reply, error: type[Exception]
) -> None:
    fake.script("GET /api/v5/account/balance", reply)
    with pytest.raises(error):
        await adapter(fake, session).key_accepted("T" * 18)


def config(uid: str = "1", ip: str = "10.0.0.7") -> Reply:
    return ok([{"uid": uid, "mainUid": "1", "ip": ip, "perm": "read_only,trade"}])


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (config(uid="2"), "not the master's"),
        (config(ip=""), "bound to no IP address"),
    ],
)
async def test_a_master_key_that_cannot_manage_sub_account_keys_is_refused_by_name(
    fake: FakeVenue, session: aiohttp.ClientSession, reply: Reply, why: str
) -> None:
    fake.script("GET /api/v5/account/config", reply)
    with pytest.raises(VenueRejected, match=why):
        await adapter(fake, session).confirm_manages(TRADER)


async def test_a_master_that_does_not_list_the_traders_key_is_refused(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    fake.script("GET /api/v5/account/config", config(), config())
    route = "GET /api/v5/users/subaccount/apikey"
    row = {"apiKey": TRADER.api_key, "label": "", "perm": "trade", "ip": "", "ts": "1"}
    fake.script(route, ok([row]), ok([]))
    venue = adapter(fake, session)
    assert "manages sub-account trader1" in await venue.confirm_manages(TRADER)
    with pytest.raises(VenueRejected, match="not among sub-account trader1's keys"):
        await venue.confirm_manages(TRADER)
    assert fake.calls(route)[0].query == f"subAcct=trader1&apiKey={TRADER.api_key}"


async def test_a_deletion_answered_for_another_sub_account_is_an_error(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    route = "POST /api/v5/users/subaccount/delete-apikey"
    fake.script(route, ok([{"subAcct": "trader1"}]), ok([{"subAcct": "other"}]))
    venue = adapter(fake, session)
    assert "deleted" in await venue.delete_sub_account_key(TRADER)
    assert orjson.loads(fake.calls(route)[0].body) == {"subAcct": "trader1", "apiKey": "T" * 18}
    with pytest.raises(VenueProtocolError, match="subAcct"):
        await venue.delete_sub_account_key(TRADER)


async def test_the_account_is_the_usdt_balance_and_positions_in_the_base_coin(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    usdt = {"ccy": "USDT", "eq": "1010", "cashBal": "1000", "upl": "10", "availEq": "900"}
    fake.script("GET /api/v5/account/balance", ok([{"details": [usdt]}]))
    pos = {"instId": "BTC-USDT-SWAP", "posSide": "net", "pos": "-5", "avgPx": "50000",
           "upl": "10", "markPx": "49800"}  # fmt: skip
    fake.script("GET /api/v5/account/positions", ok([pos]))
    view = await adapter(fake, session).account()
    assert (view.equity, view.wallet, view.unrealized, view.available) == (
        Decimal(1010), Decimal(1000), Decimal(10), Decimal(900),
    )  # fmt: skip
    (p,) = view.positions
    assert (p.symbol, p.qty, p.mark_price) == ("BTCUSDT", Decimal("-0.05"), Decimal(49800))


# Instruments an OKX account may hold that the suite neither trades nor values.
FOREIGN = ("BTC-USD-SWAP", "BTC-USDT-250328", "ETH-USDT")


async def test_a_kill_cancels_pending_orders_on_every_instrument_by_inst_id(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    """An inverse swap, a future or a spot order on the account never makes the listing fail:
    every pending order is cancelled by its own instId and ordId, and the kill is verified by
    a listing of every instrument type that shows none."""
    resting = [order("1"), *(order(str(i), inst) for i, inst in enumerate(FOREIGN, start=2))]
    fake.script(PENDING, ok(resting), ok([]))
    fake.script(BATCH, ok(items("0", "0", "0", "0")))
    report = await adapter(fake, session).cancel_everything()
    assert report.rounds == 2
    (batch,) = fake.calls(BATCH)
    assert orjson.loads(batch.body) == [
        {"instId": "BTC-USDT-SWAP", "ordId": "1"},
        {"instId": "BTC-USD-SWAP", "ordId": "2"},
        {"instId": "BTC-USDT-250328", "ordId": "3"},
        {"instId": "ETH-USDT", "ordId": "4"},
    ]
    assert [c.query for c in fake.calls(PENDING)] == ["limit=100", "limit=100"]


async def test_open_orders_on_other_instruments_are_listed_in_okx_units_under_their_inst_id(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    fake.script(PENDING, ok([order("1", sz="3"), order("2", "BTC-USD-SWAP", sz="3")]))
    listed = await adapter(fake, session).open_orders()
    assert [(o.symbol, o.orig_qty) for o in listed] == [
        ("BTCUSDT", Decimal("0.03")), ("BTC-USD-SWAP", Decimal(3)),
    ]  # fmt: skip


async def test_the_sweep_cancels_an_other_instruments_orders_by_its_inst_id(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    fake.script(PENDING, ok([order("9", "BTC-USD-SWAP")]))
    fake.script(BATCH, ok(items("0")))
    assert "1 cancelled" in await adapter(fake, session).cancel_all("BTC-USD-SWAP")
    (listing,) = fake.calls(PENDING)
    assert listing.query == "instId=BTC-USD-SWAP&limit=100"
    assert orjson.loads(fake.calls(BATCH)[0].body) == [{"instId": "BTC-USD-SWAP", "ordId": "9"}]


async def test_the_account_view_names_positions_it_cannot_value_and_keeps_the_rest(
    fake: FakeVenue, session: aiohttp.ClientSession
) -> None:
    usdt = {"ccy": "USDT", "eq": "1010", "cashBal": "1000", "upl": "10", "availEq": "900"}
    fake.script("GET /api/v5/account/balance", ok([{"details": [usdt]}]))
    ours = {"instId": "BTC-USDT-SWAP", "posSide": "net", "pos": "2", "avgPx": "50000",
            "upl": "10", "markPx": "50100"}  # fmt: skip
    inverse = {**ours, "instId": "BTC-USD-SWAP", "pos": "-7", "markPx": ""}
    future = {**ours, "instId": "ETH-USD-250328", "pos": "0", "avgPx": "", "upl": "", "markPx": ""}
    fake.script("GET /api/v5/account/positions", ok([inverse, ours, future]))
    view = await adapter(fake, session).account()
    assert [(p.symbol, p.qty) for p in view.positions] == [("BTCUSDT", Decimal("0.02"))]
    assert view.unvalued == ("BTC-USD-SWAP",)
    assert view.equity == Decimal(1010)
    (read,) = fake.calls("GET /api/v5/account/positions")
    assert read.query == ""  # every instrument type, not only swaps


# --- against a real exchange_sim speaking OKX v5 on loopback ----------------------------------

LISTING = "GET /api/v5/trade/orders-pending"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimProcess]:
    with running_sim(
        tmp_path, SimConfig(book_ticker_hz=0, okx_orders_per_2s=10_000), venue="okx"
    ) as process:
        yield process


def on_sim(sim: SimProcess, session: aiohttp.ClientSession, key: SimKey | None, **kw: Any) -> Okx:
    credentials = Credentials(key.api_key, key.secret, key.passphrase) if key else None
    clock = kw.pop("clock", None)
    return Okx(session, OkxEndpoint(sim.base_url, **kw), credentials, clock=clock)


def trader_ref(sim: SimProcess) -> SubAccountRef:
    return SubAccountRef(sim.trader_key.api_key, sub_account="trader1")


def rest(sim: SimProcess, count: int, symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")) -> None:
    """``count`` resting sells with the trader's key, taking turns on ``symbols``, far above."""
    prices = {"BTCUSDT": 70_000, "ETHUSDT": 3_500}
    qty = {"BTCUSDT": "0.01", "ETHUSDT": "0.1"}
    for i in range(count):
        symbol = symbols[i % len(symbols)]
        sim.place_order(sim.trader_key, symbol, "SELL", qty[symbol], str(prices[symbol] + i))


def requests_since(sim: SimProcess, seq: int) -> list[str]:
    return [e["endpoint"] for e in sim.admin.journal(since=seq) if e["kind"] == "request"]


async def test_a_skewed_clock_is_resynced_on_50102_and_the_call_then_succeeds(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    venue = on_sim(sim, session, sim.watchdog_key, clock=SkewedClock(-3600.0))
    assert await venue.open_orders() == ()
    assert 3_590_000 < venue.time_offset_ms < 3_610_000


async def test_open_orders_pages_through_both_swaps_in_the_base_coin(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    rest(sim, 5)
    venue = on_sim(sim, session, sim.watchdog_key, page_limit=2)
    orders = await venue.open_orders()
    assert len(orders) == 5
    assert len({o.order_id for o in orders}) == 5
    eth = next(o for o in orders if o.symbol == "ETHUSDT")
    assert (eth.side, eth.orig_qty, eth.status) == (Side.SELL, Decimal("0.1"), "live")
    assert {o.order_id for o in await venue.open_orders("ETHUSDT")} == {
        o.order_id for o in orders if o.symbol == "ETHUSDT"
    }


async def test_cancel_everything_sends_45_orders_in_three_batches_then_lists_none(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    rest(sim, 45)
    venue = on_sim(sim, session, sim.watchdog_key)
    seq = sim.admin.last_seq()
    report = await venue.cancel_everything()
    assert report.rounds == 2
    assert report.answers == ("3 batch(es): 45 cancelled, 0 already gone",)
    assert sim.admin.open_orders("trader1") == []
    requests = requests_since(sim, seq)
    # The public instruments once (contract values), a listing, three batches, the listing
    # that verifies: the last request of a success is always a list.
    assert requests.count(BATCH) == 3
    assert requests[-1] == LISTING
    assert requests.count(LISTING) == 2


async def test_cancel_all_cancels_one_swap_and_leaves_the_other(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    rest(sim, 4)
    venue = on_sim(sim, session, sim.watchdog_key)
    assert "2 cancelled" in await venue.cancel_all("BTCUSDT")
    assert {o.symbol for o in await venue.open_orders()} == {"ETHUSDT"}


async def test_the_account_view_has_the_usdt_balance_and_the_signed_position(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    sim.place_order(sim.trader_key, "ETHUSDT", "SELL", "0.5")
    venue = on_sim(sim, session, sim.watchdog_key)
    view = await venue.account()
    (position,) = view.positions
    assert (position.symbol, position.qty) == ("ETHUSDT", Decimal("-0.5"))
    assert position.mark_price is not None
    assert position.mark_price > 0
    assert Decimal(0) < view.available < view.equity
    assert await venue.position_risk("BTCUSDT") == ()


async def test_the_master_deletes_the_trader_key_and_the_probe_then_sees_it_refused(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    master = on_sim(sim, session, sim.master_key)
    ref = trader_ref(sim)
    assert await master.key_accepted(ref.api_key) is True
    assert "manages sub-account trader1" in await master.confirm_manages(ref)
    audit = await master.delete_sub_account_key(ref)
    assert ref.api_key not in audit
    assert await master.key_accepted(ref.api_key) is False
    assert sim.admin.key_status(ref.api_key)["status"] == "deleted"
    with pytest.raises(KeyRefused):
        await on_sim(sim, session, sim.trader_key).open_orders()
    with pytest.raises(VenueRejected):
        await master.confirm_manages(ref)  # the master no longer lists it


async def test_the_probe_needs_no_secret_and_never_calls_a_key_refused_when_it_is_not(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    no_credentials = on_sim(sim, session, None)
    assert await no_credentials.key_accepted(sim.trader_key.api_key) is True
    assert await no_credentials.key_accepted("NoSuchKey".ljust(64, "0")) is False


async def test_a_key_without_master_rights_cannot_delete_and_the_key_stays_accepted(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    watchdog = on_sim(sim, session, sim.watchdog_key)
    with pytest.raises(VenueRejected):
        await watchdog.delete_sub_account_key(trader_ref(sim))
    with pytest.raises(VenueRejected, match="not the master's"):
        await watchdog.confirm_manages(trader_ref(sim))
    assert await watchdog.key_accepted(sim.trader_key.api_key) is True


async def test_a_master_bound_to_no_ip_is_refused_by_name_at_the_self_check(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    unbound = replace(MASTER_ACCOUNT, keys=(replace(MASTER_KEY, ips=()),))
    config = SimConfig(book_ticker_hz=0, accounts=(unbound, TRADER_ACCOUNT))
    sim = SimProcess.start(tmp_path, config, venue="okx")
    try:
        master = on_sim(sim, session, sim.master_key)
        with pytest.raises(VenueRejected, match="bound to no IP address"):
            await master.confirm_manages(trader_ref(sim))
        with pytest.raises(VenueRejected):  # and the venue itself refuses it the deletion
            await master.delete_sub_account_key(trader_ref(sim))
        assert sim.admin.key_status(sim.trader_key.api_key)["status"] == "active"
    finally:
        sim.stop()


async def test_the_switch_is_armed_refreshed_read_back_and_disarmed(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    venue = on_sim(sim, session, sim.watchdog_key)
    armed = await venue.arm_dms(60_000, [])
    assert (armed.mode, armed.window_ms) == (DmsMode.ARMED, 60_000)
    (countdown,) = sim.admin.countdowns()
    assert countdown["symbol"] is None  # account-wide
    refreshed = await once_the_venue_takes_it(lambda: venue.arm_dms(10_000, []))
    assert refreshed.window_ms == 10_000
    assert await venue.dms_state() == refreshed
    off = await once_the_venue_takes_it(lambda: venue.arm_dms(0, []))
    assert off.mode is DmsMode.OFF
    assert sim.admin.countdowns() == []


async def once_the_venue_takes_it(call: Callable[[], Awaitable[DmsState]]) -> DmsState:
    """cancel-all-after takes one request a second per account: ask until the venue takes it
    (a refusal is a 429; anything else is raised), within a deadline."""
    deadline = time.monotonic() + 5.0
    while True:
        try:
            return await call()
        except RateLimited:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def test_the_venue_cancels_every_order_when_the_switch_is_not_refreshed(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    rest(sim, 4)
    venue = on_sim(sim, session, sim.watchdog_key)
    await venue.arm_dms(10_000, [])
    await async_wait_until(lambda: sim.admin.open_orders("trader1") == [], within=20.0)
    fired = [e for e in sim.admin.journal() if e["endpoint"] == "countdown_cancel_all"]
    assert len(fired) == 1


@pytest.mark.parametrize(("fault", "error"), BAD_ANSWERS)
async def test_each_bad_answer_is_a_typed_error(
    sim: SimProcess, session: aiohttp.ClientSession, fault: dict[str, Any], error: type
) -> None:
    sim.admin.set_fault(fail_next={"count": 1, "endpoint": LISTING, **fault})
    with pytest.raises(error):
        await on_sim(sim, session, sim.watchdog_key).open_orders("BTCUSDT")


async def test_a_bad_answer_to_a_batch_cancel_is_an_error_never_a_cancel(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    rest(sim, 2)
    for kind in ("empty", "unknown_code"):
        sim.admin.set_fault(fail_next={"count": 1, "endpoint": BATCH, "kind": kind})
        with pytest.raises((VenueProtocolError, VenueRejected)):
            await on_sim(sim, session, sim.watchdog_key).cancel_everything()
    assert len(sim.admin.open_orders("trader1")) == 2


async def test_an_unknown_code_keeps_the_code_and_the_venues_words(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    sim.admin.set_fault(fail_next={"count": 1, "kind": "unknown_code", "endpoint": LISTING})
    with pytest.raises(VenueRejected) as caught:
        await on_sim(sim, session, sim.watchdog_key).open_orders()
    assert caught.value.code == 99999
    assert type(caught.value) is VenueRejected


async def test_a_timestamp_fault_is_resynced_and_retried_once(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    venue = on_sim(sim, session, sim.watchdog_key)
    await venue.contract_value("BTCUSDT")
    sim.admin.set_fault(fail_next={"count": 1, "kind": "-1021", "endpoint": LISTING})
    seq = sim.admin.last_seq()
    assert await venue.open_orders("BTCUSDT") == ()
    assert requests_since(sim, seq)[-3:] == [LISTING, "GET /api/v5/public/time", LISTING]


async def test_no_answer_in_time_is_a_timeout(
    sim: SimProcess, session: aiohttp.ClientSession
) -> None:
    sim.admin.set_fault(rest_latency={"fixed_ms": 2000})
    with pytest.raises(VenueTimeout):
        await on_sim(sim, session, sim.watchdog_key, request_timeout_s=0.2).open_orders()
