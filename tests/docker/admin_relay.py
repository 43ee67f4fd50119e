"""A TCP relay run inside the exchange_sim container: LISTEN_PORT on every interface -> the
sim's admin API on 127.0.0.1:ADMIN_PORT.

The sim binds its admin API to loopback only (it is an operator's back door), and a published
container port reaches the container's own interface, never its loopback. The tests read the
venue's truth through this relay. Standard library only: the file is copied into the container.

    python3 admin_relay.py LISTEN_PORT ADMIN_PORT
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

CHUNK = 65536


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass  # either side went away: close both below
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _serve_one(
    admin_port: int, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
) -> None:
    try:
        admin_r, admin_w = await asyncio.open_connection("127.0.0.1", admin_port)
    except OSError:
        client_w.close()  # the sim is not (yet) listening: the test polls again
        return
    async with asyncio.TaskGroup() as group:
        group.create_task(_pipe(client_r, admin_w))
        group.create_task(_pipe(admin_r, client_w))


async def _main(listen_port: int, admin_port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _serve_one(admin_port, reader, writer)

    # Every interface of the container: a published port arrives on its network interface.
    server = await asyncio.start_server(handle, "0.0.0.0", listen_port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_main(int(sys.argv[1]), int(sys.argv[2])))
