"""Child processes for tests: ``harness.procs``, shared with the benchmarks."""

from __future__ import annotations

from harness.procs import (
    Child,
    ChildNotReadyError,
    pid_exists,
    reaped,
    start_child,
    wait_ready_file,
)

__all__ = ["Child", "ChildNotReadyError", "pid_exists", "reaped", "start_child", "wait_ready_file"]
