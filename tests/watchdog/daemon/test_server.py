"""The daemon in-process, where a check at start must refuse to arm."""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from pathlib import Path

import pytest

from tests.watchdog.daemon.conftest import write_config
from watchdog.daemon.config import load_config
from watchdog.daemon.errors import StartupError
from watchdog.daemon.server import WatchdogServer


async def test_a_control_socket_in_the_telemetry_group_refuses_to_arm() -> None:
    # What the config check cannot see (a directory changed after it ran): the socket on
    # disk is checked once bound, and the trader's group must not control its watchdog.
    with tempfile.TemporaryDirectory(prefix="wd-") as root:
        config = load_config(write_config(Path(root), ""))
        config = dataclasses.replace(config, control_socket_mode=0o660)
        server = WatchdogServer(config)
        with pytest.raises(StartupError, match=r"group .* may also send telemetry"):
            await asyncio.wait_for(server.serve(), 30)  # armed instead: fails, not hangs
