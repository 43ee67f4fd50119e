"""Every program of the suite (and exchange-sim's own copy) has one command-line shape:
`--version`, and usage errors as one line `prog: error: ...` with exit 2, never a usage block."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from cliargs import EXIT_BROKEN_PIPE
from harness.procs import run_into_a_closed_pipe

REPO = Path(__file__).resolve().parents[2]
VERSION = metadata.version("killswitch-suite")

# (program name, `python -m` module, arguments with one bad usage, the argument it names)
PROGRAMS = [
    ("watchdog", "watchdog", ["trip", "--trader", "alpha"], "trip: the following arguments"),
    ("trader", "trader", ["run", "--config", "t.toml", "--log-level", "loud"], "--log-level"),
    ("exchange-sim", "exchange_sim", ["--port", "http"], "argument --port: not a port number"),
    ("sysprep", "sysprep", ["probe", "--seconds", "-1"], "probe: argument --seconds"),
    ("demo", "demo", ["--trade-s", "0"], "argument --trade-s: must be in (0, 600]"),
]


def run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("prog", "module"), [p[:2] for p in PROGRAMS], ids=[p[0] for p in PROGRAMS]
)
def test_version_prints_the_package_version(prog: str, module: str) -> None:
    result = run(module, "--version")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"{prog} {VERSION}\n", "")


@pytest.mark.parametrize(
    ("prog", "module", "args", "named"), PROGRAMS, ids=[p[0] for p in PROGRAMS]
)
def test_a_usage_error_is_one_line_naming_the_argument_and_exit_2(
    prog: str, module: str, args: list[str], named: str
) -> None:
    result = run(module, *args)
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{prog}: error: ")
    assert named in line
    assert line.endswith("--help)")


@pytest.mark.parametrize(
    "argv",
    [["sysprep", "check-config", "--profile", "baseline"], ["demo", "--list"]],
    ids=["sysprep", "demo"],
)
def test_output_into_a_closed_pipe_ends_quietly_as_sigpipe_would(argv: list[str]) -> None:
    result = run_into_a_closed_pipe([sys.executable, "-m", *argv])
    assert (result.returncode, result.stderr) == (EXIT_BROKEN_PIPE, "")
