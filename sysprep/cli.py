"""``sysprep plan|apply|verify|revert|probe``: exit codes are the contract with scripts and units.

plan: 0 nothing to change, 2 changes pending, 1 error. verify: 0 ok, 1 drift (or error).
apply and revert: 0 when every knob was done or is unsupported here, 1 when any failed.
probe: 0 once it measured (the figures are the result), 1 when it could not.
check-config: 0 when the profile is valid, 1 naming what is wrong.
Usage errors exit 2 (argparse). Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cliargs
from sysprep import api, report
from sysprep.checks import Verdict
from sysprep.errors import BaselineError, SysprepError
from sysprep.probe import ProbeReport, parse_baseline, report_text
from sysprep.profile import Profile

PROG = "sysprep"
_PROFILE_HELP = "built-in name or TOML file (default: latency)"


def _parser() -> argparse.ArgumentParser:
    parser = cliargs.parser(PROG, "Prepare, verify and revert a trading host.")
    commands = cliargs.subcommands(parser)
    check = commands.add_parser(
        "check-config", help="validate a profile and exit", description="validate a profile"
    )
    check.add_argument("--profile", default="latency", help=_PROFILE_HELP)
    cliargs.add_json(check)
    for name, text in (
        ("plan", "show what apply would change (read only); exit 0 none, 2 pending, 1 error"),
        ("apply", "save originals once, write, re-read; exit 1 if any knob failed"),
        ("verify", "check the host (and a workload) against the profile; exit 0 ok, 1 drift"),
        ("revert", "restore the originals saved by the first apply and remove what it wrote"),
        ("probe", "spin on a CPU and report every gap in its execution (noise on that CPU)"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        if name != "revert":
            sub.add_argument("--profile", default="latency", help=_PROFILE_HELP)
        sub.add_argument(
            "--root",
            type=Path,
            default=Path("/"),
            help="root of the /proc, /sys and /etc tree (default: /)",
        )
        if name in ("apply", "revert"):
            sub.add_argument(
                "--state-dir",
                type=Path,
                default=None,
                help="originals and apply's probes are saved here (default: ROOT/var/lib/sysprep)",
            )
        if name == "apply":
            sub.add_argument(
                "--probe",
                action="store_true",
                help="probe the first trader CPU before and after, saved in the state directory",
            )
            _probe_arguments(sub, cpu=False)
        if name == "probe":
            _probe_arguments(sub, cpu=True)
        cliargs.add_json(sub)
        if name == "verify":
            sub.add_argument(
                "--for",
                dest="role",
                choices=api.ROLES,
                default=None,
                help="also check a workload's CPU affinity against this role's CPUs",
            )
            sub.add_argument(
                "--pid",
                type=_pid,
                default=None,
                help="the workload to check (default: this process, e.g. a unit's ExecStartPre)",
            )
            sub.add_argument(
                "--baseline",
                type=Path,
                default=None,
                help="probe again the way this recorded probe (JSON) was, drift if noisier",
            )
    return parser


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, not {text}")
    return value


def _pid(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a process id: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"a process id is 1 or more, not {value}")
    return value


def _probe_arguments(sub: argparse.ArgumentParser, *, cpu: bool) -> None:
    prefix = "" if cpu else "probe-"
    if cpu:
        sub.add_argument(
            "--cpu", type=int, default=None, help="CPU to probe (default: the first trader CPU)"
        )
    sub.add_argument(
        f"--{prefix}seconds", type=_positive, default=10.0, help="how long to spin (default: 10)"
    )
    sub.add_argument(
        f"--{prefix}threshold-us",
        type=_positive,
        default=10.0,
        help="smallest gap recorded, in microseconds (default: 10)",
    )


def _needs_root(args: argparse.Namespace) -> str | None:
    if args.root == Path("/") and os.geteuid() != 0:
        return (
            f"{args.command} writes kernel settings and needs root (running as uid {os.geteuid()})"
        )
    return None


def _state_dir(args: argparse.Namespace) -> Path:
    chosen: Path | None = args.state_dir
    return chosen if chosen is not None else Path(args.root) / api.DEFAULT_STATE_DIR


def _record(path: Path, probe: ProbeReport) -> None:
    try:
        api.save_probe(path, probe)
    except OSError as err:
        raise SysprepError(f"cannot save the probe to {path}: {err}") from None


def _apply(args: argparse.Namespace, profile: Profile) -> int:
    probes: dict[str, ProbeReport] = {}
    if args.probe:
        cpu = api.trader_cpu(profile, args.root)
        probes["before"] = api.probe(cpu, args.probe_seconds, args.probe_threshold_us)
        _record(_state_dir(args) / "probe-before.json", probes["before"])
    result = api.apply(profile, args.root, state_dir=args.state_dir)
    failed_after: SysprepError | None = None
    if args.probe:
        try:
            probes["after"] = api.probe(cpu, args.probe_seconds, args.probe_threshold_us)
            _record(_state_dir(args) / "probe-after.json", probes["after"])
        except SysprepError as err:
            failed_after = err  # what apply did is reported first, then why the probe failed
    if args.json:
        data: dict[str, Any] = json.loads(report.run_json(result))
        if probes:
            data["probe"] = {when: probe.as_dict() for when, probe in probes.items()}
        print(json.dumps(data, indent=2))
    else:
        print(report.run_text(result))
        for when, probe in probes.items():
            print(f"{when}: " + report_text(probe).replace("\n", f"\n{when}: "))
    if failed_after is not None:
        raise failed_after
    return result.exit_code


def _verify(args: argparse.Namespace, profile: Profile) -> int:
    role = args.role if args.role is not None or args.pid is None else "trader"
    verdict = api.verify(profile, args.root, args.pid, role=role)
    findings, ok, probe = verdict.findings, verdict.ok, None
    if args.baseline is not None:
        try:
            text = args.baseline.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise BaselineError(f"{args.baseline}: cannot read the baseline: {err}") from None
        probe, compared = api.probe_against(parse_baseline(text, str(args.baseline)))
        findings += compared
        ok = ok and not any(f.verdict is Verdict.DRIFT for f in compared)
    if args.json:
        data: dict[str, Any] = json.loads(report.verify_json(ok, verdict.profile, findings))
        if probe is not None:
            data["probe"] = probe.as_dict()
        print(json.dumps(data, indent=2))
    else:
        drift = tuple(f for f in findings if f.verdict is Verdict.DRIFT)
        print(report.verify_text(findings, drift))
    return 0 if ok else 1


def _probe(args: argparse.Namespace) -> int:
    cpu = args.cpu
    if cpu is None:
        cpu = api.trader_cpu(api.load_profile(args.profile), args.root)
    result = api.probe(cpu, args.seconds, args.threshold_us)
    print(json.dumps(result.as_dict(), indent=2) if args.json else report_text(result))
    return 0


def _check(args: argparse.Namespace, profile: Profile) -> int:
    if args.json:
        print(json.dumps({"profile": profile.name, "source": profile.source, "ok": True}))
    else:
        print(f"{args.profile}: ok (profile {profile.name}: {profile.description})")
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.command in ("apply", "revert") and (problem := _needs_root(args)):
        raise SysprepError(problem)
    if args.command == "revert":
        result = api.revert(args.root, state_dir=args.state_dir)
        print(report.run_json(result) if args.json else report.run_text(result))
        return result.exit_code
    if args.command == "probe":
        return _probe(args)
    profile = api.load_profile(args.profile)
    if args.command == "check-config":
        return _check(args, profile)
    if args.command == "plan":
        plan = api.plan(profile, args.root)
        print(report.plan_json(plan) if args.json else report.plan_text(plan))
        return plan.exit_code
    if args.command == "apply":
        return _apply(args, profile)
    return _verify(args, profile)


@cliargs.program
def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except SysprepError as err:
        return cliargs.fail(PROG, str(err))
    except BrokenPipeError:
        raise  # stdout's reader has gone: `cliargs.program` ends the program quietly
    except OSError as err:  # an unexpected host failure still gets one line, not a traceback
        return cliargs.fail(PROG, str(err))
