"""Alert webhooks against a real local HTTP server: JSON POSTs, retries, timeouts, no blocking."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from watchdog.clock import SystemClock
from watchdog.daemon.alerts import Alerter
from watchdog.daemon.config import AlertConfig
from watchdog.daemon.errors import KillStepError
from watchdog.daemon.kill.actions.alert import AlertKill


class Hook:
    """A webhook receiver that fails the first `failures` requests and records every body."""

    def __init__(self, failures: int = 0, delay_s: float = 0.0) -> None:
        self.failures = failures
        self.delay_s = delay_s
        self.bodies: list[dict[str, Any]] = []
        self.url = ""
        self._arrived = asyncio.Condition()

    async def wait_for_bodies(self, count: int) -> None:
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.bodies) >= count), 10)

    async def handle(self, request: web.Request) -> web.Response:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.bodies.append(await request.json())
        async with self._arrived:
            self._arrived.notify_all()
        if len(self.bodies) <= self.failures:
            return web.Response(status=500)
        return web.Response(status=204)


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    runners: list[web.AppRunner] = []

    async def start(hook: Hook) -> Hook:
        app = web.Application()
        app.router.add_post("/hook", hook.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        hook.url = f"http://127.0.0.1:{port}/hook"
        return hook

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_the_kill_alert_is_retried_until_every_webhook_took_it(serve: Any) -> None:
    good, flaky = await serve(Hook()), await serve(Hook(failures=2))
    alerter = Alerter(AlertConfig((good.url, flaky.url), timeout_s=2.0), SystemClock(), "host")
    await alerter.start()
    action = AlertKill(alerter, "alpha", "k1", "drawdown: hard")
    with pytest.raises(KillStepError, match="1 of 2 webhooks failed"):
        await action.attempt()
    with pytest.raises(KillStepError):
        await action.attempt()
    assert await action.attempt() == "delivered to 2 webhooks"
    assert await action.verify()
    assert len(good.bodies) == 1  # delivered once, not re-sent on the flaky one's retries
    assert flaky.bodies[-1] == {
        "kind": "kill",
        "trader": "alpha",
        "kill_id": "k1",
        "reason": "drawdown: hard",
    }
    await alerter.close()


async def test_a_slow_webhook_times_out_instead_of_hanging(serve: Any) -> None:
    slow = await serve(Hook(delay_s=1.5))
    alerter = Alerter(AlertConfig((slow.url,), timeout_s=0.2), SystemClock(), "host")
    await alerter.start()
    began = asyncio.get_running_loop().time()
    assert await alerter.post_once([slow.url], {"kind": "test"}) == set()
    assert asyncio.get_running_loop().time() - began < 3.0
    await alerter.close()


async def test_notify_returns_at_once_and_the_worker_delivers_with_retries(serve: Any) -> None:
    flaky = await serve(Hook(failures=1))
    alerter = Alerter(AlertConfig((flaky.url,), timeout_s=2.0, retries=3), SystemClock(), "h")
    await alerter.start()
    alerter.notify("state", "alpha", state="HALTED")  # synchronous: never waits for HTTP
    assert flaky.bodies == []
    worker = asyncio.create_task(alerter.run())
    await flaky.wait_for_bodies(2)
    worker.cancel()
    assert [b["kind"] for b in flaky.bodies] == ["state", "state"]
    assert flaky.bodies[0]["state"] == "HALTED"
    await alerter.close()
