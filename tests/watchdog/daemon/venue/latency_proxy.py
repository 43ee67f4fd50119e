"""A TCP proxy on loopback that delays every byte by a fixed latency, per direction.

The machine has no netem: latency is injected at the application level. Each direction keeps
its order; a chunk read at t is written at t + delay, so a round trip costs 2 x delay.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass
class LatencyProxy:
    target_host: str
    target_port: int
    one_way_delay_s: float
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.close()
            return
        for src, dst in ((reader, up_w), (up_r, writer)):
            task = asyncio.create_task(self._pump(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._deliver(queue, dst))
            while data := await src.read(65536):
                queue.put_nowait((loop.time() + self.one_way_delay_s, data))
            queue.put_nowait((loop.time() + self.one_way_delay_s, b""))

    async def _deliver(
        self, queue: asyncio.Queue[tuple[float, bytes]], dst: asyncio.StreamWriter
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                with contextlib.suppress(OSError):
                    dst.write_eof()
                return
            dst.write(data)
            with contextlib.suppress(ConnectionError):
                await dst.drain()


@contextlib.asynccontextmanager
async def latency_proxy(
    host: str, port: int, one_way_delay_s: float
) -> AsyncIterator[LatencyProxy]:
    proxy = LatencyProxy(host, port, one_way_delay_s)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
