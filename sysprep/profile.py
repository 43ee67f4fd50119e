"""Profiles: TOML files parsed once, strictly, into frozen values.

A profile says which CPUs do what and which knobs to set. It names no host: the CPU layout is
resolved against the host's online CPUs when planning (see :mod:`sysprep.layout`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sysprep.cpulist import parse_cpulist
from sysprep.errors import MalformedValueError, ProfileError
from sysprep.wanted import AtLeast, Exact, Wanted

BUILTIN = ("latency", "baseline")
ISOLATION_PARAMS = ("isolcpus", "nohz_full", "rcu_nocbs")
SMT_CHOICES = ("off", "idle-sibling", "any")
_THP_CHOICES = ("always", "madvise", "never")
_SYSCTL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_BOOT_WORD = re.compile(r"[a-z0-9_.-]+(=[^\s=]+)?")
_ETHTOOL_KEY = re.compile(r"[a-z][a-z0-9-]*")
_WORD = re.compile(r"[a-z][a-z0-9_-]*")


@dataclass(frozen=True)
class CpuRoles:
    """Explicit CPU sets, or None where the profile says "auto"."""

    trader: frozenset[int] | None
    watchdog: frozenset[int] | None
    housekeeping: frozenset[int] | None


@dataclass(frozen=True)
class SysctlWish:
    key: str
    wanted: Wanted


@dataclass(frozen=True)
class IrqWish:
    nics: tuple[str, ...] | None  # None: every interface backed by a device
    default_affinity: bool
    irqbalance_ban: bool


@dataclass(frozen=True)
class PowerWish:
    """CPU power management beyond the governor (each None: left alone)."""

    energy_performance_preference: str | None
    energy_perf_bias: int | None  # 0 (performance) .. 15 (power saving)
    min_perf_pct: int | None  # intel_pstate
    turbo: bool | None
    platform_profile: str | None  # ACPI


@dataclass(frozen=True)
class PlacementWish:
    """Where the kernel's and systemd's own work may run: the housekeeping CPUs."""

    workqueues: bool
    systemd: bool


@dataclass(frozen=True)
class NicWish:
    nics: tuple[str, ...] | None  # None: every interface backed by a device
    steering: bool  # RPS and XPS masks kept off the trader CPUs
    coalesce: tuple[tuple[str, str], ...]  # ethtool -C name, value
    rings: tuple[tuple[str, str], ...]  # ethtool -G name, value ("max" or a number)


@dataclass(frozen=True)
class BootWish:
    """Verify only: boot parameters (each word must be on the command line), clocksource, SMT."""

    params: tuple[str, ...]
    clocksource: str | None
    smt: str  # one of SMT_CHOICES
    required: bool


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    source: str
    persist: bool
    cpus: CpuRoles
    governor: str | None
    min_freq: str | None  # "max" or kHz
    cstate_max_latency_us: int | None
    cstate_all_cpus: bool
    sysctls: tuple[SysctlWish, ...]
    irq: IrqWish | None
    transparent_hugepage: str | None
    swap_off: bool
    isolation: tuple[str, ...]
    isolation_required: bool
    power: PowerWish | None = None
    ksm_off: bool = False
    placement: PlacementWish | None = None
    nic: NicWish | None = None
    boot: BootWish | None = None


class _Table:
    """A TOML table that remembers its key path and refuses unknown keys.

    sysprep may import nothing of the suite (it prepares the host before anything else is
    trusted), so it cannot share ``risk.tomltable``; it words every mistake the same way:
    ``<file>: <key.path>: <reason>`` with the same reasons (docs/design.md, "Strict config
    reading"), which ``tests/tooling/test_config_wording.py`` checks.
    """

    def __init__(self, data: dict[str, Any], source: str, path: str) -> None:
        self._data = data
        self._source = source
        self._path = path

    def error(self, key: str, reason: str) -> ProfileError:
        where = f"{self._path}.{key}" if self._path else key
        return ProfileError(f"{self._source}: {where}: {reason}")

    def only(self, *allowed: str) -> None:
        for key in self._data:
            if key not in allowed:
                raise self.error(key, f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def get(self, key: str, kind: type, default: Any = None) -> Any:
        value = self._data.get(key, default)
        if value is None:
            return None
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise self.error(key, f"expected {_KIND_NAMES[kind]}, got {_kind_of(value)}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str | None = None) -> str | None:
        value: str | None = self.get(key, str, default)
        if value is not None and value not in choices:
            raise self.error(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def raw(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def table(self, key: str) -> _Table | None:
        value = self._data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table, got {_kind_of(value)}")
        return _Table(value, self._source, f"{self._path}.{key}" if self._path else key)

    def items(self) -> list[tuple[str, Any]]:
        return list(self._data.items())


_KIND_NAMES: dict[type, str] = {
    bool: "a boolean",
    str: "a string",
    int: "an integer",
    float: "a float",
    list: "an array",
    dict: "a table",
}


def _kind_of(value: object) -> str:
    for kind, name in _KIND_NAMES.items():
        if isinstance(value, kind):
            return name
    return f"a {type(value).__name__}"


def _cpu_role(table: _Table, key: str) -> frozenset[int] | None:
    text = table.get(key, str, "auto")
    if text == "auto":
        return None
    try:
        cpus = parse_cpulist(text)
    except MalformedValueError as err:
        raise table.error(key, str(err)) from None
    if not cpus:
        raise table.error(key, "names no CPU")
    return cpus


def _cpus(table: _Table | None) -> CpuRoles:
    if table is None:
        return CpuRoles(None, None, None)
    table.only("trader", "watchdog", "housekeeping")
    roles = [_cpu_role(table, key) for key in ("trader", "watchdog", "housekeeping")]
    if (None in roles) and any(role is not None for role in roles):
        raise table.error("trader", 'give all three roles as CPU lists, or all three as "auto"')
    return CpuRoles(*roles)


def _sysctl_value(table: _Table, key: str, value: Any) -> Wanted:
    if isinstance(value, bool):
        raise table.error(key, "expected an integer, a string or { at_least = ... }")
    if isinstance(value, int | str):
        return Exact(str(value))
    if isinstance(value, dict) and set(value) == {"at_least"}:
        floor = value["at_least"]
        fields = floor if isinstance(floor, list) else [floor]
        if fields and all(isinstance(f, int) and not isinstance(f, bool) for f in fields):
            return AtLeast(tuple(fields))
    raise table.error(key, "expected an integer, a string or { at_least = int | [int, ...] }")


def _sysctls(table: _Table | None) -> tuple[SysctlWish, ...]:
    if table is None:
        return ()
    wishes = []
    for key, value in table.items():
        if not _SYSCTL_NAME.fullmatch(key) or ".." in key:
            raise table.error(key, "not a sysctl name")
        wishes.append(SysctlWish(key, _sysctl_value(table, key, value)))
    return tuple(wishes)


def _irq(table: _Table | None) -> IrqWish | None:
    if table is None:
        return None
    table.only("nics", "default_affinity", "irqbalance_ban")
    nics = table.raw("nics", "auto")
    if nics == "auto":
        names = None
    elif isinstance(nics, list) and nics and all(isinstance(n, str) and n for n in nics):
        names = tuple(nics)
    else:
        raise table.error("nics", 'expected "auto" or a list of interface names')
    return IrqWish(
        nics=names,
        default_affinity=table.get("default_affinity", bool, True),
        irqbalance_ban=table.get("irqbalance_ban", bool, True),
    )


def _cpu(table: _Table | None) -> tuple[str | None, str | None, int | None, bool]:
    if table is None:
        return None, None, None, False
    table.only("governor", "min_freq", "cstate_max_latency_us", "cstate_cpus")
    min_freq = table.raw("min_freq")
    if (
        min_freq is not None
        and min_freq != "max"
        and (not isinstance(min_freq, int) or isinstance(min_freq, bool) or min_freq <= 0)
    ):
        raise table.error("min_freq", 'expected "max" or a frequency in kHz')
    latency = table.get("cstate_max_latency_us", int)
    if latency is not None and latency < 0:
        raise table.error("cstate_max_latency_us", f"must be >= 0, got {latency}")
    scope = table.choice("cstate_cpus", ("trader", "all"), "trader")
    governor = table.get("governor", str)
    freq = None if min_freq is None else str(min_freq)
    return governor, freq, latency, scope == "all"


def _memory(table: _Table | None) -> tuple[str | None, bool, bool]:
    if table is None:
        return None, False, False
    table.only("transparent_hugepage", "swap", "ksm")
    thp = table.choice("transparent_hugepage", _THP_CHOICES)
    swap = table.choice("swap", ("off",))
    ksm = table.choice("ksm", ("off",))
    return thp, swap == "off", ksm == "off"


def _word(table: _Table, key: str) -> str | None:
    value: str | None = table.get(key, str)
    if value is not None and not _WORD.fullmatch(value):
        raise table.error(key, f"expected a lower-case word such as performance, got {value!r}")
    return value


def _bounded(table: _Table, key: str, low: int, high: int) -> int | None:
    value: int | None = table.get(key, int)
    if value is not None and not low <= value <= high:
        raise table.error(key, f"must be >= {low} and <= {high}, got {value}")
    return value


def _power(table: _Table | None) -> PowerWish | None:
    if table is None:
        return None
    keys = ("energy_performance_preference", "energy_perf_bias", "min_perf_pct", "turbo")
    table.only(*keys, "platform_profile")
    turbo = table.choice("turbo", ("on", "off"))
    return PowerWish(
        energy_performance_preference=_word(table, "energy_performance_preference"),
        energy_perf_bias=_bounded(table, "energy_perf_bias", 0, 15),
        min_perf_pct=_bounded(table, "min_perf_pct", 0, 100),
        turbo=None if turbo is None else turbo == "on",
        platform_profile=_word(table, "platform_profile"),
    )


def _placement(table: _Table | None) -> PlacementWish | None:
    if table is None:
        return None
    table.only("workqueues", "systemd")
    return PlacementWish(
        workqueues=table.get("workqueues", bool, False), systemd=table.get("systemd", bool, False)
    )


def _nic_names(table: _Table) -> tuple[str, ...] | None:
    nics = table.raw("nics", "auto")
    if nics == "auto":
        return None
    if isinstance(nics, list) and nics and all(isinstance(n, str) and n for n in nics):
        return tuple(nics)
    raise table.error("nics", 'expected "auto" or a list of interface names')


def _ethtool_settings(table: _Table, key: str, *, rings: bool) -> tuple[tuple[str, str], ...]:
    sub = table.table(key)
    if sub is None:
        return ()
    found = []
    for name, value in sub.items():
        if not _ETHTOOL_KEY.fullmatch(name):
            raise sub.error(name, "not an ethtool parameter name")
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            found.append((name, str(value)))
        elif rings and value == "max":
            found.append((name, "max"))
        elif not rings and value in ("on", "off"):
            found.append((name, value))
        else:
            allowed = 'an integer >= 0 or "max"' if rings else 'an integer >= 0, "on" or "off"'
            raise sub.error(name, f"expected {allowed}, got {value!r}")
    return tuple(found)


def _nic(table: _Table | None) -> NicWish | None:
    if table is None:
        return None
    table.only("nics", "steering", "coalesce", "rings")
    return NicWish(
        nics=_nic_names(table),
        steering=table.get("steering", bool, False),
        coalesce=_ethtool_settings(table, "coalesce", rings=False),
        rings=_ethtool_settings(table, "rings", rings=True),
    )


def _boot(table: _Table | None) -> BootWish | None:
    if table is None:
        return None
    table.only("params", "clocksource", "smt", "required")
    params = table.raw("params", [])
    if not isinstance(params, list) or not all(
        isinstance(p, str) and _BOOT_WORD.fullmatch(p) for p in params
    ):
        raise table.error("params", 'expected a list of words such as "skew_tick=1"')
    return BootWish(
        params=tuple(params),
        clocksource=_word(table, "clocksource"),
        smt=table.choice("smt", SMT_CHOICES, "any") or "any",
        required=table.get("required", bool, False),
    )


def _isolation(table: _Table | None) -> tuple[tuple[str, ...], bool]:
    if table is None:
        return (), False
    table.only("params", "required")
    params = table.raw("params", list(ISOLATION_PARAMS))
    if not isinstance(params, list) or any(p not in ISOLATION_PARAMS for p in params):
        raise table.error("params", f"expected a list drawn from {', '.join(ISOLATION_PARAMS)}")
    return tuple(params), table.get("required", bool, True)


def parse_profile(text: str, source: str) -> Profile:
    """Parse profile TOML (pure: the caller reads the file). Unknown keys are errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ProfileError(f"{source}: not valid TOML: {err}") from None
    except RecursionError:
        raise ProfileError(f"{source}: not valid TOML: nested too deeply") from None
    top = _Table(data, source, "")
    top.only(
        "profile",
        "cpus",
        "cpu",
        "power",
        "sysctl",
        "irq",
        "nic",
        "memory",
        "placement",
        "isolation",
        "boot",
    )
    meta = top.table("profile")
    if meta is None:
        raise top.error("profile", "missing (required)")
    meta.only("name", "description", "persist")
    name = meta.get("name", str)
    if name is None:
        raise meta.error("name", "missing (required)")
    if not name.strip():
        raise meta.error("name", "must not be empty")
    governor, min_freq, latency, all_cpus = _cpu(top.table("cpu"))
    thp, swap_off, ksm_off = _memory(top.table("memory"))
    isolation, required = _isolation(top.table("isolation"))
    return Profile(
        name=name,
        description=meta.get("description", str, ""),
        source=source,
        persist=meta.get("persist", bool, True),
        cpus=_cpus(top.table("cpus")),
        governor=governor,
        min_freq=min_freq,
        cstate_max_latency_us=latency,
        cstate_all_cpus=all_cpus,
        sysctls=_sysctls(top.table("sysctl")),
        irq=_irq(top.table("irq")),
        transparent_hugepage=thp,
        swap_off=swap_off,
        isolation=isolation,
        isolation_required=required,
        power=_power(top.table("power")),
        ksm_off=ksm_off,
        placement=_placement(top.table("placement")),
        nic=_nic(top.table("nic")),
        boot=_boot(top.table("boot")),
    )


def load_profile(name_or_path: str | Path) -> Profile:
    """A built-in profile by name (``latency``, ``baseline``) or a TOML file by path."""
    text_name = str(name_or_path)
    if text_name in BUILTIN:
        resource = resources.files("sysprep.profiles").joinpath(f"{text_name}.toml")
        return parse_profile(resource.read_text(encoding="utf-8"), f"builtin:{text_name}")
    path = Path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(
            f"{path}: no such profile file (built-in profiles: {', '.join(BUILTIN)})"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ProfileError(f"{path}: cannot read profile: {err}") from None
    return parse_profile(text, str(path))
