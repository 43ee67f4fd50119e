"""Percentiles and the unit-key convention every benchmark's JSON follows."""

from __future__ import annotations

import pytest

from bench._stats import keys_without_unit, percentile, summary, unit_of


def test_percentile_is_nearest_rank_and_never_interpolates() -> None:
    ordered = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(ordered, 0.5) == 50.0
    assert percentile(ordered, 0.99) == 99.0
    assert percentile(ordered, 1.0) == 100.0
    assert percentile([1.0, 10.0], 0.5) == 1.0  # not 5.5


def test_with_few_samples_p99_is_the_maximum() -> None:
    assert percentile([3.0, 7.0, 9.0], 0.99) == 9.0


def test_percentile_of_nothing_or_a_bad_quantile_is_refused() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match="quantile"):
        percentile([1.0], 1.5)


def test_summary_names_every_figure_with_its_unit() -> None:
    figures = summary([5.0, 1.0, 3.0], "kill", "ms")
    assert figures == {
        "kill_p50_ms": 3.0,
        "kill_p99_ms": 5.0,
        "kill_max_ms": 5.0,
        "kill_mean_ms": 3.0,
    }


def test_summary_of_nothing_names_the_series() -> None:
    with pytest.raises(ValueError, match="kill: no samples"):
        summary([], "kill", "ms")


@pytest.mark.parametrize(
    ("key", "unit"),
    [
        ("p99_us", "us"),
        ("events_per_s", "per_s"),
        ("window_s", "s"),
        ("watchdog_cpu_pct", "pct"),
        ("p50_ratio", "ratio"),
        ("ratio", "ratio"),
        ("seconds", "s"),
        ("transitions", "count"),
        ("runs_count", "count"),
        ("samples", None),
        ("_s", None),
        ("p99", None),
    ],
)
def test_unit_of_reads_the_suffix(key: str, unit: str | None) -> None:
    assert unit_of(key) == unit


def test_keys_without_unit_finds_bare_numbers_at_any_depth() -> None:
    result = {
        "p50_us": 1.0,
        "python": "3.11",  # text is information, not a figure
        "goals_met": True,  # a flag, not a figure
        "bare": 3,
        "nested": {"ok_ms": 1.0, "also_bare": 2.0},
        "curve": [{"clients_count": 1, "cpu": 2.0}],
        "latencies_ms": [1.0, 2.0],
        "latencies": [1.0],
        "samples_ms": {"a": [1.0, 2.0], "b": "not a list"},
    }
    assert keys_without_unit(result) == [
        "bare",
        "nested.also_bare",
        "curve[0].cpu",
        "latencies[0]",
        "samples_ms.b",
    ]


def test_a_conforming_result_has_no_unitless_keys() -> None:
    result = {"runs_count": 3, "samples_us": {"x": [1, 2]}, "curve": [{"events_per_s": 1}]}
    assert keys_without_unit(result) == []
