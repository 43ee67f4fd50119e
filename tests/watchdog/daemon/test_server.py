"""The daemon in-process, where a check at start must refuse to arm."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import socket
import tempfile
import time
from pathlib import Path

import pytest

from risk import AccountSnapshot, Heartbeat
from risk.limits import Limits
from tests.watchdog.daemon.conftest import write_config
from watchdog.daemon.config import load_config
from watchdog.daemon.errors import StartupError
from watchdog.daemon.server import WatchdogServer
from watchdog.protocol import decode_ack, encode_event, encode_telemetry, new_session_id


async def test_a_control_socket_in_the_telemetry_group_refuses_to_arm() -> None:
    # What the config check cannot see (a directory changed after it ran): the socket on
    # disk is checked once bound, and the trader's group must not control its watchdog.
    with tempfile.TemporaryDirectory(prefix="wd-") as root:
        config = load_config(write_config(Path(root), ""))
        config = dataclasses.replace(config, control_socket_mode=0o660)
        server = WatchdogServer(config)
        with pytest.raises(StartupError, match=r"group .* may also send telemetry"):
            await asyncio.wait_for(server.serve(), 30)  # armed instead: fails, not hangs


def _counting(limits: Limits) -> tuple[Limits, list[None]]:
    """The same limits, recording each time they are fingerprinted (their repr is hashed)."""
    calls: list[None] = []

    class Counted(Limits):
        __slots__ = ()

        def __repr__(self) -> str:
            calls.append(None)
            return super().__repr__()

    values = {f.name: getattr(limits, f.name) for f in dataclasses.fields(Limits)}
    return Counted(**values), calls


async def test_every_ack_carries_the_limits_fingerprint_computed_once_not_per_ack() -> None:
    with tempfile.TemporaryDirectory(prefix="wd-") as root:
        config = load_config(write_config(Path(root), ""))
        limits, calls = _counting(config.traders[0].limits)
        expected = hashlib.sha256(repr(limits).encode()).hexdigest()[:16]
        calls.clear()
        trader = dataclasses.replace(config.traders[0], limits=limits)
        server = WatchdogServer(dataclasses.replace(config, traders=(trader,)))
        await server.startup()
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sender.setblocking(False)
            sender.bind("")  # autobind: the address the watchdog acks to
            sender.connect(str(config.ingress.unix_socket))
            session = new_session_id(time.time_ns(), bytes(8))
            loop = asyncio.get_running_loop()
            versions = []
            for seq in range(1, 6):
                now = time.time()
                events = [
                    encode_event(Heartbeat(now)),
                    encode_event(AccountSnapshot(now, 1e4, 0, 0)),
                ]
                sender.send(encode_telemetry(trader.hmac_key, "alpha", session, seq, now, events))
                async with asyncio.timeout(10):
                    data = await loop.sock_recv(sender, 4096)
                frame = decode_ack(data, trader.hmac_key, "alpha", session)
                versions.append(frame.ack.limits_version)
        finally:
            sender.close()
            await server.shutdown()
    assert versions == [expected] * 5
    assert len(calls) <= 1, f"the limits were fingerprinted {len(calls)} times for 5 acks"
