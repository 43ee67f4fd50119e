"""Running the real CLI in a subprocess, as a user or a unit would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PROFILES = Path(__file__).parent / "profiles"
REPO = Path(__file__).parents[2]


def run_cli(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [*prefix, sys.executable, "-m", "sysprep", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        cwd=REPO,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sysprep: error: "), result.stderr
    assert fragment in lines[0]


def need_root_and(*tools: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces and mounts)")
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"`{tool}` is not installed (Debian package: iproute2 / util-linux)")


# Busy forever on one CPU once pinned; says so first, so a test knows it is competing.
_COMPETITOR = (
    "import os, sys\n"
    "os.sched_setaffinity(0, {int(sys.argv[1])})\n"
    "print('pinned', flush=True)\n"
    "while True:\n"
    "    pass\n"
)


@contextmanager
def competing(cpu: int) -> Iterator[subprocess.Popen[str]]:
    """A process that never sleeps, pinned to ``cpu`` for as long as the block runs."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _COMPETITOR, str(cpu)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "pinned\n"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=30)
