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
_THP_CHOICES = ("always", "madvise", "never")
_SYSCTL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


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


class _Table:
    """A TOML table that remembers its key path and refuses unknown keys."""

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
                raise self.error(key, f"unknown key (allowed: {', '.join(allowed)})")

    def get(self, key: str, kind: type, default: Any = None) -> Any:
        value = self._data.get(key, default)
        if value is None:
            return None
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise self.error(key, f"expected {kind.__name__}, found {value!r}")
        return value

    def raw(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def table(self, key: str) -> _Table | None:
        value = self._data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error(key, "expected a table")
        return _Table(value, self._source, f"{self._path}.{key}" if self._path else key)

    def items(self) -> list[tuple[str, Any]]:
        return list(self._data.items())


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
        raise table.error("cstate_max_latency_us", "must be >= 0")
    scope = table.get("cstate_cpus", str, "trader")
    if scope not in ("trader", "all"):
        raise table.error("cstate_cpus", 'expected "trader" or "all"')
    governor = table.get("governor", str)
    freq = None if min_freq is None else str(min_freq)
    return governor, freq, latency, scope == "all"


def _memory(table: _Table | None) -> tuple[str | None, bool]:
    if table is None:
        return None, False
    table.only("transparent_hugepage", "swap")
    thp = table.get("transparent_hugepage", str)
    if thp is not None and thp not in _THP_CHOICES:
        raise table.error("transparent_hugepage", f"expected one of {', '.join(_THP_CHOICES)}")
    swap = table.get("swap", str)
    if swap not in (None, "off"):
        raise table.error("swap", 'only "off" is supported')
    return thp, swap == "off"


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
    top = _Table(data, source, "")
    top.only("profile", "cpus", "cpu", "sysctl", "irq", "memory", "isolation")
    meta = top.table("profile")
    if meta is None:
        raise top.error("profile", "missing [profile] table with a name")
    meta.only("name", "description", "persist")
    name = meta.get("name", str)
    if not name:
        raise meta.error("name", "missing")
    governor, min_freq, latency, all_cpus = _cpu(top.table("cpu"))
    thp, swap_off = _memory(top.table("memory"))
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
