"""What a probe run measured, and how it compares with a recorded baseline (pure).

The shell (:mod:`sysprep.probing`) gathers the spinner's gaps and two snapshots of
``/proc/interrupts`` and of the scheduler's per-task statistics; this module turns them into a
:class:`ProbeReport` and back from JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sysprep.checks import Finding, Verdict
from sysprep.errors import BaselineError, ProbeError

#: A probe is drift against its baseline past ``factor * baseline + slack`` (noise is bursty:
#: a healthy host measured twice differs by tens of percent, never by twice plus the slack).
DRIFT_FACTOR = 2.0
GAPS_PER_S_SLACK = 1.0


@dataclass(frozen=True)
class TaskSample:
    """One thread as the scheduler saw it: the CPU it last ran on and how often it ran."""

    pid: int
    tid: int
    comm: str
    cpu: int
    slices: int  # timeslices run (schedstat), or clock ticks used where schedstat is absent


@dataclass(frozen=True)
class TaskActivity:
    pid: int
    tid: int
    comm: str
    slices: int


@dataclass(frozen=True)
class ProbeReport:
    cpu: int
    seconds: float
    threshold_us: float
    loop_floor_ns: int
    gaps: int
    gaps_per_s: float
    gap_p50_us: float
    gap_p99_us: float
    gap_max_us: float
    gap_total_us: float
    stolen_pct: float
    preemptions: int
    histogram_us: dict[str, int]  # lower edge of a power-of-two bucket -> gaps in it
    interrupts: dict[str, int]  # interrupt -> how many landed on the CPU meanwhile
    tasks: tuple[TaskActivity, ...]  # other threads that ran on the CPU meanwhile

    def as_dict(self) -> dict[str, Any]:
        data = {key: value for key, value in vars(self).items() if key != "tasks"}
        data["tasks"] = [vars(task) for task in self.tasks]
        return data


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence; 0 for none."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def histogram(gaps_us: Sequence[float]) -> dict[str, int]:
    """Gaps per power-of-two bucket, keyed by the bucket's lower edge in microseconds."""
    counts: dict[int, int] = {}
    for gap in gaps_us:
        edge = 1 << max(0, int(gap).bit_length() - 1)
        counts[edge] = counts.get(edge, 0) + 1
    return {str(edge): counts[edge] for edge in sorted(counts)}


def interrupts_on(text: str, cpu: int) -> dict[str, int]:
    """Counts of each ``/proc/interrupts`` line in the column of ``cpu``.

    A line is keyed by its label and description (``38 virtio2-input.0``, ``LOC Local timer
    interrupts``), so a device's IRQ is recognisable without a lookup.
    """
    lines = text.splitlines()
    if not lines:
        return {}
    columns = lines[0].split()
    column = f"CPU{cpu}"
    if column not in columns:
        return {}
    index = columns.index(column)
    found: dict[str, int] = {}
    for line in lines[1:]:
        label, sep, rest = line.partition(":")
        fields = rest.split()
        if not sep or len(fields) <= index or not fields[index].isdigit():
            continue
        description = " ".join(fields[len(columns) :])
        name = f"{label.strip()} {description}".strip()
        found[name] = found.get(name, 0) + int(fields[index])
    return found


def interrupt_delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """Interrupts that landed meanwhile, most first."""
    delta = {name: count - before.get(name, 0) for name, count in after.items()}
    return dict(sorted(((n, d) for n, d in delta.items() if d > 0), key=lambda item: -item[1]))


def tasks_on(
    cpu: int,
    before: Mapping[int, TaskSample],
    after: Mapping[int, TaskSample],
    exclude: frozenset[int] = frozenset(),
) -> tuple[TaskActivity, ...]:
    """Threads that ran meanwhile and were last seen on ``cpu`` (before or after), busiest first.

    A thread that came and went between the snapshots is missed; the interrupt and gap counts
    do not depend on this list.
    """
    active = []
    for tid, now in after.items():
        if tid in exclude:
            continue
        then = before.get(tid)
        ran = now.slices - (then.slices if then is not None else 0)
        on_cpu = now.cpu == cpu or (then is not None and then.cpu == cpu)
        if ran > 0 and on_cpu:
            active.append(TaskActivity(now.pid, tid, now.comm, ran))
    return tuple(sorted(active, key=lambda task: (-task.slices, task.tid)))


@dataclass(frozen=True)
class Spun:
    """What the spinner reported."""

    cpu: int
    elapsed_ns: int
    loop_floor_ns: int
    preemptions: int
    gaps_ns: tuple[int, ...]


def summarize(
    spun: Spun,
    threshold_us: float,
    interrupts: dict[str, int],
    tasks: tuple[TaskActivity, ...],
) -> ProbeReport:
    seconds = spun.elapsed_ns / 1e9
    gaps_us = sorted(gap / 1000 for gap in spun.gaps_ns)
    total = sum(gaps_us)
    return ProbeReport(
        cpu=spun.cpu,
        seconds=round(seconds, 3),
        threshold_us=threshold_us,
        loop_floor_ns=spun.loop_floor_ns,
        gaps=len(gaps_us),
        gaps_per_s=round(len(gaps_us) / seconds, 2) if seconds > 0 else 0.0,
        gap_p50_us=round(percentile(gaps_us, 0.50), 1),
        gap_p99_us=round(percentile(gaps_us, 0.99), 1),
        gap_max_us=round(gaps_us[-1], 1) if gaps_us else 0.0,
        gap_total_us=round(total, 1),
        stolen_pct=round(100 * total / (seconds * 1e6), 3) if seconds > 0 else 0.0,
        preemptions=spun.preemptions,
        histogram_us=histogram(gaps_us),
        interrupts=interrupts,
        tasks=tasks,
    )


def parse_spun(text: str) -> Spun:
    """The spinner's JSON line; anything else is an error naming what was wrong."""
    try:
        data = json.loads(text)
        return Spun(
            cpu=int(data["cpu"]),
            elapsed_ns=int(data["elapsed_ns"]),
            loop_floor_ns=int(data["loop_floor_ns"]),
            preemptions=int(data["preemptions"]),
            gaps_ns=tuple(int(gap[1]) for gap in data["gaps"]),
        )
    except (ValueError, KeyError, TypeError, IndexError) as err:
        raise ProbeError(f"the spinner's output is not what it should be: {err}") from None


@dataclass(frozen=True)
class Baseline:
    """The figures of a recorded probe that a later one is compared with."""

    source: str
    cpu: int
    seconds: float
    threshold_us: float
    gaps_per_s: float
    gap_p99_us: float
    gap_max_us: float


def _number(data: Mapping[str, Any], key: str, source: str) -> float:
    if key not in data:
        raise BaselineError(f"{source}: {key}: missing (is this a `sysprep probe --json` file?)")
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise BaselineError(f"{source}: {key}: expected a number >= 0, found {value!r}")
    return float(value)


def parse_baseline(text: str, source: str) -> Baseline:
    """A probe recorded with ``sysprep probe --json`` (or by ``apply --probe``)."""
    try:
        data = json.loads(text)
    except ValueError as err:
        raise BaselineError(f"{source}: not JSON: {err}") from None
    if not isinstance(data, dict):
        raise BaselineError(f"{source}: expected a JSON object, found {type(data).__name__}")
    cpu = _number(data, "cpu", source)
    if not cpu.is_integer():
        raise BaselineError(f"{source}: cpu: expected a CPU number, found {data['cpu']!r}")
    seconds = _number(data, "seconds", source)
    if seconds <= 0:
        raise BaselineError(f"{source}: seconds: must be > 0")
    return Baseline(
        source,
        int(cpu),
        seconds,
        _number(data, "threshold_us", source),
        _number(data, "gaps_per_s", source),
        _number(data, "gap_p99_us", source),
        _number(data, "gap_max_us", source),
    )


def _limit(base: float, slack: float) -> float:
    return round(base * DRIFT_FACTOR + slack, 1)


def compare(baseline: Baseline, now: ProbeReport) -> list[Finding]:
    """Drift when the CPU got clearly noisier than the baseline; the maximum only advises."""
    checks = (
        ("gaps_per_s", baseline.gaps_per_s, now.gaps_per_s, GAPS_PER_S_SLACK, Verdict.DRIFT),
        ("gap_p99_us", baseline.gap_p99_us, now.gap_p99_us, baseline.threshold_us, Verdict.DRIFT),
        (
            "gap_max_us",
            baseline.gap_max_us,
            now.gap_max_us,
            baseline.threshold_us,
            Verdict.ADVISORY,
        ),
    )
    findings = []
    for key, base, value, slack, worse in checks:
        name = f"probe cpu{now.cpu} {key}"
        limit = _limit(base, slack)
        wanted = f"<= {limit} (baseline {base} in {baseline.source})"
        if value <= limit:
            findings.append(Finding(name, Verdict.OK, str(value), wanted))
        else:
            reason = "the CPU is noisier than when the baseline was recorded: see interrupts/tasks"
            findings.append(Finding(name, worse, str(value), wanted, reason))
    return findings


def report_text(report: ProbeReport, top: int = 8) -> str:
    lines = [
        f"probe cpu{report.cpu}: {report.seconds} s, threshold {report.threshold_us} us, "
        f"loop floor {report.loop_floor_ns} ns",
        f"gaps: {report.gaps} ({report.gaps_per_s}/s), p50 {report.gap_p50_us} us, "
        f"p99 {report.gap_p99_us} us, max {report.gap_max_us} us, "
        f"stolen {report.stolen_pct}%, preempted {report.preemptions} time(s)",
    ]
    buckets = ", ".join(f">={edge}us: {count}" for edge, count in report.histogram_us.items())
    lines.append(f"histogram: {buckets or 'no gap above the threshold'}")
    irqs = list(report.interrupts.items())[:top]
    lines.append(
        "interrupts on cpu: " + (", ".join(f"{name} x{count}" for name, count in irqs) or "none")
    )
    tasks = report.tasks[:top]
    lines.append(
        "other tasks on cpu: "
        + (", ".join(f"{t.comm}[{t.tid}] x{t.slices}" for t in tasks) or "none seen")
    )
    return "\n".join(lines)
