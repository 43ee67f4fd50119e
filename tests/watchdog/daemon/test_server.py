"""The daemon in-process, where a check at start must refuse to arm."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import socket
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from killswitch_client.protocol import (
    AccountSnapshot,
    Ack,
    Heartbeat,
    decode_ack,
    encode_event,
    encode_telemetry,
    new_session_id,
)

from risk.limits import Limits
from tests.watchdog.daemon.conftest import write_config
from watchdog.daemon.config import Config, load_config
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


class _Trader:
    """This test plays trader `alpha`: authentic datagrams to the daemon, its acks read back."""

    def __init__(self, config: Config) -> None:
        key = config.traders[0].hmac_key
        assert key is not None  # alpha sends telemetry
        self.key = key
        self.session = new_session_id(time.time_ns(), bytes(8))
        self.seq = 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.bind("")  # autobind: the address the watchdog acks to
        self.sock.connect(str(config.ingress.unix_socket))

    def send(self) -> int:
        self.seq += 1
        now = time.time()
        events = [encode_event(Heartbeat(now)), encode_event(AccountSnapshot(now, 1e4, 0, 0))]
        self.sock.send(encode_telemetry(self.key, "alpha", self.session, self.seq, now, events))
        return self.seq

    async def ack(self) -> Ack:
        async with asyncio.timeout(10):
            data = await asyncio.get_running_loop().sock_recv(self.sock, 4096)
        return decode_ack(data, self.key, "alpha", self.session).ack


@contextlib.asynccontextmanager
async def _serving(config: Config) -> AsyncIterator[_Trader]:
    server = WatchdogServer(config)
    await server.startup()  # the ingress answers from here on: no main loop needed
    trader = _Trader(config)
    try:
        yield trader
    finally:
        trader.sock.close()
        await server.shutdown()


async def test_every_ack_carries_the_limits_fingerprint_computed_once_not_per_ack() -> None:
    with tempfile.TemporaryDirectory(prefix="wd-") as root:
        config = load_config(write_config(Path(root), ""))
        limits, calls = _counting(config.traders[0].limits)
        expected = hashlib.sha256(repr(limits).encode()).hexdigest()[:16]
        calls.clear()
        trader = dataclasses.replace(config.traders[0], limits=limits)
        versions = []
        async with _serving(dataclasses.replace(config, traders=(trader,))) as alpha:
            for _ in range(5):
                alpha.send()
                versions.append((await alpha.ack()).limits_version)
    assert versions == [expected] * 5
    assert len(calls) <= 1, f"the limits were fingerprinted {len(calls)} times for 5 acks"


async def test_a_burst_of_datagrams_is_acked_once_for_the_highest_sequence() -> None:
    with tempfile.TemporaryDirectory(prefix="wd-") as root:
        async with _serving(load_config(write_config(Path(root), ""))) as alpha:
            alpha.send()
            assert (await alpha.ack()).last_seq == 1
            # Five datagrams queued before the daemon's loop runs: read in one wakeup.
            burst = [alpha.send() for _ in range(5)]
            # Acks arrive in order: any sent per datagram of the burst comes before its last.
            acked = [(await alpha.ack()).last_seq]
            while acked[-1] != burst[-1]:
                acked.append((await alpha.ack()).last_seq)
    # An ack the supervisor pushes on its own (a state change) may name an older sequence;
    # none answers a single datagram of the burst.
    assert not set(acked) & set(burst[:-1]), acked
