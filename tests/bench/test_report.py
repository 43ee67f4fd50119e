"""The report from a results document: goal verdicts, baselines, plots from samples or summaries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.report import write_report
from bench.report.plots import latency_plot, series_from_samples, series_from_summaries
from harness.procs import run_module

PNG = b"\x89PNG\r\n\x1a\n"


def ok(result: dict[str, Any], seconds: float = 1.0) -> dict[str, Any]:
    return {"ok": True, "seconds": seconds, "returncode": 0, "result": result, "error": None}


def results() -> dict[str, Any]:
    return {
        "schema": 1,
        "quick": True,
        "started_utc": "2026-01-01 00:00:00",
        "total_s": 12.0,
        "machine": {
            "cpu_count": 2,
            "cpu_model": "Test CPU",
            "kernel": "6.1.0",
            "python": "3.11.7",
            "load_avg_before": [0.5, 0.4, 0.3],
            "load_avg_after": [0.6, 0.5, 0.4],
            "git_commit": "0123456789abcdef",
            "git_dirty": False,
        },
        "benchmarks": {
            "risk_eval": ok({"p50_us": 0.8}),
            "client_send": ok({"report_order_p99_us": 12.5}),
            "tick_to_order": {
                "ok": False,
                "seconds": 300.0,
                "returncode": None,
                "result": None,
                "error": "timed out after 300 s",
            },
            "kill_latency_local": ok(
                {
                    "sigkill_to_pipeline_start_p99_ms": 3.0,
                    "samples_ms": {"sigkill": [0.5, 0.7, 3.0], "breach": [0.05, 0.1]},
                }
            ),
            "kill_latency_venue": ok(
                {
                    "sigkill_no_open_orders_p50_ms": 10.0,
                    "sigkill_no_open_orders_p99_ms": 30.0,
                    "sigkill_no_open_orders_max_ms": 31.0,
                    "sigkill_key_refused_p50_ms": 9.0,
                    "sigkill_key_refused_p99_ms": 12.0,
                    "sigkill_key_refused_max_ms": 14.0,
                }
            ),
            "poll_baseline": ok(
                {
                    "runs_count": 3,
                    "watchdog_pidfd_p50_ms": 0.5,
                    "watchdog_pidfd_p99_ms": 0.9,
                    "poll_1s_p50_ms": 500.0,
                    "poll_1s_p99_ms": 950.0,
                    "p50_ratio": 1000.0,
                    "samples_ms": {"watchdog_pidfd": [0.4, 0.5, 0.9], "poll_1s": [90, 500, 950]},
                }
            ),
            "scale": ok(
                {
                    "curve": [
                        {
                            "clients_count": n,
                            "watchdog_cpu_pct": n / 5,
                            "senders_cpu_pct": n / 2,
                            "events_per_s": 50 * n,
                            "accepted_datagrams_per_s": 15 * n,
                            "rejected_datagrams_count": 0,
                            "ack_rtt_p50_us": 300.0 + n,
                            "ack_rtt_p99_us": 900.0 + 10 * n,
                        }
                        for n in (1, 10, 50, 100)
                    ],
                    "samples_us": {"ack_rtt_n1": [300.0, 350.0], "ack_rtt_n100": [400.0, 1e3]},
                }
            ),
        },
    }


def test_the_report_judges_every_goal_and_says_why_a_figure_is_missing(tmp_path: Path) -> None:
    text = write_report(results(), tmp_path).read_text()
    assert "| 2 | risk: one event through every rule, p50 | 0.8 µs | <= 2 µs | met |" in text
    assert (
        "| 4 | client: report_order on the bot's loop, p99 | 12.5 µs | <= 10 µs | **missed**"
        in (text)
    )
    assert (
        "| 5 | trader SIGKILL -> venue shows no open orders, p99 | 30 ms | <= 20 ms | **missed**"
        in (text)
    )
    assert "missing: benchmark failed: timed out after 300 s" in text
    assert "missing: benchmark not run" in text  # sim_orders is absent from this run
    assert "3 met, 2 missed, 16 missing" in text


def test_the_report_shows_the_machine_the_baselines_and_the_scale_curve(tmp_path: Path) -> None:
    text = write_report(results(), tmp_path).read_text()
    assert "| 2 | Test CPU | 6.1.0 | 3.11.7 | 0.50 / 0.40 / 0.30 | 0.60 / 0.50 / 0.40 |" in text
    assert "**1,000x** faster at the median" in text
    assert "orjson vs json (bookTicker decode): missing." in text
    assert "| 100 | 20 | 50 | 5,000 | 1,500 | 0 | 400 | 1,900 |" in text
    assert "| `tick_to_order` | **failed**: timed out after 300 s | 300.0 |" in text


def test_every_plot_the_report_links_is_a_png_next_to_it(tmp_path: Path) -> None:
    text = write_report(results(), tmp_path).read_text()
    linked = [line.split("](")[1].rstrip(")") for line in text.splitlines() if "![" in line]
    assert sorted(linked) == [
        "kill_local.png",
        "kill_venue.png",
        "poll_baseline.png",
        "scale.png",
        "scale_ack_rtt.png",
    ]
    for name in linked:
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG)
        assert len(data) > 5_000  # a drawn figure, not an empty canvas
    assert "orjson vs json: missing (`json_decode` absent from this build" in text


def test_latency_plots_use_samples_when_given_and_summaries_otherwise(tmp_path: Path) -> None:
    with_samples = {"x_p50_ms": 1.0, "samples_us": {"x": [1.0, 2.0]}}
    assert latency_plot(tmp_path / "a.png", "a", with_samples) == "samples"
    summaries = {"x_p50_us": 100.0, "x_p99_us": 200.0, "x_max_us": 300.0, "y_p50_ms": 1.0}
    assert latency_plot(tmp_path / "b.png", "b", summaries) == "summary"
    assert (tmp_path / "a.png").read_bytes().startswith(PNG)
    assert (tmp_path / "b.png").read_bytes().startswith(PNG)


def test_summaries_are_converted_to_ms_and_incomplete_series_dropped() -> None:
    found = series_from_summaries(
        {"x_p50_us": 100.0, "x_p99_us": 200.0, "x_max_us": 300.0, "y_p50_ms": 1.0, "z_p99": 3}
    )
    assert found == {"x": {"p50": 0.1, "p99": 0.2, "max": 0.3}}


def test_empty_sample_series_do_not_count_as_samples() -> None:
    assert series_from_samples({"samples_ms": {"x": []}}) is None
    assert series_from_samples({"samples_ms": {"x": [1], "y": []}}) == ({"x": [1.0]}, "ms")


def test_a_result_with_nothing_to_plot_is_refused_with_its_title(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty: neither samples"):
        latency_plot(tmp_path / "c.png", "empty", {"runs_count": 3})


def test_the_report_can_be_rebuilt_from_a_saved_results_file(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps(results()))
    done = run_module("bench.report", str(tmp_path / "results.json"), timeout_s=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "report.md").exists()


def test_a_file_that_is_not_a_results_file_gets_one_line_of_error(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"benchmarks": []}')
    done = run_module("bench.report", str(tmp_path / "bad.json"), timeout_s=120)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "is not a run_all results file" in done.stderr


def test_orjson_against_json_is_shown_for_the_whole_decode_and_for_loads_alone(
    tmp_path: Path,
) -> None:
    run = results()
    run["benchmarks"]["json_decode"] = ok(
        {
            "json_ns_per_msg": 6000.0,
            "orjson_ns_per_msg": 2000.0,
            "ratio": 3.0,
            "json_loads_ns_per_msg": 2500.0,
            "orjson_loads_ns_per_msg": 500.0,
            "loads_ratio": 5.0,
        }
    )
    text = write_report(run, tmp_path).read_text()
    assert "json 6,000 ns/msg, orjson 2,000 ns/msg: orjson **3x** faster (loads() alone: 5x)." in (
        text
    )
    assert "![orjson vs json](json_decode.png)" in text
    assert (tmp_path / "json_decode.png").read_bytes().startswith(PNG)
