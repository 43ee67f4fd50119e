"""Real apply, verify and revert inside a network namespace this test creates.

Per-namespace sysctls (tcp_rmem/wmem, somaxconn, tcp_timestamps) are written for real; the
host's own values are read before and after to prove they never moved.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sysprep.helpers import PROFILES, need_root_and, run_cli

KEYS = (
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "net.core.somaxconn",
    "net.ipv4.tcp_timestamps",
    "net.core.rmem_max",
)
NETNS = str(PROFILES / "netns.toml")


def _read(key: str, netns: str | None = None) -> str:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    path = "/proc/sys/" + key.replace(".", "/")
    out = subprocess.run(
        [*prefix, "cat", path], capture_output=True, text=True, check=True, timeout=30
    )
    return " ".join(out.stdout.split())


def _values(netns: str | None = None) -> dict[str, str]:
    return {key: _read(key, netns) for key in KEYS}


@pytest.fixture
def netns() -> Iterator[str]:
    need_root_and("ip")
    name = f"sysprep-test-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
    host_before = _values()
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True, timeout=30)
        assert _values() == host_before, "the host's own sysctls changed"


def _in(netns: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, prefix=("ip", "netns", "exec", netns))


def test_apply_verify_revert_inside_a_namespace_leaves_the_host_alone(
    netns: str, tmp_path: Path
) -> None:
    host_before, ns_before = _values(), _values(netns)
    state = ("--state-dir", str(tmp_path / "state"))
    assert _in(netns, "plan", "--profile", NETNS).returncode == 2
    applied = _in(netns, "apply", "--profile", NETNS, *state)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "net.ipv4.tcp_timestamps: applied (1 -> 0)" in applied.stdout.splitlines()
    assert _read("net.ipv4.tcp_timestamps", netns) == "0"
    assert _read("net.ipv4.tcp_rmem", netns).split()[2] == "67108864"
    assert int(_read("net.core.somaxconn", netns)) >= 8192
    verified = _in(netns, "verify", "--profile", NETNS)
    assert verified.returncode == 0, verified.stdout
    assert _values() == host_before
    assert not Path("/etc/sysctl.d/60-sysprep.conf").exists()  # persist = false
    reverted = _in(netns, "revert", *state)
    assert reverted.returncode == 0, reverted.stdout
    assert _values(netns) == ns_before


def test_apply_twice_then_revert_restores_the_first_originals(netns: str, tmp_path: Path) -> None:
    ns_before = _values(netns)
    state = ("--state-dir", str(tmp_path / "state"))
    assert _in(netns, "apply", "--profile", NETNS, *state).returncode == 0
    subprocess.run(
        ["ip", "netns", "exec", netns, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/tcp_timestamps"],
        check=True,
        timeout=30,
    )
    drift = _in(netns, "verify", "--profile", NETNS)
    assert drift.returncode == 1
    assert drift.stdout.splitlines()[-1] == "verify: drift in 1 check(s): net.ipv4.tcp_timestamps"
    second = _in(netns, "apply", "--profile", NETNS, *state)
    assert second.returncode == 0
    assert "net.core.somaxconn: ok" in second.stdout.splitlines()
    assert _in(netns, "revert", *state).returncode == 0
    assert _values(netns) == ns_before


def test_a_host_wide_sysctl_in_a_namespace_fails_honestly(netns: str, tmp_path: Path) -> None:
    ns_before = _values(netns)
    state = ("--state-dir", str(tmp_path / "state"))
    profile = str(PROFILES / "netns-host-wide.toml")
    result = _in(netns, "apply", "--profile", profile, *state)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("net.core.rmem_max: failed (permission denied") for line in lines)
    assert not any(line.startswith("net.core.rmem_max: applied") for line in lines)
    assert "Traceback" not in result.stderr
    assert _in(netns, "revert", *state).returncode == 0
    assert _values(netns) == ns_before


QUEUES = ("rx-0/rps_cpus", "tx-0/xps_cpus")


def _queues(netns: str, nic: str) -> dict[str, str]:
    found = {}
    for queue in QUEUES:
        out = subprocess.run(
            ["ip", "netns", "exec", netns, "cat", f"/sys/class/net/{nic}/queues/{queue}"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        found[queue] = out.stdout.strip()
    return found


def test_nic_queues_round_trip_inside_a_namespace_and_ethtool_says_unsupported(
    netns: str, tmp_path: Path
) -> None:
    need_root_and("ethtool")
    script = (
        "ip link add spa0 type veth peer name spa1"
        " && echo 3 > /sys/class/net/spa0/queues/rx-0/rps_cpus"
        " && echo 3 > /sys/class/net/spa0/queues/tx-0/xps_cpus"
    )
    subprocess.run(["ip", "netns", "exec", netns, "sh", "-c", script], check=True, timeout=30)
    host_rps = sorted(Path("/sys/class/net").glob("*/queues/rx-*/rps_cpus"))
    host_before = {path: path.read_text() for path in host_rps}
    before = _queues(netns, "spa0") | {"ts": _read("net.ipv4.tcp_timestamps", netns)}
    state = ("--state-dir", str(tmp_path / "state"))
    profile = str(PROFILES / "netns-nic.toml")
    applied = _in(netns, "apply", "--profile", profile, *state)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    lines = applied.stdout.splitlines()
    assert "spa0 rx-0 rps_cpus: applied (0-1 -> 0)" in lines
    assert "spa0 tx-0 xps_cpus: applied (0-1 -> 0)" in lines
    assert any(
        line.startswith("spa0 coalesce rx-usecs: unsupported (the driver of spa0 cannot report")
        for line in lines
    ), lines
    assert _queues(netns, "spa0") == {"rx-0/rps_cpus": "1", "tx-0/xps_cpus": "1"}
    verified = _in(netns, "verify", "--profile", profile)
    assert verified.returncode == 0, verified.stdout
    reverted = _in(netns, "revert", *state)
    assert reverted.returncode == 0, reverted.stdout
    assert _queues(netns, "spa0") | {"ts": _read("net.ipv4.tcp_timestamps", netns)} == before
    assert {path: path.read_text() for path in host_rps} == host_before
