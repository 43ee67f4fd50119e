"""plan, apply, verify and revert against a fake /proc and /sys tree, with injected faults."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.fakehost import FaultyFiles, make_host, put, snapshot
from sysprep import api
from sysprep.checks import Verdict
from sysprep.engine import Result, RunReport
from sysprep.errors import ProfileError, StateError, SysprepError
from sysprep.planning import Status
from sysprep.profile import parse_profile

LATENCY = api.load_profile("latency")


def _result(report: RunReport, name: str) -> Result:
    return next(o.result for o in report.outcomes if o.name == name)


@pytest.fixture
def host(tmp_path: Path) -> Path:
    return make_host(tmp_path / "root")


def test_plan_on_a_vm_without_cpufreq_reports_the_governor_unsupported(host: Path) -> None:
    plan = api.plan(LATENCY, host)
    steps = {step.name: step for step in plan.steps}
    assert steps["cpu0 governor"].status is Status.UNSUPPORTED
    assert "no cpufreq driver" in steps["cpu0 governor"].reason
    assert steps["net.core.rmem_max"].status is Status.CHANGE
    assert steps["net.ipv4.tcp_rmem"].status is Status.OK  # 32 MiB default is kept
    assert steps["irq 38 (eth0) smp_affinity_list"].target == "0"
    assert plan.exit_code == 2


def test_plan_finds_nic_irqs_through_sysfs_not_by_name(host: Path) -> None:
    names = [step.name for step in api.plan(LATENCY, host).steps]
    assert [n for n in names if n.endswith("smp_affinity_list")] == [
        "irq 37 (eth0) smp_affinity_list",
        "irq 38 (eth0) smp_affinity_list",
        "irq 39 (eth0) smp_affinity_list",
    ]
    assert not any("(lo)" in name for name in names)


def test_plan_disables_only_idle_states_deeper_than_the_limit_on_trader_cpus(host: Path) -> None:
    names = [step.name for step in api.plan(LATENCY, host).steps if "idle" in step.name]
    assert names == ["cpu1 idle C1 (2us) disable", "cpu1 idle C6 (100us) disable"]


def test_plan_with_cpufreq_pins_the_minimum_to_the_maximum(tmp_path: Path) -> None:
    root = make_host(tmp_path / "r", cpufreq=True)
    steps = {step.name: step for step in api.plan(LATENCY, root).steps}
    assert steps["cpu1 governor"].target == "performance"
    assert steps["cpu1 min_freq"].target == "3000000"


def test_plan_prints_the_exact_boot_parameters_to_add(tmp_path: Path) -> None:
    root = make_host(tmp_path / "r", nohz_full=True, cmdline="quiet isolcpus=1")
    plan = api.plan(LATENCY, root)
    assert plan.manual == (
        "kernel command line: add "
        "`nohz_full=1 rcu_nocbs=1 skew_tick=1 tsc=reliable nosoftlockup` and reboot",
    )


def test_a_profile_naming_a_missing_cpu_fails_planning(host: Path) -> None:
    text = '[profile]\nname="x"\n[cpus]\ntrader="2"\nwatchdog="0"\nhousekeeping="0"\n'
    with pytest.raises(ProfileError, match="names CPU 2"):
        api.plan(parse_profile(text, "x.toml"), host)


def test_the_seed_scripts_bogus_sysctls_are_reported_never_written(host: Path) -> None:
    text = (
        '[profile]\nname="seed"\npersist=false\n[sysctl]\n'
        '"net.ipv4.tcp_nodelay" = 1\n"net.ipv4.tcp_low_latency" = 1\n'
    )
    files = FaultyFiles()
    report = api.apply(parse_profile(text, "seed.toml"), host, files=files)
    reasons = {o.name: (o.result, o.reason) for o in report.outcomes}
    assert reasons["net.ipv4.tcp_nodelay"][0] is Result.UNSUPPORTED
    assert "per-socket option" in reasons["net.ipv4.tcp_nodelay"][1]
    assert "no effect since Linux 4.14" in reasons["net.ipv4.tcp_low_latency"][1]
    assert files.writes == []
    assert report.exit_code == 0


def test_apply_then_verify_is_clean_and_revert_restores_every_file(host: Path) -> None:
    before = snapshot(host)
    report = api.apply(LATENCY, host, files=FaultyFiles())
    assert report.exit_code == 0
    assert _result(report, "net.core.rmem_max") is Result.APPLIED
    assert (host / "proc/sys/net/core/rmem_max").read_text().strip() == "16777216"
    dropin = (host / "etc/sysctl.d/60-sysprep.conf").read_text()
    assert "net.core.busy_poll = 50" in dropin
    assert "net.ipv4.tcp_rmem = 4096 131072 33554432" in dropin
    assert 'IRQBALANCE_BANNED_CPULIST="1"' in (host / "etc/default/irqbalance").read_text()
    assert (
        host / "sys/kernel/mm/transparent_hugepage/enabled"
    ).read_text() == "always madvise [never]\n"
    put(host, "proc/irq/38/effective_affinity_list", "0\n")  # the kernel follows the new mask
    report_v = api.verify(LATENCY, host, role=None, files=FaultyFiles())
    drift = {f.name for f in report_v.drift}
    assert drift == {
        "cmdline isolcpus",
        "cmdline rcu_nocbs",
        "irq 37 (eth0) effective affinity",
        "irq 39 (eth0) effective affinity",
    }
    put(host, "proc/irq/38/effective_affinity_list", "1\n")
    assert api.revert(host, files=FaultyFiles()).exit_code == 0
    assert snapshot(host) == before
    assert not (host / "etc/sysctl.d/60-sysprep.conf").exists()
    assert not (host / "var/lib/sysprep/originals.json").exists()


def test_apply_twice_then_revert_restores_the_pre_first_apply_values(host: Path) -> None:
    before = snapshot(host)
    api.apply(LATENCY, host, files=FaultyFiles())
    put(host, "proc/sys/vm/swappiness", "30\n")  # someone drifts it between applies
    second = api.apply(LATENCY, host, files=FaultyFiles())
    assert _result(second, "vm.swappiness") is Result.APPLIED
    assert _result(second, "net.core.rmem_max") is Result.OK
    api.revert(host, files=FaultyFiles())
    assert snapshot(host) == before  # swappiness back to 60, not 30


def test_eio_on_a_managed_irq_is_reported_and_does_not_fail_the_run(host: Path) -> None:
    files = FaultyFiles(write_errors={host / "proc/irq/38/smp_affinity_list": errno.EIO})
    report = api.apply(LATENCY, host, files=files)
    outcome = next(o for o in report.outcomes if o.name == "irq 38 (eth0) smp_affinity_list")
    assert outcome.result is Result.UNSUPPORTED
    assert "managed IRQ" in outcome.reason
    assert _result(report, "irq 37 (eth0) smp_affinity_list") is Result.APPLIED
    assert report.exit_code == 0


def test_a_read_only_proc_sys_fails_the_knob_and_the_run(host: Path) -> None:
    path = host / "proc/sys/net/core/busy_poll"
    report = api.apply(LATENCY, host, files=FaultyFiles(write_errors={path: errno.EROFS}))
    outcome = next(o for o in report.outcomes if o.name == "net.core.busy_poll")
    assert outcome.result is Result.FAILED
    assert "read-only file system" in outcome.reason
    assert _result(report, "net.core.busy_read") is Result.APPLIED
    assert report.exit_code == 1


def test_a_write_the_kernel_ignores_is_failed_never_applied(host: Path) -> None:
    path = host / "proc/sys/vm/stat_interval"
    report = api.apply(LATENCY, host, files=FaultyFiles(ignored={path}))
    outcome = next(o for o in report.outcomes if o.name == "vm.stat_interval")
    assert outcome.result is Result.FAILED
    assert "the kernel shows '1'" in outcome.reason
    assert report.exit_code == 1


def test_a_malformed_knob_is_an_error_in_plan_and_drift_in_verify(host: Path) -> None:
    put(host, "net.ipv4.tcp_wmem".replace(".", "/").join(["proc/sys/", ""]), "4096 lots\n")
    plan = api.plan(LATENCY, host)
    step = next(s for s in plan.steps if s.name == "net.ipv4.tcp_wmem")
    assert step.status is Status.ERROR
    assert "malformed" in step.reason
    assert plan.exit_code == 1
    report = api.verify(LATENCY, host, role=None, files=FaultyFiles())
    assert "net.ipv4.tcp_wmem" in {f.name for f in report.drift}


def test_an_unreadable_knob_is_drift_not_assumed_fine(host: Path) -> None:
    path = host / "proc/sys/vm/swappiness"
    report = api.verify(
        LATENCY, host, role=None, files=FaultyFiles(read_errors={path: errno.EACCES})
    )
    finding = next(f for f in report.findings if f.name == "vm.swappiness")
    assert finding.verdict is Verdict.DRIFT
    assert "Permission denied" in finding.reason


def test_an_absent_knob_is_unsupported_and_not_drift(host: Path) -> None:
    (host / "proc/sys/net/core/busy_poll").unlink()
    report = api.verify(LATENCY, host, role=None, files=FaultyFiles())
    finding = next(f for f in report.findings if f.name == "net.core.busy_poll")
    assert finding.verdict is Verdict.UNSUPPORTED


def test_verify_reports_a_sysctl_d_file_that_overrides_sysprep_at_boot(host: Path) -> None:
    put(host, "etc/sysctl.d/99-local.conf", "net.core.busy_poll = 0\nvm.swappiness=10\n")
    put(host, "etc/sysctl.d/10-early.conf", "net.core.busy_read = 0\n")  # applied before ours
    api.apply(LATENCY, host, files=FaultyFiles())
    report = api.verify(LATENCY, host, role=None, files=FaultyFiles())
    overrides = [f for f in report.drift if f.name.startswith("sysctl.d override")]
    assert [f.name for f in overrides] == ["sysctl.d override net.core.busy_poll"]
    assert "/etc/sysctl.d/99-local.conf" in overrides[0].reason
    api.revert(host, files=FaultyFiles())


def test_verify_checks_the_workload_affinity_against_the_trader_cpus(host: Path) -> None:
    mine = os.sched_getaffinity(0)
    report = api.verify(LATENCY, host, pid=os.getpid(), role="trader")
    finding = next(f for f in report.findings if "CPU affinity" in f.name)
    expected = Verdict.OK if mine <= {1} else Verdict.DRIFT
    assert finding.verdict is expected
    gone = api.verify(LATENCY, host, pid=2**22 + 7, role="trader", files=FaultyFiles())
    assert any("no process" in f.reason for f in gone.drift)


def test_active_swap_is_drift(tmp_path: Path) -> None:
    root = make_host(tmp_path / "r", swaps=("/dev/vdb",))
    report = api.verify(LATENCY, root, role=None, files=FaultyFiles())
    assert next(f for f in report.drift if f.name == "swap").current == "/dev/vdb"
    assert any("swapoff -a" in note for note in api.plan(LATENCY, root).manual)


def test_corrupt_saved_state_stops_revert_with_a_clear_error(host: Path) -> None:
    put(host, "var/lib/sysprep/originals.json", "{not json")
    with pytest.raises(StateError, match="corrupt"):
        api.revert(host, files=FaultyFiles())


def test_a_custom_state_dir_holds_the_originals(host: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    api.apply(LATENCY, host, state_dir=state, files=FaultyFiles())
    assert (state / "originals.json").exists()
    assert not (host / "var/lib/sysprep").exists()
    assert api.revert(host, state_dir=state, files=FaultyFiles()).exit_code == 0


def test_debians_sysctl_conf_link_is_read_once_and_inside_the_root(host: Path) -> None:
    put(host, "etc/sysctl.conf", "vm.swappiness = 60\n")
    os.symlink("/etc/sysctl.conf", host / "etc/sysctl.d/99-sysctl.conf")  # absolute, as Debian
    report = api.verify(LATENCY, host, role=None, files=FaultyFiles())
    overrides = [f for f in report.drift if f.name.startswith("sysctl.d override")]
    assert [f.name for f in overrides] == ["sysctl.d override vm.swappiness"]
    assert "/etc/sysctl.d/99-sysctl.conf" in overrides[0].reason


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    """A real process whose CPU affinity the test sets; it exits when its stdin closes."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 CPUs this process may use")
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        yield proc
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


def test_the_watchdog_can_check_the_traders_pinning_by_pid(
    host: Path, child: subprocess.Popen[bytes]
) -> None:
    os.sched_setaffinity(child.pid, {1})
    pinned = api.verify(LATENCY, host, pid=child.pid, role="trader", files=FaultyFiles())
    assert next(f for f in pinned.findings if "CPU affinity" in f.name).verdict is Verdict.OK
    os.sched_setaffinity(child.pid, {0, 1})
    loose = api.verify(LATENCY, host, pid=child.pid, role="trader", files=FaultyFiles())
    finding = next(f for f in loose.drift if "CPU affinity" in f.name)
    assert finding.current == "0-1"
    assert f"taskset -pc 1 {child.pid}" in finding.reason


def test_threads_allowed_on_several_isolated_cpus_get_an_advisory(
    tmp_path: Path, child: subprocess.Popen[bytes]
) -> None:
    root = make_host(tmp_path / "r", cpus=4, cmdline="isolcpus=2-3")
    text = '[profile]\nname="x"\n[cpus]\ntrader="2-3"\nwatchdog="1"\nhousekeeping="0"\n'
    os.sched_setaffinity(child.pid, {0, 1})  # stands in for a process on two isolated CPUs
    report = api.verify(
        parse_profile(text, "x.toml"), root, pid=child.pid, role="trader", files=FaultyFiles()
    )
    assert not any(f.verdict is Verdict.ADVISORY for f in report.findings)
    root2 = make_host(tmp_path / "r2", cpus=4, cmdline="isolcpus=0-3")
    report2 = api.verify(
        parse_profile(text, "x.toml"), root2, pid=child.pid, role="trader", files=FaultyFiles()
    )
    advisory = [f for f in report2.findings if f.verdict is Verdict.ADVISORY]
    assert [f.name for f in advisory] == [f"pid {child.pid} threads on isolated CPUs"]


def test_a_proc_without_sys_is_an_error_never_a_host_of_unsupported_sysctls(
    tmp_path: Path,
) -> None:
    """procfs mounted with subset=pid (systemd's ProcSubset=pid) hides /proc/sys, /proc/irq and
    /proc/cmdline: every sysctl would look absent, i.e. unsupported, i.e. fine."""
    root = make_host(tmp_path / "r")
    (root / "proc/self").mkdir()
    for path in sorted((root / "proc/sys").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (root / "proc/sys").rmdir()
    with pytest.raises(SysprepError, match=r"/proc/sys is not visible here \(subset=pid"):
        api.verify(LATENCY, root, role=None, files=FaultyFiles())
