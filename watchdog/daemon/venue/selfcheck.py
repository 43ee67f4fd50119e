"""Self-check: the watchdog's own keys must work, or it cannot kill: then it fails closed.

At start and periodically: a signed read with the account key (the key that cancels, reads and
arms the dead man's switch) and a harmless signed read with the master key (the key that
deletes the trader's key). A failure is reported to the daemon, which alerts and HALTs the
trader. A venue outage is reported as such: it fails closed all the same, since a watchdog
that cannot reach the venue cannot kill there either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from watchdog.clock import Clock
from watchdog.venues.errors import KeyRefused, VenueError

Check = Callable[[], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class SelfCheckResult:
    ok: bool
    account_key: str  # "ok: ..." or why not
    master_key: str
    checked_wall: float

    @property
    def detail(self) -> str:
        return f"account key: {self.account_key}; master key: {self.master_key}"


class CredentialSelfCheck:
    def __init__(
        self,
        account_check: Check,
        master_check: Check,
        *,
        clock: Clock,
        on_result: Callable[[SelfCheckResult], None],
    ) -> None:
        self._account_check = account_check
        self._master_check = master_check
        self._clock = clock
        self._on_result = on_result
        self._last: SelfCheckResult | None = None

    @property
    def last(self) -> SelfCheckResult | None:
        return self._last

    async def run_once(self) -> SelfCheckResult:
        (account_ok, account), (master_ok, master) = await asyncio.gather(
            _run(self._account_check), _run(self._master_check)
        )
        result = SelfCheckResult(account_ok and master_ok, account, master, self._clock.wall())
        self._last = result
        self._on_result(result)
        return result


async def _run(check: Check) -> tuple[bool, str]:
    try:
        return True, f"ok: {await check()}"
    except KeyRefused as exc:
        return False, f"key refused by the venue (deleted, wrong IP or permissions): {exc}"
    except VenueError as exc:
        return False, f"{type(exc).__name__}: {exc}"
