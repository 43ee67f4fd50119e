"""A byte-level TCP proxy that injects latency, stalls, resets and refusals on command.

Each connection is two pipes (client -> upstream, upstream -> client). A pipe is a reader stage
and a writer stage joined by a bounded queue: the reader stamps every chunk with the time it
may leave (arrival + sampled delay, never before the previous chunk, since TCP keeps order),
the writer waits for that time and for the direction not to be stalled. Latency therefore
delays bytes without limiting throughput, and a stall holds them (the sockets stay open, the
queue fills, then the kernel buffers fill and the sender blocks: the silent stall a feed
handler must catch with a staleness timer). Being byte-level, it carries HTTP keep-alive and
WebSocket traffic untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from tests.support.faultproxy.faults import AcceptMode, Direction, Latency, TcpFaults
from tests.support.faultproxy.lifecycle import AsyncService

_EOF = b""
_RST_LINGER = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, not FIN
_Ender = Callable[[asyncio.StreamWriter], None]


@dataclass(frozen=True)
class DirectionStats:
    bytes_forwarded: int
    chunks_forwarded: int
    chunks_delayed: int


@dataclass(frozen=True)
class TcpStats:
    connections_accepted: int
    connections_open: int
    connections_refused: int  # accepted then reset because the accept mode said so
    connections_hung: int
    connections_reset: int  # reset by reset_connections() or by a peer's RST
    upstream_failures: int  # the upstream could not be reached: the client got an RST
    upstream: DirectionStats
    downstream: DirectionStats


@dataclass
class _DirectionCounters:
    bytes_forwarded: int = 0
    chunks_forwarded: int = 0
    chunks_delayed: int = 0

    def snapshot(self) -> DirectionStats:
        return DirectionStats(self.bytes_forwarded, self.chunks_forwarded, self.chunks_delayed)


@dataclass
class _Counters:
    accepted: int = 0
    refused: int = 0
    hung: int = 0
    reset: int = 0
    upstream_failures: int = 0
    directions: dict[Direction, _DirectionCounters] = field(
        default_factory=lambda: {d: _DirectionCounters() for d in Direction}
    )


@dataclass(eq=False)
class _Connection:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    task: asyncio.Task[None] | None = None
    ended: bool = False  # ended on command: a resulting socket error is not a peer's reset
    ordinals: dict[Direction, int] = field(default_factory=lambda: dict.fromkeys(Direction, 0))

    def writers(self) -> list[asyncio.StreamWriter]:
        return [w for w in (self.client, self.upstream) if w is not None]


def send_rst(writer: asyncio.StreamWriter) -> None:
    """Close a stream so that the peer sees a TCP RST (ECONNRESET), not a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed by the peer: nothing left to reset
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RST_LINGER)
    writer.transport.abort()


class TcpFaultProxy(AsyncService):
    """Listen on ``listen`` (default 127.0.0.1, port 0) and relay every connection to ``upstream``.

    Use as ``async with TcpFaultProxy(("127.0.0.1", port)) as proxy:`` and point the client at
    ``proxy.address``. Randomness (jitter, spike probability) comes from ``rng``: pass a seeded
    ``random.Random`` for a reproducible run.
    """

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        listen: tuple[str, int] = ("127.0.0.1", 0),
        rng: random.Random | None = None,
        faults: TcpFaults | None = None,
        connect_timeout_s: float = 5.0,
        chunk_size: int = 64 * 1024,
        max_queued_chunks: int = 64,
    ) -> None:
        self._upstream = upstream
        self._listen = listen
        self._rng = rng if rng is not None else random.Random(0)
        self._faults = faults if faults is not None else TcpFaults()
        self._connect_timeout_s = connect_timeout_s
        self._chunk_size = chunk_size
        self._max_queued = max_queued_chunks  # per pipe: at most this many chunks held in memory
        self._counters = _Counters()
        self._connections: set[_Connection] = set()
        self._hung: set[asyncio.StreamWriter] = set()
        self._flowing = {d: asyncio.Event() for d in Direction}
        self._server: asyncio.Server | None = None
        self._address: tuple[str, int] | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self._stack = contextlib.AsyncExitStack()
        self._closing = False

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = await self._stack.enter_async_context(asyncio.TaskGroup())
        self._apply_stalls()
        await self._listen_now(self._listen)  # even when CLOSED: the address must be known
        if self._faults.accept is AcceptMode.CLOSED:
            self._stop_listening()

    async def aclose(self) -> None:
        """Stop listening, close every connection (FIN), wait for every relay task to end."""
        self._closing = True
        self._stop_listening()
        await self.close_connections()
        await self._stack.aclose()

    @property
    def address(self) -> tuple[str, int]:
        """Where clients connect. Stable for the proxy's life, even across AcceptMode.CLOSED."""
        if self._address is None:
            raise RuntimeError("TcpFaultProxy.address read before start()")
        return self._address

    # --- faults ------------------------------------------------------------------------------

    @property
    def faults(self) -> TcpFaults:
        return self._faults

    async def set_faults(self, faults: TcpFaults) -> None:
        """Swap every fault at once. Latency applies to bytes that arrive from now on."""
        was_closed = self._faults.accept is AcceptMode.CLOSED
        self._faults = faults
        self._apply_stalls()
        if faults.accept is AcceptMode.CLOSED and not was_closed:
            self._stop_listening()
        elif was_closed and faults.accept is not AcceptMode.CLOSED:
            await self._listen_now(self.address)

    async def set_latency(self, direction: Direction, latency: Latency) -> None:
        if direction is Direction.UPSTREAM:
            await self.set_faults(replace(self._faults, upstream=latency))
        else:
            await self.set_faults(replace(self._faults, downstream=latency))

    async def stall(self, direction: Direction | None = None) -> None:
        """Stop forwarding (one direction, or both). Sockets stay open; bytes wait."""
        up = direction in (None, Direction.UPSTREAM) or self._faults.stall_upstream
        down = direction in (None, Direction.DOWNSTREAM) or self._faults.stall_downstream
        await self.set_faults(replace(self._faults, stall_upstream=up, stall_downstream=down))

    async def refuse(self, mode: AcceptMode = AcceptMode.RESET) -> None:
        """Refuse new connections; existing ones are untouched."""
        await self.set_faults(replace(self._faults, accept=mode))

    async def heal(self) -> None:
        """Come back: clear every fault. Held bytes flow again; new connections are relayed."""
        await self.set_faults(TcpFaults())

    async def reset_connections(self) -> int:
        """RST both sides of every open connection (and every hung one). Returns how many."""
        return await self._end_connections(send_rst)

    async def close_connections(self) -> int:
        """Close both sides of every open connection cleanly (FIN). Returns how many."""
        return await self._end_connections(lambda writer: writer.close())

    # --- observation -------------------------------------------------------------------------

    def stats(self) -> TcpStats:
        c = self._counters
        return TcpStats(
            connections_accepted=c.accepted,
            connections_open=len(self._connections) + len(self._hung),
            connections_refused=c.refused,
            connections_hung=c.hung,
            connections_reset=c.reset,
            upstream_failures=c.upstream_failures,
            upstream=c.directions[Direction.UPSTREAM].snapshot(),
            downstream=c.directions[Direction.DOWNSTREAM].snapshot(),
        )

    # --- internals ---------------------------------------------------------------------------

    async def _listen_now(self, where: tuple[str, int]) -> None:
        self._server = await asyncio.start_server(self._on_client, where[0], where[1])
        if self._address is None:
            self._address = self._server.sockets[0].getsockname()[:2]

    def _stop_listening(self) -> None:
        # Server.close() closes the listening socket at once: new SYNs get a kernel RST.
        if self._server is not None:
            self._server.close()
            self._server = None

    def _apply_stalls(self) -> None:
        for direction, flowing in self._flowing.items():
            if self._faults.stalled(direction):
                flowing.clear()
            else:
                flowing.set()

    async def _end_connections(self, end: _Ender) -> int:
        connections, hung = list(self._connections), list(self._hung)
        for writer in hung:
            end(writer)
        self._hung.clear()
        tasks = []
        for conn in connections:
            conn.ended = True
            for writer in conn.writers():
                end(writer)
            if conn.task is not None:
                conn.task.cancel()
                tasks.append(conn.task)
        if end is send_rst:
            self._counters.reset += len(connections) + len(hung)
        if tasks:
            await asyncio.wait(tasks)
        return len(connections) + len(hung)

    def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain callback (not a coroutine) so asyncio spawns nothing on its own: the relay
        # task belongs to this proxy's task group and is cancelled and awaited on close.
        self._counters.accepted += 1
        mode = self._faults.accept
        if self._closing or self._tasks is None or mode in (AcceptMode.RESET, AcceptMode.CLOSED):
            self._counters.refused += 1
            send_rst(writer)
        elif mode is AcceptMode.HANG:
            self._counters.hung += 1
            self._hung.add(writer)
        else:
            conn = _Connection(client=writer)
            self._connections.add(conn)
            conn.task = self._tasks.create_task(self._relay(conn, reader))

    async def _relay(self, conn: _Connection, client_reader: asyncio.StreamReader) -> None:
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that lands
            # as the connect completes, and the relay would then outlive reset/close.
            async with asyncio.timeout(self._connect_timeout_s):
                up_reader, upstream = await asyncio.open_connection(*self._upstream)
        except OSError:  # TimeoutError included
            self._counters.upstream_failures += 1
            send_rst(conn.client)  # the client sees the path die, as it would without us
            self._connections.discard(conn)
            return
        conn.upstream = upstream
        try:
            async with asyncio.TaskGroup() as pipes:
                pipes.create_task(self._pipe(conn, Direction.UPSTREAM, client_reader, upstream))
                pipes.create_task(self._pipe(conn, Direction.DOWNSTREAM, up_reader, conn.client))
        except* OSError:
            # One peer reset (or the path broke): the other peer gets an RST too, as it would
            # on a real network where the connection is gone.
            if not conn.ended:
                self._counters.reset += 1
            for writer in conn.writers():
                send_rst(writer)
        finally:
            for writer in conn.writers():
                writer.close()
            self._connections.discard(conn)

    async def _pipe(
        self,
        conn: _Connection,
        direction: Direction,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(self._max_queued)
        async with asyncio.TaskGroup() as stages:
            stages.create_task(self._read_stage(conn, direction, reader, queue))
            stages.create_task(self._write_stage(direction, writer, queue))

    async def _read_stage(
        self,
        conn: _Connection,
        direction: Direction,
        reader: asyncio.StreamReader,
        queue: asyncio.Queue[tuple[float, bytes]],
    ) -> None:
        loop = asyncio.get_running_loop()
        last_due = 0.0
        while True:
            data = await reader.read(self._chunk_size)
            if not data:
                await queue.put((last_due, _EOF))
                return
            conn.ordinals[direction] += 1
            delay = self._faults.latency(direction).sample(conn.ordinals[direction], self._rng)
            if delay > 0:
                self._counters.directions[direction].chunks_delayed += 1
            last_due = max(last_due, loop.time() + delay)  # TCP keeps order: never overtake
            await queue.put((last_due, data))

    async def _write_stage(
        self,
        direction: Direction,
        writer: asyncio.StreamWriter,
        queue: asyncio.Queue[tuple[float, bytes]],
    ) -> None:
        loop = asyncio.get_running_loop()
        counters = self._counters.directions[direction]
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._flowing[direction].wait()
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()  # half-close travels through, as TCP would carry it
                return
            writer.write(data)
            await writer.drain()
            counters.bytes_forwarded += len(data)
            counters.chunks_forwarded += 1
