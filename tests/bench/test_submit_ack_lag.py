"""How far the trader's SUBMIT leads the venue's ACK at the watchdog: the figures read from its
status (pure), and one short run of the real stack."""

from __future__ import annotations

from typing import Any

from bench._stats import keys_without_unit
from bench.submit_ack_lag import figures, p99_at_most_ms
from tests.bench.test_smoke import run_bench

EDGES_MS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, None)


def lead(orders: int, lags: dict[float | None, int], worst: float) -> dict[str, Any]:
    return {
        "orders": orders,
        "ack_first": sum(lags.values()),
        "report_first_min_ms": 0.3,
        "ack_first_max_ms": worst,
        "ack_first_lag_ms": [[edge, lags.get(edge, 0)] for edge in EDGES_MS],
    }


def test_p99_is_zero_while_at_most_one_order_in_a_hundred_saw_the_ack_first() -> None:
    assert p99_at_most_ms(lead(200, {5.0: 2}, 4.2)) == 0.0
    assert p99_at_most_ms(lead(0, {}, 0.0)) == 0.0


def test_p99_is_the_upper_edge_of_the_bucket_holding_it() -> None:
    # 100 orders, 3 of them ACK first: ranks 98..100; p99 is rank 99, in the 2 ms bucket.
    assert p99_at_most_ms(lead(100, {1.0: 1, 2.0: 1, 10.0: 1}, 9.0)) == 2.0


def test_p99_in_the_open_last_bucket_is_bounded_by_the_worst_lag() -> None:
    assert p99_at_most_ms(lead(10, {None: 1}, 750.0)) == 750.0


def test_the_figures_carry_units_and_say_whether_key_misuse_killed() -> None:
    status = {"state": "ACTIVE", "report_lead": lead(100, {0.5: 1}, 0.4)}
    out = figures(status, 0)
    assert out["ack_first_pct"] == 1.0
    assert out["ack_before_submit_max_ms"] == 0.4
    assert out["submit_first_min_ms"] == 0.3
    assert keys_without_unit(out) == []


def test_a_short_run_matches_the_reference_traders_orders_and_stays_active() -> None:
    args = ("--seconds", "3", "--venue", "binance", "--busy", "0")
    result = run_bench("bench.submit_ack_lag", *args)
    assert result["binance_state"] == "ACTIVE"
    assert result["binance_key_misuse_kills_count"] == 0
    assert result["binance_orders_matched_count"] > 0
