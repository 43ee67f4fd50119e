"""Revoke the trader's local credential file: atomically replace it with a marker, or remove it.

The replacement goes through a temporary file, fsync and rename, so a crash leaves either the
old file or the marker, never a half-written key. A symlinked credential is revoked where it
points: replacing the link would leave the secret in its target. Verification re-reads the
real file and requires the secret it held before the first attempt to be gone from it.
"""

from __future__ import annotations

import os
from pathlib import Path

from watchdog.daemon.config import removal_record
from watchdog.daemon.errors import KillStepError
from watchdog.daemon.kill.action import KillAction, KillContext

MARKER = b"REVOKED by the kill-switch watchdog"


class RevokeCredential:
    name = "revoke_credential"

    def __init__(self, path: Path, mode: str, kill_id: str, wall: float) -> None:
        self._path = path
        self._mode = mode
        self._stamp = f" (kill {kill_id}, ts {wall:.3f})\n".encode()
        self._secret: bytes | None = None  # what the file held before we touched it

    async def attempt(self) -> str:
        real = self._path.resolve()
        try:
            content = real.read_bytes()
        except FileNotFoundError:
            if self._mode == "remove" and removal_record(real).is_file():
                return f"{real} already removed"
            # Not revoked, and the secret the trader reads is somewhere we do not know.
            raise KillStepError(f"{real} does not exist: nothing revoked") from None
        except OSError as exc:
            raise KillStepError(f"cannot read {real}: {exc.strerror}") from exc
        if self._secret is None and not content.startswith(MARKER):
            self._secret = content.strip()
        try:
            if self._mode == "remove":
                _atomic_write(removal_record(real), MARKER + self._stamp)
                real.unlink()
                _fsync_dir(real.parent)
                return f"removed {real}"
            _atomic_write(real, MARKER + self._stamp)
        except OSError as exc:
            raise KillStepError(f"cannot revoke {real}: {exc.strerror}") from exc
        return f"replaced {real} with a revoked marker"

    async def verify(self) -> bool:
        real = self._path.resolve()
        try:
            content = real.read_bytes()
        except FileNotFoundError:
            return self._mode == "remove" and removal_record(real).is_file()
        except OSError:
            return False
        if self._mode == "remove" or not content.startswith(MARKER):
            return False
        return not self._secret or self._secret not in content


def _atomic_write(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.revoking")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def revoke_credential_factory(context: KillContext) -> KillAction | None:
    trader = context.trader
    if not trader.kill.revoke_credential or trader.credential_file is None:
        return None
    return RevokeCredential(
        trader.credential_file, trader.kill.revoke_mode, context.kill_id, context.clock.wall()
    )
