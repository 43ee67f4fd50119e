"""A healthy trader raises no alarm, and an order placed behind its back is a kill: the demo's
stack (exchange_sim, the watchdog, the real reference trader) trading, with the watchdog
comparing the trader's telemetry against its own view of the venue all along."""

from __future__ import annotations

import time
from decimal import ROUND_DOWN, Decimal

from bench.soak import run
from demo import configs
from demo.procs import wait_for
from demo.world import World

SOAK_S = 20.0


def test_twenty_seconds_of_healthy_trading_stay_active_with_no_alert_and_no_audit_flapping() -> (
    None
):
    result = run(SOAK_S)
    # It traded: quotes placed, filled and replaced, so both sides had orders in flight.
    assert result["orders_count"] > 0, result
    assert result["fills_count"] > 0, result
    assert result["transitions"] == 0, result
    assert result["non_active_s"] == 0, result
    assert result["alerts"] == 0, result
    assert result["decision_rows_count"] == 0, result


def _far_bid(world: World) -> tuple[str, str]:
    """A BUY 15% under the market (it rests), worth about 200 USDT (above min notional)."""
    mid = Decimal(str(world.admin.quotes()[configs.TRADED]["mid"]))
    price = (mid * Decimal("0.85")).quantize(Decimal("0.1"), ROUND_DOWN)
    qty = (Decimal(200) / price).quantize(Decimal("0.001"), ROUND_DOWN) + Decimal("0.001")
    return str(price), str(qty)


def test_an_order_the_trader_never_reported_is_key_misuse_killed_naming_it() -> None:
    with World() as world:
        world.start_sim()
        world.write_credentials()
        world.start_watchdog()
        world.start_trader()
        wait_for(lambda: world.trader_status()["state"] == "ACTIVE", 60, "ACTIVE")
        # The trader's own orders were matched with their reports, either way round.
        wait_for(lambda: world.trader_status()["report_lead"]["orders"] > 0, 60, "orders matched")
        since = time.time()
        price, qty = _far_bid(world)
        client = world.trader_client()  # someone else trading with the trader's key
        try:
            answer = client.place_limit_buy(configs.TRADED, price, qty, "intruder-1")
        finally:
            client.close()
        assert answer.code is None, answer
        wait_for(lambda: world.trader_status()["state"] == "KILLED", 60, "KILLED")
        rows = world.watchdog_cli("audit", "--since", repr(since))
    (started,) = [r for r in rows if r["kind"] == "kill_started"]
    assert started["detail"]["cause"] == "key_misuse"
    assert started["detail"]["reason"].endswith("intruder-1")
