"""The venue service against a scripted venue on loopback: self-check holds and releases,
reconciliation feeds the supervisor, and alerts say what failed."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from websockets.asyncio.server import ServerConnection, serve

from risk.events import (
    AccountSnapshot,
    EventSource,
    OpenOrdersSnapshot,
    PositionSnapshot,
    RiskEvent,
)
from tests.support.logs import JsonLines
from tests.watchdog.venues.fake_venue import FakeVenue, Reply, running
from watchdog.clock import SystemClock
from watchdog.daemon.venue.kinds import connect_binance, connect_okx
from watchdog.daemon.venue.service import (
    SELFCHECK_HOLD,
    STREAM_HOLD,
    UNVALUED_HOLD,
    VenueService,
)
from watchdog.daemon.venue.settings import VenueSettings
from watchdog.venues import Credentials, VenueEndpoint
from watchdog.venues.base import SubAccountRef
from watchdog.venues.okx import OkxEndpoint

ACCOUNT = Credentials("WATCHDOGACCOUNTKEY", "account-secret")
MASTER = Credentials("WATCHDOGMASTERKEY0", "master-secret")
EMAIL = "trader@sub.example"

ACCOUNT_BODY = {
    "totalMarginBalance": "1000", "totalWalletBalance": "1000", "totalUnrealizedProfit": "0",
    "availableBalance": "1000", "positions": [],
}  # fmt: skip
REFUSED = Reply(401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action"})


class Listener:
    def __init__(self) -> None:
        self.events: list[RiskEvent] = []
        self.holds: dict[str, str] = {}
        self.log: list[str] = []

    def on_venue(self, events: Sequence[RiskEvent]) -> None:
        self.events.extend(events)

    def hold(self, key: str, reason: str) -> None:
        self.holds[key] = reason
        self.log.append(f"hold {key}")

    def release(self, key: str) -> None:
        if self.holds.pop(key, None) is not None:
            self.log.append(f"release {key}")

    def venue_stream_connected(self) -> None:
        self.log.append("stream connected")


class Alerts:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, object]]] = []

    def notify(self, kind: str, trader: str, **detail: object) -> None:
        self.sent.append((kind, detail))


@pytest.fixture
async def venue() -> AsyncIterator[FakeVenue]:
    secrets = {ACCOUNT.api_key: ACCOUNT.secret, MASTER.api_key: MASTER.secret}
    async with running(FakeVenue(secrets=secrets)) as v:
        v.defaults["GET /fapi/v1/time"] = Reply(200, {"serverTime": int(time.time() * 1000)})
        v.defaults["GET /fapi/v2/account"] = Reply(200, ACCOUNT_BODY)
        v.defaults["GET /fapi/v1/openOrders"] = Reply(200, [])
        v.defaults["GET /sapi/v1/sub-account/list"] = Reply(
            200, {"subAccounts": [{"email": EMAIL}]}
        )
        yield v


def _settings(venue: FakeVenue, selfcheck_s: float = 60.0) -> VenueSettings:
    return VenueSettings(
        kind="binance_futures", connect=connect_binance(VenueEndpoint(venue.base_url)), ws_url=None,
        account=ACCOUNT, master=MASTER, trader=SubAccountRef("TRADERKEY", email=EMAIL),
        symbols=("BTCUSDT",), dms=None,
        reconcile_period_s=0.05, selfcheck_period_s=selfcheck_s, flatten=False,
    )  # fmt: skip


async def _until(condition: Callable[[], Any], what: str) -> None:
    deadline = time.monotonic() + 10.0
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


async def _serve(
    settings: VenueSettings, listener: Listener, alerts: Alerts, until: Callable[[], Any], what: str
) -> None:
    """Open, attach and run the service as the daemon does, until `until()` holds."""
    service = VenueService({"t": settings}, clock=SystemClock(), alerts=alerts,
                           registry=CollectorRegistry())  # fmt: skip
    await service.open()
    service.attach({"t": listener})
    try:
        async with asyncio.TaskGroup() as group:
            task = group.create_task(service.run())
            try:
                await _until(until, what)
            finally:
                task.cancel()
    finally:
        await service.close()


async def test_reconciliation_feeds_venue_events_to_the_supervisor(venue: FakeVenue) -> None:
    listener = Listener()
    await _serve(_settings(venue), listener, Alerts(),
                 lambda: any(isinstance(e, AccountSnapshot) for e in listener.events),
                 "an account snapshot")  # fmt: skip
    account = next(e for e in listener.events if isinstance(e, AccountSnapshot))
    assert account.source is EventSource.VENUE
    assert account.equity == 1000.0
    assert listener.holds == {}


async def test_a_refused_master_key_holds_the_trader_and_a_working_one_releases_it(
    venue: FakeVenue,
) -> None:
    venue.script("GET /sapi/v1/sub-account/list", REFUSED)
    listener, alerts = Listener(), Alerts()
    await _serve(_settings(venue, selfcheck_s=0.1), listener, alerts,
                 lambda: listener.log[-1:] == [f"release {SELFCHECK_HOLD}"],
                 "released once the key works again")  # fmt: skip
    assert listener.log == [f"hold {SELFCHECK_HOLD}", f"release {SELFCHECK_HOLD}"]
    kind, detail = alerts.sent[0]
    assert kind == "venue_selfcheck_failed"
    assert "master key: key refused" in str(detail["detail"])


async def test_a_master_key_that_does_not_manage_the_traders_account_fails_closed(
    venue: FakeVenue,
) -> None:
    venue.defaults["GET /sapi/v1/sub-account/list"] = Reply(200, {"subAccounts": []})
    listener = Listener()
    await _serve(_settings(venue), listener, Alerts(),
                 lambda: SELFCHECK_HOLD in listener.holds, "held")  # fmt: skip
    assert "not managed by this master key" in listener.holds[SELFCHECK_HOLD]


async def test_failing_reconciliation_alerts_once_per_outage(venue: FakeVenue) -> None:
    venue.defaults["GET /fapi/v2/account"] = Reply(503, None)
    alerts = Alerts()
    tries = venue.calls
    await _serve(_settings(venue), Listener(), alerts,
                 lambda: len(tries("GET /fapi/v2/account")) >= 12, "a dozen tries")  # fmt: skip
    kinds = [kind for kind, _ in alerts.sent]
    assert kinds.count("venue_reconcile_failing") == 1


async def test_the_venue_jobs_log_lines_name_their_trader(
    venue: FakeVenue, json_logs: JsonLines
) -> None:
    venue.defaults["GET /fapi/v2/account"] = Reply(503, None)

    def failures() -> list[dict[str, Any]]:
        return [line for line in json_logs() if line["event"] == "venue_reconcile_failed"]

    await _serve(_settings(venue), Listener(), Alerts(), failures, "a failed reconcile logged")
    assert {line.get("trader") for line in failures()} == {"t"}


def _okx(data: list[Any]) -> Reply:
    return Reply(200, {"code": "0", "msg": "", "data": data})


OKX_POSITION = {"instId": "BTC-USDT-SWAP", "posSide": "net", "pos": "2", "avgPx": "50000",
                "upl": "10", "markPx": "50100"}  # fmt: skip
OKX_INVERSE = {**OKX_POSITION, "instId": "BTC-USD-SWAP", "pos": "-7"}


async def test_a_position_the_view_cannot_value_halts_by_name_until_it_is_gone() -> None:
    """An inverse swap on an OKX account: its PnL is not in the USDT equity, so the view is
    incomplete. That is an unknown: HALTED with the instrument named and one alert, never a
    failed read (blind) nor a silently smaller view; released once the venue shows none."""
    trader = SubAccountRef("T" * 18, sub_account="trader1")
    usdt = {"ccy": "USDT", "eq": "1010", "cashBal": "1000", "upl": "10", "availEq": "900"}
    async with running(FakeVenue(secrets={})) as venue:
        venue.defaults.update({
            "GET /api/v5/public/time": _okx([{"ts": str(int(time.time() * 1000))}]),
            "GET /api/v5/public/instruments": _okx(
                [{"instId": "BTC-USDT-SWAP", "ctVal": "0.01", "ctMult": "1"}]
            ),
            "GET /api/v5/account/balance": _okx([{"details": [usdt]}]),
            "GET /api/v5/account/positions": _okx([OKX_INVERSE, OKX_POSITION]),
            "GET /api/v5/trade/orders-pending": _okx([]),
            "GET /api/v5/account/config": _okx(
                [{"uid": "1", "mainUid": "1", "ip": "127.0.0.1", "perm": "read_only,trade"}]
            ),
            "GET /api/v5/users/subaccount/apikey": _okx([{"apiKey": trader.api_key}]),
        })  # fmt: skip
        settings = VenueSettings(
            kind="okx", connect=connect_okx(OkxEndpoint(venue.base_url)), ws_url=None,
            account=Credentials("A" * 18, "a", passphrase="p"),
            master=Credentials("M" * 18, "m", passphrase="p"), trader=trader,
            symbols=("BTCUSDT",), dms=None,
            reconcile_period_s=0.05, selfcheck_period_s=60.0, flatten=False,
        )  # fmt: skip
        listener, alerts = Listener(), Alerts()
        calls = venue.calls

        def cleared_after_hold() -> bool:
            if UNVALUED_HOLD in listener.holds:
                venue.defaults["GET /api/v5/account/positions"] = _okx([OKX_POSITION])
            return listener.log[-1:] == [f"release {UNVALUED_HOLD}"]

        await _serve(settings, listener, alerts, cleared_after_hold, "held, then released")
    assert listener.log.count(f"hold {UNVALUED_HOLD}") == 1
    ((kind, detail),) = alerts.sent
    assert kind == "venue_unvalued_positions"
    assert "cannot value: BTC-USD-SWAP" in str(detail["detail"])
    assert len(calls("GET /api/v5/account/positions")) >= 2


def _account_update(position: dict[str, str]) -> bytes:
    return orjson.dumps({"e": "ACCOUNT_UPDATE", "E": int(time.time() * 1000), "T": 0, "a": {
        "m": "ORDER", "B": [{"a": "USDT", "wb": "990", "cw": "990", "bc": "0"}],
        "P": [{"s": "BTCUSDT", "up": "0", "mt": "cross", "iw": "0", "ps": "BOTH", **position}],
    }})  # fmt: skip


@pytest.mark.parametrize(
    ("position", "named"),
    [
        ({"pa": "1", "ep": "0"}, "BTCUSDT: entry 0 for a position of 1"),
        ({"pa": "one", "ep": "60000"}, "ACCOUNT_UPDATE.a.P[0].pa: expected a decimal"),
    ],
)
async def test_a_malformed_account_update_holds_by_name_until_a_read_asked_for_at_once(
    venue: FakeVenue, position: dict[str, str], named: str
) -> None:
    """The view has lost an update: an unknown, HALTED by name and alerted; the next read (asked
    for at once, not at the next period, 30 s away) holds what was lost and releases it."""
    venue.defaults["POST /fapi/v1/listenKey"] = Reply(200, {"listenKey": "k"})
    venue.defaults["PUT /fapi/v1/listenKey"] = Reply(200, {})

    async def handler(ws: ServerConnection) -> None:
        await ws.send(_account_update(position).decode())
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        settings = dataclasses.replace(
            _settings(venue), ws_url=f"ws://127.0.0.1:{port}", reconcile_period_s=30.0
        )
        listener, alerts = Listener(), Alerts()
        await _serve(settings, listener, alerts,
                     lambda: listener.log[-1:] == [f"release {STREAM_HOLD}"],
                     "held, then released by a read")  # fmt: skip
    assert listener.log.count(f"hold {STREAM_HOLD}") == 1
    (detail,) = [d for k, d in alerts.sent if k == "venue_stream_fault"]
    assert named in str(detail["detail"])
    assert len(venue.calls("GET /fapi/v2/account")) >= 2  # the start's read, and the one asked for


ACCOUNT_READ = "GET /fapi/v2/account"


@dataclasses.dataclass
class HeldVenue(FakeVenue):
    """Answers the account read from its `held_from`-th request on only once `answer` is set:
    a reconciliation in flight for as long as the test wants (the start's self-check is the
    first account read, the first reconciliation the second)."""

    held_from: int = 2
    answer: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        response = await super().handle(request)  # recorded now: the read is in flight
        route = f"{request.method} {request.path}"
        if route == ACCOUNT_READ and len(self.calls(ACCOUNT_READ)) >= self.held_from:
            await self.answer.wait()
        return response


@contextlib.asynccontextmanager
async def _streaming(
    venue: FakeVenue, script: Callable[[ServerConnection], Awaitable[None]]
) -> AsyncIterator[VenueSettings]:
    """A user-data stream on loopback playing `script`; reconciliation every 30 s, so any read
    within the test's deadline after the first was asked for at once."""
    venue.defaults["POST /fapi/v1/listenKey"] = Reply(200, {"listenKey": "k"})
    venue.defaults["PUT /fapi/v1/listenKey"] = Reply(200, {})

    async def handler(ws: ServerConnection) -> None:
        await script(ws)
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        yield dataclasses.replace(
            _settings(venue), ws_url=f"ws://127.0.0.1:{port}", reconcile_period_s=30.0
        )


async def test_reads_asked_for_while_a_read_is_in_flight_run_once_more_when_it_ends() -> None:
    """Two stream faults while the first reconciliation is in flight: that read began before
    them, so it cannot release the hold; one more read (not two, not the next period's, 30 s
    away) runs as soon as it ends, and releases it."""
    secrets = {ACCOUNT.api_key: ACCOUNT.secret, MASTER.api_key: MASTER.secret}
    held = HeldVenue(secrets=secrets)
    async with running(held) as venue:
        _answer_like_the_fixture(venue)
        listener, alerts = Listener(), Alerts()
        faults = f"hold {STREAM_HOLD}"

        async def two_faults_during_the_read(ws: ServerConnection) -> None:
            await _until(lambda: len(venue.calls(ACCOUNT_READ)) >= 2, "a read in flight")
            for _ in range(2):
                await ws.send(_account_update({"pa": "1", "ep": "0"}).decode())

        def released_after_both() -> bool:
            if listener.log.count(faults) == 2:
                held.answer.set()
            return listener.log[-1:] == [f"release {STREAM_HOLD}"]

        async with _streaming(venue, two_faults_during_the_read) as settings:
            await _serve(settings, listener, alerts, released_after_both, "released by a read")
    assert len(venue.calls(ACCOUNT_READ)) == 3  # the self-check, the read in flight, one more


async def test_a_fill_on_the_stream_while_a_read_is_in_flight_outlives_the_read() -> None:
    """The venue answers a read from its state before a fill its stream has already sent: the
    view keeps the fill, and the last the engine hears after that read is the fill's account and
    position, not the read's."""
    secrets = {ACCOUNT.api_key: ACCOUNT.secret, MASTER.api_key: MASTER.secret}
    held = HeldVenue(secrets=secrets, held_from=3)
    async with running(held) as venue:
        _answer_like_the_fixture(venue)
        listener, alerts = Listener(), Alerts()

        def equity_of_the_fill() -> bool:
            return any(isinstance(e, AccountSnapshot) and e.equity == 990.0
                       for e in listener.events)  # fmt: skip

        async def a_fill_during_a_read(ws: ServerConnection) -> None:
            def read() -> bool:
                return any(isinstance(e, OpenOrdersSnapshot) for e in listener.events)

            await _until(read, "the first reconciliation")
            await ws.send(_account_update({"pa": "1", "ep": "0"}).decode())  # asks for a read
            await _until(lambda: len(venue.calls(ACCOUNT_READ)) >= 3, "that read in flight")
            await ws.send(_account_update({"pa": "1", "ep": "60000"}).decode())

        def answered_after_the_fill() -> bool:
            if equity_of_the_fill():
                held.answer.set()
            return listener.log[-1:] == [f"release {STREAM_HOLD}"]

        async with _streaming(venue, a_fill_during_a_read) as settings:
            await _serve(settings, listener, alerts, answered_after_the_fill, "the read answered")
    accounts = [e for e in listener.events if isinstance(e, AccountSnapshot)]
    positions = [e for e in listener.events if isinstance(e, PositionSnapshot)]
    assert [a.equity for a in accounts[-2:]] == [1000.0, 990.0]  # the read's, then the fill's
    assert positions[-1].symbol == "BTCUSDT"
    assert positions[-1].qty == 1.0


def _answer_like_the_fixture(venue: FakeVenue) -> None:
    venue.defaults["GET /fapi/v1/time"] = Reply(200, {"serverTime": int(time.time() * 1000)})
    venue.defaults[ACCOUNT_READ] = Reply(200, ACCOUNT_BODY)
    venue.defaults["GET /fapi/v1/openOrders"] = Reply(200, [])
    venue.defaults["GET /sapi/v1/sub-account/list"] = Reply(
        200, {"subAccounts": [{"email": EMAIL}]}
    )
