"""``sysprep plan|apply|verify|revert``: exit codes are the contract with scripts and units.

plan: 0 nothing to change, 2 changes pending, 1 error. verify: 0 ok, 1 drift (or error).
apply and revert: 0 when every knob was done or is unsupported here, 1 when any failed.
Usage errors exit 2 (argparse). Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from sysprep import api, report
from sysprep.errors import SysprepError

PROG = "sysprep"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Prepare, verify and revert a trading host."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("plan", "show what apply would change (read only); exit 0 none, 2 pending, 1 error"),
        ("apply", "save originals once, write, re-read; exit 1 if any knob failed"),
        ("verify", "check the host (and a workload) against the profile; exit 0 ok, 1 drift"),
        ("revert", "restore the originals saved by the first apply and remove what it wrote"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        if name != "revert":
            sub.add_argument(
                "--profile", default="latency", help="built-in name or TOML file (default: latency)"
            )
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
                help="where originals are saved (default: ROOT/var/lib/sysprep)",
            )
        sub.add_argument("--json", action="store_true", help="machine-readable output")
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
                type=int,
                default=None,
                help="the workload to check (default: this process, e.g. a unit's ExecStartPre)",
            )
    return parser


def _needs_root(args: argparse.Namespace) -> str | None:
    if args.root == Path("/") and os.geteuid() != 0:
        return (
            f"{args.command} writes kernel settings and needs root (running as uid {os.geteuid()})"
        )
    return None


def _run(args: argparse.Namespace) -> int:
    if args.command in ("apply", "revert") and (problem := _needs_root(args)):
        raise SysprepError(problem)
    if args.command == "revert":
        result = api.revert(args.root, state_dir=args.state_dir)
        print(report.run_json(result) if args.json else report.run_text(result))
        return result.exit_code
    profile = api.load_profile(args.profile)
    if args.command == "plan":
        plan = api.plan(profile, args.root)
        print(report.plan_json(plan) if args.json else report.plan_text(plan))
        return plan.exit_code
    if args.command == "apply":
        result = api.apply(profile, args.root, state_dir=args.state_dir)
        print(report.run_json(result) if args.json else report.run_text(result))
        return result.exit_code
    role = args.role if args.role is not None or args.pid is None else "trader"
    verdict = api.verify(profile, args.root, args.pid, role=role)
    if args.json:
        print(report.verify_json(verdict.ok, verdict.profile, verdict.findings))
    else:
        print(report.verify_text(verdict.findings, verdict.drift))
    return 0 if verdict.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except SysprepError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # an unexpected host failure still gets one line, not a traceback
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
