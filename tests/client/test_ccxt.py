"""`killswitch_client.ccxt.supervise` with the real ccxt package, the example bot as a real
process, exchange_sim and a real watchdog: a bot that is killed, one that hangs (the asyncio
flavour), one that floods. The venue's own records are the proof. Then the account and
positions the wrapper reports from what the bot reads, judged by a watchdog that has no other
view of the venue."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ccxt
import ccxt.async_support
import killswitch_client.protocol as wire
import pytest
from killswitch_client import AsyncClient, Client, ClientConfig, TradingHalted, TradingState
from killswitch_client.ccxt import OrderReporter, supervise
from killswitch_client.errors import ReportError
from killswitch_client.protocol import decode_telemetry

from demo import configs
from demo.world import World
from harness.configs import HeartbeatLimits, TomlValue
from harness.sim import NEW_ORDER_ENDPOINT, SimConfig, SimProcess
from harness.wait import wait_until
from harness.watchdog_world import ALPHA, WORLD, Workspace
from tests.watchdog.wire import KEY, TRADER

BTC = "BTC/USDT:USDT"
# BTCUSDT as ccxt describes a linear perpetual, enough for it to build an order request.
MARKET = {
    "id": "BTCUSDT", "symbol": BTC, "base": "BTC", "quote": "USDT", "settle": "USDT",
    "baseId": "BTC", "quoteId": "USDT", "settleId": "USDT", "type": "swap", "spot": False,
    "margin": False, "swap": True, "future": False, "option": False, "contract": True,
    "linear": True, "inverse": False, "contractSize": 1, "active": True,
    "precision": {"amount": 0.001, "price": 0.1},
    "limits": {"amount": {"min": 0.001}, "price": {}, "cost": {}},
    "info": {"orderTypes": ["LIMIT", "MARKET"]},
}  # fmt: skip


VENUES = ["binance", "bybit", "okx"]


@pytest.fixture(params=VENUES)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    """The suite on exchange_sim speaking each venue's protocol; the example bot speaks it
    through ccxt's own exchange for that venue (`binanceusdm`, `bybit`, `okx`)."""
    with World(venue=request.param) as built:
        built.start_sim()
        built.write_credentials()
        built.start_watchdog()
        yield built


def status(world: World) -> dict[str, Any]:
    return world.trader_status()


def decided_rules(world: World) -> set[str]:
    """Every rule the watchdog's audit shows in a decision: the status shows only the decisions
    in force, and a halt may have cooled down by the time the test looks."""
    rows = world.watchdog_cli("audit", "--limit", "1000")
    return {
        str(decision.get("rule"))
        for row in rows
        if row.get("kind") == "decision"
        for decision in (row.get("detail") or {}).get("decisions") or []
    }


def killed_and_swept(world: World) -> bool:
    trader = status(world)
    return trader.get("state") == "KILLED" and bool((trader.get("kill") or {}).get("finished"))


def assert_killed_at_the_venue(world: World) -> None:
    wait_until(lambda: killed_and_swept(world), within=60, what="the kill to finish")
    assert world.open_orders() == []
    client = world.trader_client()
    try:
        assert client.balance().key_refused  # the bot's key was deleted at the venue
    finally:
        client.close()
    assert not world.proc("trader").alive()


def orders_at_the_venue(world: World) -> int:
    endpoint = NEW_ORDER_ENDPOINT[world.venue]
    journal = world.admin.journal()
    return sum(
        1
        for e in journal
        if e["kind"] == "request"
        and e["endpoint"] == endpoint
        and e["account"] == configs.TRADER_ACCOUNT
    )


def test_a_supervised_bot_that_is_killed_leaves_an_empty_book_and_a_dead_key(
    world: World,
) -> None:
    world.start_ccxt_bot()
    world.wait_armed()
    wait_until(lambda: world.open_orders(), what="the bot's orders resting at the venue")
    assert status(world)["state"] == "ACTIVE"  # every order was reported: no key misuse
    world.proc("trader").send(signal.SIGKILL)
    assert_killed_at_the_venue(world)
    assert "process" in str((status(world).get("kill") or {}).get("reason", ""))


def test_a_supervised_async_bot_that_hangs_is_killed(world: World) -> None:
    world.start_ccxt_bot("--async")
    world.wait_armed()
    wait_until(lambda: world.bot_status().get("state") == "ACTIVE", what="the async bot ACTIVE")
    wait_until(lambda: world.open_orders(), what="the async bot's orders at the venue")
    world.proc("trader").send(signal.SIGSTOP)
    assert_killed_at_the_venue(world)
    assert "heartbeat" in str((status(world).get("kill") or {}).get("reason", ""))


def test_a_flooding_bot_is_stopped_by_its_own_wrapper_once_the_watchdog_says_so(
    world: World,
) -> None:
    world.start_ccxt_bot("--flood")
    wait_until(
        lambda: world.bot_status().get("refused", 0) > 0,
        within=60,
        what="create_order refused by the client (TradingHalted)",
    )
    rules = decided_rules(world)
    assert rules & {"order_rate", "open_orders"}, rules
    assert "key_misuse" not in rules  # every order that left was reported first
    # Every order the venue took was one the bot placed through the wrapper: none slipped
    # past a refusal (the bot counts a placed order once the venue answered it). The bot goes
    # on between the reads (a refusal may be brief): the venue first, then the bot's count,
    # which by then includes every order the venue had answered (read from its file: a
    # sustained breach may have killed the bot meanwhile).
    at_the_venue = orders_at_the_venue(world)
    now = json.loads(world.bot_status_path.read_text())
    assert at_the_venue <= now["placed"] + now["errors"] + 1  # +1: one in flight at the read


# -- without a venue: what the wrapper refuses or reports before anything is answered ----------


def halted_exchange(tmp_path: Path) -> tuple[Any, socket.socket]:
    """A supervised binanceusdm whose endpoints lead to a closed port, and the datagram socket
    its client reports to (nobody acks: the client stays HALTED, fail-closed)."""
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(str(tmp_path / "wd.sock"))
    sink.settimeout(10)
    client = Client(ClientConfig(TRADER, KEY, str(tmp_path / "wd.sock"), 5.0, 10.0))
    exchange = ccxt.binanceusdm({"apiKey": "k", "secret": "s", "enableRateLimit": False})
    for name, url in list(exchange.urls["api"].items()):
        if isinstance(url, str):
            exchange.urls["api"][name] = "http://127.0.0.1:9" + url[url.find("/", 8) :]
    exchange.set_markets([MARKET])
    return supervise(exchange, client), sink


def reported_orders(sink: socket.socket) -> list[wire.OrderEvent]:
    """The order events of every datagram the client sent so far."""
    sink.setblocking(False)
    orders: list[wire.OrderEvent] = []
    with contextlib.suppress(BlockingIOError):
        while True:
            events = decode_telemetry(sink.recv(2048), {TRADER: KEY}.get).events
            orders += [e for e in events if isinstance(e, wire.OrderEvent)]
    return orders


def test_without_a_fresh_ack_new_orders_and_edits_are_refused_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    exchange, sink = halted_exchange(tmp_path)
    with contextlib.closing(sink), exchange.killswitch.client:
        assert isinstance(exchange, ccxt.binanceusdm)  # the same interface, subclassed
        with pytest.raises(TradingHalted, match="HALTED"):
            exchange.create_limit_buy_order(BTC, 0.01, 50_000)  # ccxt's helper: still checked
        with pytest.raises(TradingHalted):
            exchange.edit_order("1", BTC, "limit", "buy", 0.02, 50_000)
        with pytest.raises(ccxt.NotSupported):
            exchange.create_orders([])
        assert reported_orders(sink) == []  # nothing was reported: nothing was sent


def test_a_reduce_only_order_passes_halted_and_a_network_error_is_reported_as_nothing(
    tmp_path: Path,
) -> None:
    exchange, sink = halted_exchange(tmp_path)
    with contextlib.closing(sink), exchange.killswitch.client:
        with pytest.raises(ccxt.NetworkError):  # the closed port: the order's fate is unknown
            exchange.create_order(BTC, "market", "sell", 0.01, None, {"reduceOnly": True})
        sent = wait_until(lambda: reported_orders(sink), within=10, what="the SUBMIT report")
    assert [(o.kind, o.symbol, o.side, o.price) for o in sent] == [
        ("SUBMIT", "BTCUSDT", "SELL", 0.0)
    ]
    assert sent[0].order_id.startswith("ks")  # the id the wrapper set as clientOrderId


# -- the account and positions the bot reads, reported: a watchdog with no venue view judges ---

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ccxt_bot.py"
# The symbol's position limit: the test's one market order (0.01 BTC, ~600 USDT) breaches it.
POSITION_LIMIT: dict[str, dict[str, TomlValue]] = {
    "position": {"max_symbol_notional": {"quote": 300.0}, "cooldown_s": 0.5}
}
LENIENT = HeartbeatLimits(interval_s=0.1, warn_after_s=2.0, halt_after_s=4.0, kill_after_s=8.0)
# The Bybit front serves at most 50 positions a page; ccxt asks for 200 unless told.
POSITION_PARAMS = {"binance": {}, "bybit": {"limit": 50}, "okx": {}}
ORDER_BTC = 0.01  # the test's market order, in BTC (ccxt's amount: contracts of contractSize)


def example_bot() -> Any:
    """The example bot's module: its own way of pointing ccxt at exchange_sim."""
    spec = importlib.util.spec_from_file_location("ccxt_bot", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def passphrase(venue: str, sim: SimProcess) -> str:
    """The trader key's passphrase where the venue has one (OKX)."""
    return sim.trader_key.passphrase if venue == "okx" else ""


class SyncBot:
    """A supervised ccxt exchange and its threaded `Client`, called from the test's thread."""

    def __init__(self, venue: str, sim: SimProcess, space: Workspace) -> None:
        self.client = Client(
            trader_id="alpha", address=str(space.ingress), key_file=space.root / "alpha.key"
        )
        key = sim.trader_key
        made = example_bot().make_exchange(
            ccxt, venue, key.api_key, key.secret, sim.base_url, passphrase(venue, sim)
        )
        self.exchange = supervise(made, self.client)

    def call(self, method: str, *args: Any) -> Any:
        return getattr(self.exchange, method)(*args)

    def close(self) -> None:
        self.client.close()


class AsyncBot:
    """The same through `ccxt.async_support` and `AsyncClient`, on an event loop of its own
    (a thread), called from the test's thread."""

    def __init__(self, venue: str, sim: SimProcess, space: Workspace) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client = AsyncClient(
            trader_id="alpha", address=str(space.ingress), key_file=space.root / "alpha.key"
        )
        self._run(self.client.start())
        key = sim.trader_key
        made = example_bot().make_exchange(
            ccxt.async_support, venue, key.api_key, key.secret, sim.base_url,
            passphrase(venue, sim),
        )  # fmt: skip
        self.exchange = supervise(made, self.client)

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def call(self, method: str, *args: Any) -> Any:
        async def called() -> Any:
            return await getattr(self.exchange, method)(*args)

        return self._run(called())

    def close(self) -> None:
        self._run(self.exchange.close())
        self._run(self.client.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


@dataclass
class Judged:
    """A sim speaking `venue`, and a watchdog that judges trader alpha by its telemetry alone."""

    venue: str
    sim: SimProcess
    space: Workspace

    def decided(self, rule: str) -> bool:
        return any(d["rule"] == rule for d in self.space.trader()["decisions"])


@pytest.fixture(params=VENUES)
def judged(request: pytest.FixtureRequest) -> Iterator[Judged]:
    with tempfile.TemporaryDirectory(prefix="wd-") as name:  # a short Unix socket path
        root = Path(name)
        sim = SimProcess.start(root, SimConfig(book_ticker_hz=0), venue=request.param)
        trader = replace(
            ALPHA,
            pidfile=None,
            credential_file=None,
            heartbeat=LENIENT,
            rules=POSITION_LIMIT,
        )
        space = Workspace(root, WORLD.with_(traders=(trader,)).to_toml())
        try:
            space.start_watchdog()
            yield Judged(request.param, sim, space)
        finally:
            space.cleanup()
            sim.stop()


@pytest.mark.parametrize("flavour", [SyncBot, AsyncBot], ids=["sync", "async"])
def test_the_account_and_positions_the_bot_reads_are_reported(
    judged: Judged, flavour: type[SyncBot] | type[AsyncBot]
) -> None:
    space, params = judged.space, POSITION_PARAMS[judged.venue]
    bot = flavour(judged.venue, judged.sim, space)
    try:
        bot.call("load_markets")
        # Heard, but its equity unknown: the watchdog holds the bot.
        wait_until(lambda: space.trader()["heartbeat_age_s"] is not None, what="heartbeats")
        assert space.state() != "ACTIVE"
        bot.call("fetch_balance")
        wait_until(lambda: space.state() == "ACTIVE", what="ACTIVE once the equity is known")
        # ... and the bot's client has heard it (an ack), or its order would be refused.
        wait_until(lambda: bot.client.state is TradingState.ACTIVE, what="the client ACTIVE")

        amount = ORDER_BTC / bot.exchange.market(BTC)["contractSize"]
        bot.call("create_order", BTC, "market", "buy", amount)
        bot.call("fetch_positions", [BTC], params)
        wait_until(lambda: judged.decided("position"), what="the position over its limit")
        assert space.state() == "REDUCING"

        bot.call("create_order", BTC, "market", "sell", amount, None, {"reduceOnly": True})
        bot.call("fetch_positions", None, params)  # the venue no longer lists it: flat
        wait_until(lambda: space.state() == "ACTIVE", what="ACTIVE once flat")
    finally:
        bot.close()


# -- what an answer leaves unknown is not reported ---------------------------------------------


class Recorder:
    """The reporting calls the wrapper makes, recorded (a client without a watchdog)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def report_account(self, *values: float) -> None:
        self.calls.append(("account", values))

    def report_position(self, *values: Any) -> None:
        self.calls.append(("position", values))

    def check_order(self, *, reduce_only: bool = False) -> None:
        """Every order may go (the state checks have tests of their own above)."""

    def report_order(self, kind: Any, *values: Any, order_id: str = "", reason: str = "") -> None:
        self.calls.append((str(kind), (*values, order_id)))


@dataclass
class Venue:
    """What the wrapper reads of an exchange: its ccxt id and its markets."""

    id: str
    markets: dict[str, Any]


def reporter(
    exchange_id: str = "binanceusdm", market: dict[str, Any] = MARKET
) -> tuple[OrderReporter, Recorder]:
    recorder = Recorder()
    venue = Venue(exchange_id, {BTC: market})
    return OrderReporter(recorder, venue), recorder  # type: ignore[arg-type]


def position(**fields: Any) -> dict[str, Any]:
    return {"symbol": BTC, "contracts": 0.01, "contractSize": 1.0, "side": "long",
            "markPrice": 60_000.0} | fields  # fmt: skip


def test_hedged_rows_net_and_an_unknown_size_or_mark_is_not_reported() -> None:
    wrapper, recorder = reporter()
    hedged = [position(contracts=0.03), position(side="short", contracts=0.01)]
    wrapper.answered("fetch_positions", hedged, (None,), {})
    assert recorder.calls == [("position", ("BTCUSDT", pytest.approx(0.02), 60_000.0))]
    recorder.calls.clear()
    wrapper.answered("fetch_positions", [position(contracts=None)], ([BTC],), {})
    wrapper.answered(
        "fetch_positions", [position(), position(side="short", contracts=None)], (), {}
    )
    wrapper.answered("fetch_position", position(markPrice=None), (BTC,), {})
    assert recorder.calls == []  # neither a size, nor flat, nor a mark is assumed


def test_an_account_is_reported_only_from_an_answer_that_gives_its_equity() -> None:
    wrapper, recorder = reporter()
    asset = {"asset": "USDT", "walletBalance": "1000.5", "unrealizedProfit": "-0.5"}
    wrapper.answered("fetch_balance", {"info": {"assets": [asset]}}, (), {})
    wrapper.answered(
        "fetch_balance", {"info": {"assets": [asset | {"walletBalance": "990.5"}]}}, (), {}
    )
    assert recorder.calls == [("account", (1000.0, 0.0, -0.5)), ("account", (990.0, -10.0, -0.5))]
    recorder.calls.clear()
    wrapper.answered("fetch_balance", {"info": {"assets": [asset | {"asset": "USDC"}]}}, (), {})
    wrapper.answered(
        "fetch_balance", {"info": {"assets": [asset | {"unrealizedProfit": None}]}}, (), {}
    )
    other, others = reporter("kraken")  # a venue whose balance answer the wrapper does not know
    other.answered(
        "fetch_balance", {"info": {"assets": [asset]}, "USDT": {"total": 1000.5}}, (), {}
    )
    assert recorder.calls == others.calls == []


def okx_balance(eq: str | None, upl: str | None) -> dict[str, Any]:
    """ccxt's `okx` balance answer: OKX's own (`GET /api/v5/account/balance`) as its `info`."""
    detail = {"ccy": "USDT", "eq": eq, "upl": upl, "cashBal": "1"}  # cashBal: not the wallet
    return {"info": {"code": "0", "data": [{"details": [detail]}]}, "USDT": {"total": 5.0}}


def test_an_okx_account_is_its_usdt_eq_and_realized_pnl_the_change_of_eq_less_upl() -> None:
    wrapper, recorder = reporter("okx")
    wrapper.answered("fetch_balance", okx_balance("1000.5", "-0.5"), (), {})
    wrapper.answered("fetch_balance", okx_balance("990.5", "-2.5"), (), {})
    wrapper.answered("fetch_balance", okx_balance("990.5", None), (), {})
    wrapper.answered("fetch_balance", okx_balance(None, "-0.5"), (), {})
    assert recorder.calls == [("account", (1000.5, 0.0, -0.5)), ("account", (990.5, -8.0, -2.5))]


OKX_BTC_SWAP = MARKET | {"id": "BTC-USDT-SWAP", "contractSize": 0.01}


def test_a_contract_markets_amounts_are_reported_in_the_base_asset() -> None:
    wrapper, recorder = reporter("okx", OKX_BTC_SWAP)
    with wrapper.placing(BTC, "buy", 2, 50_000.0, None) as placing:
        order_id = placing.params["clientOrderId"]
        answer = {"id": "7", "symbol": BTC, "side": "buy", "price": 50_000.0, "filled": 0.5}
        placing.answer(answer | {"clientOrderId": order_id})
    assert order_id.isalnum()  # OKX's clOrdId takes letters and digits alone
    assert recorder.calls == [
        ("SUBMIT", ("BTC-USDT-SWAP", "BUY", 0.02, 50_000.0, order_id)),
        ("ACK", ("BTC-USDT-SWAP", "BUY", 0.02, 50_000.0, order_id)),
        ("FILL", ("BTC-USDT-SWAP", "BUY", pytest.approx(0.005), 50_000.0, order_id)),
    ]


def test_an_order_on_a_contract_market_of_unknown_size_is_refused_before_it_is_sent() -> None:
    wrapper, recorder = reporter("okx", OKX_BTC_SWAP | {"contractSize": None})
    with pytest.raises(ReportError, match="contract size is unknown"):
        wrapper.placing(BTC, "buy", 2, 50_000.0, None)
    assert recorder.calls == []
