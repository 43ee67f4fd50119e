"""A fake /proc, /sys and /etc tree shaped like a 2-vCPU virtio VM, and faulty file access.

Also stand-ins for the ethtool command and for the services sysprep restarts, which record
every call.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

from sysprep.ethtool import EthtoolUnsupported, EthtoolView
from sysprep.host import RealFiles
from sysprep.services import ServiceError

SYSCTLS = {
    "net.core.rmem_max": "212992",
    "net.core.wmem_max": "212992",
    "net.ipv4.tcp_rmem": "4096\t131072\t33554432",
    "net.ipv4.tcp_wmem": "4096\t16384\t4194304",
    "net.core.somaxconn": "4096",
    "net.core.netdev_max_backlog": "1000",
    "net.core.busy_read": "0",
    "net.core.busy_poll": "0",
    "net.ipv4.tcp_fastopen": "1",
    "vm.swappiness": "60",
    "kernel.numa_balancing": "1",
    "kernel.timer_migration": "1",
    "vm.stat_interval": "1",
    "net.ipv4.tcp_low_latency": "0",
    "vm.dirty_ratio": "20",
    "vm.dirty_background_ratio": "10",
    "kernel.nmi_watchdog": "1",
    "kernel.soft_watchdog": "1",
}
NIC_IRQS = (37, 38, 39)


def put(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def make_host(
    root: Path,
    *,
    cpus: int = 2,
    cpufreq: bool = False,
    irqbalance: bool = True,
    cmdline: str = "console=ttyS0 quiet",
    swaps: tuple[str, ...] = (),
    nohz_full: bool = False,
    intel: bool = False,
    smt: str = "notsupported",
) -> Path:
    """Build the tree and return its root.

    ``intel``: an intel_pstate host (EPP, energy_perf_bias, min_perf_pct, no_turbo) with an
    ACPI platform profile. ``smt``: the SMT control; "on" pairs CPU 2k with 2k+1.
    """
    cpu_dir = "sys/devices/system/cpu"
    put(root, f"{cpu_dir}/online", f"0-{cpus - 1}\n")
    for cpu in range(cpus):
        base = f"{cpu_dir}/cpu{cpu}"
        for index, (name, latency) in enumerate((("POLL", 0), ("C1", 2), ("C6", 100))):
            put(root, f"{base}/cpuidle/state{index}/name", f"{name}\n")
            put(root, f"{base}/cpuidle/state{index}/latency", f"{latency}\n")
            put(root, f"{base}/cpuidle/state{index}/disable", "0\n")
        put(root, f"{base}/power/pm_qos_resume_latency_us", "0\n")
        if cpufreq:
            put(root, f"{base}/cpufreq/scaling_governor", "powersave\n")
            put(root, f"{base}/cpufreq/cpuinfo_max_freq", "3000000\n")
            put(root, f"{base}/cpufreq/scaling_min_freq", "800000\n")
        if intel:
            put(root, f"{base}/cpufreq/energy_performance_preference", "balance_power\n")
            put(root, f"{base}/power/energy_perf_bias", "6\n")
        pair = f"{cpu - cpu % 2}-{cpu - cpu % 2 + 1}" if smt == "on" else str(cpu)
        put(root, f"{base}/topology/thread_siblings_list", pair + "\n")
    put(root, f"{cpu_dir}/smt/control", smt + "\n")
    if intel:
        put(root, f"{cpu_dir}/intel_pstate/min_perf_pct", "26\n")
        put(root, f"{cpu_dir}/intel_pstate/no_turbo", "1\n")
        put(root, "sys/firmware/acpi/platform_profile", "balanced\n")
        put(root, "sys/firmware/acpi/platform_profile_choices", "low-power balanced performance\n")
    if nohz_full:
        put(root, f"{cpu_dir}/nohz_full", "(null)\n")
    for key, value in SYSCTLS.items():
        put(root, "proc/sys/" + key.replace(".", "/"), value + "\n")
    pci = root / "sys/devices/pci0000:00/0000:00:03.0"
    (pci / "virtio2").mkdir(parents=True)
    for irq in NIC_IRQS:
        put(root, f"sys/devices/pci0000:00/0000:00:03.0/msi_irqs/{irq}", "msix\n")
        put(root, f"proc/irq/{irq}/smp_affinity_list", "0-1\n")
        put(root, f"proc/irq/{irq}/effective_affinity_list", "1\n")
    (root / "sys/class/net/eth0").mkdir(parents=True)
    os.symlink(
        "../../../devices/pci0000:00/0000:00:03.0/virtio2", root / "sys/class/net/eth0/device"
    )
    put(root, "sys/class/net/eth0/queues/rx-0/rps_cpus", "3\n")
    put(root, "sys/class/net/eth0/queues/rx-1/rps_cpus", "0\n")
    put(root, "sys/class/net/eth0/queues/tx-0/xps_cpus", "1\n")
    put(root, "sys/class/net/eth0/queues/tx-1/xps_cpus", "2\n")
    (root / "sys/class/net/lo").mkdir(parents=True)
    put(root, "sys/kernel/mm/ksm/run", "1\n")
    put(root, "sys/devices/virtual/workqueue/cpumask", "3\n")
    put(root, "sys/bus/workqueue/devices/writeback/cpumask", "3\n")
    clock = "sys/devices/system/clocksource/clocksource0"
    put(root, f"{clock}/current_clocksource", "kvm-clock\n")
    put(root, f"{clock}/available_clocksource", "kvm-clock tsc acpi_pm\n")
    put(root, "etc/systemd/system.conf", "[Manager]\n")
    put(root, "proc/irq/default_smp_affinity", "3\n")
    put(root, "sys/kernel/mm/transparent_hugepage/enabled", "always [madvise] never\n")
    put(root, "proc/cmdline", cmdline + "\n")
    swap_lines = "".join(f"{dev}\tpartition\t1024\t0\t-2\n" for dev in swaps)
    put(root, "proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n" + swap_lines)
    (root / "etc/sysctl.d").mkdir(parents=True)
    if irqbalance:
        put(root, "etc/default/irqbalance", '#IRQBALANCE_ONESHOT=\nIRQBALANCE_BANNED_CPULIST=""\n')
    return root


def snapshot(root: Path) -> dict[str, str]:
    """Every regular file's text under the tree (to prove a revert restored it)."""
    return {
        str(path.relative_to(root)): path.read_text()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink() and "var/lib" not in str(path)
    }


def _select(current: str, choice: str) -> str:
    """A sysfs selector takes one choice and shows all of them, the chosen one bracketed."""
    choices = current.replace("[", "").replace("]", "").split()
    if choice not in choices:
        raise OSError(errno.EINVAL, "Invalid argument")
    return " ".join(f"[{c}]" if c == choice else c for c in choices) + "\n"


class FaultyFiles(RealFiles):
    """Real files that behave like sysfs selectors, with errors injected per path.

    Every write is recorded.

    ``ignored`` paths accept a write and keep their old value, like a kernel that clamps.
    """

    def __init__(
        self,
        *,
        write_errors: dict[Path, int] | None = None,
        read_errors: dict[Path, int] | None = None,
        ignored: set[Path] | None = None,
    ) -> None:
        self.write_errors = write_errors or {}
        self.read_errors = read_errors or {}
        self.ignored = ignored or set()
        self.writes: list[tuple[Path, str]] = []

    def read(self, path: Path) -> str:
        if path in self.read_errors:
            code = self.read_errors[path]
            raise OSError(code, os.strerror(code), str(path))
        return super().read(path)

    def write(self, path: Path, text: str) -> None:
        self.writes.append((path, text))
        if path in self.write_errors:
            code = self.write_errors[path]
            raise OSError(code, os.strerror(code), str(path))
        if path in self.ignored:
            if not path.exists():
                raise OSError(errno.ENOENT, "No such file or directory", str(path))
            return
        if path.name == "enabled" and path.parent.name == "transparent_hugepage":
            text = _select(path.read_text(), text.strip())
        if "sys" in path.parts and "proc" in path.parts:
            text = "\t".join(text.split())  # sysctl shows vectors tab-separated
        super().write(path, text if text.endswith("\n") else text + "\n")  # as the kernel shows

    def replace(self, path: Path, text: str) -> None:
        self.writes.append((path, text))
        super().replace(path, text)


class FakeEthtool:
    """A NIC driver behind ``ethtool``: settings per (nic, group), every set recorded.

    NICs in ``unsupported`` fail like a driver without the operation; a setting in
    ``clamped`` accepts a set and keeps its value, like a driver that rounds.
    """

    def __init__(
        self,
        *,
        unsupported: frozenset[str] = frozenset(),
        clamped: frozenset[str] = frozenset(),
        failing: frozenset[str] = frozenset(),
    ) -> None:
        self.settings = {
            ("eth0", "coalesce"): {"adaptive-rx": "on", "adaptive-tx": "n/a", "rx-usecs": "8"},
            ("eth0", "rings"): {"rx": "256", "tx": "256", "rx-mini": "n/a"},
        }
        self.maxima = {("eth0", "rings"): {"rx": "4096", "tx": "4096", "rx-mini": "n/a"}}
        self.unsupported = unsupported
        self.clamped = clamped
        self.failing = failing  # NICs whose ethtool fails for another reason (EIO)
        self.sets: list[tuple[str, str, str, str]] = []

    def show(self, nic: str, group: str) -> EthtoolView:
        if nic in self.failing:
            raise OSError(errno.EIO, f"ethtool -c {nic}: Input/output error")
        if nic in self.unsupported or (nic, group) not in self.settings:
            raise EthtoolUnsupported(f"the driver of {nic} cannot report {group}")
        return EthtoolView(dict(self.settings[nic, group]), dict(self.maxima.get((nic, group), {})))

    def set(self, nic: str, group: str, name: str, value: str) -> None:
        self.sets.append((nic, group, name, value))
        if name not in self.clamped:
            self.settings[nic, group][name] = value


class FakeServices:
    """Which services run since when, and every restart asked for (a restart starts the
    service now); ``broken`` ones fail to restart. ``manager``: PID 1's CPU affinity, None
    for a PID 1 that is not systemd."""

    def __init__(
        self,
        running: set[str],
        broken: set[str] | None = None,
        manager: frozenset[int] | None = None,
        hidden: bool = False,
    ) -> None:
        self.since = dict.fromkeys(running, 0.0)  # started long before any file changed
        self.hidden = hidden  # other users' processes invisible, as under ProtectProc=
        self.broken = broken or set()
        self.manager = manager
        self.restarts: list[str] = []

    def running(self, name: str) -> bool:
        return name in self.since

    def started(self, name: str) -> float | None:
        if self.hidden:
            raise ServiceError("other users' processes are hidden here")
        return self.since.get(name)

    def restart(self, name: str) -> None:
        self.restarts.append(name)
        if name in self.broken:
            raise ServiceError(f"systemctl try-restart {name}.service failed: unit is masked")
        self.since[name] = time.time()  # the clock file modification times are stamped with

    def manager_affinity(self) -> frozenset[int] | None:
        if self.hidden:
            raise ServiceError("other users' processes are hidden here")
        return self.manager
