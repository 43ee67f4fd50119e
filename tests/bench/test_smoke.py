"""Smoke runs of the report's own benchmarks: short, real processes, one JSON object with units."""

from __future__ import annotations

import io
import json
import subprocess
import threading
import time
from typing import Any

import pytest

from bench._stats import keys_without_unit
from bench.poll_baseline import poll_forever
from harness.procs import run_module


def run_bench(*args: str) -> dict[str, Any]:
    done = run_module(*args, timeout_s=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)  # the whole of stdout is one JSON object
    assert isinstance(result, dict)
    assert keys_without_unit(result) == []
    return result


def test_poll_baseline_measures_both_kill_switches_on_every_kill() -> None:
    result = run_bench("bench.poll_baseline", "--quick", "--runs", "4")
    samples = result["samples_ms"]
    assert len(samples["watchdog_pidfd"]) == len(samples["poll_1s"]) == 4
    # Bounds that hold on any machine: a poller cannot notice before the kill nor more than one
    # period (plus scheduling slack) after it; the pidfd needs no period at all.
    assert all(0 <= v <= 1_500 for v in samples["poll_1s"])
    assert all(0 <= v <= 1_000 for v in samples["watchdog_pidfd"])
    assert result["watchdog_pidfd_p50_ms"] < result["poll_1s_p50_ms"]
    assert result["p50_ratio"] > 1


def test_poll_baseline_refuses_too_few_runs_in_one_line() -> None:
    done = run_module("bench.poll_baseline", "--runs", "1", timeout_s=60)
    assert done.returncode == 2
    assert "--runs must be at least 2" in done.stderr


def test_watchdog_ingest_counts_what_a_running_watchdog_took_through_its_socket() -> None:
    result = run_bench(
        "bench.watchdog_ingest", "--events", "2000", "--socket-events", "3000"
    )  # the trader ending other than ACTIVE, or a rejected datagram, fails the run
    assert (result["socket_events_count"], result["socket_single_events_count"]) == (3000, 1000)
    for prefix in ("socket_", "socket_single_"):
        assert result[prefix + "events_per_s"] > 0
        assert result[prefix + "acks_read_count"] > 0
        assert result[prefix + "watchdog_cpu_per_event_us"] > 0


def test_scale_measures_one_watchdog_with_real_clients() -> None:
    result = run_bench("bench.scale", "--quick", "--clients", "1,3", "--window", "1.5")
    curve = result["curve"]
    assert [p["clients_count"] for p in curve] == [1, 3]
    for point in curve:
        assert point["rejected_datagrams_count"] == 0
        assert point["clients_not_active_count"] == 0
        assert point["client_send_errors_count"] == 0
        assert point["watchdog_cpu_pct"] > 0
        assert point["accepted_datagrams_per_s"] > 0
        assert point["ack_rtt_samples_count"] > 0
    # Each client sends 4 events per heartbeat (10/s) plus 5 orders/s of 2 events: ~50/s.
    assert 25 <= curve[0]["events_per_s"] <= 75
    assert curve[1]["events_per_s"] > curve[0]["events_per_s"]
    assert set(result["samples_us"]) == {"ack_rtt_n1", "ack_rtt_n3"}


def test_scale_refuses_bad_client_counts_in_one_line() -> None:
    done = run_module("bench.scale", "--clients", "1,x", timeout_s=60)
    assert done.returncode == 2
    assert "not a comma-separated list of counts" in done.stderr


def test_kill_latency_local_gives_raw_samples_for_the_report() -> None:
    done = run_module("bench.kill_latency_local", "--quick", timeout_s=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    samples = result["samples_ms"]
    assert len(samples["sigkill_to_pipeline_start"]) == result["samples"]
    assert len(samples["sigstop_excess"]) == result["sigstop_samples"]
    # The bench rounds its own figures to 0.1 ms; the samples keep more digits.
    top = max(samples["sigkill_to_pipeline_start"])
    assert top == pytest.approx(result["sigkill_to_pipeline_start_max_ms"], abs=0.051)


def test_the_polling_kill_switch_reports_each_death_once_then_stops() -> None:
    alive = subprocess.Popen(["sleep", "600"])
    dead = subprocess.Popen(["sleep", "600"])
    dead.kill()
    dead.wait()
    out = io.StringIO()
    try:
        poller = threading.Thread(target=poll_forever, args=([alive.pid, dead.pid], 0.05, out))
        poller.start()
        deadline = time.monotonic() + 30
        while dead.pid not in _reported(out):
            assert time.monotonic() < deadline, "the dead pid was never reported"
            time.sleep(0.01)
        assert alive.pid not in _reported(out)
        killed_at = time.monotonic()
        alive.kill()
        alive.wait()
        poller.join(timeout=30)
        assert not poller.is_alive(), "the poller kept running after every pid died"
    finally:
        alive.kill()
        alive.wait()
    lines = out.getvalue().splitlines()
    assert lines[0] == "ready"
    reports = [json.loads(line) for line in lines[1:]]
    assert sorted(r["pid"] for r in reports) == sorted([alive.pid, dead.pid])
    last = next(r for r in reports if r["pid"] == alive.pid)
    assert last["detected_monotonic"] >= killed_at


def _reported(out: io.StringIO) -> set[int]:
    return {json.loads(line)["pid"] for line in out.getvalue().splitlines()[1:]}


def test_soak_runs_the_healthy_stack_and_reports_its_alarms_with_units() -> None:
    result = run_bench("bench.soak", "--seconds", "3")
    assert result["seconds"] >= 3
    for key in ("non_active_s", "transitions", "alerts", "decision_rows_count"):
        assert result[key] >= 0
    assert result["orders_count"] > 0  # the trader did trade
