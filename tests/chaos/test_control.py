"""The control port: strict about what it accepts, and never brought down by a bad request."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.chaos.echo import tcp_echo_server
from tests.support.faultproxy import (
    AcceptMode,
    ControlClient,
    ControlServer,
    Latency,
    TcpFaultProxy,
    TcpFaults,
)
from tests.support.faultproxy.control import MAX_LINE

DEADLINE_S = 10.0


@pytest.fixture
async def control() -> AsyncIterator[tuple[TcpFaultProxy, ControlServer]]:
    async with (
        tcp_echo_server() as echo,
        TcpFaultProxy(("127.0.0.1", echo.port)) as proxy,
        ControlServer(proxy) as server,
    ):
        yield proxy, server


async def raw_exchange(port: int, *lines: bytes) -> list[dict[str, Any]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=4 * MAX_LINE)
    answers = []
    try:
        for line in lines:
            writer.write(line)
            await writer.drain()
            answers.append(json.loads(await asyncio.wait_for(reader.readline(), DEADLINE_S)))
    finally:
        writer.close()
    return answers


async def test_one_session_can_carry_many_requests(
    control: tuple[TcpFaultProxy, ControlServer],
) -> None:
    proxy, server = control
    faults = {"downstream": {"base_s": 0.2}, "accept": "hang"}
    answers = await raw_exchange(
        server.port,
        json.dumps({"op": "set_faults", "faults": faults}).encode() + b"\n",
        b'{"op": "stats"}\n',
    )
    assert [a["ok"] for a in answers] == [True, True]
    assert proxy.faults == TcpFaults(downstream=Latency(base_s=0.2), accept=AcceptMode.HANG)
    assert answers[1]["faults"]["accept"] == "hang"


async def test_garbage_gets_an_error_answer_and_the_session_goes_on(
    control: tuple[TcpFaultProxy, ControlServer],
) -> None:
    _, server = control
    answers = await raw_exchange(
        server.port, b"not json\n", b"[1, 2]\n", b'{"op": "heal", "extra": 1}\n', b'{"op":"heal"}\n'
    )
    assert [a["ok"] for a in answers] == [False, False, False, True]
    assert "not JSON" in answers[0]["error"]
    assert 'string "op"' in answers[1]["error"]
    assert "unknown key(s) extra" in answers[2]["error"]


async def test_an_over_long_line_ends_that_session_only(
    control: tuple[TcpFaultProxy, ControlServer],
) -> None:
    proxy, server = control
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"x" * (2 * MAX_LINE) + b"\n")
    await writer.drain()
    # Closed without an answer; the unread rest of the line makes the kernel send an RST.
    with contextlib.suppress(ConnectionResetError):
        assert await asyncio.wait_for(reader.read(), DEADLINE_S) == b""
    writer.close()
    await ControlClient(server.port).set_faults(TcpFaults(stall_upstream=True))
    assert proxy.faults.stall_upstream


async def test_closing_the_server_ends_idle_sessions() -> None:
    async with (
        tcp_echo_server() as echo,
        TcpFaultProxy(("127.0.0.1", echo.port)) as proxy,
    ):
        server = ControlServer(proxy)
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            await raw_exchange(server.port, b'{"op": "stats"}\n')
        assert await asyncio.wait_for(reader.read(), DEADLINE_S) == b""
        writer.close()
