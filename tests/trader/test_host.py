"""Host checks at start: CPU pinning and sysprep verify, strict and lenient."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trader.config import HostConfig
from trader.errors import HostError
from trader.host import HostReport, check_host, online_cpus, parse_cpu_list, pin, prepare_host


class RecordingVerifier:
    def __init__(self, report: HostReport) -> None:
        self.report = report
        self.calls: list[tuple[str, int]] = []

    def __call__(self, profile: str, pid: int) -> HostReport:
        self.calls.append((profile, pid))
        return self.report


class Affinity:
    def __init__(self, current: set[int]) -> None:
        self.current = current
        self.sets: list[set[int]] = []

    def get(self, pid: int) -> set[int]:
        return set(self.current)

    def set(self, pid: int, cpus: set[int]) -> None:
        self.sets.append(set(cpus))
        self.current = set(cpus)


DRIFTED = HostReport(False, ("vm.swappiness: 60 -> 10",))


def test_cpu_lists_parse_ranges_and_singles() -> None:
    assert parse_cpu_list("0-2,5") == frozenset({0, 1, 2, 5})
    with pytest.raises(HostError, match="cannot read the CPU list"):
        parse_cpu_list("0-x")


def test_online_cpus_are_read_from_sys(tmp_path: Path) -> None:
    (tmp_path / "devices/system/cpu").mkdir(parents=True)
    (tmp_path / "devices/system/cpu/online").write_text("0-3\n")
    assert online_cpus(tmp_path) == frozenset({0, 1, 2, 3})


def test_it_pins_itself_when_not_pinned_yet() -> None:
    affinity = Affinity({0, 1, 2, 3})
    assert pin((2,), frozenset({0, 1, 2, 3}), affinity.get, affinity.set) == (2,)
    assert affinity.sets == [{2}]


def test_it_leaves_an_existing_matching_pinning_alone() -> None:
    affinity = Affinity({2})
    assert pin((2,), frozenset({0, 1, 2, 3}), affinity.get, affinity.set) is None
    assert affinity.sets == []


def test_a_cpu_the_host_lacks_is_refused_before_anything_is_changed() -> None:
    affinity = Affinity({0, 1})
    with pytest.raises(HostError, match=r"does not have online: \[7\]"):
        pin((1, 7), frozenset({0, 1}), affinity.get, affinity.set)
    assert affinity.sets == []


def test_no_cpus_configured_means_no_pinning() -> None:
    affinity = Affinity({0, 1})
    assert pin((), frozenset({0, 1}), affinity.get, affinity.set) is None


def test_strict_mode_refuses_a_drifted_host_naming_the_drift() -> None:
    verifier = RecordingVerifier(DRIFTED)
    with pytest.raises(HostError, match=r"drifted from sysprep profile 'latency': vm\.swappiness"):
        check_host(HostConfig(profile="latency", strict=True), verifier, pid=42)
    assert verifier.calls == [("latency", 42)]


def test_lenient_mode_warns_and_returns_the_drift(caplog: pytest.LogCaptureFixture) -> None:
    drift = check_host(HostConfig(profile="latency", strict=False), RecordingVerifier(DRIFTED), 1)
    assert drift == DRIFTED.drift
    assert "host_drift_trading_unprepared" in caplog.text


def test_a_prepared_host_passes_in_strict_mode() -> None:
    ok = RecordingVerifier(HostReport(True, ()))
    assert check_host(HostConfig(profile="latency", strict=True), ok, 1) == ()


def test_without_a_profile_the_host_is_not_verified() -> None:
    verifier = RecordingVerifier(DRIFTED)
    assert check_host(HostConfig(), verifier, 1) == ()
    assert verifier.calls == []


def test_prepare_host_pins_then_verifies_this_process(tmp_path: Path) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    (tmp_path / "devices/system/cpu").mkdir(parents=True)
    (tmp_path / "devices/system/cpu/online").write_text(",".join(map(str, cpus)))
    verifier = RecordingVerifier(HostReport(True, ()))
    outcome = prepare_host(HostConfig(profile="p", cpus=tuple(cpus)), verifier, sys_root=tmp_path)
    assert outcome.pinned_to is None  # already on exactly these CPUs
    assert verifier.calls == [("p", os.getpid())]
