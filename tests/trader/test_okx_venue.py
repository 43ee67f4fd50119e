"""OKX's contracts and the trader's base-coin sizes: the one place they change units."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.support.logs import JsonLines
from tests.watchdog.venues.fake_venue import FakeVenue, Reply, running
from trader.okx_venue import Contracts, OkxOrderVenue
from trader.strategy import Side
from trader.venue import OrderRequest, VenueRejected
from watchdog.clock import FakeClock
from watchdog.venues import Credentials, open_session

CONTRACTS = Contracts(
    {"BTCUSDT": Decimal("0.01"), "ETHUSDT": Decimal("0.1"), "XUSDT": Decimal("0.03")}
)


@pytest.mark.parametrize(
    ("symbol", "qty", "sz"),
    [("BTCUSDT", "0.020", "2"), ("ETHUSDT", "1.0", "10"), ("BTCUSDT", "0.003", "0.3")],
)
def test_a_base_quantity_is_sent_as_exact_contracts(symbol: str, qty: str, sz: str) -> None:
    assert CONTRACTS.to_contracts(symbol, qty) == sz


def test_contracts_read_from_the_venue_are_the_base_coin_again() -> None:
    assert CONTRACTS.to_base("BTCUSDT", Decimal(3)) == Decimal("0.03")


@pytest.mark.parametrize(
    ("symbol", "qty", "match"),
    [
        ("BTCUSDT", "0", "no exact number of contracts of 0.01"),
        ("BTCUSDT", "-0.01", "no exact number"),
        ("BTCUSDT", "NaN", "no exact number"),
        ("BTCUSDT", "x", "not a number"),
        ("XUSDT", "0.01", "no exact number of contracts of 0.03"),
        ("SOLUSDT", "1", "OKX lists no USDT swap for SOLUSDT"),
    ],
)
def test_a_size_that_is_no_exact_number_of_contracts_is_refused_before_sending(
    symbol: str, qty: str, match: str
) -> None:
    with pytest.raises(VenueRejected, match=match):
        CONTRACTS.to_contracts(symbol, qty)


async def test_an_order_whose_contract_values_cannot_be_read_is_refused_as_never_sent() -> None:
    """A failed instruments read sends nothing: a definite refusal, not an unknown outcome the
    order manager would cancel and query."""
    sent: list[bool] = []
    async with running(FakeVenue(secrets={})) as fake:
        fake.defaults["GET /api/v5/public/instruments"] = Reply(503, {"msg": "down"})
        session = open_session()
        try:
            venue = OkxOrderVenue(
                session, fake.base_url, Credentials("K", "S", passphrase="p"),
                clock=FakeClock(wall=1_700_000_000.0), request_timeout_s=5.0,
            )  # fmt: skip
            order = OrderRequest("BTCUSDT", Side.BUY, "50000", "0.01", "c1", reduce_only=False)
            with pytest.raises(VenueRejected, match=r"nothing was sent: .*HTTP 503"):
                await venue.place(order, lambda: sent.append(True))
        finally:
            await session.close()
    assert fake.calls("POST /api/v5/trade/order") == []
    assert sent == []


def _okx(data: list[object]) -> Reply:
    return Reply(200, {"code": "0", "msg": "", "data": data})


def _pending(ord_id: str, inst: str) -> dict[str, object]:
    return {
        "instId": inst, "ordId": ord_id, "clOrdId": f"c{ord_id}", "side": "buy",
        "ordType": "post_only", "state": "live", "px": "50000", "sz": "3", "accFillSz": "0",
        "reduceOnly": "false", "cTime": "1700000000000",
    }  # fmt: skip


async def test_orders_and_positions_on_other_instruments_never_fail_the_reconcile(
    json_logs: JsonLines,
) -> None:
    """An inverse swap on the trader's account is not its own: the trader's reads skip it by
    name instead of failing every reconciliation (the watchdog counts it and halts on it)."""
    usdt = {"ccy": "USDT", "eq": "1010", "cashBal": "1000", "upl": "10", "availEq": "900"}
    ours = {"instId": "BTC-USDT-SWAP", "posSide": "net", "pos": "2", "avgPx": "50000",
            "upl": "10", "markPx": "50100"}  # fmt: skip
    async with running(FakeVenue(secrets={})) as fake:
        fake.defaults.update({
            "GET /api/v5/public/instruments": _okx(
                [{"instId": "BTC-USDT-SWAP", "ctVal": "0.01", "ctMult": "1"}]
            ),
            "GET /api/v5/trade/orders-pending": _okx(
                [_pending("1", "BTC-USDT-SWAP"), _pending("2", "BTC-USD-SWAP")]
            ),
            "GET /api/v5/account/balance": _okx([{"details": [usdt]}]),
            "GET /api/v5/account/positions": _okx(
                [ours, {**ours, "instId": "BTC-USD-SWAP", "pos": "-7"}]
            ),
        })  # fmt: skip
        session = open_session()
        try:
            venue = OkxOrderVenue(
                session, fake.base_url, Credentials("K", "S", passphrase="p"),
                clock=FakeClock(wall=1_700_000_000.0), request_timeout_s=5.0,
            )  # fmt: skip
            orders = await venue.open_orders()
            account = await venue.account()
        finally:
            await session.close()
    assert [(o.symbol, o.client_id, o.orig_qty) for o in orders] == [("BTCUSDT", "c1", 0.03)]
    assert [(p.symbol, p.qty) for p in account.positions] == [("BTCUSDT", 0.02)]
    named = {line["event"]: line["instruments"] for line in json_logs() if "instruments" in line}
    assert named == {
        "okx_orders_on_other_instruments": ["BTC-USD-SWAP"],
        "okx_positions_on_other_instruments": ["BTC-USD-SWAP"],
    }
