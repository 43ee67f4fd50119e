"""Knobs beyond sysctls and IRQs on a fake tree: CPU power, kernel noise, placement, NIC
queues and ethtool settings, boot checks, and telling irqbalance and systemd."""

from __future__ import annotations

import errno
import re
from dataclasses import replace
from pathlib import Path

import pytest

from harness.fakehost import FakeEthtool, FakeServices, FaultyFiles, make_host, put, snapshot
from sysprep import api
from sysprep.checks import Verdict
from sysprep.engine import Result, RunReport
from sysprep.errors import ProfileError
from sysprep.planning import Status, Step
from sysprep.profile import parse_profile
from sysprep.report import plan_text

LATENCY = api.load_profile("latency")
SYSTEMD_DROPIN = "etc/systemd/system.conf.d/60-sysprep-cpuaffinity.conf"


def _steps(root: Path, ethtool: FakeEthtool | None = None) -> dict[str, Step]:
    return {step.name: step for step in api.plan(LATENCY, root, ethtool=ethtool).steps}


def _outcome(report: RunReport, name: str) -> tuple[Result, str]:
    outcome = next(o for o in report.outcomes if o.name == name)
    return outcome.result, outcome.reason


def test_an_intel_host_plans_every_power_knob(tmp_path: Path) -> None:
    steps = _steps(make_host(tmp_path / "r", cpufreq=True, intel=True))
    assert steps["cpu1 energy_performance_preference"].target == "performance"
    assert steps["cpu0 energy_perf_bias"].target == "0"
    assert steps["intel_pstate min_perf_pct"].target == "100"
    assert steps["cpu turbo"].knob.path.endswith("intel_pstate/no_turbo")
    assert steps["cpu turbo"].target == "0"  # no_turbo = 0: turbo on
    assert steps["acpi platform_profile"].target == "performance"


def test_a_vm_reports_each_power_knob_unsupported_with_its_reason(tmp_path: Path) -> None:
    steps = _steps(make_host(tmp_path / "r"))
    for name, why in (
        ("cpu1 energy_performance_preference", "active mode only"),
        ("cpu1 energy_perf_bias", "not expose"),
        ("intel_pstate min_perf_pct", "no intel_pstate driver"),
        ("cpu turbo", "turbo is the firmware's"),
        ("acpi platform_profile", "no ACPI platform profile"),
    ):
        assert steps[name].status is Status.UNSUPPORTED, name
        assert why in steps[name].reason, name


def test_turbo_through_cpufreq_boost_is_written_the_other_way_round(tmp_path: Path) -> None:
    root = make_host(tmp_path / "r")
    put(root, "sys/devices/system/cpu/cpufreq/boost", "0\n")
    step = _steps(root)["cpu turbo"]
    assert (step.knob.path, step.target) == ("sys/devices/system/cpu/cpufreq/boost", "1")


def test_a_platform_profile_the_firmware_does_not_offer_is_unsupported(tmp_path: Path) -> None:
    root = make_host(tmp_path / "r", intel=True)
    put(root, "sys/firmware/acpi/platform_profile_choices", "low-power balanced\n")
    step = _steps(root)["acpi platform_profile"]
    assert step.status is Status.UNSUPPORTED
    assert step.reason == "the firmware offers low-power, balanced, not performance"


def test_kernel_noise_and_placement_knobs_keep_work_off_the_trader_cpu(tmp_path: Path) -> None:
    steps = _steps(make_host(tmp_path / "r"))
    assert steps["ksm run"].target == "0"
    assert steps["workqueue cpumask"].target == "1"  # housekeeping CPU 0 as a hex mask
    assert steps["writeback workqueue cpumask"].target == "1"
    assert steps["kernel.soft_watchdog"].target == "0"
    assert steps["vm.dirty_background_ratio"].target == "3"
    dropin = steps["systemd CPUAffinity"]
    assert dropin.status is Status.CHANGE
    assert "CPUAffinity=0\n" in (dropin.target or "")


def test_rps_and_xps_masks_are_planned_per_queue_and_the_empty_mask_is_fine(
    tmp_path: Path,
) -> None:
    steps = _steps(make_host(tmp_path / "r"))
    assert steps["eth0 rx-0 rps_cpus"].target == "1"  # 0-1 without the trader CPU 1
    assert steps["eth0 rx-1 rps_cpus"].status is Status.OK  # no RPS at all
    assert steps["eth0 tx-0 xps_cpus"].status is Status.OK  # CPU 0 only
    assert steps["eth0 tx-1 xps_cpus"].target == "0"


def test_ethtool_settings_are_planned_from_the_driver_and_max_is_its_maximum(
    tmp_path: Path,
) -> None:
    steps = _steps(make_host(tmp_path / "r"), ethtool=FakeEthtool())
    assert steps["eth0 coalesce adaptive-rx"].target == "off"
    assert steps["eth0 coalesce rx-usecs"].target == "0"
    assert steps["eth0 rings rx"].target == "4096"


def test_a_driver_without_coalescing_is_unsupported_and_never_called_to_set(
    tmp_path: Path,
) -> None:
    ethtool = FakeEthtool(unsupported=frozenset({"eth0"}))
    report = api.apply(LATENCY, make_host(tmp_path / "r"), files=FaultyFiles(), ethtool=ethtool)
    result, reason = _outcome(report, "eth0 coalesce rx-usecs")
    assert result is Result.UNSUPPORTED
    assert reason == "the driver of eth0 cannot report coalesce"
    assert ethtool.sets == []


def test_an_ethtool_that_fails_is_an_error_in_plan_and_drift_in_verify(tmp_path: Path) -> None:
    root = make_host(tmp_path / "r")
    ethtool = FakeEthtool(failing=frozenset({"eth0"}))
    step = _steps(root, ethtool)["eth0 coalesce rx-usecs"]
    assert step.status is Status.ERROR
    assert "Input/output error" in step.reason
    report = api.verify(LATENCY, root, role=None, files=FaultyFiles(), ethtool=ethtool)
    assert "eth0 rings rx" in {f.name for f in report.drift}


def test_a_fake_tree_never_runs_the_real_ethtool(tmp_path: Path) -> None:
    step = _steps(make_host(tmp_path / "r"))["eth0 rings rx"]
    assert step.status is Status.UNSUPPORTED
    assert "only consulted for the real root" in step.reason


def test_a_setting_the_driver_keeps_is_failed_not_applied(tmp_path: Path) -> None:
    ethtool = FakeEthtool(clamped=frozenset({"rx-usecs"}))
    report = api.apply(LATENCY, make_host(tmp_path / "r"), files=FaultyFiles(), ethtool=ethtool)
    result, reason = _outcome(report, "eth0 coalesce rx-usecs")
    assert result is Result.FAILED
    assert "but the kernel shows '8'" in reason
    assert report.exit_code == 1


def test_the_round_trip_restores_every_new_knob_and_ethtool_setting(tmp_path: Path) -> None:
    root = make_host(tmp_path / "r", cpufreq=True, intel=True)
    ethtool = FakeEthtool()
    files_before, nic_before = snapshot(root), {k: dict(v) for k, v in ethtool.settings.items()}
    applied = api.apply(LATENCY, root, files=FaultyFiles(), ethtool=ethtool)
    assert applied.exit_code == 0, [o for o in applied.outcomes if o.result is Result.FAILED]
    for name in (
        "cpu1 energy_performance_preference",
        "cpu1 energy_perf_bias",
        "intel_pstate min_perf_pct",
        "cpu turbo",
        "acpi platform_profile",
        "ksm run",
        "workqueue cpumask",
        "writeback workqueue cpumask",
        "kernel.nmi_watchdog",
        "eth0 rx-0 rps_cpus",
        "eth0 tx-1 xps_cpus",
        "eth0 coalesce adaptive-rx",
        "eth0 rings rx",
        "systemd CPUAffinity",
    ):
        assert _outcome(applied, name)[0] is Result.APPLIED, name
    assert (root / "sys/devices/system/cpu/intel_pstate/no_turbo").read_text() == "0\n"
    assert ethtool.settings["eth0", "rings"]["rx"] == "4096"
    assert (root / SYSTEMD_DROPIN).read_text().endswith("[Manager]\nCPUAffinity=0\n")
    report = api.verify(LATENCY, root, role=None, files=FaultyFiles(), ethtool=ethtool)
    assert not any(f.name.startswith(("eth0", "cpu1 energy", "ksm")) for f in report.drift)
    reverted = api.revert(root, files=FaultyFiles(), ethtool=ethtool)
    assert reverted.exit_code == 0
    assert snapshot(root) == files_before
    assert ethtool.settings == nic_before
    assert ("eth0", "rings", "rx", "256") in ethtool.sets


def test_a_running_irqbalance_is_restarted_after_apply_and_after_revert(tmp_path: Path) -> None:
    root = make_host(tmp_path / "r")
    services = FakeServices(running={"irqbalance"})
    applied = api.apply(LATENCY, root, files=FaultyFiles(), services=services)
    assert _outcome(applied, "irqbalance restart")[0] is Result.APPLIED
    assert services.restarts == ["irqbalance"]
    again = api.apply(LATENCY, root, files=FaultyFiles(), services=services)
    assert "irqbalance restart" not in {o.name for o in again.outcomes}  # list unchanged
    api.revert(root, files=FaultyFiles(), services=services)
    assert services.restarts == ["irqbalance", "irqbalance"]


def test_an_irqbalance_that_is_not_running_is_left_alone(tmp_path: Path) -> None:
    services = FakeServices(running=set())
    report = api.apply(LATENCY, make_host(tmp_path / "r"), files=FaultyFiles(), services=services)
    assert _outcome(report, "irqbalance restart") == (Result.OK, "irqbalance is not running")
    assert services.restarts == []


def test_an_irqbalance_that_cannot_be_restarted_fails_the_apply(tmp_path: Path) -> None:
    services = FakeServices(running={"irqbalance"}, broken={"irqbalance"})
    report = api.apply(LATENCY, make_host(tmp_path / "r"), files=FaultyFiles(), services=services)
    result, reason = _outcome(report, "irqbalance restart")
    assert result is Result.FAILED
    assert "unit is masked" in reason
    assert report.exit_code == 1


def _findings(root: Path, services: FakeServices) -> dict[str, tuple[Verdict, str]]:
    report = api.verify(LATENCY, root, role=None, files=FaultyFiles(), services=services)
    return {f.name: (f.verdict, f.reason) for f in report.findings}


def test_verify_reports_an_irqbalance_that_has_not_read_its_new_banned_list(
    tmp_path: Path,
) -> None:
    root = make_host(tmp_path / "r")
    services = FakeServices(running={"irqbalance"})
    api.apply(LATENCY, root, files=FaultyFiles(), services=FakeServices(running=set()))
    verdict, reason = _findings(root, services)["irqbalance banned CPUs in effect"]
    assert verdict is Verdict.DRIFT
    assert "started before /etc/default/irqbalance (its banned CPU list) last changed" in reason
    services.restart("irqbalance")
    assert _findings(root, services)["irqbalance banned CPUs in effect"][0] is Verdict.OK
    idle = _findings(root, FakeServices(running=set()))
    assert idle["irqbalance banned CPUs in effect"][0] is Verdict.OK


def test_apply_says_how_systemd_comes_to_read_its_new_cpu_affinity(tmp_path: Path) -> None:
    root = make_host(tmp_path / "r")
    note = "systemd reads CPUAffinity= when it starts: reboot, or run `systemctl daemon-reexec`"
    assert note in api.apply(LATENCY, root, files=FaultyFiles()).notes
    assert note not in api.apply(LATENCY, root, files=FaultyFiles()).notes  # nothing changed
    assert note in api.revert(root, files=FaultyFiles()).notes


def test_verify_says_when_systemd_has_not_read_its_cpu_affinity_yet(tmp_path: Path) -> None:
    root = make_host(tmp_path / "r")
    before = _findings(root, FakeServices(set(), manager=frozenset({0, 1})))
    assert before["systemd manager CPU affinity"] == (
        Verdict.ADVISORY,
        "takes effect at the next boot or after `systemctl daemon-reexec`",
    )
    after = _findings(root, FakeServices(set(), manager=frozenset({0})))
    assert after["systemd manager CPU affinity"][0] is Verdict.OK
    other = _findings(root, FakeServices(set(), manager=None))
    assert other["systemd manager CPU affinity"] == (Verdict.UNSUPPORTED, "PID 1 is not systemd")


def test_a_sandbox_that_hides_other_processes_advises_and_never_says_ok(
    tmp_path: Path,
) -> None:
    """The trader's unit hides other users' processes: its start-up verify cannot see
    irqbalance or PID 1. Not ok, and not drift that would keep a healthy trader from starting
    (where the IRQs really go is still checked)."""
    root = make_host(tmp_path / "r")
    found = _findings(root, FakeServices(running={"irqbalance"}, hidden=True))
    for name in ("irqbalance banned CPUs in effect", "systemd manager CPU affinity"):
        verdict, reason = found[name]
        assert verdict is Verdict.ADVISORY, name
        assert "cannot tell: other users' processes are hidden here" in reason, name


def _boot(root: Path, required: bool = False) -> dict[str, tuple[Verdict, str]]:
    """Verify with the built-in profile, its [boot] checks required or not (as it ships)."""
    profile = LATENCY
    if required:
        assert profile.boot is not None
        profile = replace(profile, boot=replace(profile.boot, required=True))
    report = api.verify(profile, root, role=None, files=FaultyFiles())
    return {f.name: (f.verdict, f.reason) for f in report.findings}


def test_boot_parameters_present_on_the_command_line_are_ok(tmp_path: Path) -> None:
    root = make_host(tmp_path / "r", cmdline="quiet skew_tick=1 tsc=reliable nosoftlockup")
    found = _boot(root)
    for param in ("skew_tick=1", "tsc=reliable", "nosoftlockup"):
        assert found[f"cmdline {param}"][0] is Verdict.OK


def test_missing_boot_parameters_advise_and_drift_only_when_required(tmp_path: Path) -> None:
    root = make_host(tmp_path / "r", cmdline="quiet skew_tick=0")
    verdict, reason = _boot(root)["cmdline skew_tick=1"]
    assert verdict is Verdict.ADVISORY
    assert reason == "add `skew_tick=1` to the kernel command line, reboot"
    assert _boot(root, required=True)["cmdline skew_tick=1"][0] is Verdict.DRIFT


def test_a_clocksource_other_than_tsc_is_named(tmp_path: Path) -> None:
    verdict, reason = _boot(make_host(tmp_path / "r"))["clocksource"]
    assert verdict is Verdict.ADVISORY
    assert "reads time from kvm-clock (available: kvm-clock tsc acpi_pm)" in reason
    root = make_host(tmp_path / "r2")
    put(root, "sys/devices/system/clocksource/clocksource0/current_clocksource", "tsc\n")
    assert _boot(root)["clocksource"][0] is Verdict.OK


def test_an_unreadable_clocksource_is_never_ok(tmp_path: Path) -> None:
    root = make_host(tmp_path / "r")
    (root / "sys/devices/system/clocksource/clocksource0/current_clocksource").unlink()
    verdict, reason = _boot(root, required=True)["clocksource"]
    assert verdict is Verdict.DRIFT
    assert "cannot read" in reason


def test_smt_a_trader_cpu_sharing_a_core_with_housekeeping_is_reported(tmp_path: Path) -> None:
    shared = make_host(tmp_path / "r", smt="on")  # CPUs 0 and 1 are siblings: 0 housekeeping
    verdict, reason = _boot(shared)["smt"]
    assert verdict is Verdict.ADVISORY
    assert "cpu1 with 0" in reason
    four = make_host(tmp_path / "r4", cpus=4, smt="on")
    text = '[profile]\nname="x"\n[cpus]\ntrader="2-3"\nwatchdog="1"\nhousekeeping="0"\n'
    text += '[boot]\nsmt="idle-sibling"\nrequired=true\n'
    report = api.verify(parse_profile(text, "x.toml"), four, role=None, files=FaultyFiles())
    smt = next(f for f in report.findings if f.name == "smt")
    assert smt.verdict is Verdict.OK  # siblings 2-3 are both the trader's
    assert _boot(make_host(tmp_path / "r0", smt="off"))["smt"][0] is Verdict.OK


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[power]\nturbo = true\n", "power.turbo: expected a string, got a boolean"),
        ('[power]\nturbo = "max"\n', "power.turbo: must be one of on, off, got 'max'"),
        (
            "[power]\nenergy_perf_bias = 16\n",
            "power.energy_perf_bias: must be >= 0 and <= 15, got 16",
        ),
        ('[power]\nplatform_profile = "Perf Mode"\n', "power.platform_profile: expected a"),
        ('[nic]\ncoalesce = { rx-usecs = "fast" }\n', "nic.coalesce.rx-usecs: expected"),
        ("[nic]\nrings = { rx = -1 }\n", 'nic.rings.rx: expected an integer >= 0 or "max"'),
        ("[nic]\nrps = true\n", "nic.rps: unknown key"),
        ('[boot]\nparams = ["skew tick"]\n', "boot.params: expected a list of words"),
        (
            '[boot]\nsmt = "sometimes"\n',
            "boot.smt: must be one of off, idle-sibling, any, got 'sometimes'",
        ),
        ('[memory]\nksm = "on"\n', "memory.ksm: must be one of off, got 'on'"),
        (
            "[placement]\nworkqueues = 1\n",
            "placement.workqueues: expected a boolean, got an integer",
        ),
    ],
)
def test_new_profile_tables_are_strict(table: str, message: str) -> None:
    with pytest.raises(ProfileError, match=re.escape(message)):
        parse_profile('[profile]\nname = "t"\n' + table, "t.toml")


def _dirs(root: Path) -> set[str]:
    return {
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir() and "var" not in p.parts
    }


def test_revert_removes_the_directory_apply_created_for_a_drop_in(tmp_path: Path) -> None:
    root = make_host(tmp_path / "r")
    before = _dirs(root)
    api.apply(LATENCY, root, files=FaultyFiles())
    assert (root / SYSTEMD_DROPIN).exists()
    assert api.revert(root, files=FaultyFiles()).exit_code == 0
    assert _dirs(root) == before


def test_revert_keeps_a_created_directory_someone_else_put_a_file_in(tmp_path: Path) -> None:
    root = make_host(tmp_path / "r")
    api.apply(LATENCY, root, files=FaultyFiles())
    put(root, "etc/systemd/system.conf.d/10-local.conf", "[Manager]\n")
    report = api.revert(root, files=FaultyFiles())
    assert report.exit_code == 0
    assert (root / "etc/systemd/system.conf.d/10-local.conf").exists()
    assert not (root / SYSTEMD_DROPIN).exists()


def test_a_planned_mask_change_is_shown_as_cpu_lists_not_hex(tmp_path: Path) -> None:
    lines = plan_text(api.plan(LATENCY, make_host(tmp_path / "r"))).splitlines()
    assert "eth0 rx-0 rps_cpus: 0-1 -> 0" in lines
    assert "workqueue cpumask: 0-1 -> 0" in lines


def test_a_host_that_limits_dirty_pages_in_bytes_keeps_its_limit(tmp_path: Path) -> None:
    """Writing vm.dirty_ratio zeroes vm.dirty_bytes; revert would then write the ratio's
    original 0 back, leaving both at 0. A byte limit the host set is left alone."""
    root = make_host(tmp_path / "r")
    put(root, "proc/sys/vm/dirty_bytes", "268435456\n")
    put(root, "proc/sys/vm/dirty_ratio", "0\n")
    files = FaultyFiles()
    report = api.apply(LATENCY, root, files=files)
    result, reason = _outcome(report, "vm.dirty_ratio")
    assert result is Result.UNSUPPORTED
    assert reason == (
        "vm.dirty_bytes = 268435456 on this host: a ratio would replace that limit, "
        "and revert could not bring it back"
    )
    assert root / "proc/sys/vm/dirty_ratio" not in {path for path, _ in files.writes}
    assert _outcome(report, "vm.dirty_background_ratio")[0] is Result.APPLIED  # no byte limit


def test_an_unreadable_byte_limit_is_never_assumed_to_be_unset(tmp_path: Path) -> None:
    root = make_host(tmp_path / "r")
    put(root, "proc/sys/vm/dirty_background_bytes", "0\n")
    files = FaultyFiles(read_errors={root / "proc/sys/vm/dirty_background_bytes": errno.EACCES})
    step = next(
        s
        for s in api.plan(LATENCY, root, files=files).steps
        if s.name == "vm.dirty_background_ratio"
    )
    assert step.status is Status.UNSUPPORTED
    assert step.reason.startswith("cannot read vm.dirty_background_bytes")
