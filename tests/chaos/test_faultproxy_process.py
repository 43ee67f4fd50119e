"""The proxy as its own process, steered over its control port, as chaos scenarios use it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.chaos.echo import datagram_client, tcp_echo_server, udp_echo_server, unix_echo_server
from tests.support.faultproxy import (
    ControlClient,
    ControlError,
    DatagramFaults,
    DatagramPath,
    DatagramRelay,
    FaultProxyProcess,
    ProxyProcessError,
    TcpFaults,
)
from tests.support.faultproxy.process import REPO_ROOT

DEADLINE_S = 10.0
QUIET_S = 0.5


async def test_a_tcp_proxy_process_stalls_heals_and_resets_on_command() -> None:
    async with (
        tcp_echo_server() as echo,
        FaultProxyProcess("tcp", "--upstream", f"127.0.0.1:{echo.port}") as proxy,
    ):
        assert isinstance(proxy.address, tuple)
        reader, writer = await asyncio.open_connection(*proxy.address)
        await proxy.control.set_faults(TcpFaults(stall_downstream=True))
        writer.write(b"tick")
        await writer.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), QUIET_S)
        await proxy.control.heal()
        assert await asyncio.wait_for(reader.readexactly(4), DEADLINE_S) == b"tick"
        await proxy.control.reset_connections()
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(reader.read(1), DEADLINE_S)
        stats = await proxy.control.tcp_stats()
        assert stats.connections_reset == 1
        assert stats.downstream.bytes_forwarded == 4


async def test_a_unix_relay_process_blackholes_and_comes_back(tmp_path: Path) -> None:
    upstream = str(tmp_path / "watchdog.sock")
    async with (
        unix_echo_server(upstream) as echo,
        FaultProxyProcess("unix", "--upstream", upstream, "--seed", "3") as relay,
        datagram_client(str(tmp_path / "trader.sock"), unix=True) as client,
    ):
        assert isinstance(relay.address, str)
        await relay.control.set_faults(DatagramFaults(upstream=DatagramPath(blackhole=True)))
        client.send(b"hb1", relay.address)
        await wait_for_datagrams(relay.control, received=1)
        with pytest.raises(TimeoutError):
            await client.receive(QUIET_S)
        assert echo.received == []
        await relay.control.heal()
        client.send(b"hb2", relay.address)
        assert await client.receive(DEADLINE_S) == b"echo:hb2"
        stats = await relay.control.datagram_stats()
        assert (stats.upstream.dropped, stats.upstream.forwarded) == (1, 1)


async def wait_for_datagrams(control: ControlClient, *, received: int) -> None:
    """Poll the relay's counters until it has taken in ``received`` datagrams."""
    async with asyncio.timeout(DEADLINE_S):
        while (await control.datagram_stats()).upstream.received < received:  # noqa: ASYNC110 -- another process: no event to await
            await asyncio.sleep(0.02)


async def test_a_proxy_process_shuts_down_cleanly_on_sigterm_with_connections_open() -> None:
    async with tcp_echo_server() as echo:
        proxy = FaultProxyProcess("tcp", "--upstream", f"127.0.0.1:{echo.port}")
        async with proxy:
            reader, writer = await asyncio.open_connection(*proxy.address)
            await proxy.control.set_faults(TcpFaults(stall_upstream=True))
            writer.write(b"in flight")
        assert proxy.returncode == 0
        assert await asyncio.wait_for(reader.read(), DEADLINE_S) == b""  # a FIN, not a hang
        writer.close()


async def test_a_udp_relay_process_relays_replies() -> None:
    async with (
        udp_echo_server() as (_, address),
        FaultProxyProcess("udp", "--upstream", f"{address[0]}:{address[1]}") as relay,
        datagram_client() as client,
    ):
        client.send(b"ping", relay.address)
        assert await client.receive(DEADLINE_S) == b"echo:ping"


async def test_the_control_port_refuses_a_bad_spec_with_the_key_path() -> None:
    async with (
        tcp_echo_server() as echo,
        FaultProxyProcess("tcp", "--upstream", f"127.0.0.1:{echo.port}") as proxy,
    ):
        with pytest.raises(ControlError, match=r"faults.upstream.base_s"):
            await proxy.control.request(
                {"op": "set_faults", "faults": {"upstream": {"base_s": -1}}}
            )
        with pytest.raises(ControlError, match="unknown operation 'explode'"):
            await proxy.control.request({"op": "explode"})
        with pytest.raises(ControlError, match='string "op"'):
            await proxy.control.request({"faults": {}})
        answer = await proxy.control.request({"op": "stats"})
        assert answer["faults"] == json.loads(json.dumps(answer["faults"]))


async def test_a_datagram_relay_refuses_tcp_only_operations(tmp_path: Path) -> None:
    async with FaultProxyProcess("unix", "--upstream", str(tmp_path / "up.sock")) as relay:
        with pytest.raises(ControlError, match="unknown operation 'reset'"):
            await relay.control.reset_connections()


async def test_a_proxy_that_cannot_start_says_why(tmp_path: Path) -> None:
    taken = tmp_path / "taken.sock"
    taken.write_text("")
    with pytest.raises(ProxyProcessError, match="Address already in use"):
        async with FaultProxyProcess(
            "unix", "--upstream", str(tmp_path / "up.sock"), "--listen", str(taken)
        ):
            pass


async def test_a_relay_that_cannot_bind_leaves_no_private_directory(tmp_path: Path) -> None:
    taken = tmp_path / "taken.sock"
    taken.write_text("")
    before = private_dirs()
    with pytest.raises(OSError, match="Address already in use"):
        async with DatagramRelay(str(tmp_path / "up.sock"), listen=str(taken)):
            pass
    assert private_dirs() == before


def private_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("faultproxy-*"))


def test_bad_arguments_get_a_one_line_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.faultproxy", "tcp", "--upstream", "nowhere"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "expected HOST:PORT, got 'nowhere'" in done.stderr
    assert "Traceback" not in done.stderr
