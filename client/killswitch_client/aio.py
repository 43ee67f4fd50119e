"""`AsyncClient`: the client for a bot that runs an asyncio event loop.

Heartbeats run as a task on the bot's loop. A SUBMIT leaves in the `report_order` call (the
order it announces must not reach the venue first). What else can breach a limit leaves at
the next loop iteration (`loop.call_soon`) when the socket is writable, with everything else
buffered by then: the reports of one iteration share one datagram. Send errors (no watchdog
socket, refused) are counted and the socket is reopened on the next heartbeat.

Call it from the event loop's thread (`Client` is the one for threads).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from killswitch_client._core import ClientCore
from killswitch_client._sockets import unix_socket

log = logging.getLogger(__name__)


class AsyncClient(ClientCore):
    """`AsyncClient(trader_id=..., address=..., key_file=...)`, `AsyncClient.from_file(path)`,
    or `AsyncClient(config=ClientConfig(...))`; then `async with client:` (or `start()`)."""

    def _init_shell(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._broken = False
        self._flush_handle: asyncio.Handle | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("AsyncClient already started")
        self._loop = asyncio.get_running_loop()
        await self._connect()
        self._task = asyncio.create_task(self._heartbeat_loop(), name="killswitch-heartbeat")
        self._task.add_done_callback(_log_crash)

    async def close(self) -> None:
        """Stop heartbeats (the watchdog will notice) and close the socket."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._drop_transport()

    async def __aenter__(self) -> AsyncClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- sending --------------------------------------------------------------------------

    def _urgent(self) -> None:
        """Send what is buffered at the next loop iteration: one datagram for the reports of
        this one, however many there are."""
        if self._flush_handle is None and self._loop is not None and self._transport is not None:
            self._flush_handle = self._loop.call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._flush_handle = None
        transport = self._transport
        if transport is None or _buffered(transport) > 0:
            return  # backed up: the next heartbeat takes them
        self.flush(heartbeat=False)

    def flush(self, *, heartbeat: bool = True) -> None:
        """Send everything buffered now (with a heartbeat event). The heartbeat loop calls this.

        Without a working socket the buffers are kept (bounded) for when the watchdog is back.
        """
        transport = self._transport
        if transport is None or self._broken:
            return
        with self._lock:
            for group in self._take(heartbeat=heartbeat):
                self._send(transport, group)

    def _send(self, transport: asyncio.DatagramTransport, group: list[bytes]) -> None:
        if _buffered(transport) > self.config.max_write_buffer:
            self.counters.dropped += len(group)
            self._lose()
            return
        transport.sendto(self._seal(group))  # errors come back through error_received
        if self._broken:
            self.counters.dropped += len(group)
            return
        self.counters.sent += 1
        self.counters.events_sent += len(group)

    async def _heartbeat_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            if self._transport is None or self._broken:
                await self._connect()
            next_at = self._heartbeat(next_at, loop.time)
            await asyncio.sleep(next_at - loop.time())

    async def _connect(self) -> None:
        """(Re)open the socket; on failure count it and try again at the next heartbeat."""
        self._drop_transport()
        assert self._loop is not None
        address = self.config.address
        try:
            if isinstance(address, str):
                transport, _ = await self._loop.create_datagram_endpoint(
                    lambda: _ClientProtocol(self), sock=unix_socket(address)
                )
            else:
                transport, _ = await self._loop.create_datagram_endpoint(
                    lambda: _ClientProtocol(self), remote_addr=address
                )
        except OSError as exc:
            self._fail(exc)
            return
        self._transport = transport
        self._broken = False

    def _drop_transport(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _fail(self, exc: BaseException) -> None:
        self._broken = True
        self._send_error(exc)


def _log_crash(task: asyncio.Task[None]) -> None:
    # The task is awaited (and its error raised) in close(); say at once that heartbeats
    # stopped, because the watchdog will soon treat this bot as hung.
    if not task.cancelled() and task.exception() is not None:
        log.error("killswitch client: heartbeat loop stopped", exc_info=task.exception())


def _buffered(transport: asyncio.DatagramTransport) -> int:
    # Selector datagram transports have it at run time; typeshed only declares it on
    # WriteTransport.
    size: int = transport.get_write_buffer_size()  # type: ignore[attr-defined]
    return size


class _ClientProtocol(asyncio.DatagramProtocol):
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._client._on_datagram(data)

    def error_received(self, exc: Exception) -> None:
        self._client._fail(exc)
