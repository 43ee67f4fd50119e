"""The probe on this machine's real CPUs: it must see noise that the test itself makes."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from sysprep.errors import ProbeError
from sysprep.probing import run_probe
from tests.sysprep.helpers import competing


def _cpu() -> int:
    return max(os.sched_getaffinity(0))


@pytest.fixture
def competitor() -> Iterator[subprocess.Popen[str]]:
    with competing(_cpu()) as proc:
        yield proc


def test_a_busy_task_pinned_to_the_same_cpu_shows_as_long_gaps_and_is_named(
    competitor: subprocess.Popen[str],
) -> None:
    report = run_probe(_cpu(), seconds=1.0, threshold_us=50.0)
    # Sharing a CPU with a task that never sleeps, the probe loses about half of a second in
    # slices of a millisecond or more; the bounds are a fraction of that, so load cannot fail them.
    assert report.gap_total_us >= 100_000, report
    assert report.gap_max_us >= 500, report
    assert report.preemptions >= 1
    assert competitor.pid in {task.pid for task in report.tasks}, report.tasks
    assert report.loop_floor_ns > 0


def test_a_cpu_this_process_may_not_use_is_refused_by_name() -> None:
    with pytest.raises(ProbeError, match="--cpu 4096: this process may not run there"):
        run_probe(4096, seconds=0.1, threshold_us=10.0)
