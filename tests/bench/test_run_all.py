"""The runner: finds every benchmark, survives a failing or hanging one, writes the files."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from bench.run_all import discover, parse_output, run_command
from harness.procs import run_module

ROOT = Path(__file__).parents[2]


def test_every_benchmark_module_is_found_and_helpers_are_not() -> None:
    names = discover()
    for expected in ("risk_eval", "kill_latency_local", "poll_baseline", "scale", "soak"):
        assert expected in names
    for helper in ("_stats", "run_all", "report", "__init__"):
        assert helper not in names


def test_a_module_counts_as_a_benchmark_only_with_a_top_level_main(tmp_path: Path) -> None:
    (tmp_path / "alpha.py").write_text("def main() -> None:\n    pass\n")
    (tmp_path / "_private.py").write_text("def main() -> None:\n    pass\n")
    (tmp_path / "nested.py").write_text("class A:\n    def main(self) -> None:\n        pass\n")
    (tmp_path / "run_all.py").write_text("def main() -> None:\n    pass\n")
    assert discover(tmp_path) == ["alpha"]


def test_the_json_object_may_follow_log_lines() -> None:
    assert parse_output('{"a_ms": 1}') == {"a_ms": 1}
    assert parse_output('{\n "a_ms": 1\n}\n') == {"a_ms": 1}
    assert parse_output('warming up\n{"a_ms": 1}\n') == {"a_ms": 1}


@pytest.mark.parametrize(
    ("stdout", "error"),
    [
        ("", "printed nothing"),
        ("[1, 2]", "not an object"),
        ("done\n", "not one JSON object"),
    ],
)
def test_anything_but_one_json_object_is_an_error(stdout: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_output(stdout)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_benchmark_that_prints_its_json_is_recorded_with_it() -> None:
    record = run_command(python("print('{\"p50_us\": 1.5}')"), timeout_s=60)
    assert record.ok
    assert record.result == {"p50_us": 1.5}
    assert record.error is None


def test_a_failing_benchmark_is_recorded_with_its_last_error_line() -> None:
    record = run_command(python("import sys; sys.exit('bench: cannot bind')"), timeout_s=60)
    assert not record.ok
    assert record.returncode == 1
    assert record.error == "exit 1: bench: cannot bind"
    assert "cannot bind" in record.stderr_tail


def test_a_hanging_benchmark_is_killed_with_every_process_it_started(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    code = (
        "import subprocess, pathlib, time\n"
        "child = subprocess.Popen(['sleep', '600'])\n"
        f"pathlib.Path({str(pidfile)!r}).write_text(str(child.pid))\n"
        "time.sleep(600)\n"
    )
    record = run_command(python(code), timeout_s=3)
    assert not record.ok
    assert record.error == "timed out after 3 s"
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 30
    while _alive(child):
        assert time.monotonic() < deadline, "the benchmark's child outlived the timeout"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_run_all_writes_results_and_report_for_the_benchmarks_it_ran(tmp_path: Path) -> None:
    out = tmp_path / "results"
    only = ["--only", "json_decode,risk_eval"]
    done = run_module("bench.run_all", "--quick", *only, "--out", str(out), timeout_s=300)
    assert done.returncode == 0, done.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["quick"] is True
    machine = results["machine"]
    assert machine["cpu_count"] >= 1
    assert len(machine["load_avg_before"]) == len(machine["load_avg_after"]) == 3
    assert len(machine["git_commit"]) == 40
    for key in ("cpu_model", "kernel", "python"):
        assert machine[key]
    assert set(results["benchmarks"]) == {"json_decode", "risk_eval"}
    assert results["benchmarks"]["risk_eval"]["ok"]
    assert results["benchmarks"]["risk_eval"]["result"]["p50_us"] > 0
    report = (out / "report.md").read_text()
    assert "risk: one event through every rule" in report
    assert (out / "json_decode.png").exists()


def test_an_unknown_benchmark_name_is_refused_in_one_line(tmp_path: Path) -> None:
    done = run_module("bench.run_all", "--only", "nope", "--out", str(tmp_path), timeout_s=120)
    assert done.returncode == 2
    assert "no such benchmark: nope" in done.stderr
    assert not (tmp_path / "results.json").exists()


def test_without_matplotlib_nothing_runs_and_one_line_says_what_to_install(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['matplotlib'] = None  # as if the bench extra were not installed\n"
        "from bench.run_all import main\n"
        f"sys.exit(main(['--only', 'risk_eval', '--out', {str(tmp_path)!r}]))\n"
    )
    done = subprocess.run(
        python(code), cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "the report needs matplotlib: pip install -e '.[bench]'" in done.stderr
    assert not (tmp_path / "results.json").exists()
