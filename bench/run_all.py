"""Run every benchmark of the suite; write `results.json` and a Markdown report with plots.

    python -m bench.run_all [--quick] [--only a,b] [--out bench-results] [--timeout S]

A benchmark is any `bench/<name>.py` with a top-level `main` (private `_*` modules and the
runner/report themselves excepted). Each runs alone as `python -m bench.<name> [--quick]` in
its own process group, with a per-benchmark timeout; its stdout must be one JSON object. A
benchmark that fails, times out or prints something else is recorded with its error and the
others still run. Exit status: 0 when every benchmark produced its JSON, 1 otherwise (the
files are written either way).
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
NOT_BENCHMARKS = frozenset({"run_all", "report", "__init__", "__main__"})
TIMEOUT_S = {False: 900.0, True: 300.0}  # per benchmark, full / quick: generous on 2 cores
STDERR_TAIL = 2_000


@dataclass(frozen=True)
class Record:
    ok: bool
    seconds: float
    returncode: int | None
    result: dict[str, Any] | None
    error: str | None
    stderr_tail: str


def discover(bench_dir: Path = BENCH_DIR) -> list[str]:
    """Names of the benchmark modules: `bench/*.py` with a top-level `def main`."""
    names = []
    for path in sorted(bench_dir.glob("*.py")):
        if path.stem.startswith("_") or path.stem in NOT_BENCHMARKS:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        if any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body):
            names.append(path.stem)
    return names


def parse_output(stdout: str) -> dict[str, Any]:
    """The benchmark's JSON object: all of stdout, or else its last non-empty line."""
    text = stdout.strip()
    if not text:
        raise ValueError("printed nothing on stdout")
    for candidate in (text, text.splitlines()[-1]):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
        raise ValueError(f"printed JSON that is not an object: {type(value).__name__}")
    raise ValueError(f"stdout is not one JSON object: {text[-200:]!r}")


def run_one(name: str, quick: bool, timeout_s: float) -> Record:
    """Run `python -m bench.<name> [--quick]` from the repository root."""
    return run_command(
        [sys.executable, "-m", f"bench.{name}", *(["--quick"] if quick else [])], timeout_s
    )


def run_command(args: Sequence[str], timeout_s: float) -> Record:
    """Run one benchmark command in its own session; kill the whole group when it ends."""
    started = time.monotonic()
    process = subprocess.Popen(
        args,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: a timeout kills its children too
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        stdout, stderr = process.communicate()
        return Record(
            False,
            _since(started),
            None,
            None,
            f"timed out after {timeout_s:.0f} s",
            stderr[-STDERR_TAIL:],
        )
    finally:
        _kill_group(process)  # a benchmark's leftover children (a daemon, a sim) go with it
    seconds, tail = _since(started), stderr[-STDERR_TAIL:]
    if process.returncode != 0:
        last = stderr.strip().splitlines()[-1:] or ["no stderr"]
        return Record(
            False,
            seconds,
            process.returncode,
            None,
            f"exit {process.returncode}: {last[0][:300]}",
            tail,
        )
    try:
        result = parse_output(stdout)
    except ValueError as exc:
        return Record(False, seconds, 0, None, str(exc), tail)
    return Record(True, seconds, 0, result, None, tail)


def _kill_group(process: subprocess.Popen[str]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return  # the group is gone: nothing left behind


def _since(started: float) -> float:
    return round(time.monotonic() - started, 2)


# -- the machine ---------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_avg_before": [round(v, 2) for v in os.getloadavg()],
        **_git(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass  # not Linux: the platform's own name below
    return platform.processor() or "unknown"


def _git() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit or "unknown", "git_dirty": bool(status)}


# -- the run -------------------------------------------------------------------------------------


def run_all(
    names: Sequence[str],
    quick: bool,
    timeout_s: float,
    out: Path,
    report: Callable[[Mapping[str, Any], Path], Path],
) -> dict[str, Any]:
    started_wall = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    machine = machine_info()
    benchmarks: dict[str, dict[str, Any]] = {}
    for name in names:
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        record = run_one(name, quick, timeout_s)
        status = "ok" if record.ok else f"FAILED: {record.error}"
        print(f"bench: {name} {status} ({record.seconds:.1f} s)", file=sys.stderr, flush=True)
        benchmarks[name] = asdict(record)
    machine["load_avg_after"] = [round(v, 2) for v in os.getloadavg()]
    results = {
        "schema": 1,
        "quick": quick,
        "started_utc": started_wall.strftime("%Y-%m-%d %H:%M:%S"),
        "total_s": round(time.monotonic() - started, 1),
        "machine": machine,
        "benchmarks": benchmarks,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    report(results, out)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="every benchmark's short run")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--out", type=Path, default=REPO / "bench-results", help="output dir")
    parser.add_argument("--timeout", type=float, default=0.0, help="seconds per benchmark")
    args = parser.parse_args(argv)
    try:  # before any benchmark runs: a run that cannot end in a report is not worth starting
        from bench.report import write_report
    except ImportError as exc:
        print(
            f"bench.run_all: error: the report needs {exc.name or 'matplotlib'}: "
            "pip install -e '.[bench]' (make venv installs it)",
            file=sys.stderr,
        )
        return 2
    found = discover()
    names = found
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(names) - set(found))
        if unknown:
            parser.error(f"no such benchmark: {', '.join(unknown)} (have: {', '.join(found)})")
    timeout = args.timeout or TIMEOUT_S[args.quick]
    if timeout <= 0:
        parser.error("--timeout must be positive")
    results = run_all(names, args.quick, timeout, args.out, write_report)
    print(f"bench: wrote {args.out / 'results.json'} and {args.out / 'report.md'}")
    return 0 if all(r["ok"] for r in results["benchmarks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
