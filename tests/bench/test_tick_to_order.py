"""The tick-to-order benchmark's arithmetic: every tick from the venue's send stamp."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.tick_to_order import MODES, Samples, Tick, analyse, deployed_mode, sent_stamp, ticks_of
from exchange_sim.core.streams import send_stamped
from tests.bench.test_smoke import run_bench
from tests.support.configs import MINIMAL_TRADER
from trader.config import load_config


def test_the_send_stamp_is_read_from_the_message_the_sim_stamped() -> None:
    wrapped = b'{"stream":"btcusdt@bookTicker","data":{"s":"BTCUSDT","E":1}}'
    assert sent_stamp(send_stamped(wrapped, 123456789)) == 123456789


def test_a_message_without_a_send_stamp_is_an_error_not_a_sample() -> None:
    with pytest.raises(RuntimeError, match="without the venue's send stamp"):
        sent_stamp(b'{"stream":"btcusdt@bookTicker","data":{"s":"BTCUSDT"}}')


def test_a_tick_read_before_it_was_sent_is_a_clock_error() -> None:
    samples = Samples(ticks=[(send_stamped(b'{"data":{}}', 2_000), 1_000, 1_100, 1_200)])
    with pytest.raises(RuntimeError, match="before sent"):
        ticks_of(samples)


def test_every_tick_is_counted_with_or_without_an_order_and_from_the_send() -> None:
    ticks = [
        Tick(sent_ns=0, received_ns=10_000, entered_ns=11_000, exited_ns=60_000),
        # Sent while the first was still being handled: it waited.
        Tick(sent_ns=50_000, received_ns=61_000, entered_ns=62_000, exited_ns=70_000),
        Tick(sent_ns=100_000, received_ns=105_000, entered_ns=106_000, exited_ns=108_000),
    ]
    orders = [(10_000, 40_000), (10_000, 55_000), (61_000, 68_000)]
    figures = analyse(ticks, orders)
    assert figures["samples_count"] == 3  # every order, timed from its tick's send
    assert figures["p50_us"] == 40.0  # 40, 55 and 18 us from the send: nearest rank
    assert figures["max_us"] == 55.0
    assert figures["ticks_count"] == 3
    assert figures["waited_ticks_count"] == 1
    assert figures["order_ticks_handled"] == {
        "samples_count": 2, "p50_us": 20.0, "p99_us": 60.0, "max_us": 60.0,
    }  # fmt: skip
    assert figures["no_order_ticks_handled"] == {
        "samples_count": 1, "p50_us": 8.0, "p99_us": 8.0, "max_us": 8.0,
    }  # fmt: skip
    assert figures["delivery"]["max_us"] == 11.0  # type: ignore[index]


def test_the_deployed_figure_is_the_mode_the_defaults_select(tmp_path: Path) -> None:
    path = tmp_path / "trader.toml"
    path.write_text(MINIMAL_TRADER)
    mode = deployed_mode(load_config(path))
    assert mode in MODES
    assert (mode.fast, mode.telemetry, mode.heater) == (True, True, True)


def test_a_short_run_samples_every_mode_from_the_venue_send_with_units() -> None:
    result = run_bench("bench.tick_to_order", "--quick", "--seconds", "1")  # units checked there
    assert result["deployed"]["mode"] == "fast_path_warm.with_telemetry"
    assert 0 < result["deployed_p50_us"] <= result["deployed_p99_us"]
    for path in ("fast_path", "aiohttp_path"):
        for telemetry in ("without_telemetry", "with_telemetry"):
            mode = result[path][telemetry]
            assert mode["ticks_count"] > 0
            assert 0 <= mode["waited_ticks_count"] <= mode["ticks_count"]
            handled = mode["order_ticks_handled"]["samples_count"]
            assert handled + mode["no_order_ticks_handled"]["samples_count"] == mode["ticks_count"]
            assert mode["samples_count"] >= handled  # every order of every order tick
            # From the venue's send: never shorter than the delivery that is part of it.
            assert mode["p50_us"] >= mode["delivery"]["p50_us"] > 0
    floor = result["floor"]
    assert floor["raw_socket_read"]["samples_count"] > 0
    assert floor["bare_write"]["p50_us"] > 0
