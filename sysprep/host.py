"""The imperative shell's view of a host: files under a root directory, and what they say.

Every path sysprep touches is relative to a root (``/`` in production, a fake tree in tests),
and every read or write goes through :class:`HostFiles`, the seam tests replace with a fake
that injects faults (EIO on a managed IRQ, a read-only /proc/sys, ...).
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sysprep.cpulist import parse_cpulist
from sysprep.errors import MalformedValueError, SysprepError
from sysprep.ethtool import (
    ETHTOOL_PREFIX,
    GROUPS,
    Ethtool,
    EthtoolUnsupported,
    EthtoolView,
    read_setting,
    write_setting,
)
from sysprep.services import Services


class HostFiles(Protocol):
    def read(self, path: Path) -> str: ...
    def write(self, path: Path, text: str) -> None: ...
    def replace(self, path: Path, text: str) -> None: ...
    def remove(self, path: Path) -> None: ...
    def remove_dir(self, path: Path) -> None: ...
    def listdir(self, path: Path) -> list[str]: ...
    def exists(self, path: Path) -> bool: ...
    def realpath(self, path: Path) -> Path: ...


class RealFiles:
    """The real file system."""

    def read(self, path: Path) -> str:
        with open(path, encoding="utf-8") as handle:
            return handle.read()

    def write(self, path: Path, text: str) -> None:
        """One write(2) call: procfs and sysfs parse each write on its own."""
        data = text.encode()
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            written = os.write(fd, data)
        finally:
            os.close(fd)
        if written != len(data):
            raise OSError(errno.EIO, f"short write ({written} of {len(data)} bytes)", str(path))

    def replace(self, path: Path, text: str) -> None:
        """Atomically replace a regular file, fsynced, so a crash leaves old or new."""
        atomic_write(path, text)

    def remove(self, path: Path) -> None:
        path.unlink()
        fsync_dir(path.parent)

    def remove_dir(self, path: Path) -> None:
        """Remove an empty directory; OSError (ENOTEMPTY) when something is in it."""
        path.rmdir()
        fsync_dir(path.parent)

    def listdir(self, path: Path) -> list[str]:
        return sorted(os.listdir(path))

    def exists(self, path: Path) -> bool:
        return path.exists()

    def realpath(self, path: Path) -> Path:
        return Path(os.path.realpath(path))


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_dir(path.parent)


@dataclass(frozen=True)
class Host:
    """A root directory and the way to reach its files (and its NICs' ethtool settings).

    A relative path under ``ethtool/NIC/GROUP/NAME`` is an ethtool setting: read, written and
    saved like a file, so that planning, apply and revert treat it as any other knob.
    """

    root: Path
    files: HostFiles
    ethtool: Ethtool | None = None
    services: Services | None = None  # None: a tree that is not this host's live root

    def path(self, relative: str) -> Path:
        return self.root / relative.lstrip("/")

    def read(self, relative: str) -> str:
        if relative.startswith(ETHTOOL_PREFIX):
            return read_setting(self.ethtool, relative)
        return self.files.read(self.path(relative))

    def write(self, relative: str, text: str) -> None:
        """One write of a kernel knob (or one ethtool setting)."""
        if relative.startswith(ETHTOOL_PREFIX):
            write_setting(self.ethtool, relative, text)
        else:
            self.files.write(self.path(relative), text)

    def exists(self, relative: str) -> bool:
        return self.files.exists(self.path(relative))

    def listdir(self, relative: str) -> list[str]:
        try:
            return self.files.listdir(self.path(relative))
        except FileNotFoundError:
            return []


@dataclass(frozen=True)
class IdleState:
    cpu: int
    index: int
    name: str
    latency_us: int


@dataclass(frozen=True)
class HostFacts:
    """What the host is made of: observed once, then planning is pure."""

    online: frozenset[int]
    max_freq_khz: dict[int, str]
    idle_states: tuple[IdleState, ...]
    nic_irqs: dict[str, tuple[int, ...] | None]  # None: the NIC's IRQs cannot be found
    cmdline: str
    swaps: tuple[str, ...]
    nohz_full_supported: bool
    sysctl_files: tuple[tuple[str, str], ...]  # (path, text) in systemd-sysctl order
    clocksource: str | None = None  # None: unreadable
    clocksources: str = ""  # the ones available
    smt_control: str | None = None  # None: no /sys/devices/system/cpu/smt (unknown)
    siblings: dict[int, frozenset[int]] = field(default_factory=dict)  # cpu -> SMT siblings
    platform_profiles: tuple[str, ...] | None = None  # None: no ACPI platform profile
    turbo_file: str | None = None  # intel_pstate/no_turbo or cpufreq/boost
    nic_queues: dict[str, tuple[str, ...]] = field(default_factory=dict)  # rx-N, tx-N
    nic_ethtool: dict[str, dict[str, EthtoolView | str]] = field(default_factory=dict)
    systemd: bool = False  # /etc/systemd/system.conf exists
    exclusive_sysctls: dict[str, str] = field(default_factory=dict)  # vm.dirty_bytes and kin


def check_proc_whole(host: Host) -> None:
    """A procfs that shows processes but no /proc/sys (mounted with subset=pid, as systemd's
    ProcSubset=pid does) hides every sysctl, IRQ and the command line: each would read as
    absent, i.e. unsupported, i.e. fine. Refuse instead."""
    if host.exists("proc/self") and not host.exists("proc/sys"):
        raise SysprepError(
            f"{host.path('proc/sys')} is not visible here (subset=pid, systemd's ProcSubset=pid):"
            " sysprep cannot see the kernel's settings; run it with the whole of /proc"
        )


def read_online(host: Host) -> frozenset[int]:
    relative = "sys/devices/system/cpu/online"
    try:
        return parse_cpulist(host.read(relative))
    except (OSError, MalformedValueError) as err:
        raise SysprepError(
            f"cannot tell which CPUs are online ({host.path(relative)}: {err})"
        ) from None


def _idle_states(host: Host, online: frozenset[int]) -> tuple[IdleState, ...]:
    states: list[IdleState] = []
    for cpu in sorted(online):
        base = f"sys/devices/system/cpu/cpu{cpu}/cpuidle"
        for entry in host.listdir(base):
            if not entry.startswith("state") or not entry[5:].isdigit():
                continue
            try:
                name = host.read(f"{base}/{entry}/name").strip()
                latency = int(host.read(f"{base}/{entry}/latency"))
            except (OSError, ValueError):
                continue  # a state we cannot describe is left alone, never disabled blindly
            states.append(IdleState(cpu, int(entry[5:]), name, latency))
    return tuple(states)


def _max_freq(host: Host, online: frozenset[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for cpu in sorted(online):
        try:
            found[cpu] = host.read(f"sys/devices/system/cpu/cpu{cpu}/cpufreq/cpuinfo_max_freq")
        except OSError:
            continue
    return {cpu: text.strip() for cpu, text in found.items()}


def nic_names(host: Host) -> list[str]:
    """Interfaces backed by a device (not lo, bridges, veth, ifb)."""
    return [
        name
        for name in host.listdir("sys/class/net")
        if host.exists(f"sys/class/net/{name}/device")
    ]


def _nic_irqs(host: Host, name: str) -> tuple[int, ...] | None:
    """A NIC's IRQs through sysfs, never by name: virtio names them after the device.

    ``device/msi_irqs`` lives on the PCI function; a virtio NIC's ``device`` is the virtio
    device below it, so its parent is tried too. Links are only followed inside the root.
    """
    root = host.files.realpath(host.root)
    device = host.files.realpath(host.path(f"sys/class/net/{name}/device"))
    for candidate in (device, device.parent):
        if candidate != root and root not in candidate.parents:
            continue
        irqs_dir = candidate / "msi_irqs"
        if host.files.exists(irqs_dir):
            entries = host.files.listdir(irqs_dir)
            return tuple(sorted(int(entry) for entry in entries if entry.isdigit()))
    return None


def _swaps(host: Host) -> tuple[str, ...]:
    try:
        lines = host.read("proc/swaps").splitlines()
    except FileNotFoundError:
        return ()
    return tuple(line.split()[0] for line in lines[1:] if line.strip())


SYSCTL_DIRS = (
    "etc/sysctl.d",
    "run/sysctl.d",
    "usr/local/lib/sysctl.d",
    "usr/lib/sysctl.d",
    "lib/sysctl.d",
)


def _resolve_in_root(host: Host, relative: str) -> Path:
    """Follow one symlink the way the host would, keeping absolute targets inside the root."""
    path = host.path(relative)
    if path.is_symlink():
        target = Path(os.readlink(path))
        path = host.path(str(target)) if target.is_absolute() else path.parent / target
    return Path(os.path.normpath(path))


def sysctl_files(host: Host) -> tuple[tuple[str, str], ...]:
    """sysctl.d files in the order systemd-sysctl applies them, /etc/sysctl.conf last.

    Files sort by name across the directories; a name in an earlier directory masks the same
    name in later ones. A file reached twice (Debian's 99-sysctl.conf links to sysctl.conf)
    is read once.
    """
    chosen: dict[str, str] = {}
    for directory in SYSCTL_DIRS:
        for name in host.listdir(directory):
            if name.endswith(".conf") and name not in chosen:
                chosen[name] = f"{directory}/{name}"
    ordered = [chosen[name] for name in sorted(chosen)] + ["etc/sysctl.conf"]
    found, seen = [], set()
    for relative in ordered:
        resolved = _resolve_in_root(host, relative)
        if resolved in seen:
            continue
        seen.add(resolved)
        try:
            found.append(("/" + relative, host.files.read(resolved)))
        except (OSError, UnicodeDecodeError):
            continue  # absent or unreadable config cannot override anything we can see
    return tuple(found)


def _text(host: Host, relative: str) -> str | None:
    try:
        return host.read(relative).strip()
    except (OSError, UnicodeDecodeError):
        return None


def _siblings(host: Host, online: frozenset[int]) -> dict[int, frozenset[int]]:
    found = {}
    for cpu in sorted(online):
        text = _text(host, f"sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        if text is None:
            continue
        try:
            found[cpu] = parse_cpulist(text)
        except MalformedValueError:
            continue  # unknown siblings: the SMT check reports it
    return found


#: A fact that exists on this host but could not be read.
UNREADABLE = "unreadable"


def _byte_limits(host: Host) -> dict[str, str]:
    """The byte forms of the dirty-page limits, where this kernel has them and they read."""
    found = {}
    for key in ("vm.dirty_bytes", "vm.dirty_background_bytes"):
        try:
            found[key] = host.read("proc/sys/" + key.replace(".", "/")).strip()
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError):
            found[key] = UNREADABLE
    return found


def _turbo_file(host: Host) -> str | None:
    for relative in (
        "sys/devices/system/cpu/intel_pstate/no_turbo",
        "sys/devices/system/cpu/cpufreq/boost",
    ):
        if host.exists(relative):
            return relative
    return None


def _ethtool(host: Host, nic: str) -> dict[str, EthtoolView | str]:
    """Each ethtool group of a NIC, or why this host cannot have it.

    A group ethtool failed to show for another reason is left out: its settings are then
    read like any knob, and the failure is an error in plan and drift in verify.
    """
    if host.ethtool is None:
        return dict.fromkeys(GROUPS, "ethtool is only consulted for the real root (--root /)")
    found: dict[str, EthtoolView | str] = {}
    for group in GROUPS:
        try:
            found[group] = host.ethtool.show(nic, group)
        except EthtoolUnsupported as err:
            found[group] = str(err)
        except OSError:
            continue
    return found


def discover(
    host: Host,
    nics: tuple[str, ...] | None,
    *,
    steered: tuple[str, ...] | None = (),
    ethtool: bool = False,
) -> HostFacts:
    """``nics``: whose IRQs to find; ``steered``: whose queues (and, with ``ethtool``, whose
    coalescing and rings) to read. None means every interface backed by a device."""
    check_proc_whole(host)
    online = read_online(host)
    names = list(nics) if nics is not None else nic_names(host)
    steer = list(steered) if steered is not None else nic_names(host)
    try:
        cmdline = host.read("proc/cmdline").strip()
    except OSError:
        cmdline = ""
    profiles = _text(host, "sys/firmware/acpi/platform_profile_choices")
    queues = {name: tuple(host.listdir(f"sys/class/net/{name}/queues")) for name in steer}
    clock = "sys/devices/system/clocksource/clocksource0"
    return HostFacts(
        online=online,
        max_freq_khz=_max_freq(host, online),
        idle_states=_idle_states(host, online),
        nic_irqs={name: _nic_irqs(host, name) for name in names},
        cmdline=cmdline,
        swaps=_swaps(host),
        nohz_full_supported=host.exists("sys/devices/system/cpu/nohz_full"),
        sysctl_files=sysctl_files(host),
        clocksource=_text(host, f"{clock}/current_clocksource"),
        clocksources=_text(host, f"{clock}/available_clocksource") or "",
        smt_control=_text(host, "sys/devices/system/cpu/smt/control"),
        siblings=_siblings(host, online),
        platform_profiles=None if profiles is None else tuple(profiles.split()),
        turbo_file=_turbo_file(host),
        nic_queues=queues,
        nic_ethtool={name: _ethtool(host, name) for name in steer} if ethtool else {},
        systemd=host.exists("etc/systemd/system.conf"),
        exclusive_sysctls=_byte_limits(host),
    )
