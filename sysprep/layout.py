"""The CPU layout: a profile's CPU roles resolved against the CPUs this host has online."""

from __future__ import annotations

from dataclasses import dataclass

from sysprep.cpulist import format_cpulist
from sysprep.errors import ProfileError
from sysprep.profile import CpuRoles

#: From this many CPUs on, "auto" gives the watchdog a CPU of its own.
_OWN_WATCHDOG_CPU_FROM = 4


@dataclass(frozen=True)
class CpuLayout:
    online: frozenset[int]
    trader: frozenset[int]
    watchdog: frozenset[int]
    housekeeping: frozenset[int]

    def role(self, name: str) -> frozenset[int]:
        return {"trader": self.trader, "watchdog": self.watchdog}[name]

    def describe(self) -> str:
        return (
            f"trader {format_cpulist(self.trader)}, watchdog {format_cpulist(self.watchdog)}, "
            f"housekeeping {format_cpulist(self.housekeeping)} "
            f"(online {format_cpulist(self.online)})"
        )


def _auto(online: frozenset[int]) -> CpuLayout:
    if len(online) < 2:
        raise ProfileError(
            f'cpus: "auto" needs at least 2 online CPUs, this host has {format_cpulist(online)}'
        )
    ordered = sorted(online)
    housekeeping = frozenset(ordered[:1])
    own = len(ordered) >= _OWN_WATCHDOG_CPU_FROM
    watchdog = frozenset(ordered[1:2]) if own else housekeeping
    return CpuLayout(online, online - housekeeping - watchdog, watchdog, housekeeping)


def resolve_layout(roles: CpuRoles, online: frozenset[int]) -> CpuLayout:
    """Resolve "auto" or check explicit roles: every CPU must be online, the trader alone."""
    if roles.trader is None or roles.watchdog is None or roles.housekeeping is None:
        return _auto(online)
    for name, cpus in (
        ("trader", roles.trader),
        ("watchdog", roles.watchdog),
        ("housekeeping", roles.housekeeping),
    ):
        missing = cpus - online
        if missing:
            raise ProfileError(
                f"cpus.{name}: names CPU {format_cpulist(missing)}, but this host has CPUs "
                f"{format_cpulist(online)} online"
            )
    shared = roles.trader & (roles.watchdog | roles.housekeeping)
    if shared:
        raise ProfileError(
            f"cpus.trader: CPU {format_cpulist(shared)} is also a watchdog or housekeeping CPU; "
            "the trader needs CPUs of its own"
        )
    return CpuLayout(online, roles.trader, roles.watchdog, roles.housekeeping)
