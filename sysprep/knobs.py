"""Knobs are data: a path under the root, comparison semantics and why it may be unsupported.

``knobs_for`` turns a profile, a resolved CPU layout and the host's facts into the list of knobs
(pure). The seed script's two bogus sysctls are known here and never applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sysprep.cpulist import format_cpulist
from sysprep.ethtool import ethtool_path
from sysprep.host import UNREADABLE, HostFacts
from sysprep.layout import CpuLayout
from sysprep.profile import NicWish, Profile
from sysprep.wanted import (
    CpusExcluded,
    Exact,
    FileContent,
    MaskAvoids,
    Selected,
    ShellVariable,
    Wanted,
)

#: Sysctls that circulate in tuning scripts but must never be applied.
NEVER_APPLY = {
    "net.ipv4.tcp_nodelay": (
        "does not exist: TCP_NODELAY is a per-socket option the trader sets on its own sockets"
    ),
    "net.ipv4.tcp_low_latency": "has no effect since Linux 4.14: the kernel ignores it",
}

DROPIN_PATH = "etc/sysctl.d/60-sysprep.conf"
IRQBALANCE_PATH = "etc/default/irqbalance"
IRQBALANCE_KNOB = "irqbalance banned CPUs"
SYSTEMD_KNOB = "systemd CPUAffinity"
CPU_DIR = "sys/devices/system/cpu"
SYSTEMD_DROPIN_PATH = "etc/systemd/system.conf.d/60-sysprep-cpuaffinity.conf"
WORKQUEUE_CPUMASK = "sys/devices/virtual/workqueue/cpumask"
WRITEBACK_CPUMASK = "sys/bus/workqueue/devices/writeback/cpumask"


class Kind(StrEnum):
    SYSCTL = "sysctl"
    SYSFS = "sysfs"
    IRQ = "irq"
    FILE = "file"  # persistent configuration: replaced atomically, saved whole
    ETHTOOL = "ethtool"  # a NIC setting through the ethtool command (a pseudo path)


@dataclass(frozen=True)
class Knob:
    name: str
    path: str  # relative to the root
    wanted: Wanted
    kind: Kind
    absent: str = "not present on this host"
    never: str | None = None  # set: reported unsupported with this reason, never written
    create: bool = False  # a FILE knob whose absence means "create it"
    sysctl_key: str | None = None


def sysctl_path(key: str) -> str:
    return "proc/sys/" + key.replace(".", "/")


#: Sysctl pairs where writing the first zeroes the second (the kernel keeps one or the other).
EXCLUSIVE_SYSCTLS = {
    "vm.dirty_ratio": "vm.dirty_bytes",
    "vm.dirty_background_ratio": "vm.dirty_background_bytes",
}


def _displaces(key: str, facts: HostFacts) -> str | None:
    """Why writing ``key`` would silently discard a setting revert cannot bring back."""
    partner = EXCLUSIVE_SYSCTLS.get(key)
    value = facts.exclusive_sysctls.get(partner or "", "0")
    if partner is None or value == "0":
        return None
    if value == UNREADABLE:
        return f"cannot read {partner}: a ratio could replace a limit revert could not bring back"
    return (
        f"{partner} = {value} on this host: a ratio would replace that limit, "
        "and revert could not bring it back"
    )


def _sysctl_knobs(profile: Profile, facts: HostFacts) -> list[Knob]:
    return [
        Knob(
            name=wish.key,
            path=sysctl_path(wish.key),
            wanted=wish.wanted,
            kind=Kind.SYSCTL,
            absent=f"the kernel has no {wish.key} (or not in this network namespace)",
            never=NEVER_APPLY.get(wish.key) or _displaces(wish.key, facts),
            sysctl_key=wish.key,
        )
        for wish in profile.sysctls
    ]


def _frequency_knobs(profile: Profile, facts: HostFacts) -> list[Knob]:
    knobs: list[Knob] = []
    for cpu in sorted(facts.online):
        base = f"{CPU_DIR}/cpu{cpu}/cpufreq"
        absent = f"no cpufreq driver (/{base} absent: a VM or firmware-managed frequency)"
        if profile.governor is not None:
            wanted = Exact(profile.governor)
            knobs.append(
                Knob(f"cpu{cpu} governor", f"{base}/scaling_governor", wanted, Kind.SYSFS, absent)
            )
        if profile.min_freq is not None:
            value = facts.max_freq_khz.get(cpu) if profile.min_freq == "max" else profile.min_freq
            never = None if value is not None else absent
            knobs.append(
                Knob(
                    f"cpu{cpu} min_freq",
                    f"{base}/scaling_min_freq",
                    Exact(value or "max"),
                    Kind.SYSFS,
                    absent,
                    never,
                )
            )
    return knobs


def _cstate_knobs(profile: Profile, layout: CpuLayout, facts: HostFacts) -> list[Knob]:
    limit = profile.cstate_max_latency_us
    if limit is None:
        return []
    cpus = layout.online if profile.cstate_all_cpus else layout.trader
    knobs: list[Knob] = []
    for cpu in sorted(cpus):
        states = [state for state in facts.idle_states if state.cpu == cpu]
        base = f"{CPU_DIR}/cpu{cpu}"
        if not states:
            never = f"no cpuidle states under /{base}/cpuidle"
            knobs.append(
                Knob(
                    f"cpu{cpu} idle states", f"{base}/cpuidle", Exact("-"), Kind.SYSFS, never=never
                )
            )
        for state in states:
            if state.latency_us > limit:
                name = f"cpu{cpu} idle {state.name} ({state.latency_us}us) disable"
                path = f"{base}/cpuidle/state{state.index}/disable"
                knobs.append(Knob(name, path, Exact("1"), Kind.SYSFS))
        # "n/a" is the kernel's spelling of "no resume latency accepted"; 0 means no limit.
        qos = Exact("n/a" if limit == 0 else str(limit))
        path = f"{base}/power/pm_qos_resume_latency_us"
        knobs.append(Knob(f"cpu{cpu} pm_qos_resume_latency_us", path, qos, Kind.SYSFS))
    return knobs


def _irq_knobs(profile: Profile, layout: CpuLayout, facts: HostFacts) -> list[Knob]:
    wish = profile.irq
    if wish is None:
        return []
    away = CpusExcluded(layout.trader, layout.housekeeping)
    knobs: list[Knob] = []
    for nic, irqs in sorted(facts.nic_irqs.items()):
        if irqs is None:
            never = f"no msi_irqs under /sys/class/net/{nic}/device (legacy INTx?): pin it by hand"
            knobs.append(
                Knob(f"{nic} IRQs", f"sys/class/net/{nic}/device", away, Kind.IRQ, never=never)
            )
            continue
        for irq in irqs:
            path = f"proc/irq/{irq}/smp_affinity_list"
            knobs.append(Knob(f"irq {irq} ({nic}) smp_affinity_list", path, away, Kind.IRQ))
    if wish.default_affinity:
        mask = CpusExcluded(layout.trader, layout.housekeeping, mask=True)
        knobs.append(
            Knob("irq default_smp_affinity", "proc/irq/default_smp_affinity", mask, Kind.IRQ)
        )
    if wish.irqbalance_ban and profile.persist:
        banned = ShellVariable("IRQBALANCE_BANNED_CPULIST", format_cpulist(layout.trader))
        absent = "irqbalance is not installed (no /etc/default/irqbalance): nothing moves IRQs back"
        knobs.append(Knob(IRQBALANCE_KNOB, IRQBALANCE_PATH, banned, Kind.FILE, absent))
    return knobs


def _per_cpu_power_knobs(profile: Profile, facts: HostFacts) -> list[Knob]:
    wish = profile.power
    if wish is None:
        return []
    knobs: list[Knob] = []
    for cpu in sorted(facts.online):
        if wish.energy_performance_preference is not None:
            knobs.append(
                Knob(
                    f"cpu{cpu} energy_performance_preference",
                    f"{CPU_DIR}/cpu{cpu}/cpufreq/energy_performance_preference",
                    Exact(wish.energy_performance_preference),
                    Kind.SYSFS,
                    "no energy_performance_preference (offered by intel_pstate or amd-pstate "
                    "in active mode only)",
                )
            )
        if wish.energy_perf_bias is not None:
            knobs.append(
                Knob(
                    f"cpu{cpu} energy_perf_bias",
                    f"{CPU_DIR}/cpu{cpu}/power/energy_perf_bias",
                    Exact(str(wish.energy_perf_bias)),
                    Kind.SYSFS,
                    "no energy_perf_bias (an Intel CPU register the kernel does not expose here)",
                )
            )
    return knobs


def _turbo_knob(turbo: bool, facts: HostFacts) -> Knob:
    name = "cpu turbo"
    if facts.turbo_file is None:
        never = "neither intel_pstate/no_turbo nor cpufreq/boost: turbo is the firmware's"
        return Knob(name, f"{CPU_DIR}/cpufreq/boost", Exact("-"), Kind.SYSFS, never=never)
    inverted = facts.turbo_file.endswith("no_turbo")
    value = "1" if turbo != inverted else "0"
    return Knob(name, facts.turbo_file, Exact(value), Kind.SYSFS)


def _platform_knobs(profile: Profile, facts: HostFacts) -> list[Knob]:
    wish = profile.power
    if wish is None:
        return []
    knobs = []
    if wish.min_perf_pct is not None:
        path = f"{CPU_DIR}/intel_pstate/min_perf_pct"
        wanted = Exact(str(wish.min_perf_pct))
        absent = "no intel_pstate driver (its min_perf_pct is absent)"
        knobs.append(Knob("intel_pstate min_perf_pct", path, wanted, Kind.SYSFS, absent))
    if wish.turbo is not None:
        knobs.append(_turbo_knob(wish.turbo, facts))
    if wish.platform_profile is not None:
        offered = facts.platform_profiles
        never = None
        if offered is not None and wish.platform_profile not in offered:
            never = f"the firmware offers {', '.join(offered)}, not {wish.platform_profile}"
        knobs.append(
            Knob(
                "acpi platform_profile",
                "sys/firmware/acpi/platform_profile",
                Exact(wish.platform_profile),
                Kind.SYSFS,
                "no ACPI platform profile on this machine",
                never,
            )
        )
    return knobs


def _placement_knobs(profile: Profile, layout: CpuLayout, facts: HostFacts) -> list[Knob]:
    knobs = []
    if profile.ksm_off:
        path = "sys/kernel/mm/ksm/run"
        knobs.append(Knob("ksm run", path, Exact("0"), Kind.SYSFS, "kernel without KSM"))
    wish = profile.placement
    if wish is None:
        return knobs
    if wish.workqueues:
        away = CpusExcluded(layout.trader, layout.housekeeping, mask=True)
        absent = "no unbound workqueue cpumask on this kernel"
        knobs.append(Knob("workqueue cpumask", WORKQUEUE_CPUMASK, away, Kind.SYSFS, absent))
        # tuned sets the writeback workqueue's own mask too; the kernel intersects it with the
        # global one, so this keeps the two from disagreeing when someone widens the global.
        absent = "no writeback workqueue in sysfs on this kernel"
        knobs.append(
            Knob("writeback workqueue cpumask", WRITEBACK_CPUMASK, away, Kind.SYSFS, absent)
        )
    if wish.systemd and profile.persist:
        cpus = format_cpulist(layout.housekeeping)
        content = (
            "# Written by `sysprep apply`; removed by `sysprep revert`. Services without a\n"
            "# CPUAffinity= of their own start on the housekeeping CPUs, never the trader's.\n"
            f"[Manager]\nCPUAffinity={cpus}\n"
        )
        knobs.append(
            Knob(
                SYSTEMD_KNOB,
                SYSTEMD_DROPIN_PATH,
                FileContent(content),
                Kind.FILE,
                never=None if facts.systemd else "systemd is not installed (no /etc/systemd)",
                create=True,
            )
        )
    return knobs


def _steering_knobs(layout: CpuLayout, facts: HostFacts) -> list[Knob]:
    knobs = []
    away = MaskAvoids(layout.trader)
    for nic, queues in sorted(facts.nic_queues.items()):
        if not queues:
            never = f"no /sys/class/net/{nic}/queues (not an interface here?)"
            knobs.append(
                Knob(f"{nic} queues", f"sys/class/net/{nic}/queues", away, Kind.SYSFS, never=never)
            )
        for queue in queues:
            if queue.startswith("rx-"):
                file, absent = "rps_cpus", "no rps_cpus (kernel without RPS)"
            elif queue.startswith("tx-"):
                file, absent = "xps_cpus", "no xps_cpus (kernel without XPS, or one TX queue)"
            else:
                continue
            path = f"sys/class/net/{nic}/queues/{queue}/{file}"
            knobs.append(Knob(f"{nic} {queue} {file}", path, away, Kind.SYSFS, absent))
    return knobs


def _ethtool_knobs(wish: NicWish, facts: HostFacts) -> list[Knob]:
    knobs = []
    for nic, views in sorted(facts.nic_ethtool.items()):
        for group, settings in (("coalesce", wish.coalesce), ("rings", wish.rings)):
            view = views.get(group)
            for name, value in settings:
                path = ethtool_path(nic, group, name)
                label = f"{nic} {group} {name}"
                if view is None:  # ethtool failed: reading the setting will say how
                    knobs.append(Knob(label, path, Exact(value), Kind.ETHTOOL))
                    continue
                if isinstance(view, str):
                    knobs.append(Knob(label, path, Exact(value), Kind.ETHTOOL, never=view))
                    continue
                target = view.maxima.get(name, "n/a") if value == "max" else value
                never = None
                if view.current.get(name, "n/a") == "n/a" or target == "n/a":
                    never = f"the driver of {nic} does not offer {group} {name}"
                knobs.append(Knob(label, path, Exact(target), Kind.ETHTOOL, never=never))
    return knobs


def _nic_knobs(profile: Profile, layout: CpuLayout, facts: HostFacts) -> list[Knob]:
    wish = profile.nic
    if wish is None:
        return []
    knobs = _steering_knobs(layout, facts) if wish.steering else []
    return knobs + _ethtool_knobs(wish, facts)


def knobs_for(profile: Profile, layout: CpuLayout, facts: HostFacts) -> tuple[Knob, ...]:
    """Every knob the profile asks for on this host, in the order apply writes them."""
    knobs = _frequency_knobs(profile, facts) + _per_cpu_power_knobs(profile, facts)
    knobs += _platform_knobs(profile, facts) + _cstate_knobs(profile, layout, facts)
    knobs += _sysctl_knobs(profile, facts) + _irq_knobs(profile, layout, facts)
    knobs += _nic_knobs(profile, layout, facts)
    if profile.transparent_hugepage is not None:
        path = "sys/kernel/mm/transparent_hugepage/enabled"
        thp = Selected(profile.transparent_hugepage)
        knobs.append(Knob("transparent_hugepage", path, thp, Kind.SYSFS, "kernel without THP"))
    knobs += _placement_knobs(profile, layout, facts)
    return tuple(knobs)
