"""An OKX client written by someone else (ccxt's ``okx``) works unchanged against the front.

ccxt builds its own requests, signatures and timestamps and parses the answers with its own
code, so it checks the simulator's wire protocol from outside.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.sim import SimKey, SimProcess

ccxt = pytest.importorskip("ccxt", reason="ccxt is in the test extra: pip install -e '.[test]'")

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"


def _client(sim: SimProcess, key: SimKey, secret: str | None = None) -> Any:
    """A stock ccxt client pointed at the simulator, a swaps-only venue."""
    client = ccxt.okx(
        {
            "apiKey": key.api_key,
            "secret": secret or key.secret,
            "password": key.passphrase,
            "enableRateLimit": False,
        }
    )
    client.urls["api"]["rest"] = sim.base_url
    client.options["fetchMarkets"] = {"types": ["swap"]}
    client.options["defaultType"] = "swap"
    return client


def test_place_list_cancel_read_and_be_refused_once_deleted(okx_sim: SimProcess) -> None:
    client = _client(okx_sim, okx_sim.trader_key)
    markets = client.load_markets()
    assert markets[BTC]["contractSize"] == 0.01
    placed = client.create_order(BTC, "limit", "buy", 2, 50000, {"clOrdId": "ccxt1"})
    assert [o["id"] for o in client.fetch_open_orders(BTC)] == [placed["id"]]
    [admin_view] = okx_sim.admin.open_orders("trader1")
    assert admin_view["origQty"] == "0.02"  # ccxt sizes swaps in contracts
    client.cancel_order(placed["id"], BTC)
    assert client.fetch_open_orders(BTC) == []
    closed = client.fetch_order(placed["id"], BTC)
    assert closed["status"] == "canceled"
    client.create_order(ETH, "market", "sell", 1)
    [position] = client.fetch_positions([ETH])
    assert (position["side"], position["contracts"]) == ("short", 1.0)
    balance = client.fetch_balance()
    assert 0 < balance["USDT"]["total"] < 100_000  # the taker fee was charged

    master = _client(okx_sim, okx_sim.master_key)
    master.privatePostUsersSubaccountDeleteApikey(
        {"subAcct": "trader1", "apiKey": okx_sim.trader_key.api_key}
    )
    with pytest.raises(ccxt.AuthenticationError, match="50111"):
        client.fetch_open_orders(BTC)


def test_venue_errors_surface_as_ccxt_errors(okx_sim: SimProcess) -> None:
    client = _client(okx_sim, okx_sim.trader_key)
    client.load_markets()
    with pytest.raises(ccxt.InsufficientFunds, match="51008"):
        client.create_order(BTC, "limit", "buy", 5000, 50000)
    with pytest.raises(ccxt.OrderNotFound, match="51603"):
        client.fetch_order("12345", BTC)
    wrong = _client(okx_sim, okx_sim.trader_key, secret="0" * 64)
    wrong.markets, wrong.markets_by_id = client.markets, client.markets_by_id
    with pytest.raises(ccxt.AuthenticationError, match="50113"):
        wrong.fetch_open_orders(BTC)
