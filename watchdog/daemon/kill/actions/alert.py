"""Tell people: a kill step of its own, so a slow webhook never delays the other actions."""

from __future__ import annotations

from watchdog.daemon.alerts import Alerter
from watchdog.daemon.errors import KillStepError
from watchdog.daemon.kill.action import KillAction, KillContext


class AlertKill:
    name = "alert"

    def __init__(self, alerter: Alerter, trader: str, kill_id: str, reason: str) -> None:
        self._alerter = alerter
        self._payload = {"kind": "kill", "trader": trader, "kill_id": kill_id, "reason": reason}
        self._delivered: set[str] = set()

    async def attempt(self) -> str:
        pending = [url for url in self._alerter.webhooks if url not in self._delivered]
        self._delivered |= await self._alerter.post_once(pending, self._payload)
        missing = len(self._alerter.webhooks) - len(self._delivered)
        if missing:
            raise KillStepError(f"{missing} of {len(self._alerter.webhooks)} webhooks failed")
        return f"delivered to {len(self._delivered)} webhooks"

    async def verify(self) -> bool:
        return len(self._delivered) == len(self._alerter.webhooks)


def alert_factory(context: KillContext) -> KillAction | None:
    if not context.alerter.webhooks:
        return None
    return AlertKill(context.alerter, context.trader.id, context.kill_id, context.reason)
