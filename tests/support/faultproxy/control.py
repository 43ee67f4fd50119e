"""Line-JSON control port, so a proxy running as its own process can be steered by a test.

One request per line, one answer per line, on a loopback TCP port:

    {"op": "stats"}                         -> {"ok": true, "stats": {...}, "faults": {...}}
    {"op": "set_faults", "faults": {...}}   -> the full spec; omitted keys take their defaults
    {"op": "heal"}                          -> clear every fault
    {"op": "reset"} / {"op": "close"}       -> TCP only: RST / FIN every open connection
    anything wrong                          -> {"ok": false, "error": "<what was wrong>"}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import asdict
from typing import Any

from tests.support.faultproxy.datagram import (
    DatagramDirectionStats,
    DatagramRelay,
    DatagramStats,
)
from tests.support.faultproxy.faults import (
    DatagramFaults,
    FaultProxyError,
    FaultSpecError,
    TcpFaults,
    datagram_faults_from_json,
    tcp_faults_from_json,
    to_json,
)
from tests.support.faultproxy.lifecycle import AsyncService
from tests.support.faultproxy.tcp import DirectionStats, TcpFaultProxy, TcpStats

MAX_LINE = 64 * 1024


class ControlError(FaultProxyError, RuntimeError):
    """The control port answered with an error, or did not answer sensibly."""


async def handle_request(proxy: TcpFaultProxy | DatagramRelay, request: object) -> dict[str, Any]:
    """Apply one control request to ``proxy``; the answer is always a JSON-ready dict."""
    if not isinstance(request, dict) or not isinstance(request.get("op"), str):
        return {"ok": False, "error": 'request must be an object with a string "op"'}
    try:
        await _apply(proxy, request["op"], request)
    except FaultSpecError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "stats": asdict(proxy.stats()), "faults": to_json(proxy.faults)}


async def _apply(proxy: TcpFaultProxy | DatagramRelay, op: str, request: dict[str, Any]) -> None:
    extra = sorted(set(request) - {"op", "faults"})
    if extra:
        raise FaultSpecError(f"unknown key(s) {', '.join(map(str, extra))}")
    if op == "stats":
        return
    if op == "heal":
        await _heal(proxy)
    elif op == "set_faults":
        await _set_faults(proxy, request.get("faults", {}))
    elif op in ("reset", "close") and isinstance(proxy, TcpFaultProxy):
        await (proxy.reset_connections() if op == "reset" else proxy.close_connections())
    else:
        raise FaultSpecError(f"op: unknown operation {op!r} for this proxy")


async def _heal(proxy: TcpFaultProxy | DatagramRelay) -> None:
    if isinstance(proxy, TcpFaultProxy):
        await proxy.heal()
    else:
        proxy.heal()


async def _set_faults(proxy: TcpFaultProxy | DatagramRelay, faults: object) -> None:
    if isinstance(proxy, TcpFaultProxy):
        await proxy.set_faults(tcp_faults_from_json(faults))
    else:
        proxy.set_faults(datagram_faults_from_json(faults))


class ControlServer(AsyncService):
    """Serve the control protocol for one proxy on a loopback port."""

    def __init__(self, proxy: TcpFaultProxy | DatagramRelay, *, port: int = 0) -> None:
        self._proxy = proxy
        self._port = port
        self._server: asyncio.Server | None = None
        self._stack = contextlib.AsyncExitStack()
        self._tasks: asyncio.TaskGroup | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._tasks = await self._stack.enter_async_context(asyncio.TaskGroup())
        self._server = await asyncio.start_server(
            self._on_client, "127.0.0.1", self._port, limit=MAX_LINE
        )

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._clients):
            writer.close()  # the session task sees EOF and ends
        await self._stack.aclose()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("ControlServer.port read before it started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._tasks is None:
            writer.close()
            return
        self._clients.add(writer)
        self._tasks.create_task(self._session(reader, writer))

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                writer.write(json.dumps(await self._answer(line)).encode() + b"\n")
                await writer.drain()
        except (OSError, ValueError):
            pass  # the controller went away or sent an over-long line: drop this session only
        finally:
            self._clients.discard(writer)
            writer.close()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except ValueError as exc:
            return {"ok": False, "error": f"request is not JSON: {exc}"}
        return await handle_request(self._proxy, request)


class ControlClient:
    """Steer a proxy process over its control port. One short connection per request."""

    def __init__(self, port: int, *, host: str = "127.0.0.1", timeout_s: float = 10.0) -> None:
        self._host = host
        self._port = port
        self._timeout_s = timeout_s

    async def request(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one request; return the answer, or raise ControlError with the proxy's reason."""
        async with asyncio.timeout(self._timeout_s):
            reader, writer = await asyncio.open_connection(self._host, self._port, limit=MAX_LINE)
            try:
                writer.write(json.dumps(request).encode() + b"\n")
                await writer.drain()
                line = await reader.readline()
            finally:
                writer.close()
        try:
            answer = json.loads(line)
        except ValueError as exc:
            raise ControlError(f"control port {self._port}: answer is not JSON: {exc}") from None
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            error = answer.get("error") if isinstance(answer, dict) else answer
            raise ControlError(f"control port {self._port}: {error}")
        return answer

    async def set_faults(self, faults: TcpFaults | DatagramFaults) -> None:
        await self.request({"op": "set_faults", "faults": to_json(faults)})

    async def heal(self) -> None:
        await self.request({"op": "heal"})

    async def reset_connections(self) -> None:
        await self.request({"op": "reset"})

    async def close_connections(self) -> None:
        await self.request({"op": "close"})

    async def tcp_stats(self) -> TcpStats:
        stats = (await self.request({"op": "stats"}))["stats"]
        directions = {k: DirectionStats(**stats[k]) for k in ("upstream", "downstream")}
        return TcpStats(**{**stats, **directions})

    async def datagram_stats(self) -> DatagramStats:
        stats = (await self.request({"op": "stats"}))["stats"]
        directions = {k: DatagramDirectionStats(**stats[k]) for k in ("upstream", "downstream")}
        return DatagramStats(**{**stats, **directions})
