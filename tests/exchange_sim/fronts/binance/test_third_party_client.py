"""A Binance client written by someone else (ccxt's `binanceusdm`) works unchanged.

ccxt is maintained and is what most bots use; it builds its own requests and signatures and
parses the answers with its own code, so it checks the simulator's wire protocol from outside.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.sim import SimKey, SimProcess

ccxt = pytest.importorskip("ccxt", reason="ccxt is in the test extra: pip install -e '.[test]'")

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
HOSTS = ("https://fapi.binance.com", "https://api.binance.com")


def _client(sim: SimProcess, key: SimKey, secret: str | None = None) -> Any:
    """A stock ccxt client whose futures endpoints point at the simulator, nothing else changed."""
    client = ccxt.binanceusdm(
        {"apiKey": key.api_key, "secret": secret or key.secret, "enableRateLimit": False}
    )
    for name, url in list(client.urls["api"].items()):
        for host in HOSTS:
            if isinstance(url, str) and url.startswith(host):
                client.urls["api"][name] = sim.base_url + url.removeprefix(host)
    # The simulator is a futures venue only: no spot wallet to list currencies from.
    client.options["fetchCurrencies"] = False
    client.options["fetchMarkets"] = {"types": ["linear"]}
    return client


def test_loads_the_markets_from_exchange_info(frozen_sim: SimProcess) -> None:
    markets = _client(frozen_sim, frozen_sim.trader_key).load_markets()
    assert {BTC, ETH} <= set(markets)
    assert markets[BTC]["id"] == "BTCUSDT"
    assert markets[BTC]["linear"] is True


def test_place_list_and_cancel_an_order(frozen_sim: SimProcess) -> None:
    client = _client(frozen_sim, frozen_sim.trader_key)
    placed = client.create_order(BTC, "limit", "buy", 0.01, 50000)
    assert placed["status"] == "open"
    assert [o["id"] for o in client.fetch_open_orders(BTC)] == [placed["id"]]
    assert client.cancel_order(placed["id"], BTC)["status"] == "canceled"
    assert client.fetch_open_orders(BTC) == []
    assert frozen_sim.admin.open_orders(frozen_sim.account_of(frozen_sim.trader_key).name) == []


def test_a_market_order_fills_and_moves_the_position(frozen_sim: SimProcess) -> None:
    client = _client(frozen_sim, frozen_sim.trader_key)
    filled = client.create_order(ETH, "market", "sell", 0.1)
    assert filled["status"] == "closed"
    positions = frozen_sim.admin.positions(frozen_sim.account_of(frozen_sim.trader_key).name)
    eth = next(p for p in positions if p["symbol"] == "ETHUSDT")
    assert float(eth["positionAmt"]) == pytest.approx(-0.1)


def test_venue_errors_surface_as_ccxt_errors(frozen_sim: SimProcess) -> None:
    client = _client(frozen_sim, frozen_sim.trader_key)
    client.load_markets()
    with pytest.raises(ccxt.BadSymbol, match="-1121"):
        client.fapiPrivatePostOrder(
            {"symbol": "NOPEUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"}
        )
    wrong = _client(frozen_sim, frozen_sim.trader_key, secret="0" * 64)
    wrong.load_markets()
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        wrong.fetch_open_orders(BTC)


def test_a_deleted_key_is_refused(frozen_sim: SimProcess) -> None:
    client = _client(frozen_sim, frozen_sim.trader_key)
    client.load_markets()
    client.fetch_open_orders(BTC)
    master = _client(frozen_sim, frozen_sim.master_key)
    master.sapiDeleteBrokerSubAccountApi(
        {"subAccountId": "trader1", "subAccountApiKey": frozen_sim.trader_key.api_key}
    )
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        client.fetch_open_orders(BTC)


def test_fetch_balance_reads_the_usdt_wallet(frozen_sim: SimProcess) -> None:
    client = _client(frozen_sim, frozen_sim.trader_key)
    wallet = float(frozen_sim.account_of(frozen_sim.trader_key).usdt)  # nothing traded yet
    balance = client.fetch_balance()
    assert balance["USDT"]["total"] == pytest.approx(wallet)
    assert balance["USDT"]["free"] == pytest.approx(wallet)


def test_fetch_positions_reads_the_position_and_its_leverage(frozen_sim: SimProcess) -> None:
    client = _client(frozen_sim, frozen_sim.trader_key)
    client.create_order(BTC, "market", "buy", 0.01)
    positions = {p["symbol"]: p for p in client.fetch_positions([BTC, ETH])}
    assert positions[BTC]["contracts"] == pytest.approx(0.01)
    assert positions[BTC]["side"] == "long"
    assert positions[BTC]["leverage"] == pytest.approx(20)
