"""What verify checks beyond the knobs: boot parameters, swap, where IRQs and the workload run.

Pure functions over observed facts; the shell gathers the facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sysprep.cpulist import format_cpulist, parse_cpulist
from sysprep.errors import MalformedValueError
from sysprep.host import HostFacts
from sysprep.layout import CpuLayout
from sysprep.profile import BootWish, Profile

#: Flags isolcpus accepts before its CPU list.
_ISOLCPUS_FLAGS = frozenset({"nohz", "domain", "managed_irq"})


class Verdict(StrEnum):
    OK = "ok"
    DRIFT = "drift"
    UNSUPPORTED = "unsupported"
    ADVISORY = "advisory"  # would be drift, but the profile does not require it


@dataclass(frozen=True)
class Finding:
    name: str
    verdict: Verdict
    current: str | None = None
    wanted: str | None = None
    reason: str = ""


def cmdline_cpus(cmdline: str, param: str) -> frozenset[int] | None:
    """CPUs a boot parameter names (the last occurrence wins); None when it is absent."""
    value = None
    for word in cmdline.split():
        if word.startswith(param + "="):
            value = word[len(param) + 1 :]
    if value is None:
        return None
    parts = [part for part in value.split(",") if part not in _ISOLCPUS_FLAGS]
    return parse_cpulist(",".join(parts))


def _isolation_state(param: str, layout: CpuLayout, facts: HostFacts) -> tuple[str, str]:
    """(current, "ok"/"missing"/"unsupported"/"malformed") of one boot parameter."""
    if param == "nohz_full" and not facts.nohz_full_supported:
        return "-", "unsupported"
    try:
        cpus = cmdline_cpus(facts.cmdline, param)
    except MalformedValueError:
        return "malformed", "malformed"
    current = "absent" if cpus is None else format_cpulist(cpus)
    if cpus is not None and layout.trader <= cpus:
        return current, "ok"
    return current, "missing"


def missing_isolation(profile: Profile, layout: CpuLayout, facts: HostFacts) -> tuple[str, ...]:
    return tuple(
        param
        for param in profile.isolation
        if _isolation_state(param, layout, facts)[1] in ("missing", "malformed")
    )


def boot_parameters(params: tuple[str, ...], layout: CpuLayout) -> str:
    cpus = format_cpulist(layout.trader)
    words = {
        "isolcpus": f"isolcpus=managed_irq,domain,{cpus}",
        "nohz_full": f"nohz_full={cpus}",
        "rcu_nocbs": f"rcu_nocbs={cpus}",
    }
    return " ".join(words[param] for param in params)


def isolation_findings(profile: Profile, layout: CpuLayout, facts: HostFacts) -> list[Finding]:
    findings = []
    wanted = format_cpulist(layout.trader)
    for param in profile.isolation:
        current, state = _isolation_state(param, layout, facts)
        name = f"cmdline {param}"
        if state == "ok":
            findings.append(Finding(name, Verdict.OK, current, wanted))
        elif state == "unsupported":
            reason = (
                "kernel built without CONFIG_NO_HZ_FULL (/sys/devices/system/cpu/nohz_full absent)"
            )
            findings.append(Finding(name, Verdict.UNSUPPORTED, reason=reason))
        else:
            verdict = Verdict.DRIFT if profile.isolation_required else Verdict.ADVISORY
            reason = f"add `{boot_parameters((param,), layout)}` to the kernel command line, reboot"
            findings.append(Finding(name, verdict, current, wanted, reason))
    return findings


def swap_finding(facts: HostFacts) -> Finding:
    if facts.swaps:
        return Finding("swap", Verdict.DRIFT, ", ".join(facts.swaps), "off", "run `swapoff -a`")
    return Finding("swap", Verdict.OK, "off", "off")


def effective_affinity_finding(name: str, raw: str | None, layout: CpuLayout) -> Finding:
    """Where the kernel really delivers an IRQ: never on a trader CPU."""
    wanted = f"not on {format_cpulist(layout.trader)}"
    if raw is None:
        return Finding(
            name, Verdict.UNSUPPORTED, reason="no effective_affinity_list on this kernel"
        )
    try:
        cpus = parse_cpulist(raw)
    except MalformedValueError as err:
        return Finding(name, Verdict.DRIFT, raw.strip(), wanted, f"malformed: {err}")
    if cpus & layout.trader:
        reason = "the IRQ is delivered on a trader CPU (a managed IRQ needs isolcpus=managed_irq)"
        return Finding(name, Verdict.DRIFT, format_cpulist(cpus), wanted, reason)
    return Finding(name, Verdict.OK, format_cpulist(cpus), wanted)


def affinity_finding(
    role: str, pid: int, allowed: frozenset[int] | str, layout: CpuLayout
) -> Finding:
    """The workload may run only on its role's CPUs. ``allowed`` is a reason when unreadable."""
    name = f"pid {pid} CPU affinity ({role})"
    wanted = format_cpulist(layout.role(role))
    if isinstance(allowed, str):
        return Finding(name, Verdict.DRIFT, None, wanted, allowed)
    current = format_cpulist(allowed)
    if allowed and allowed <= layout.role(role):
        return Finding(name, Verdict.OK, current, wanted)
    reason = f"pin it: taskset -pc {wanted} {pid}, or CPUAffinity={wanted} in its unit"
    return Finding(name, Verdict.DRIFT, current, wanted, reason)


def pile_up_finding(pid: int, allowed: frozenset[int] | str, cmdline: str) -> Finding | None:
    """isolcpus takes CPUs out of load balancing: a process allowed on several of them keeps
    all its threads on the first one. Advisory: pin each thread to its own CPU instead."""
    if isinstance(allowed, str) or len(allowed) < 2:
        return None
    try:
        isolated = cmdline_cpus(cmdline, "isolcpus")
    except MalformedValueError:
        return None
    if isolated is None or not allowed <= isolated:
        return None
    reason = "isolated CPUs are not load-balanced: pin each trader thread to one CPU"
    return Finding(
        f"pid {pid} threads on isolated CPUs",
        Verdict.ADVISORY,
        format_cpulist(allowed),
        None,
        reason,
    )


def missing_boot_words(wish: BootWish | None, cmdline: str) -> tuple[str, ...]:
    """The profile's boot parameters the running kernel was not started with."""
    if wish is None:
        return ()
    words = cmdline.split()
    return tuple(param for param in wish.params if param not in words)


def _param_finding(param: str, words: list[str], bad: Verdict) -> Finding:
    name = f"cmdline {param}"
    if param in words:
        return Finding(name, Verdict.OK, param, param)
    key = param.partition("=")[0]
    seen = " ".join(word for word in words if word.partition("=")[0] == key) or "absent"
    return Finding(name, bad, seen, param, f"add `{param}` to the kernel command line, reboot")


def _clocksource_finding(wanted: str, facts: HostFacts, bad: Verdict) -> Finding:
    name = "clocksource"
    current = facts.clocksource
    if current is None:
        reason = "cannot read /sys/devices/system/clocksource/clocksource0/current_clocksource"
        return Finding(name, bad, None, wanted, reason)
    if current == wanted:
        return Finding(name, Verdict.OK, current, wanted)
    offered = facts.clocksources or "unknown"
    reason = (
        f"the kernel reads time from {current} (available: {offered}): every timestamp the "
        f"trader takes costs more; {wanted} needs a stable TSC (tsc=reliable on a known host)"
    )
    return Finding(name, bad, current, wanted, reason)


_SMT_OFF = frozenset({"off", "forceoff", "notsupported", "notimplemented"})


def _smt_finding(wish: BootWish, layout: CpuLayout, facts: HostFacts, bad: Verdict) -> Finding:
    name = "smt"
    control = facts.smt_control
    if control in _SMT_OFF:
        return Finding(name, Verdict.OK, control, wish.smt)
    if control is None:
        return Finding(name, bad, None, wish.smt, "no /sys/devices/system/cpu/smt/control")
    if wish.smt == "off":
        reason = f"SMT is {control}: add `nosmt` to the kernel command line, reboot"
        return Finding(name, bad, control, "off", reason)
    others = layout.housekeeping | layout.watchdog
    unknown = sorted(cpu for cpu in layout.trader if cpu not in facts.siblings)
    if unknown:
        reason = f"cannot read the SMT siblings of cpu {format_cpulist(unknown)}"
        return Finding(name, bad, control, wish.smt, reason)
    shared = {cpu: facts.siblings[cpu] & others for cpu in sorted(layout.trader)}
    busy = {cpu: sibs for cpu, sibs in shared.items() if sibs}
    if not busy:
        return Finding(name, Verdict.OK, f"{control}, trader siblings idle", wish.smt)
    pairs = ", ".join(f"cpu{cpu} with {format_cpulist(sibs)}" for cpu, sibs in busy.items())
    reason = (
        f"a trader CPU shares its core with a housekeeping or watchdog CPU ({pairs}): "
        "take the sibling out of every role, or boot with `nosmt`"
    )
    return Finding(name, bad, control, wish.smt, reason)


def boot_findings(profile: Profile, layout: CpuLayout, facts: HostFacts) -> list[Finding]:
    """The boot parameters, clocksource and SMT state tuned's latency profiles rely on."""
    wish = profile.boot
    if wish is None:
        return []
    bad = Verdict.DRIFT if wish.required else Verdict.ADVISORY
    words = facts.cmdline.split()
    findings = [_param_finding(param, words, bad) for param in wish.params]
    if wish.clocksource is not None:
        findings.append(_clocksource_finding(wish.clocksource, facts, bad))
    if wish.smt != "any":
        findings.append(_smt_finding(wish, layout, facts, bad))
    return findings
