"""The probe's pure parts: the spin loop on a scripted clock, summaries, parsing, baselines."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from sysprep.checks import Verdict
from sysprep.errors import BaselineError, ProbeError
from sysprep.probe import (
    Spun,
    TaskActivity,
    TaskSample,
    compare,
    histogram,
    interrupt_delta,
    interrupts_on,
    parse_baseline,
    parse_spun,
    percentile,
    summarize,
    tasks_on,
)
from sysprep.spin import loop_floor_ns, spin


def _clock(readings: list[int]) -> Iterator[int]:
    yield from readings
    while True:  # past the script: time runs on, one step at a time, until the loop ends
        readings[-1] += 100
        yield readings[-1]


def test_the_spin_loop_records_each_gap_above_the_threshold_with_its_offset() -> None:
    ticks = _clock([1_000, 1_100, 1_200, 6_200, 6_300, 6_350, 9_350])
    run = spin(duration_ns=20_000, threshold_ns=1_000, clock=lambda: next(ticks))
    assert run.gaps == ((200, 5_000), (5_350, 3_000))
    assert run.elapsed_ns >= 20_000


def test_a_gap_at_the_threshold_is_not_recorded() -> None:
    ticks = _clock([0, 1_000, 2_001])
    run = spin(duration_ns=2_500, threshold_ns=1_000, clock=lambda: next(ticks))
    assert run.gaps == ((1_000, 1_001),)


def test_the_loop_floor_is_the_mean_iteration_cost() -> None:
    ticks = iter(range(0, 10_000_000, 50))
    assert loop_floor_ns(lambda: next(ticks), loops=1_000, batches=3) == 50


def test_noise_during_calibration_does_not_raise_the_floor() -> None:
    readings = iter([0, 10_000_000, *range(10_000_050, 20_000_000, 50)])
    assert loop_floor_ns(lambda: next(readings), loops=100, batches=3) == 50


def test_percentiles_use_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile([], 0.99) == 0


def test_the_histogram_buckets_by_powers_of_two() -> None:
    assert histogram([10.5, 15.9, 16.0, 1000.0, 0.5]) == {"1": 1, "8": 2, "16": 1, "512": 1}


def test_a_summary_reports_rates_percentiles_and_stolen_time() -> None:
    spun = Spun(
        cpu=1,
        elapsed_ns=2_000_000_000,
        loop_floor_ns=60,
        preemptions=3,
        gaps_ns=(20_000, 40_000, 3_000_000),
    )
    report = summarize(spun, 10.0, {"LOC Local timer interrupts": 5}, ())
    assert (report.gaps, report.gaps_per_s) == (3, 1.5)
    assert (report.gap_p50_us, report.gap_p99_us, report.gap_max_us) == (40.0, 3000.0, 3000.0)
    assert report.stolen_pct == pytest.approx(0.153)
    data = json.loads(json.dumps(report.as_dict()))
    assert {"gaps_per_s", "gap_p99_us", "gap_max_us", "loop_floor_ns"} <= set(data)


def test_a_quiet_run_reports_zero_gaps_not_an_error() -> None:
    report = summarize(Spun(0, 1_000_000_000, 60, 0, ()), 10.0, {}, ())
    assert (report.gaps, report.gap_p99_us, report.gap_max_us) == (0, 0.0, 0.0)


INTERRUPTS = """\
           CPU0       CPU1
 38:          0      10251 PCI-MSIX-0000:00:03.0   1-edge      virtio2-input.0
 39:       6045          0 PCI-MSIX-0000:00:03.0   2-edge      virtio2-output.0
LOC:      12183      29611   Local timer interrupts
ERR:          0
"""


def test_interrupts_are_read_from_the_cpus_column_with_their_names() -> None:
    counts = interrupts_on(INTERRUPTS, 1)
    assert counts["38 PCI-MSIX-0000:00:03.0 1-edge virtio2-input.0"] == 10251
    assert counts["LOC Local timer interrupts"] == 29611
    assert "ERR" not in counts  # a single global count belongs to no CPU
    assert interrupts_on(INTERRUPTS, 7) == {}
    after = dict(counts, **{"LOC Local timer interrupts": 29711})
    assert interrupt_delta(counts, after) == {"LOC Local timer interrupts": 100}


def test_only_tasks_that_ran_on_the_cpu_meanwhile_are_named() -> None:
    before = {
        10: TaskSample(10, 10, "ksoftirqd/1", 1, 5),
        11: TaskSample(11, 11, "sshd", 0, 9),
        12: TaskSample(12, 12, "idle-on-1", 1, 4),
    }
    after = {
        10: TaskSample(10, 10, "ksoftirqd/1", 1, 8),
        11: TaskSample(11, 11, "sshd", 0, 20),
        12: TaskSample(12, 12, "idle-on-1", 1, 4),
        13: TaskSample(13, 13, "newcomer", 1, 2),
        14: TaskSample(14, 14, "the-probe", 1, 50),
    }
    assert tasks_on(1, before, after, exclude=frozenset({14})) == (
        TaskActivity(10, 10, "ksoftirqd/1", 3),
        TaskActivity(13, 13, "newcomer", 2),
    )


def test_garbage_from_the_spinner_is_a_probe_error() -> None:
    with pytest.raises(ProbeError, match="spinner"):
        parse_spun('{"cpu": 1}')


BASELINE = {
    "cpu": 1,
    "seconds": 5.0,
    "threshold_us": 10.0,
    "gaps_per_s": 20.0,
    "gap_p99_us": 100.0,
    "gap_max_us": 400.0,
}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "b.json: not JSON"),
        ("[]", "b.json: expected a JSON object, found list"),
        (
            json.dumps({k: v for k, v in BASELINE.items() if k != "gap_p99_us"}),
            "b.json: gap_p99_us: missing",
        ),
        (
            json.dumps(dict(BASELINE, gaps_per_s="many")),
            "b.json: gaps_per_s: expected a number >= 0, found 'many'",
        ),
        (json.dumps(dict(BASELINE, cpu=1.5)), "b.json: cpu: expected a CPU number"),
        (json.dumps(dict(BASELINE, seconds=0)), "b.json: seconds: must be > 0"),
    ],
)
def test_a_bad_baseline_names_the_file_and_the_key(text: str, message: str) -> None:
    with pytest.raises(BaselineError, match=message):
        parse_baseline(text, "b.json")


def _now(gaps_per_s: float, p99: float, top: float) -> Spun:
    gaps = int(gaps_per_s * 5)
    values = [int(p99 * 1000)] * max(gaps - 1, 0) + [int(top * 1000)] * min(gaps, 1)
    return Spun(1, 5_000_000_000, 60, 0, tuple(values))


def test_a_probe_as_quiet_as_its_baseline_is_ok_and_a_much_noisier_one_is_drift() -> None:
    baseline = parse_baseline(json.dumps(BASELINE), "b.json")
    same = compare(baseline, summarize(_now(30.0, 150.0, 700.0), 10.0, {}, ()))
    assert [f.verdict for f in same] == [Verdict.OK, Verdict.OK, Verdict.OK]
    noisy = compare(baseline, summarize(_now(100.0, 900.0, 5000.0), 10.0, {}, ()))
    assert [(f.name, f.verdict) for f in noisy] == [
        ("probe cpu1 gaps_per_s", Verdict.DRIFT),
        ("probe cpu1 gap_p99_us", Verdict.DRIFT),
        ("probe cpu1 gap_max_us", Verdict.ADVISORY),
    ]
    assert noisy[0].wanted == "<= 41.0 (baseline 20.0 in b.json)"
