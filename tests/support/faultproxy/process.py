"""Start a fault proxy as a child process and steer it: the shape chaos scenarios use."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from tests.support.faultproxy.control import ControlClient
from tests.support.faultproxy.faults import FaultProxyError
from tests.support.faultproxy.lifecycle import AsyncService

REPO_ROOT = Path(__file__).resolve().parents[3]


class ProxyProcessError(FaultProxyError, RuntimeError):
    """The proxy process did not start, or died."""


class FaultProxyProcess(AsyncService):
    """``async with FaultProxyProcess("tcp", "--upstream", "127.0.0.1:8080") as proxy:``.

    ``proxy.address`` is where clients go; ``proxy.control`` steers it. On exit the process gets
    SIGTERM, then SIGKILL if it has not stopped within ``stop_timeout_s``.
    """

    def __init__(
        self, kind: str, *args: str, start_timeout_s: float = 20.0, stop_timeout_s: float = 10.0
    ) -> None:
        self._argv = [kind, *args]
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._process: asyncio.subprocess.Process | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="faultproxy-proc-")
        self._ready: dict[str, Any] = {}
        self._log = Path(self._dir.name) / "stderr.log"

    async def start(self) -> None:
        ready_file = Path(self._dir.name) / "ready.json"
        log = _open_for_writing(self._log)  # a file, not a pipe: a chatty child never blocks
        try:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.support.faultproxy",
                *self._argv,
                "--ready-file",
                str(ready_file),
                cwd=REPO_ROOT,
                env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
            )
        finally:
            log.close()  # the child holds its own descriptor
        try:
            self._ready = await self._wait_ready(ready_file)
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """SIGTERM, then SIGKILL past the stop timeout; remove the scratch directory."""
        await self._stop()

    @property
    def returncode(self) -> int | None:
        """The exit status once stopped (0 after a clean SIGTERM shutdown), else None."""
        return None if self._process is None else self._process.returncode

    @property
    def pid(self) -> int:
        pid: int = self._ready["pid"]
        return pid

    @property
    def address(self) -> tuple[str, int] | str:
        address = self._ready["address"]
        return address if isinstance(address, str) else (address[0], int(address[1]))

    @property
    def control(self) -> ControlClient:
        return ControlClient(int(self._ready["control_port"]))

    async def _wait_ready(self, ready_file: Path) -> dict[str, Any]:
        assert self._process is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._start_timeout_s
        while (ready := _read_ready(ready_file)) is None:
            if self._process.returncode is not None:
                raise ProxyProcessError(
                    f"faultproxy exited with {self._process.returncode}: {self.stderr()}"
                )
            if loop.time() > deadline:
                raise ProxyProcessError(f"faultproxy not ready after {self._start_timeout_s} s")
            await asyncio.sleep(0.02)  # polling a file the child writes: no event to await
        return ready

    def stderr(self) -> str:
        """What the proxy process logged so far (for a failing test's message)."""
        return self._log.read_bytes().decode(errors="replace").strip()

    async def _stop(self) -> None:
        process = self._process
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(self._stop_timeout_s):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        self._dir.cleanup()


def _open_for_writing(path: Path) -> BinaryIO:
    return path.open("wb")


def _read_ready(path: Path) -> dict[str, Any] | None:
    """The ready file's content, or None while the child has not written it (atomically)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    ready: dict[str, Any] = json.loads(text)
    return ready
