"""The local kill actions against real processes and real files."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.watchdog.daemon import fake_systemctl
from watchdog.daemon.config import ProcessTarget
from watchdog.daemon.errors import KillStepError
from watchdog.daemon.kill.actions.credential import MARKER, RevokeCredential
from watchdog.daemon.kill.actions.process import StopProcess, StopUnit
from watchdog.daemon.liveness import ProcessWatch

IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(600)"
)


@pytest.fixture
async def sleeper() -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec("sleep", "600")
    yield process
    if process.returncode is None:
        process.kill()
        await process.wait()


async def _watched(pid: int, exits: list[int]) -> ProcessWatch:
    watch = ProcessWatch(ProcessTarget(pid=pid), exits.append)
    watch.observe_sender(pid)  # as the ingress reports the trader's datagrams from it
    assert await watch.attach() == pid
    return watch


async def test_stop_process_ends_a_process_with_sigterm(
    sleeper: asyncio.subprocess.Process,
) -> None:
    exits: list[int] = []
    action = StopProcess(await _watched(sleeper.pid, exits), grace_s=5.0)
    detail = await action.attempt()
    assert detail == f"pid {sleeper.pid} exited after SIGTERM"
    assert await action.verify()
    assert await sleeper.wait() == -signal.SIGTERM


async def test_stop_process_escalates_to_sigkill_after_the_grace() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", IGNORES_SIGTERM, stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    assert (await process.stdout.readline()).strip() == b"ready"
    action = StopProcess(await _watched(process.pid, []), grace_s=0.2)
    assert "killed by SIGKILL" in await action.attempt()
    assert await action.verify()
    assert await process.wait() == -signal.SIGKILL


async def test_stop_process_ends_a_stopped_process(sleeper: asyncio.subprocess.Process) -> None:
    os.kill(sleeper.pid, signal.SIGSTOP)
    action = StopProcess(await _watched(sleeper.pid, []), grace_s=5.0)
    assert "exited after SIGTERM" in await action.attempt()  # SIGCONT let it see SIGTERM
    assert await sleeper.wait() == -signal.SIGTERM


async def test_stop_process_without_a_known_process_fails_and_never_verifies(
    tmp_path: Path,
) -> None:
    # "No process running" is a guess when nothing says which process is the trader.
    watch = ProcessWatch(ProcessTarget(pidfile=tmp_path / "absent.pid"), lambda pid: None)
    action = StopProcess(watch, grace_s=1.0)
    with pytest.raises(KillStepError, match=r"trader process unknown, nothing signalled: .*"):
        await action.attempt()
    assert not await action.verify()


async def test_stop_process_with_a_garbage_pidfile_fails_and_never_verifies(
    tmp_path: Path,
) -> None:
    pidfile = tmp_path / "trader.pid"
    pidfile.write_text("not-a-pid\n")
    watch = ProcessWatch(ProcessTarget(pidfile=pidfile), lambda pid: None)
    watch.observe_sender(os.getpid())
    action = StopProcess(watch, grace_s=1.0)
    with pytest.raises(KillStepError, match="holds no pid: 'not-a-pid'"):
        await action.attempt()
    assert not await action.verify()


async def test_a_pidfile_naming_an_unrelated_process_never_gets_it_signalled(
    sleeper: asyncio.subprocess.Process, tmp_path: Path
) -> None:
    # The trader's telemetry comes from another process: the pid file's one is a bystander.
    pidfile = tmp_path / "trader.pid"
    pidfile.write_text(f"{sleeper.pid}\n")
    trader = await asyncio.create_subprocess_exec("sleep", "600")
    try:
        watch = ProcessWatch(ProcessTarget(pidfile=pidfile), lambda pid: None)
        watch.observe_sender(trader.pid)
        action = StopProcess(watch, grace_s=0.2)
        with pytest.raises(KillStepError, match=f"not the trader: .* from pid {trader.pid}"):
            await action.attempt()
        assert not await action.verify()
        assert sleeper.returncode is None
        assert trader.returncode is None
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(sleeper.wait(), 0.3)  # the bystander is still running
    finally:
        trader.kill()
        await trader.wait()


async def test_stop_process_stops_the_process_the_telemetry_ties_to_the_pidfile(
    sleeper: asyncio.subprocess.Process, tmp_path: Path
) -> None:
    pidfile = tmp_path / "trader.pid"
    pidfile.write_text(f"{sleeper.pid}\n")
    watch = ProcessWatch(ProcessTarget(pidfile=pidfile), lambda pid: None)
    watch.observe_sender(sleeper.pid)
    action = StopProcess(watch, grace_s=5.0)
    assert not await action.verify()  # not stopped yet
    assert await action.attempt() == f"pid {sleeper.pid} exited after SIGTERM"
    assert await action.verify()
    assert await sleeper.wait() == -signal.SIGTERM
    assert "has exited" in await action.attempt()  # idempotent: its exit was observed


async def test_a_trader_stopped_by_hand_and_then_named_is_seen_stopped(
    tmp_path: Path,
) -> None:
    # Stopped by hand before the kill ran: its pid names no process any more, and a pid is
    # reused only once its process is gone.
    trader = await asyncio.create_subprocess_exec("sleep", "600")
    pidfile = tmp_path / "trader.pid"
    pidfile.write_text("garbage\n")
    watch = ProcessWatch(ProcessTarget(pidfile=pidfile), lambda pid: None)
    watch.observe_sender(trader.pid)
    assert f"telemetry comes from pid {trader.pid}" in watch.identity.reason
    trader.kill()  # the operator stops it, then names it in the pid file
    await trader.wait()
    pidfile.write_text(f"{trader.pid}\n")
    action = StopProcess(watch, grace_s=1.0)
    assert await action.attempt() == f"pid {trader.pid} (sender_pid) has exited"
    assert await action.verify()


async def test_stop_unit_stops_the_unit_through_systemctl(
    sleeper: asyncio.subprocess.Process, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    systemctl = fake_systemctl.install(tmp_path, monkeypatch)
    systemctl.run_unit(sleeper.pid)
    watch = ProcessWatch(ProcessTarget(unit="trader.service"), lambda pid: None)
    assert await watch.attach() == sleeper.pid
    action = StopUnit("trader.service", watch, 10.0)
    assert not await action.verify()
    assert await action.attempt() == "systemctl stop trader.service"
    assert await sleeper.wait() == -signal.SIGTERM
    assert await action.verify()
    assert "stop trader.service" in systemctl.calls()


async def test_stop_unit_fails_as_a_step_error_when_systemctl_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "systemctl").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    action = StopUnit("trader.service", ProcessWatch(ProcessTarget(), lambda pid: None), 5.0)
    with pytest.raises(KillStepError, match=r"systemctl stop trader\.service failed"):
        await action.attempt()
    assert not await action.verify()


async def test_stop_unit_never_verifies_a_unit_systemd_does_not_know(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # systemd answers "inactive" for a unit name it has no file for (a typo in the config).
    systemctl = fake_systemctl.install(tmp_path, monkeypatch)
    systemctl.unit_unknown()
    watch = ProcessWatch(ProcessTarget(unit="trader-typo.service"), lambda pid: None)
    action = StopUnit("trader-typo.service", watch, 5.0)
    assert await action.attempt() == "systemctl stop trader-typo.service"
    assert not await action.verify()


async def test_revoke_replaces_the_credential_atomically(tmp_path: Path) -> None:
    credential = tmp_path / "trader.credential"
    credential.write_text("api-key=secret\n")
    action = RevokeCredential(credential, "replace", "k1", 1.0)
    assert not await action.verify()
    assert "replaced" in await action.attempt()
    assert await action.verify()
    assert credential.read_bytes().startswith(MARKER)
    assert b"secret" not in credential.read_bytes()
    assert os.listdir(tmp_path) == ["trader.credential"]  # no temporary file left
    assert "replaced" in await action.attempt()  # idempotent


async def test_revoke_can_remove_the_credential(tmp_path: Path) -> None:
    credential = tmp_path / "trader.credential"
    credential.write_text("api-key=secret\n")
    action = RevokeCredential(credential, "remove", "k1", 1.0)
    await action.attempt()
    assert await action.verify()
    assert not credential.exists()
    assert b"secret" not in (tmp_path / ".trader.credential.revoked").read_bytes()
    assert "already removed" in await action.attempt()  # idempotent
    assert await action.verify()


async def test_revoking_a_credential_that_does_not_exist_fails_and_writes_nothing(
    tmp_path: Path,
) -> None:
    # A typo'd path: a marker written there would verify while the real secret stays.
    for mode in ("replace", "remove"):
        action = RevokeCredential(tmp_path / "trader-venue.crd", mode, "k1", 1.0)
        with pytest.raises(KillStepError, match="does not exist: nothing revoked"):
            await action.attempt()
        assert not await action.verify()
        assert os.listdir(tmp_path) == []


async def test_a_symlinked_credential_is_revoked_where_it_points(tmp_path: Path) -> None:
    secret = tmp_path / "secrets" / "venue.key"
    secret.parent.mkdir()
    secret.write_text("api-key=secret\n")
    link = tmp_path / "trader.credential"
    link.symlink_to(secret)
    action = RevokeCredential(link, "replace", "k1", 1.0)
    await action.attempt()
    assert await action.verify()
    assert secret.read_bytes().startswith(MARKER)  # the secret itself is gone
    assert link.is_symlink()


async def test_a_credential_holding_its_secret_again_is_not_verified(tmp_path: Path) -> None:
    credential = tmp_path / "trader.credential"
    credential.write_text("api-key=secret\n")
    action = RevokeCredential(credential, "replace", "k1", 1.0)
    await action.attempt()
    credential.write_bytes(MARKER + b" api-key=secret\n")  # restored under a marker
    assert not await action.verify()


async def test_revoke_fails_as_a_step_error_when_the_directory_is_gone(tmp_path: Path) -> None:
    action = RevokeCredential(tmp_path / "missing-dir" / "c", "replace", "k1", 1.0)
    with pytest.raises(KillStepError, match="does not exist"):
        await action.attempt()
    assert not await action.verify()
