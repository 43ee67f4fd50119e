"""Profiles parse strictly; layouts are checked against the host's CPUs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sysprep.api import load_profile
from sysprep.errors import ProfileError
from sysprep.layout import resolve_layout
from sysprep.profile import CpuRoles, parse_profile
from sysprep.wanted import AtLeast, Exact

MINIMAL = '[profile]\nname = "t"\n'


def test_the_builtin_latency_profile_loads_with_auto_layout() -> None:
    profile = load_profile("latency")
    assert profile.cpus == CpuRoles(None, None, None)
    keys = {wish.key: wish.wanted for wish in profile.sysctls}
    assert keys["net.ipv4.tcp_rmem"] == AtLeast((4096, 87380, 16777216))
    assert keys["net.core.busy_poll"] == Exact("50")
    assert "net.ipv4.tcp_nodelay" not in keys


def test_baseline_touches_nothing() -> None:
    profile = load_profile("baseline")
    assert profile.sysctls == ()
    assert profile.irq is None
    assert profile.governor is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            MINIMAL + "[sysctl]\n'vm.swappiness' = true\n",
            "sysctl.vm.swappiness: expected an integer",
        ),
        (MINIMAL + "[cpus]\ntrader = '1'\n", "give all three roles"),
        (MINIMAL + "[cpu]\ngovernour = 'performance'\n", "cpu.governour: unknown key"),
        (
            MINIMAL + "[memory]\ntransparent_hugepage = 'sometimes'\n",
            "memory.transparent_hugepage: must be one of always, madvise, never, got 'sometimes'",
        ),
        (
            MINIMAL + "[cpus]\ntrader='x'\nwatchdog='0'\nhousekeeping='0'\n",
            "cpus.trader: not a CPU",
        ),
        ("[profile]\nname = 1\n", "profile.name: expected a string, got an integer"),
        ("[oops", "not valid TOML"),
        (MINIMAL + "[sysctl]\n'net..x' = 1\n", "not a sysctl name"),
    ],
)
def test_a_bad_profile_names_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message) as caught:
        parse_profile(text, "p.toml")
    assert str(caught.value).startswith("p.toml: ")


def test_toml_nested_too_deeply_is_one_profile_error() -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile("a = " + "[" * 100_000, "p.toml")
    assert str(caught.value) == "p.toml: not valid TOML: nested too deeply"


def test_a_missing_profile_file_lists_the_builtin_ones(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="built-in profiles: latency, baseline"):
        load_profile(tmp_path / "nope.toml")


def test_auto_layout_on_two_cpus_gives_the_trader_cpu_1() -> None:
    layout = resolve_layout(CpuRoles(None, None, None), frozenset({0, 1}))
    assert (layout.trader, layout.watchdog, layout.housekeeping) == (
        frozenset({1}),
        frozenset({0}),
        frozenset({0}),
    )


def test_auto_layout_on_eight_cpus_gives_the_watchdog_its_own_cpu() -> None:
    layout = resolve_layout(CpuRoles(None, None, None), frozenset(range(8)))
    assert (layout.trader, layout.watchdog, layout.housekeeping) == (
        frozenset(range(2, 8)),
        frozenset({1}),
        frozenset({0}),
    )


def test_auto_layout_refuses_a_single_cpu_host() -> None:
    with pytest.raises(ProfileError, match="at least 2 online CPUs"):
        resolve_layout(CpuRoles(None, None, None), frozenset({0}))


def test_naming_a_cpu_the_host_lacks_is_an_error_naming_it() -> None:
    roles = CpuRoles(frozenset({2}), frozenset({0}), frozenset({0}))
    with pytest.raises(
        ProfileError, match=r"cpus\.trader: names CPU 2, but this host has CPUs 0-1"
    ):
        resolve_layout(roles, frozenset({0, 1}))


def test_the_trader_may_not_share_a_cpu_with_housekeeping() -> None:
    roles = CpuRoles(frozenset({0, 1}), frozenset({0}), frozenset({0}))
    with pytest.raises(ProfileError, match="needs CPUs of its own"):
        resolve_layout(roles, frozenset({0, 1}))
