"""A Bybit client written by someone else (pybit, Bybit's own Python SDK) works unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from harness.sim import SimKey, SimProcess

unified_trading = pytest.importorskip(
    "pybit.unified_trading", reason="pybit is in the test extra: pip install -e '.[test]'"
)
pybit_exceptions = pytest.importorskip("pybit.exceptions")


def _session(sim: SimProcess, key: SimKey) -> Any:
    session = unified_trading.HTTP(api_key=key.api_key, api_secret=key.secret, max_retries=1)
    session.endpoint = sim.base_url  # the SDK builds its host from a domain: point it here
    return session


def test_place_list_cancel_read_and_be_refused_once_deleted(bybit_sim: SimProcess) -> None:
    client = _session(bybit_sim, bybit_sim.trader_key)
    assert int(client.get_server_time()["result"]["timeSecond"]) > 0
    placed = client.place_order(
        category="linear", symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.01",
        price="50000", orderLinkId="pybit-1",
    )  # fmt: skip
    order_id = placed["result"]["orderId"]
    listed = client.get_open_orders(category="linear", settleCoin="USDT")
    assert [o["orderId"] for o in listed["result"]["list"]] == [order_id]
    client.cancel_order(category="linear", symbol="BTCUSDT", orderId=order_id)
    assert client.get_open_orders(category="linear", symbol="BTCUSDT")["result"]["list"] == []
    client.place_order(
        category="linear", symbol="ETHUSDT", side="Sell", orderType="Market", qty="0.1"
    )
    [position] = client.get_positions(category="linear", symbol="ETHUSDT")["result"]["list"]
    assert (position["side"], position["size"]) == ("Sell", "0.1")
    wallet = client.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]
    assert float(wallet["totalWalletBalance"]) < 100_000  # the taker fee was charged

    master = _session(bybit_sim, bybit_sim.master_key)
    master.delete_sub_api_key(apikey=bybit_sim.trader_key.api_key)
    with pytest.raises(pybit_exceptions.InvalidRequestError) as refused:
        client.get_open_orders(category="linear", settleCoin="USDT")
    assert refused.value.status_code == 10003
