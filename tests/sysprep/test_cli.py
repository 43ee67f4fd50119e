"""The CLI on a fake tree: output lines, exit codes, JSON, and errors without tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from harness.fakehost import make_host, put, snapshot
from tests.sysprep.helpers import (
    PROFILES,
    assert_one_line_error,
    competing,
    need_root_and,
    run_cli,
)

PROFILE = str(PROFILES / "fake-host.toml")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    tree = make_host(tmp_path / "root")
    for irq in (37, 38, 39):  # plain files cannot follow smp_affinity_list as the kernel does
        put(tree, f"proc/irq/{irq}/effective_affinity_list", "0\n")
    return tree


def test_plan_lists_each_knob_and_exits_2_when_changes_are_pending(root: Path) -> None:
    result = run_cli("plan", "--profile", PROFILE, "--root", str(root))
    assert result.returncode == 2, result.stderr
    lines = result.stdout.splitlines()
    assert "net.core.rmem_max: 212992 -> 16777216" in lines
    assert "irq 38 (eth0) smp_affinity_list: 0-1 -> 0" in lines
    assert any(
        line.startswith("net.ipv4.tcp_nodelay: unsupported (does not exist") for line in lines
    )
    assert lines[-1] == "plan: 9 to change, 0 ok, 1 unsupported, 0 failed"


def test_apply_then_plan_exits_0_and_revert_restores(root: Path) -> None:
    before = snapshot(root)
    applied = run_cli("apply", "--profile", PROFILE, "--root", str(root))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "net.core.busy_poll: applied (0 -> 50)" in applied.stdout.splitlines()
    again = run_cli("plan", "--profile", PROFILE, "--root", str(root), "--json")
    data = json.loads(again.stdout)
    assert again.returncode == 0
    assert data["exit_code"] == 0
    assert {s["status"] for s in data["steps"]} == {"ok", "unsupported"}
    verify = run_cli("verify", "--profile", PROFILE, "--root", str(root))
    assert verify.returncode == 0
    assert verify.stdout.splitlines()[-1] == "verify: ok"
    reverted = run_cli("revert", "--root", str(root))
    assert reverted.returncode == 0, reverted.stdout
    assert _words(snapshot(root)) == _words(before)  # plain files: no kernel formatting


def _words(files: dict[str, str]) -> dict[str, list[str]]:
    return {name: text.split() for name, text in files.items()}


def test_verify_exits_1_naming_the_drifted_knob(root: Path) -> None:
    run_cli("apply", "--profile", PROFILE, "--root", str(root))
    put(root, "proc/sys/net/core/busy_poll", "0\n")
    result = run_cli("verify", "--profile", PROFILE, "--root", str(root), "--json")
    data = json.loads(result.stdout)
    assert result.returncode == 1
    assert data["ok"] is False
    assert [f["name"] for f in data["findings"] if f["verdict"] == "drift"] == [
        "net.core.busy_poll"
    ]
    run_cli("revert", "--root", str(root))


def test_verify_for_a_pid_checks_its_affinity(root: Path) -> None:
    result = run_cli(
        "verify", "--profile", PROFILE, "--root", str(root), "--for", "watchdog", "--pid", "1"
    )
    assert "pid 1 CPU affinity (watchdog)" in result.stdout
    assert result.returncode == 1  # the plan is pending too


def test_a_profile_naming_a_missing_cpu_is_a_one_line_error(root: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[profile]\nname="bad"\n[cpus]\ntrader="2"\nwatchdog="0"\nhousekeeping="0"\n')
    result = run_cli("plan", "--profile", str(bad), "--root", str(root))
    assert result.returncode == 1
    assert_one_line_error(result, "cpus.trader: names CPU 2, but this host has CPUs 0-1")


def test_an_unknown_profile_is_a_one_line_error(root: Path) -> None:
    result = run_cli("apply", "--profile", "nonesuch", "--root", str(root))
    assert result.returncode == 1
    assert_one_line_error(result, "nonesuch: no such profile file")


def test_a_root_without_cpus_is_a_one_line_error(tmp_path: Path) -> None:
    result = run_cli("plan", "--root", str(tmp_path))
    assert result.returncode == 1
    assert_one_line_error(result, "cannot tell which CPUs are online")


def test_corrupt_state_is_a_one_line_error(root: Path) -> None:
    put(root, "var/lib/sysprep/originals.json", "[]")
    result = run_cli("revert", "--root", str(root))
    assert result.returncode == 1
    assert_one_line_error(result, "corrupt")


def test_bad_arguments_are_usage_errors() -> None:
    assert run_cli("frobnicate").returncode == 2
    assert run_cli("verify", "--for", "nobody").returncode == 2


# A new user namespace without a uid map makes this process "nobody" (65534) with no
# capabilities on the host, while it can still read this checkout.
NOT_ROOT = ("unshare", "--user")


def test_apply_as_a_normal_user_says_it_needs_root() -> None:
    need_root_and("unshare")
    result = run_cli("apply", prefix=NOT_ROOT)
    assert result.returncode == 1
    assert_one_line_error(result, "needs root (running as uid 65534)")


def test_revert_as_a_normal_user_says_it_needs_root() -> None:
    need_root_and("unshare")
    result = run_cli("revert", prefix=NOT_ROOT)
    assert result.returncode == 1
    assert_one_line_error(result, "needs root")


def test_plan_as_a_normal_user_reads_without_error() -> None:
    need_root_and("unshare")
    result = run_cli("plan", "--json", prefix=NOT_ROOT)
    assert result.returncode in (0, 2), result.stderr
    assert json.loads(result.stdout)["command"] == "plan"


def test_a_read_only_tree_fails_every_write_and_never_says_applied(
    root: Path, tmp_path: Path
) -> None:
    need_root_and("unshare", "mount")
    state = tmp_path / "state"
    script = f'mount --bind -o ro "{root}" "{root}" && exec "$0" "$@"'
    in_a_mount_namespace = ("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
    result = apply_with_state(root, state, prefix=in_a_mount_namespace)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "net.core.rmem_max: failed (read-only file system: /proc/sys/net/core/rmem_max)" in lines
    assert not any(": applied" in line for line in lines)
    assert "Traceback" not in result.stderr
    assert os.path.exists(state / "originals.json")  # saved before the first write


def apply_with_state(
    root: Path, state: Path, *extra: str, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """`sysprep apply` of the test profile on the fake host, its originals kept in `state`."""
    args = ("--profile", PROFILE, "--root", str(root), "--state-dir", str(state), *extra)
    return run_cli("apply", *args, prefix=prefix)


def _cpu() -> int:
    return max(os.sched_getaffinity(0))


def test_probe_json_has_the_figures_with_their_units() -> None:
    result = run_cli("probe", "--cpu", str(_cpu()), "--seconds", "0.2", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["cpu"] == _cpu()
    for key in ("gaps_per_s", "gap_p50_us", "gap_p99_us", "gap_max_us", "loop_floor_ns"):
        assert data[key] >= 0, key
    assert isinstance(data["interrupts"], dict)
    assert isinstance(data["tasks"], list)


def test_probe_defaults_to_the_profiles_trader_cpu(root: Path) -> None:
    if 1 not in os.sched_getaffinity(0):
        pytest.skip("needs CPU 1, the fake host's trader CPU")
    result = run_cli("probe", "--profile", PROFILE, "--root", str(root), "--seconds", "0.1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("probe cpu1: ")


def test_probe_with_bad_arguments_is_a_usage_error() -> None:
    assert run_cli("probe", "--seconds", "0").returncode == 2
    assert run_cli("probe", "--threshold-us", "x").returncode == 2


def test_apply_with_probe_records_a_probe_before_and_after(root: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = apply_with_state(root, state, "--probe", "--probe-seconds", "0.1", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert set(data["probe"]) == {"before", "after"}
    before = json.loads((state / "probe-before.json").read_text())
    assert before == data["probe"]["before"]
    assert json.loads((state / "probe-after.json").read_text())["cpu"] == 1
    assert run_cli("revert", "--root", str(root), "--state-dir", str(state)).returncode == 0


def test_verify_against_a_baseline_passes_when_as_quiet_and_drifts_when_noisier(
    root: Path, tmp_path: Path
) -> None:
    run_cli("apply", "--profile", PROFILE, "--root", str(root))
    baseline = tmp_path / "baseline.json"
    figures = {"cpu": _cpu(), "seconds": 0.5, "threshold_us": 50.0, "gap_max_us": 1e9}
    baseline.write_text(json.dumps(dict(figures, gaps_per_s=1e6, gap_p99_us=1e9)))
    args = ("verify", "--profile", PROFILE, "--root", str(root), "--baseline", str(baseline))
    quiet = run_cli(*args, "--json")
    assert quiet.returncode == 0, quiet.stdout
    assert json.loads(quiet.stdout)["probe"]["cpu"] == _cpu()
    # A baseline of a silent CPU, and a task that never sleeps pinned there now.
    baseline.write_text(json.dumps(dict(figures, gaps_per_s=0.0, gap_p99_us=0.0)))
    with competing(_cpu()):
        noisy = run_cli(*args)
    assert noisy.returncode == 1, noisy.stdout
    assert f"probe cpu{_cpu()} gap_p99_us: drift" in noisy.stdout
    run_cli("revert", "--root", str(root))


def test_a_malformed_baseline_is_a_one_line_error_naming_file_and_key(
    root: Path, tmp_path: Path
) -> None:
    baseline = tmp_path / "baseline.json"
    baseline.write_text('{"cpu": 1, "seconds": 1}')
    result = run_cli("verify", "--root", str(root), "--baseline", str(baseline))
    assert result.returncode == 1
    assert_one_line_error(result, f"{baseline}: threshold_us: missing")
    missing = run_cli("verify", "--root", str(root), "--baseline", str(tmp_path / "nope.json"))
    assert_one_line_error(missing, "cannot read the baseline")


def test_verify_where_proc_shows_only_processes_is_a_one_line_error() -> None:
    """As in a unit with ProcSubset=pid: sysprep must not read the hidden knobs as absent."""
    need_root_and("unshare", "mount")
    script = 'mount -t proc -o subset=pid proc /proc && exec "$0" "$@"'
    result = run_cli(
        "verify",
        prefix=("unshare", "--mount", "--pid", "--fork", "--propagation", "private", "sh", "-c",
                script),
    )  # fmt: skip
    assert result.returncode == 1, result.stdout
    assert_one_line_error(result, "/proc/sys is not visible here")


def test_check_config_accepts_a_valid_profile() -> None:
    result = run_cli("check-config", "--profile", PROFILE, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True


def test_check_config_names_what_is_wrong_in_a_profile(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(Path(PROFILE).read_text() + "\nspeed = 11\n")
    result = run_cli("check-config", "--profile", str(bad))
    assert result.returncode == 1
    assert_one_line_error(result, "speed")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["probe", "--cpu", "0", "--seconds", "inf"], "argument --seconds: must be a finite"),
        (["probe", "--cpu", "0", "--threshold-us", "inf"], "argument --threshold-us: must be"),
        (["verify", "--pid", "-1"], "argument --pid: a process id is 1 or more, not -1"),
        (["verify", "--pid", "0"], "argument --pid: a process id is 1 or more, not 0"),
    ],
)
def test_an_argument_out_of_range_is_a_usage_error_naming_it(args: list[str], named: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert_one_line_error(result, named)
