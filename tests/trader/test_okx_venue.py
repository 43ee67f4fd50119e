"""OKX's contracts and the trader's base-coin sizes: the one place they change units."""

from __future__ import annotations

from decimal import Decimal

import pytest

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
