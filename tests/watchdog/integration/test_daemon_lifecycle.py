"""The daemon as systemd and an operator see it: sd_notify, refusal to arm, clean exits, CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.procs import REPO
from harness.wait import wait_until
from harness.watchdog_world import Workspace


def _receive_all(sock: socket.socket) -> list[str]:
    messages = []
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except BlockingIOError:
            return messages


@pytest.mark.parametrize("abstract", [False, True])
def test_sd_notify_ready_then_watchdog_keepalives(workspace: Workspace, abstract: bool) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"@wd-notify-{os.getpid()}" if abstract else str(workspace.root / "notify.sock")
    notify.bind("\0" + name[1:] if abstract else name)
    notify.setblocking(False)
    env = {"NOTIFY_SOCKET": name, "WATCHDOG_USEC": "100000"}
    watchdog = workspace.start_watchdog(env=env)
    received: list[str] = []

    def keepalives() -> int:
        received.extend(_receive_all(notify))
        return sum(m == "WATCHDOG=1" for m in received)

    wait_until(lambda: keepalives() >= 5, what="five WATCHDOG=1")
    ready = [m for m in received if "READY=1" in m]
    assert len(ready) == 1
    assert "STATUS=" in ready[0]
    assert received.index(ready[0]) < received.index("WATCHDOG=1")
    watchdog.send_signal(signal.SIGTERM)
    assert watchdog.wait(timeout=20) == 0
    received.extend(_receive_all(notify))
    assert any("STOPPING=1" in m for m in received)


def test_a_stopped_event_loop_stops_the_keepalives(workspace: Workspace) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(workspace.root / "notify.sock"))
    notify.setblocking(False)
    env = {"NOTIFY_SOCKET": str(workspace.root / "notify.sock"), "WATCHDOG_USEC": "100000"}
    watchdog = workspace.start_watchdog(env=env)
    wait_until(lambda: "WATCHDOG=1" in _receive_all(notify), what="a keepalive")
    os.kill(watchdog.pid, signal.SIGSTOP)  # a hung watchdog: systemd must see silence
    _receive_all(notify)
    time.sleep(0.5)  # five keepalive periods of a hung process: nothing may arrive
    assert _receive_all(notify) == []
    os.kill(watchdog.pid, signal.SIGCONT)
    wait_until(lambda: "WATCHDOG=1" in _receive_all(notify), what="keepalives again")


def test_an_unwritable_state_file_refuses_to_arm(workspace: Workspace) -> None:
    (workspace.root / "state").write_text("a file where the state dir should be")
    result = subprocess.run(
        [sys.executable, "-m", "watchdog", "run", "--config", str(workspace.config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith(
        "watchdog: error: refusing to arm: state database"
    )
    assert "Traceback" not in result.stderr
    assert not workspace.control.exists()


def test_on_the_journal_a_refusal_to_arm_is_filed_as_critical(workspace: Workspace) -> None:
    # systemd connects stderr to journald and names that stream in JOURNAL_STREAM; a file
    # named the same way stands in for the journal's socket.
    (workspace.root / "state").write_text("a file where the state dir should be")
    journal = workspace.root / "journal.txt"
    with journal.open("w") as stderr:
        stat = os.fstat(stderr.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"}
        code = subprocess.run(
            [sys.executable, "-m", "watchdog", "run", "--config", str(workspace.config)],
            cwd=REPO,
            env=env,
            stderr=stderr,
            timeout=60,
            check=False,
        ).returncode
    assert code == 1
    lines = journal.read_text().splitlines()
    (refusal,) = [line for line in lines if '"event":"refusing_to_arm"' in line]
    assert refusal.startswith('<2>{"ts":')
    assert lines[-1].startswith("watchdog: error: refusing to arm")  # the CLI's own line


def test_a_metrics_port_in_use_refuses_to_arm(workspace: Workspace) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    workspace.config.write_text(workspace.config.read_text().replace("port = 0", f"port = {port}"))
    result = workspace.cli("run", "--config", str(workspace.config))
    taken.close()
    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert last.startswith(f"watchdog: error: refusing to arm: metrics endpoint 127.0.0.1:{port}")
    assert "Traceback" not in result.stderr


def test_a_second_watchdog_on_the_same_sockets_refuses_to_arm(workspace: Workspace) -> None:
    workspace.start_watchdog()
    result = workspace.cli("run", "--config", str(workspace.config))
    assert result.returncode == 1
    assert "another watchdog process holds its lock" in result.stderr.splitlines()[-1]
    assert workspace.trader()["id"] == "alpha"  # the first one still answers
    assert workspace.audit("kill_resumed") == []


def test_cli_errors_are_one_line_without_traceback(workspace: Workspace) -> None:
    absent = workspace.cli("status", "--socket", str(workspace.root / "nothing.sock"))
    assert absent.returncode == 1
    assert absent.stderr.startswith("watchdog: error: cannot reach the watchdog")
    assert len(absent.stderr.strip().splitlines()) == 1
    usage = workspace.cli("trip", "--trader", "alpha")
    assert usage.returncode == 2
    bad_config = workspace.cli("check-config", "--config", str(workspace.root / "nope.toml"))
    assert bad_config.returncode == 1
    assert "cannot read the config file" in bad_config.stderr
    workspace.start_watchdog()
    unknown = workspace.cli(
        "trip", "--socket", str(workspace.control), "--trader", "beta", "--reason", "x"
    )
    assert unknown.returncode == 1
    assert "unknown trader 'beta'" in unknown.stderr


def test_check_config_refuses_a_credential_file_that_does_not_exist(
    workspace: Workspace,
) -> None:
    typo = workspace.root / "alpha.credentail"
    workspace.config.write_text(
        workspace.config.read_text().replace('"alpha.credential"', '"alpha.credentail"')
    )
    check = workspace.cli("check-config", "--config", str(workspace.config))
    assert check.returncode == 1
    assert check.stderr.strip() == (
        f"watchdog: error: {workspace.config}: traders[0].credential_file: "
        f"{typo} does not exist (a kill could not revoke it)"
    )
    run = workspace.cli("run", "--config", str(workspace.config))
    assert run.returncode == 1
    assert "traders[0].credential_file" in run.stderr
    assert not typo.exists()


def test_check_config_and_run_refuse_a_control_socket_the_trader_could_use(
    workspace: Workspace,
) -> None:
    workspace.config.write_text('control_socket_mode = "0660"\n' + workspace.config.read_text())
    for command in ("check-config", "run"):
        result = workspace.cli(command, "--config", str(workspace.config))
        assert result.returncode == 1
        assert 'control_socket_mode: "0660" gives the control socket to group' in result.stderr
    assert not workspace.control.exists()


def test_cli_status_audit_and_check_config(workspace: Workspace) -> None:
    check = workspace.cli("check-config", "--config", str(workspace.config))
    assert check.returncode == 0
    assert "1 traders: alpha" in check.stdout
    workspace.start_watchdog()
    status = workspace.cli("status", "--socket", str(workspace.control))
    assert status.returncode == 3  # not every trader ACTIVE
    assert "alpha: HALTED" in status.stdout  # no telemetry yet: equity unknown
    as_json = workspace.cli("status", "--json", "--socket", str(workspace.control))
    assert '"state": "HALTED"' in as_json.stdout
    workspace.cli(
        "trip", "--socket", str(workspace.control), "--trader", "alpha", "--reason", "cli test"
    )
    audit = workspace.cli("audit", "--socket", str(workspace.control), "--since", "0")
    assert audit.returncode == 0
    assert " alpha trip " in audit.stdout
    assert " alpha kill_started " in audit.stdout
    future = workspace.cli("audit", "--socket", str(workspace.control), "--since", "2999-01-01")
    assert future.returncode == 0
    assert future.stdout == ""
    bad = workspace.cli("audit", "--socket", str(workspace.control), "--since", "yesterday")
    assert bad.returncode == 2
    assert "neither epoch seconds nor an ISO 8601 time" in bad.stderr


def test_the_control_socket_is_private_to_its_owner(workspace: Workspace) -> None:
    workspace.start_watchdog()
    assert Path(workspace.control).stat().st_mode & 0o777 == 0o600
