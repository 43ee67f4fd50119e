"""Start-up host checks: is the host prepared (sysprep verify), and are we on our CPUs.

On a drifted host a ``strict`` trader refuses to start; otherwise it warns loudly and sets a
metric so the alert fires even when nobody reads the log.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sysprep import api as sysprep_api
from sysprep.errors import SysprepError
from trader.config import HostConfig
from trader.errors import HostError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HostReport:
    ok: bool
    drift: tuple[str, ...]


class HostVerifier(Protocol):
    def __call__(self, profile: str, pid: int) -> HostReport:
        """Verify the host against the named sysprep profile for process ``pid``."""


@dataclass(frozen=True, slots=True)
class HostOutcome:
    drift: tuple[str, ...]
    pinned_to: tuple[int, ...] | None  # the CPUs we pinned to now, None when left as it was


def online_cpus(sys_root: Path = Path("/sys")) -> frozenset[int]:
    """CPUs the kernel has online, from ``devices/system/cpu/online`` ("0-3,6")."""
    try:
        text = (sys_root / "devices/system/cpu/online").read_text().strip()
    except OSError:
        return frozenset(range(os.cpu_count() or 1))
    return parse_cpu_list(text)


def parse_cpu_list(text: str) -> frozenset[int]:
    cpus: set[int] = set()
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        try:
            cpus.update(range(int(low), int(high or low) + 1))
        except ValueError:
            raise HostError(f"cannot read the CPU list {text!r}") from None
    return frozenset(cpus)


def pin(
    wanted: Sequence[int],
    online: frozenset[int],
    get_affinity: Callable[[int], set[int]] = os.sched_getaffinity,
    set_affinity: Callable[[int, set[int]], None] = os.sched_setaffinity,
) -> tuple[int, ...] | None:
    """Pin this process to ``wanted`` unless it already is; returns the CPUs when it pinned."""
    if not wanted:
        return None
    missing = sorted(set(wanted) - online)
    if missing:
        raise HostError(
            f"host.cpus lists CPUs this host does not have online: {missing} "
            f"(online: {sorted(online)})"
        )
    if get_affinity(0) == set(wanted):
        return None
    set_affinity(0, set(wanted))
    log.info("pinned_to_cpus", extra={"cpus": list(wanted)})
    return tuple(wanted)


def check_host(config: HostConfig, verifier: HostVerifier | None, pid: int) -> tuple[str, ...]:
    """Run sysprep verify; strict mode turns drift into a refusal to start."""
    if config.profile is None:
        return ()
    if verifier is None:
        raise HostError("host.profile is set but no host verifier is available")
    report = verifier(config.profile, pid)
    if report.ok:
        return ()
    drift = report.drift or ("verify failed without details",)
    summary = "; ".join(drift)
    if config.strict:
        raise HostError(
            f"host drifted from sysprep profile {config.profile!r}: {summary} "
            f"(run `sysprep apply --profile {config.profile}`, or set host.strict = false)"
        )
    log.warning(
        "host_drift_trading_unprepared",
        extra={"profile": config.profile, "drift": list(drift)},
    )
    return drift


def prepare_host(
    config: HostConfig,
    verifier: HostVerifier | None,
    *,
    pid: int | None = None,
    sys_root: Path = Path("/sys"),
) -> HostOutcome:
    """Pin first (verify may check our own affinity), then verify the host."""
    pinned = pin(config.cpus, online_cpus(sys_root))
    drift = check_host(config, verifier, os.getpid() if pid is None else pid)
    return HostOutcome(drift=drift, pinned_to=pinned)


def sysprep_verifier(root: Path = Path("/")) -> HostVerifier:
    """The production verifier: sysprep's verify API against ``root`` (a fake tree in tests)."""

    def verify(profile: str, pid: int) -> HostReport:
        try:
            report = sysprep_api.verify(sysprep_api.load_profile(profile), root, pid)
        except (SysprepError, OSError) as exc:
            raise HostError(f"sysprep verify with profile {profile!r} failed: {exc}") from None
        drift = tuple(
            f"{f.name}: {f.current} -> {f.wanted}" + (f" ({f.reason})" if f.reason else "")
            for f in report.drift
        )
        return HostReport(report.ok, drift)

    return verify
