"""Revoke the trader's local credential file: atomically replace it with a marker, or remove it.

The replacement goes through a temporary file, fsync and rename, so a crash leaves either the
old file or the marker, never a half-written key. Verification re-reads the file.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from watchdog.daemon.errors import KillStepError
from watchdog.daemon.kill.action import KillAction, KillContext

MARKER = b"REVOKED by the kill-switch watchdog"


class RevokeCredential:
    name = "revoke_credential"

    def __init__(self, path: Path, mode: str, kill_id: str, wall: float) -> None:
        self._path = path
        self._mode = mode
        self._marker = MARKER + f" (kill {kill_id}, ts {wall:.3f})\n".encode()

    async def attempt(self) -> str:
        try:
            if self._mode == "remove":
                with contextlib.suppress(FileNotFoundError):
                    self._path.unlink()
                _fsync_dir(self._path.parent)
                return f"removed {self._path}"
            _atomic_write(self._path, self._marker)
        except OSError as exc:
            raise KillStepError(f"cannot revoke {self._path}: {exc.strerror}") from exc
        return f"replaced {self._path} with a revoked marker"

    async def verify(self) -> bool:
        try:
            content = self._path.read_bytes()
        except FileNotFoundError:
            return self._mode == "remove"
        except OSError:
            return False
        return content.startswith(MARKER)


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
