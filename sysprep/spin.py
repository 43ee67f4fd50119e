"""The spinning half of ``sysprep probe``: run as its own process, pinned to the CPU it measures.

It reads the monotonic clock in a loop as tight as Python allows and records every gap between
two consecutive reads above a threshold: time the CPU spent on something else (an interrupt,
another task, the hypervisor). This is the technique of ``hiccups`` and ``rtla osnoise``, with
a coarser floor: one loop iteration of the interpreter (see :func:`loop_floor_ns`).

Usage: ``python -m sysprep.spin CPU DURATION_NS THRESHOLD_NS``; prints one JSON object.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Clock = Callable[[], int]


@dataclass(frozen=True)
class SpinRun:
    """Gaps as (offset from the start, length) in nanoseconds, and how long the loop ran."""

    gaps: tuple[tuple[int, int], ...]
    elapsed_ns: int


#: Calibration: batches short enough that most are never interrupted; the quickest one wins.
_CALIBRATION_BATCHES = 20
_CALIBRATION_LOOPS = 10_000


def spin(duration_ns: int, threshold_ns: int, clock: Clock = time.perf_counter_ns) -> SpinRun:
    """Read ``clock`` until ``duration_ns`` has passed; keep each gap above ``threshold_ns``.

    Names are bound locally and the loop body is one subtraction and one comparison, so an
    iteration costs a few tens of nanoseconds: that is the resolution of the probe.
    """
    gaps: list[tuple[int, int]] = []
    append = gaps.append
    start = last = clock()
    end = start + duration_ns
    while last < end:
        now = clock()
        if now - last > threshold_ns:
            append((last - start, now - last))
        last = now
    return SpinRun(tuple(gaps), last - start)


def loop_floor_ns(
    clock: Clock = time.perf_counter_ns,
    loops: int = _CALIBRATION_LOOPS,
    batches: int = _CALIBRATION_BATCHES,
) -> int:
    """The cost of one iteration of a loop shaped like :func:`spin`'s: the probe's floor.

    The mean of the quickest of several short batches, so that noise during calibration
    (the very thing the probe measures) does not inflate it.
    """
    threshold = 1 << 62
    best = None
    for _ in range(batches):
        start = last = clock()
        for _ in range(loops):
            now = clock()
            if now - last > threshold:
                break
            last = now
        took = (clock() - start) // loops
        best = took if best is None else min(best, took)
    return max(1, best or 1)


def _preemptions() -> int:
    """This process's involuntary context switches: each is a time it was pushed off its CPU."""
    with open("/proc/self/status", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("nonvoluntary_ctxt_switches:"):
                return int(line.split()[1])
    return 0


def main(argv: Sequence[str]) -> int:
    cpu, duration_ns, threshold_ns = (int(arg) for arg in argv)
    os.sched_setaffinity(0, {cpu})
    gc.disable()  # a collection inside the loop would be a gap of the probe's own making
    floor = loop_floor_ns()
    before = _preemptions()
    run = spin(duration_ns, threshold_ns)
    preempted = _preemptions() - before
    result = {
        "cpu": cpu,
        "elapsed_ns": run.elapsed_ns,
        "loop_floor_ns": floor,
        "preemptions": preempted,
        "gaps": [list(gap) for gap in run.gaps],
    }
    sys.stdout.write(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
