"""A healthy trader raises no alarm: the demo's stack (exchange_sim, the watchdog, the real
reference trader) trading for 20 s, with the watchdog comparing the trader's telemetry against
its own view of the venue all along."""

from __future__ import annotations

from bench.soak import run

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
