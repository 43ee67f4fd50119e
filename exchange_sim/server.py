"""Lifecycle: startup (bind both ports, write the ready file) → main loop → ordered shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from exchange_sim.clock import Clock, SystemClock
from exchange_sim.config import SimConfig
from exchange_sim.core.admin import build_admin_app
from exchange_sim.core.state import Sim
from exchange_sim.errors import SimError
from exchange_sim.fronts import FRONTS

log = logging.getLogger("exchange_sim")
SHUTDOWN_TIMEOUT_S = 3.0


class BindError(SimError, OSError):
    """A port could not be bound."""


@dataclass(frozen=True, slots=True)
class ServeOptions:
    host: str
    port: int
    admin_port: int
    ready_file: Path | None
    venue: str = "binance"  # a key of exchange_sim.fronts.FRONTS


def write_ready_file(path: Path, port: int, admin_port: int) -> None:
    """Write then rename, so a reader never sees a half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    payload = json.dumps({"port": port, "admin_port": admin_port, "pid": os.getpid()})
    tmp.write_text(payload, encoding="utf-8")
    os.replace(tmp, path)


def _port(runner: web.AppRunner) -> int:
    address = runner.addresses[0]
    return int(address[1])


async def _start(app: web.Application, host: str, port: int, what: str) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_address=True).start()
    except OSError as exc:
        await runner.cleanup()
        raise BindError(f"cannot listen on {host}:{port} for the {what}: {exc.strerror}") from None
    return runner


async def serve(config: SimConfig, options: ServeOptions, clock: Clock | None = None) -> None:
    sim = Sim(config, clock or SystemClock(), FRONTS[options.venue])
    venue = await _start(sim.front.build_app(), options.host, options.port, "venue API")
    try:
        # The admin API steers the whole world: it never listens beyond loopback.
        admin = await _start(build_admin_app(sim), "127.0.0.1", options.admin_port, "admin API")
    except BindError:
        await venue.cleanup()
        raise
    port, admin_port = _port(venue), _port(admin)
    try:
        await _main_loop(sim, options, port, admin_port)
    finally:
        # Admin first (nobody steers a stopping venue), then the venue with its websockets.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SHUTDOWN_TIMEOUT_S):
                await admin.cleanup()
                await venue.cleanup()
        log.info("stopped")


async def _main_loop(sim: Sim, options: ServeOptions, port: int, admin_port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if options.ready_file is not None:
        write_ready_file(options.ready_file, port, admin_port)
    log.info(
        "listening",
        extra={
            "port": port,
            "admin_port": admin_port,
            "pid": os.getpid(),
            "venue": sim.front.name,
        },
    )
    async with asyncio.TaskGroup() as tg:
        tasks = [
            tg.create_task(sim.run_market(), name="market"),
            tg.create_task(sim.run_countdowns(), name="countdowns"),
            tg.create_task(sim.run_channel_expiry(), name="channels"),
        ]
        await stop.wait()
        log.info("stopping")
        for task in tasks:
            task.cancel()
