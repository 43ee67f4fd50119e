"""Human and JSON renderings of plans, runs and verify reports (pure: text out)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from sysprep.checks import Finding, Verdict
from sysprep.engine import Outcome, Result, RunReport
from sysprep.knobs import Kind
from sysprep.planning import Plan, Status, Step
from sysprep.wanted import CpusExcluded, MaskAvoids


def _change_text(step: Step) -> str:
    if step.knob.kind is Kind.FILE:
        return f"{step.current} -> {step.wanted}"
    if isinstance(step.knob.wanted, CpusExcluded | MaskAvoids):
        # the kernel takes a hex mask; people read CPU lists, as the current value is shown
        return f"{step.current} -> {step.knob.wanted.show(step.target or '')}"
    return f"{step.current} -> {(step.target or '').strip()}"


def step_line(step: Step) -> str:
    if step.status is Status.CHANGE:
        return f"{step.name}: {_change_text(step)}"
    if step.status is Status.OK:
        return f"{step.name}: ok"
    word = "unsupported" if step.status is Status.UNSUPPORTED else "failed"
    return f"{step.name}: {word} ({step.reason})"


def plan_text(plan: Plan) -> str:
    lines = [f"profile {plan.profile}: {plan.layout.describe()}"]
    lines += [step_line(step) for step in plan.steps]
    lines += [
        f"warning: {o.path} sets {o.key} = {o.value} after sysprep's drop-in: it wins at boot"
        for o in plan.overrides
    ]
    lines += [f"manual: {note}" for note in plan.manual]
    counts = Counter(step.status for step in plan.steps)
    lines.append(
        f"plan: {counts[Status.CHANGE]} to change, {counts[Status.OK]} ok, "
        f"{counts[Status.UNSUPPORTED]} unsupported, {counts[Status.ERROR]} failed"
    )
    return "\n".join(lines)


def _step_json(step: Step) -> dict[str, Any]:
    return {
        "name": step.name,
        "path": "/" + step.knob.path,
        "status": "failed" if step.status is Status.ERROR else step.status.value,
        "current": step.current,
        "wanted": step.wanted,
        "target": step.target if step.knob.kind is not Kind.FILE else None,
        "reason": step.reason or None,
    }


def plan_json(plan: Plan) -> str:
    return json.dumps(
        {
            "command": "plan",
            "profile": plan.profile,
            "layout": _layout_json(plan),
            "exit_code": plan.exit_code,
            "steps": [_step_json(step) for step in plan.steps],
            "overrides": [vars(o) for o in plan.overrides],
            "manual": list(plan.manual),
        },
        indent=2,
    )


def _layout_json(plan: Plan) -> dict[str, list[int]]:
    layout = plan.layout
    return {
        "online": sorted(layout.online),
        "trader": sorted(layout.trader),
        "watchdog": sorted(layout.watchdog),
        "housekeeping": sorted(layout.housekeeping),
    }


def outcome_line(outcome: Outcome) -> str:
    if outcome.result in (Result.APPLIED, Result.RESTORED):
        if outcome.before is not None:
            return f"{outcome.name}: {outcome.result} ({outcome.before} -> {outcome.after})"
        return f"{outcome.name}: {outcome.result} ({outcome.after})"
    if outcome.result in (Result.OK, Result.REMOVED):
        why = f" ({outcome.reason})" if outcome.reason else ""
        return f"{outcome.name}: {outcome.result}{why}"
    return f"{outcome.name}: {outcome.result} ({outcome.reason})"


def run_text(report: RunReport) -> str:
    lines = [outcome_line(outcome) for outcome in report.outcomes]
    lines += [f"manual: {note}" for note in report.notes]
    counts = Counter(outcome.result for outcome in report.outcomes)
    summary = ", ".join(f"{counts[r]} {r}" for r in Result if counts[r])
    lines.append(f"{report.command}: {summary or 'nothing to do'}")
    return "\n".join(lines)


def run_json(report: RunReport) -> str:
    return json.dumps(
        {
            "command": report.command,
            "exit_code": report.exit_code,
            "outcomes": [
                {
                    "name": o.name,
                    "result": o.result.value,
                    "before": o.before,
                    "after": o.after,
                    "reason": o.reason or None,
                }
                for o in report.outcomes
            ],
            "notes": list(report.notes),
        },
        indent=2,
    )


def finding_line(finding: Finding) -> str:
    if finding.verdict is Verdict.OK:
        return f"{finding.name}: ok"
    if finding.verdict is Verdict.UNSUPPORTED:
        return f"{finding.name}: unsupported ({finding.reason})"
    detail = "; ".join(
        part
        for part in (
            f"{finding.current} -> {finding.wanted}" if finding.wanted is not None else "",
            finding.reason,
        )
        if part
    )
    return f"{finding.name}: {finding.verdict} ({detail})"


def verify_text(findings: tuple[Finding, ...], drift: tuple[Finding, ...]) -> str:
    lines = [finding_line(finding) for finding in findings]
    if drift:
        names = ", ".join(finding.name for finding in drift)
        lines.append(f"verify: drift in {len(drift)} check(s): {names}")
    else:
        lines.append("verify: ok")
    return "\n".join(lines)


def verify_json(ok: bool, profile: str, findings: tuple[Finding, ...]) -> str:
    return json.dumps(
        {
            "command": "verify",
            "profile": profile,
            "ok": ok,
            "exit_code": 0 if ok else 1,
            "findings": [
                {
                    "name": f.name,
                    "verdict": f.verdict.value,
                    "current": f.current,
                    "wanted": f.wanted,
                    "reason": f.reason or None,
                }
                for f in findings
            ],
        },
        indent=2,
    )
