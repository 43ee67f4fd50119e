"""The account settings a futures client reads when it connects (NautilusTrader's Binance
client does, before it trades): margin rates in the exchange info, each symbol's margin
configuration, the position mode. Answers from the simulated world, not canned ones."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import aiohttp

from harness.sim import BTCUSDT, ETHUSDT, SimConfig, SimProcess
from tests.exchange_sim.venue_client import VenueClient

# A world whose symbols differ in leverage: what the answers must follow.
WORLD = SimConfig(book_ticker_hz=0, symbols=(BTCUSDT, replace(ETHUSDT, leverage=50)))


async def test_exchange_info_gives_each_symbol_margin_rates_from_its_leverage(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    sim = SimProcess.start(tmp_path, WORLD)
    try:
        info = (await VenueClient(sim, session).raw("GET", "/fapi/v1/exchangeInfo")).body
    finally:
        sim.stop()
    rates = {s["symbol"]: s["requiredMarginPercent"] for s in info["symbols"]}
    assert rates == {"BTCUSDT": "5", "ETHUSDT": "2"}  # 100 / leverage (20, 50)
    for symbol in info["symbols"]:
        # No tiered margin and no liquidation in the simulator.
        assert (symbol["maintMarginPercent"], symbol["liquidationFee"]) == ("0", "0")
        assert symbol["underlyingSubType"] == []


async def test_symbol_config_lists_each_symbol_cross_margined_at_its_leverage(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    sim = SimProcess.start(tmp_path, WORLD)
    try:
        venue = VenueClient(sim, session)
        every = await venue.signed("GET", "/fapi/v1/symbolConfig", sim.trader_key)
        one = await venue.signed(
            "GET", "/fapi/v1/symbolConfig", sim.trader_key, {"symbol": "ETHUSDT"}
        )
        unknown = await venue.signed(
            "GET", "/fapi/v1/symbolConfig", sim.trader_key, {"symbol": "NOPE"}
        )
    finally:
        sim.stop()
    assert every.status == 200
    assert {(c["symbol"], c["leverage"], c["marginType"]) for c in every.body} == {
        ("BTCUSDT", 20, "CROSSED"),
        ("ETHUSDT", 50, "CROSSED"),
    }
    assert [c["symbol"] for c in one.body] == ["ETHUSDT"]
    assert one.body[0]["isAutoAddMargin"] is False
    assert int(one.body[0]["maxNotionalValue"]) > 0
    assert unknown.code == -1121


async def test_the_position_mode_is_one_way_as_the_positions_show(venue: VenueClient) -> None:
    key = venue.sim.trader_key
    mode = await venue.signed("GET", "/fapi/v1/positionSide/dual", key)
    assert mode.body == {"dualSidePosition": False}
    await venue.order(key, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
    rows = (await venue.signed("GET", "/fapi/v2/positionRisk", key, {"symbol": "BTCUSDT"})).body
    assert [row["positionSide"] for row in rows] == ["BOTH"]  # one position per symbol


async def test_the_settings_are_signed_endpoints(venue: VenueClient) -> None:
    key = venue.sim.trader_key
    for path in ("/fapi/v1/symbolConfig", "/fapi/v1/positionSide/dual"):
        unsigned = await venue.raw("GET", path, api_key=key.api_key)
        assert (unsigned.status, unsigned.code) == (400, -1102), path  # timestamp missing
        anonymous = await venue.raw("GET", path)
        assert anonymous.code == -2014, path
