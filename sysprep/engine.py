"""The imperative shell: observe the host, write knobs, re-read them, restore originals."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath

import psutil

from sysprep.checks import (
    Finding,
    Verdict,
    affinity_finding,
    boot_findings,
    effective_affinity_finding,
    isolation_findings,
    pile_up_finding,
    swap_finding,
)
from sysprep.cpulist import format_cpulist
from sysprep.errors import MalformedValueError
from sysprep.host import Host, HostFacts, discover
from sysprep.knobs import (
    DROPIN_PATH,
    IRQBALANCE_KNOB,
    IRQBALANCE_PATH,
    SYSTEMD_KNOB,
    Kind,
    Knob,
    knobs_for,
)
from sysprep.layout import CpuLayout, resolve_layout
from sysprep.planning import (
    Absent,
    Observation,
    Plan,
    Present,
    Status,
    Step,
    Unreadable,
    build_plan,
)
from sysprep.profile import Profile
from sysprep.services import ServiceError
from sysprep.state import Saved, StateStore
from sysprep.wanted import selected, tokens


class Result(StrEnum):
    APPLIED = "applied"
    RESTORED = "restored"
    REMOVED = "removed"
    OK = "ok"
    UNSUPPORTED = "unsupported"
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    name: str
    result: Result
    before: str | None = None
    after: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class RunReport:
    """What apply or revert did, knob by knob."""

    command: str
    outcomes: tuple[Outcome, ...]
    notes: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        return 1 if any(o.result is Result.FAILED for o in self.outcomes) else 0


def observe(host: Host, paths: Iterable[str]) -> dict[str, Observation]:
    seen: dict[str, Observation] = {}
    for relative in paths:
        try:
            seen[relative] = Present(host.read(relative))
        except FileNotFoundError:
            seen[relative] = Absent()
        except IsADirectoryError:
            seen[relative] = Present("")
        except (OSError, UnicodeDecodeError) as err:
            seen[relative] = Unreadable(_why(err))
    return seen


def _why(err: Exception) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err)


@dataclass(frozen=True)
class Survey:
    profile: Profile
    facts: HostFacts
    plan: Plan


def survey(profile: Profile, host: Host) -> Survey:
    nic = profile.nic
    facts = discover(
        host,
        profile.irq.nics if profile.irq else None,
        steered=nic.nics if nic is not None else (),
        ethtool=nic is not None and bool(nic.coalesce or nic.rings),
    )
    layout = resolve_layout(profile.cpus, facts.online)
    knobs = knobs_for(profile, layout, facts)
    seen = observe(host, [knob.path for knob in knobs if knob.never is None] + [DROPIN_PATH])
    return Survey(profile, facts, build_plan(profile, layout, facts, knobs, seen))


def _write_failure(relative: str, err: OSError) -> tuple[Result, str]:
    """Classify a failed write. EIO on an IRQ is a managed IRQ: reported, not a failure."""
    where = f"/{relative}"
    if err.errno == errno.EIO and relative.startswith("proc/irq/"):
        return Result.UNSUPPORTED, "managed IRQ: the kernel owns its affinity (EIO)"
    if err.errno in (errno.EACCES, errno.EPERM):
        return Result.FAILED, f"permission denied writing {where} (not root, or read-only here)"
    if err.errno == errno.EROFS:
        return Result.FAILED, f"read-only file system: {where}"
    if err.errno == errno.EINVAL:
        return Result.FAILED, f"the kernel rejected the value for {where} (EINVAL)"
    if err.errno == errno.ENOENT:
        return Result.UNSUPPORTED, f"{where} vanished"
    return Result.FAILED, f"{where}: {_why(err)}"


def _put(host: Host, knob: Knob, text: str) -> None:
    if knob.kind is Kind.FILE:
        host.files.replace(host.path(knob.path), text)
    else:
        host.write(knob.path, text)


def _apply_step(host: Host, step: Step) -> Outcome:
    knob, target = step.knob, step.target or ""
    try:
        _put(host, knob, target)
    except OSError as err:
        result, reason = _write_failure(knob.path, err)
        return Outcome(step.name, result, step.current, step.wanted, reason)
    try:
        raw = host.read(knob.path)
        holds = knob.wanted.satisfied(raw)
        shown = knob.wanted.show(raw)
    except (OSError, MalformedValueError) as err:
        reason = f"wrote {target.strip()!r} but cannot re-read it: {_why(err)}"
        return Outcome(step.name, Result.FAILED, step.current, step.wanted, reason)
    if not holds:
        reason = f"wrote {target.strip()!r} but the kernel shows {shown!r}"
        return Outcome(step.name, Result.FAILED, step.current, step.wanted, reason)
    return Outcome(step.name, Result.APPLIED, step.current, shown)


def _plain_outcome(step: Step) -> Outcome:
    if step.status is Status.OK:
        return Outcome(step.name, Result.OK, step.current, step.current)
    if step.status is Status.UNSUPPORTED:
        return Outcome(step.name, Result.UNSUPPORTED, reason=step.reason)
    return Outcome(step.name, Result.FAILED, reason=step.reason)


def _originals(host: Host, changes: tuple[Step, ...]) -> dict[str, Saved]:
    """What revert needs, in apply order: a directory apply creates comes before its file."""
    saved: dict[str, Saved] = {}
    for step in changes:
        if step.knob.kind is Kind.FILE and step.original is None:
            parent = str(PurePosixPath(step.knob.path).parent)
            if not host.exists(parent):
                saved[parent] = Saved(f"{step.name} directory", None, "dir")
        saved[step.knob.path] = Saved(step.name, step.original, step.knob.wanted.form)
    return saved


def apply(survey_: Survey, host: Host, store: StateStore) -> RunReport:
    """Save originals once (fsynced) before the first write, then write and re-read each."""
    store.save_once(_originals(host, survey_.plan.changes))
    outcomes = [
        _apply_step(host, step) if step.status is Status.CHANGE else _plain_outcome(step)
        for step in survey_.plan.steps
    ]
    outcomes += _tell_irqbalance(host, outcomes)
    return RunReport("apply", tuple(outcomes), survey_.plan.manual + _systemd_note(outcomes))


_SYSTEMD_NOTE = (
    "systemd reads CPUAffinity= when it starts: reboot, or run `systemctl daemon-reexec`",
)


def _systemd_note(outcomes: list[Outcome]) -> tuple[str, ...]:
    """sysprep does not re-execute PID 1 on its own: say what makes the drop-in count."""
    changed = (Result.APPLIED, Result.RESTORED, Result.REMOVED)
    if any(o.name == SYSTEMD_KNOB and o.result in changed for o in outcomes):
        return _SYSTEMD_NOTE
    return ()


def _tell_irqbalance(host: Host, outcomes: list[Outcome]) -> list[Outcome]:
    """irqbalance reads IRQBALANCE_BANNED_CPULIST only when it starts: restart a running one.

    Until it restarts it keeps moving IRQs onto the trader CPUs, so a restart that cannot
    be done is a failure, not a footnote.
    """
    changed = (Result.APPLIED, Result.RESTORED, Result.REMOVED)
    if not any(o.name == IRQBALANCE_KNOB and o.result in changed for o in outcomes):
        return []
    name = "irqbalance restart"
    if host.services is None:
        return [Outcome(name, Result.UNSUPPORTED, reason="not this host's live root: not checked")]
    try:
        if not host.services.running("irqbalance"):
            return [Outcome(name, Result.OK, reason="irqbalance is not running")]
        host.services.restart("irqbalance")
    except ServiceError as err:
        return [Outcome(name, Result.FAILED, reason=str(err))]
    return [Outcome(name, Result.APPLIED, after="restarted")]


def _restored(saved: Saved, raw: str) -> bool:
    if saved.form == "selected":
        return selected(raw) == saved.value
    if saved.form == "file":
        return raw == saved.value
    return tokens(raw) == tokens(saved.value or "")


def _restore_one(host: Host, relative: str, saved: Saved) -> Outcome:
    path = host.path(relative)
    try:
        if saved.value is None and saved.form == "dir":
            return _remove_created_dir(host, path, saved)
        if saved.value is None:
            if host.files.exists(path):
                host.files.remove(path)
            return Outcome(saved.name, Result.REMOVED, after="absent")
        if _restored(saved, host.read(relative)):
            # never changed (its write failed) or already put back: nothing to write
            return Outcome(saved.name, Result.OK, after=_shown(saved))
        if saved.form == "file":
            host.files.replace(path, saved.value)
        else:
            host.write(relative, saved.value)
        raw = host.read(relative)
        if not _restored(saved, raw):
            reason = f"wrote {saved.value!r} but the kernel shows {raw.strip()!r}"
            return Outcome(saved.name, Result.FAILED, after=raw.strip(), reason=reason)
    except (OSError, MalformedValueError) as err:
        if isinstance(err, OSError):
            result, reason = _write_failure(relative, err)
        else:
            result, reason = Result.FAILED, str(err)
        return Outcome(saved.name, result, reason=reason)
    return Outcome(saved.name, Result.RESTORED, after=_shown(saved))


def _remove_created_dir(host: Host, path: Path, saved: Saved) -> Outcome:
    """A directory apply created goes, unless someone has put something of theirs in it."""
    if not host.files.exists(path):
        return Outcome(saved.name, Result.REMOVED, after="absent")
    if host.files.listdir(path):
        return Outcome(saved.name, Result.OK, reason="kept: it holds files sysprep did not write")
    host.files.remove_dir(path)
    return Outcome(saved.name, Result.REMOVED, after="absent")


def _shown(saved: Saved) -> str:
    return "original file" if saved.form == "file" else (saved.value or "").strip()


def revert(host: Host, store: StateStore) -> RunReport:
    """Restore saved originals, newest first; keep the record of any that failed."""
    saved = store.load()
    outcomes = [_restore_one(host, path, entry) for path, entry in reversed(saved.items())]
    failed = {
        path
        for (path, _), outcome in zip(reversed(saved.items()), outcomes, strict=True)
        if outcome.result is Result.FAILED
    }
    store.keep_only(failed)
    notes: tuple[str, ...] = () if saved else ("nothing to revert: no saved originals",)
    notes += _systemd_note(outcomes)
    return RunReport("revert", (*outcomes, *_tell_irqbalance(host, outcomes)), notes)


def _step_finding(step: Step) -> Finding:
    if step.status is Status.OK:
        return Finding(step.name, Verdict.OK, step.current, step.wanted)
    if step.status is Status.UNSUPPORTED:
        return Finding(step.name, Verdict.UNSUPPORTED, reason=step.reason)
    if step.status is Status.CHANGE:
        return Finding(step.name, Verdict.DRIFT, step.current, step.wanted, "run sysprep apply")
    return Finding(step.name, Verdict.DRIFT, reason=step.reason)


def _irq_effective(host: Host, facts: HostFacts, survey_: Survey) -> list[Finding]:
    findings = []
    for nic, irqs in sorted(facts.nic_irqs.items()):
        for irq in irqs or ():
            name = f"irq {irq} ({nic}) effective affinity"
            try:
                raw: str | None = host.read(f"proc/irq/{irq}/effective_affinity_list")
            except FileNotFoundError:
                raw = None
            except OSError as err:
                findings.append(Finding(name, Verdict.DRIFT, reason=f"cannot read: {_why(err)}"))
                continue
            findings.append(effective_affinity_finding(name, raw, survey_.plan.layout))
    return findings


def _process_affinity(pid: int) -> frozenset[int] | str:
    try:
        return frozenset(psutil.Process(pid).cpu_affinity() or ())
    except psutil.NoSuchProcess:
        return f"no process {pid}"
    except psutil.Error as err:
        return f"cannot read the CPU affinity of pid {pid}: {err}"


def _irqbalance_finding(host: Host) -> Finding | None:
    """A running irqbalance that started before its banned list changed still ignores it."""
    if host.services is None:
        return None
    name = "irqbalance banned CPUs in effect"
    try:
        changed = os.stat(host.path(IRQBALANCE_PATH)).st_mtime
        started = host.services.started("irqbalance")
    except FileNotFoundError:
        return None
    except ServiceError as err:
        # A sandboxed caller (the trader's unit) cannot see irqbalance. Where the IRQs really
        # land is checked anyway (effective affinity), so this is reported, not drift.
        return Finding(name, Verdict.ADVISORY, reason=f"cannot tell: {err}")
    except OSError as err:
        return Finding(name, Verdict.DRIFT, reason=f"cannot tell: {_why(err)}")
    if started is None:
        return Finding(name, Verdict.OK, "not running", "restarted since the list changed")
    if started < changed:
        reason = (
            "irqbalance started before /etc/default/irqbalance (its banned CPU list) last "
            "changed: systemctl restart irqbalance.service"
        )
        return Finding(name, Verdict.DRIFT, "stale", "restarted since the list changed", reason)
    return Finding(name, Verdict.OK, "restarted", "restarted since the list changed")


def _manager_finding(host: Host, layout: CpuLayout) -> Finding | None:
    """systemd reads CPUAffinity= when it starts: until then services still land anywhere."""
    if host.services is None:
        return None
    name = "systemd manager CPU affinity"
    wanted = format_cpulist(layout.housekeeping)
    try:
        cpus = host.services.manager_affinity()
    except ServiceError as err:  # an advisory check that cannot be made stays advisory
        return Finding(name, Verdict.ADVISORY, None, wanted, f"cannot tell: {err}")
    if cpus is None:
        return Finding(name, Verdict.UNSUPPORTED, reason="PID 1 is not systemd")
    if cpus & layout.trader:
        reason = "takes effect at the next boot or after `systemctl daemon-reexec`"
        return Finding(name, Verdict.ADVISORY, format_cpulist(cpus), wanted, reason)
    return Finding(name, Verdict.OK, format_cpulist(cpus), wanted)


def _service_findings(profile: Profile, host: Host, layout: CpuLayout) -> list[Finding]:
    found: list[Finding | None] = []
    if profile.persist and profile.irq is not None and profile.irq.irqbalance_ban:
        found.append(_irqbalance_finding(host))
    if profile.persist and profile.placement is not None and profile.placement.systemd:
        found.append(_manager_finding(host, layout))
    return [finding for finding in found if finding is not None]


def verify_findings(survey_: Survey, host: Host, role: str | None, pid: int) -> list[Finding]:
    profile, facts, plan = survey_.profile, survey_.facts, survey_.plan
    findings = [_step_finding(step) for step in plan.steps]
    for override in plan.overrides:
        reason = f"{override.path} sets {override.value!r}, applied after sysprep at boot"
        findings.append(Finding(f"sysctl.d override {override.key}", Verdict.DRIFT, reason=reason))
    findings += isolation_findings(profile, plan.layout, facts)
    findings += boot_findings(profile, plan.layout, facts)
    if profile.swap_off:
        findings.append(swap_finding(facts))
    if profile.irq is not None:
        findings += _irq_effective(host, facts, survey_)
    findings += _service_findings(profile, host, plan.layout)
    if role is not None:
        allowed = _process_affinity(pid)
        findings.append(affinity_finding(role, pid, allowed, plan.layout))
        if role == "trader" and (pile_up := pile_up_finding(pid, allowed, facts.cmdline)):
            findings.append(pile_up)
    return findings
