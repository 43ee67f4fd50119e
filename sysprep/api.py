"""The Python API the trader runs at start and the watchdog runs periodically.

``plan`` and ``verify`` only read; ``apply`` and ``revert`` write. Every function takes a root
directory so it can be pointed at a fake /proc and /sys tree.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from sysprep import engine
from sysprep.checks import Finding, Verdict
from sysprep.engine import RunReport
from sysprep.ethtool import Ethtool, RealEthtool
from sysprep.host import Host, HostFiles, RealFiles, atomic_write
from sysprep.layout import CpuLayout
from sysprep.planning import Plan
from sysprep.probe import Baseline, ProbeReport, compare
from sysprep.probing import run_probe
from sysprep.profile import Profile
from sysprep.profile import load_profile as _load_profile
from sysprep.services import RealServices, Services
from sysprep.state import StateStore

DEFAULT_STATE_DIR = "var/lib/sysprep"
ROLES = ("trader", "watchdog")


@dataclass(frozen=True)
class VerifyReport:
    """``ok`` is False on any drift; ``findings`` also holds what is ok or unsupported."""

    ok: bool
    drift: tuple[Finding, ...]
    findings: tuple[Finding, ...]
    profile: str
    layout: CpuLayout


def load_profile(name_or_path: str | Path) -> Profile:
    """A built-in profile (``latency``, ``baseline``) or a TOML file. Raises ProfileError."""
    return _load_profile(name_or_path)


def _host(
    root: Path,
    files: HostFiles | None,
    ethtool: Ethtool | None = None,
    services: Services | None = None,
) -> Host:
    """The real root talks to the real ethtool and services; a fake tree only to the ones a
    test passes."""
    live = Path(root) == Path("/")
    if ethtool is None and live:
        ethtool = RealEthtool()
    if services is None and live:
        services = RealServices()
    return Host(Path(root), files if files is not None else RealFiles(), ethtool, services)


def _store(root: Path, state_dir: Path | None) -> StateStore:
    return StateStore(state_dir if state_dir is not None else Path(root) / DEFAULT_STATE_DIR)


def plan(
    profile: Profile,
    root: Path = Path("/"),
    *,
    files: HostFiles | None = None,
    ethtool: Ethtool | None = None,
) -> Plan:
    """What apply would change (read only). Raises ProfileError for a layout the host lacks."""
    return engine.survey(profile, _host(root, files, ethtool)).plan


def verify(
    profile: Profile,
    root: Path = Path("/"),
    pid: int | None = None,
    *,
    role: str | None = "trader",
    files: HostFiles | None = None,
    ethtool: Ethtool | None = None,
    services: Services | None = None,
) -> VerifyReport:
    """Check the host against the profile, and ``pid`` (default: the caller) against ``role``.

    ``role=None`` checks only the host (what a periodic drift check from another process wants
    when it has no pid to check).
    """
    if role is not None and role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)} or None, not {role!r}")
    host = _host(root, files, ethtool, services)
    survey = engine.survey(profile, host)
    who = pid if pid is not None else os.getpid()
    findings = tuple(engine.verify_findings(survey, host, role, who))
    drift = tuple(f for f in findings if f.verdict is Verdict.DRIFT)
    return VerifyReport(not drift, drift, findings, profile.name, survey.plan.layout)


def apply(
    profile: Profile,
    root: Path = Path("/"),
    *,
    state_dir: Path | None = None,
    files: HostFiles | None = None,
    ethtool: Ethtool | None = None,
    services: Services | None = None,
) -> RunReport:
    """Save originals once, write every pending change, re-read each to confirm it."""
    host = _host(root, files, ethtool, services)
    return engine.apply(engine.survey(profile, host), host, _store(root, state_dir))


def revert(
    root: Path = Path("/"),
    *,
    state_dir: Path | None = None,
    files: HostFiles | None = None,
    ethtool: Ethtool | None = None,
    services: Services | None = None,
) -> RunReport:
    """Restore every saved original and remove the files apply created."""
    return engine.revert(_host(root, files, ethtool, services), _store(root, state_dir))


def trader_cpu(profile: Profile, root: Path = Path("/"), *, files: HostFiles | None = None) -> int:
    """The CPU a probe measures by default: the profile's first trader CPU on this host."""
    return min(plan(profile, root, files=files).layout.trader)


def probe(cpu: int, seconds: float = 10.0, threshold_us: float = 10.0) -> ProbeReport:
    """Spin on ``cpu`` and report every gap above ``threshold_us``. Raises ProbeError."""
    return run_probe(cpu, seconds, threshold_us)


def probe_against(baseline: Baseline) -> tuple[ProbeReport, tuple[Finding, ...]]:
    """Probe the baseline's CPU the way it was recorded, and compare: drift if noisier."""
    report = run_probe(baseline.cpu, baseline.seconds, baseline.threshold_us)
    return report, tuple(compare(baseline, report))


def save_probe(path: Path, report: ProbeReport) -> None:
    """Record a probe (atomically) so that ``verify --baseline`` can compare with it later."""
    atomic_write(path, json.dumps(report.as_dict(), indent=2) + "\n")
