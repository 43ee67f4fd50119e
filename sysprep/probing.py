"""The imperative shell of ``sysprep probe``: snapshot, run the pinned spinner, snapshot again.

The spinner is a child process (:mod:`sysprep.spin`) so that this process, blocked waiting
for it, adds nothing to the CPU it measures. The snapshots (``/proc/interrupts`` and every
thread's last CPU and timeslice count) are taken before and after, never during.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sysprep import spin
from sysprep.cpulist import format_cpulist
from sysprep.errors import ProbeError
from sysprep.probe import (
    ProbeReport,
    TaskSample,
    interrupt_delta,
    interrupts_on,
    parse_spun,
    summarize,
    tasks_on,
)

#: How long past its own duration the spinner may take before it is killed as hung.
_GRACE_S = 60.0


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None  # a thread that exited between the listing and the read


def _sample(task_dir: Path, pid: int, tid: int) -> TaskSample | None:
    stat = _read(task_dir / "stat")
    if stat is None or ")" not in stat:
        return None
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    schedstat = _read(task_dir / "schedstat")
    try:
        cpu = int(fields[36])  # field 39 of proc_pid_stat(5): the CPU it last ran on
        if schedstat is not None and len(schedstat.split()) == 3:
            slices = int(schedstat.split()[2])
        else:
            slices = int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    except (IndexError, ValueError):
        return None
    return TaskSample(pid, tid, comm, cpu, slices)


def snapshot_tasks(proc: Path) -> dict[int, TaskSample]:
    """Every thread's last CPU and run count, by thread id."""
    found: dict[int, TaskSample] = {}
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            tids = [name for name in os.listdir(Path(entry.path) / "task") if name.isdigit()]
        except OSError:
            continue  # exited meanwhile
        for tid in tids:
            sample = _sample(Path(entry.path) / "task" / tid, pid, int(tid))
            if sample is not None:
                found[sample.tid] = sample
    return found


def _interrupts(proc: Path, cpu: int) -> dict[str, int]:
    text = _read(proc / "interrupts")
    if text is None:
        raise ProbeError(f"cannot read {proc / 'interrupts'}")
    return interrupts_on(text, cpu)


def check_cpu(cpu: int) -> None:
    allowed = os.sched_getaffinity(0)
    if cpu not in allowed:
        raise ProbeError(
            f"--cpu {cpu}: this process may not run there (allowed CPUs: "
            f"{format_cpulist(allowed)}); run it from a shell not pinned elsewhere"
        )


def _spin(cpu: int, seconds: float, threshold_us: float) -> tuple[str, int]:
    """Run the spinner to completion; its JSON and its pid."""
    args = [str(cpu), str(int(seconds * 1e9)), str(int(threshold_us * 1000))]
    command = [sys.executable, "-I", spin.__file__, *args]
    with subprocess.Popen(  # noqa: S603 (our interpreter and our own file; numbers as arguments)
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as child:
        try:
            out, err = child.communicate(timeout=seconds + _GRACE_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            raise ProbeError(f"the spinner on cpu {cpu} did not finish in time") from None
    if child.returncode != 0:
        last = (err.strip().splitlines() or ["no output"])[-1]
        raise ProbeError(f"the spinner on cpu {cpu} failed (exit {child.returncode}): {last}")
    return out, child.pid


def run_probe(
    cpu: int, seconds: float, threshold_us: float, *, proc: Path = Path("/proc")
) -> ProbeReport:
    """Spin on ``cpu`` for ``seconds``; gaps above ``threshold_us``, with who caused them."""
    if seconds <= 0 or threshold_us <= 0:
        raise ProbeError("--seconds and --threshold-us must be > 0")
    check_cpu(cpu)
    irq_before, tasks_before = _interrupts(proc, cpu), snapshot_tasks(proc)
    out, child = _spin(cpu, seconds, threshold_us)
    irq_after, tasks_after = _interrupts(proc, cpu), snapshot_tasks(proc)
    ours = frozenset({child}) | _own_threads(proc)
    return summarize(
        parse_spun(out),
        threshold_us,
        interrupt_delta(irq_before, irq_after),
        tasks_on(cpu, tasks_before, tasks_after, exclude=ours),
    )


def _own_threads(proc: Path) -> frozenset[int]:
    try:
        return frozenset(int(t) for t in os.listdir(proc / str(os.getpid()) / "task"))
    except OSError:
        return frozenset({os.getpid()})
