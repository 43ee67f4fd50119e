"""A Binance client written by someone else (binance-futures-connector) works unchanged."""

from __future__ import annotations

import pytest

from tests.support.sim import SimProcess

um_futures = pytest.importorskip(
    "binance.um_futures",
    reason="binance-futures-connector is in the test extra: pip install -e '.[test]'",
)
binance_error = pytest.importorskip("binance.error")


def test_place_list_cancel_and_read_the_account(frozen_sim: SimProcess) -> None:
    key = frozen_sim.trader_key
    client = um_futures.UMFutures(key=key.api_key, secret=key.secret, base_url=frozen_sim.base_url)
    assert client.ping() == {}
    placed = client.new_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", quantity=0.01, price=50000, timeInForce="GTC"
    )
    assert placed["status"] == "NEW"
    listed = client.get_orders(symbol="BTCUSDT")
    assert [o["orderId"] for o in listed] == [placed["orderId"]]
    cancelled = client.cancel_order(symbol="BTCUSDT", orderId=placed["orderId"])
    assert cancelled["status"] == "CANCELED"
    assert client.get_orders() == []
    filled = client.new_order(symbol="ETHUSDT", side="SELL", type="MARKET", quantity=0.1)
    assert filled["orderId"] > placed["orderId"]
    account = client.account()
    eth = next(p for p in account["positions"] if p["symbol"] == "ETHUSDT")
    assert eth["positionAmt"] == "-0.1"
    assert float(account["totalWalletBalance"]) < 100000  # the taker fee was charged
    risk = client.get_position_risk(symbol="ETHUSDT")
    assert risk[0]["positionAmt"] == "-0.1"
    assert client.balance()[0]["asset"] == "USDT"
    assert client.cancel_open_orders(symbol="BTCUSDT")["code"] == 200


def test_its_errors_surface_as_the_venue_codes(frozen_sim: SimProcess) -> None:
    key = frozen_sim.trader_key
    client = um_futures.UMFutures(key=key.api_key, secret=key.secret, base_url=frozen_sim.base_url)
    with pytest.raises(binance_error.ClientError) as err:
        client.new_order(symbol="NOPEUSDT", side="BUY", type="MARKET", quantity=1)
    assert err.value.error_code == -1121
    wrong = um_futures.UMFutures(key=key.api_key, secret="0" * 64, base_url=frozen_sim.base_url)
    with pytest.raises(binance_error.ClientError) as err:
        wrong.account()
    assert err.value.error_code == -1022
