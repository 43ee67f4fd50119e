"""On this real machine, read only: plan and verify tell the truth and change nothing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.sysprep.helpers import run_cli

WATCHED = (
    "proc/sys/net/core/rmem_max",
    "proc/sys/net/ipv4/tcp_rmem",
    "proc/sys/net/core/busy_poll",
    "proc/sys/vm/swappiness",
    "proc/irq/default_smp_affinity",
    "sys/kernel/mm/transparent_hugepage/enabled",
    "sys/devices/system/cpu/cpu1/power/pm_qos_resume_latency_us",
)


def _watched() -> dict[str, str]:
    found = {}
    for relative in WATCHED:
        path = Path("/") / relative
        if path.exists():
            found[relative] = path.read_text()
    return found


def test_plan_on_this_host_is_truthful_and_writes_nothing() -> None:
    before = _watched()
    result = run_cli("plan", "--json")
    assert result.returncode in (0, 2), result.stderr
    assert "Traceback" not in result.stderr
    steps = {step["name"]: step for step in json.loads(result.stdout)["steps"]}
    if not Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").exists():
        assert steps["cpu0 governor"]["status"] == "unsupported"
        assert "no cpufreq driver" in steps["cpu0 governor"]["reason"]
    assert steps["net.core.rmem_max"]["status"] in ("ok", "change")
    assert _watched() == before
    assert not Path("/etc/sysctl.d/60-sysprep.conf").exists()


def test_verify_on_this_host_exits_0_or_1_with_a_summary_line() -> None:
    before = _watched()
    result = run_cli("verify", "--for", "trader")
    assert result.returncode in (0, 1)
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines()[-1].startswith("verify: ")
    assert _watched() == before
