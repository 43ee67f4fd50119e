"""A scripted trader for the chaos scenarios: a real process that trades like a small market
maker and obeys its watchdog, so every scenario can watch what a well-behaved bot does.

    python -m tests.chaos.scenarios.bot --config bot.json

It embeds `killswitch_client` (heartbeats, equity, feed age, order events), follows the venue's
bookTicker stream, and keeps `orders_per_symbol` resting buy orders per symbol (far below the
market: they never fill) while both its watchdog allows new orders and its feed is fresh.
Otherwise it cancels everything of its own and pauses; it resumes when both are fine again.

Its status goes to `status_file` (JSON, atomically, every 50 ms): the watchdog state it obeys,
whether it heard KILLED, pause/resume times (CLOCK_MONOTONIC, comparable across processes),
order counters. With `reckless` it keeps placing orders whatever its watchdog says: a bot
with a bug, to prove that the venue refuses its key after a kill.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import time
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import aiohttp
from killswitch_client import AsyncClient, ClientConfig, TradingState, load_key

from watchdog.venues import (
    BinanceFutures,
    OrderType,
    Side,
    TimeInForce,
    VenueEndpoint,
    VenueError,
    load_credentials,
    open_session,
)

# Resting prices are this share of the last bid: far from the market, they never fill.
REST_AT = Decimal("0.9")
QTY = {"BTCUSDT": Decimal("0.002"), "ETHUSDT": Decimal("0.01")}
TICK = {"BTCUSDT": Decimal("0.1"), "ETHUSDT": Decimal("0.01")}


@dataclass(frozen=True)
class BotConfig:
    trader_id: str
    hmac_key_file: Path
    watchdog: str | tuple[str, int]
    rest_url: str
    ws_url: str
    credentials_file: Path
    status_file: Path
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
    orders_per_symbol: int = 2
    heartbeat_interval_s: float = 0.05
    ack_timeout_s: float = 0.5
    feed_max_age_s: float = 1.0
    request_timeout_s: float = 1.0
    trade: bool = True
    reckless: bool = False

    @classmethod
    def load(cls, path: Path) -> BotConfig:
        raw: dict[str, Any] = json.loads(path.read_text())
        watchdog = raw.pop("watchdog")
        return cls(
            watchdog=watchdog if isinstance(watchdog, str) else (watchdog[0], int(watchdog[1])),
            hmac_key_file=Path(raw.pop("hmac_key_file")),
            credentials_file=Path(raw.pop("credentials_file")),
            status_file=Path(raw.pop("status_file")),
            symbols=tuple(raw.pop("symbols", cls.symbols)),
            **raw,
        )


@dataclass
class BotStatus:
    pid: int = field(default_factory=os.getpid)
    session: str = ""
    datagrams_sent: int = 0
    state: str = "HALTED"
    heard_killed: bool = False
    trading: bool = False
    feed_fresh: bool = False
    feed_age_s: float | None = None
    feed_connects: int = 0
    placed: int = 0  # orders the venue accepted
    refused: int = 0  # orders the venue refused (with the reason counted below)
    refusals: dict[str, int] = field(default_factory=dict)
    attempts_while_killed: int = 0
    cancel_rounds: int = 0
    pauses: list[float] = field(default_factory=list)  # CLOCK_MONOTONIC
    resumes: list[float] = field(default_factory=list)
    equity: float | None = None


class Bot:
    def __init__(self, config: BotConfig) -> None:
        self.config = config
        self.status = BotStatus()
        self.last_event_ms: dict[str, int] = {}
        self.last_bid: dict[str, Decimal] = {}
        self.mine: dict[str, int] = dict.fromkeys(config.symbols, 0)  # my resting orders
        self.paused = True
        self.n = 0

    async def run(self) -> None:
        config = self.config
        client_config = ClientConfig(
            trader_id=config.trader_id,
            key=load_key(config.hmac_key_file),
            address=config.watchdog,
            heartbeat_interval=config.heartbeat_interval_s,
            ack_timeout=config.ack_timeout_s,
        )
        creds = load_credentials(config.credentials_file)
        session = open_session()
        endpoint = VenueEndpoint(config.rest_url, request_timeout_s=config.request_timeout_s)
        venue = BinanceFutures(session, endpoint, creds)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        try:
            async with AsyncClient(client_config) as client:
                self.status.session = client.session_id.hex()
                async with asyncio.TaskGroup() as group:
                    tasks = [
                        group.create_task(self._feed(session)),
                        group.create_task(self._account(venue, client)),
                        group.create_task(self._trade(venue, client)),
                        group.create_task(self._report(client)),
                    ]
                    await stop.wait()
                    for task in tasks:
                        task.cancel()
        finally:
            await session.close()

    # -- market data ----------------------------------------------------------------------

    async def _feed(self, session: aiohttp.ClientSession) -> None:
        """Follow bookTicker; a stream silent for `feed_max_age_s` is dropped and redialled
        (a silent stall is only ever caught by a timer)."""
        streams = "/".join(f"{s.lower()}@bookTicker" for s in self.config.symbols)
        url = f"{self.config.ws_url}/stream?streams={streams}"
        while True:
            try:
                async with session.ws_connect(
                    url, timeout=aiohttp.ClientWSTimeout(ws_close=1.0), autoping=True
                ) as ws:
                    self.status.feed_connects += 1
                    while True:
                        msg = await ws.receive(timeout=self.config.feed_max_age_s)
                        if msg.type is not aiohttp.WSMsgType.TEXT:
                            break
                        self._on_ticker(json.loads(msg.data)["data"])
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError, KeyError):
                pass  # a dead feed is the scenario: redial below
            await asyncio.sleep(0.1)

    def _on_ticker(self, data: dict[str, Any]) -> None:
        symbol = str(data["s"])
        self.last_event_ms[symbol] = int(data["E"])
        self.last_bid[symbol] = Decimal(str(data["b"]))

    def feed_age_s(self) -> float | None:
        """The oldest symbol's age by the venue's own event time: latency makes data old."""
        if len(self.last_event_ms) < len(self.config.symbols):
            return None
        return time.time() - min(self.last_event_ms.values()) / 1000

    # -- telemetry --------------------------------------------------------------------------

    async def _account(self, venue: BinanceFutures, client: AsyncClient) -> None:
        while True:
            try:
                view = await venue.account()
            except VenueError:
                pass  # no fresh equity this round; the watchdog reads the venue on its own
            else:
                equity = float(view.equity)
                self.status.equity = equity
                client.report_account(equity, 0.0, float(view.unrealized))
            await asyncio.sleep(0.25)

    async def _report(self, client: AsyncClient) -> None:
        while True:
            for symbol, ms in self.last_event_ms.items():
                client.report_feed(symbol, ms / 1000)
            age = self.feed_age_s()
            status = self.status
            status.state = client.state.name
            status.heard_killed = status.heard_killed or client.state is TradingState.KILLED
            status.feed_age_s = age
            status.feed_fresh = age is not None and age < self.config.feed_max_age_s
            status.trading = not self.paused
            status.datagrams_sent = client.counters.sent
            _write_json(self.config.status_file, status.__dict__)
            await asyncio.sleep(0.05)

    # -- trading ------------------------------------------------------------------------------

    async def _trade(self, venue: BinanceFutures, client: AsyncClient) -> None:
        while True:
            fresh = self.status.feed_fresh
            allowed = client.state.allows_new_orders and fresh and self.config.trade
            if self.config.reckless and client.state is TradingState.KILLED:
                self.status.attempts_while_killed += 1
                await self._top_up(venue, client, reckless=True)
            elif allowed:
                if self.paused:
                    self.paused = False
                    self.status.resumes.append(time.monotonic())
                await self._top_up(venue, client, reckless=False)
            elif not self.paused:
                self.paused = True
                self.status.pauses.append(time.monotonic())
                await self._cancel_mine(venue, client)
            await asyncio.sleep(0.05)

    async def _top_up(self, venue: BinanceFutures, client: AsyncClient, *, reckless: bool) -> None:
        for symbol in self.config.symbols:
            if self.mine[symbol] >= self.config.orders_per_symbol and not reckless:
                continue
            bid = self.last_bid.get(symbol)
            if bid is None:
                continue
            price = (bid * REST_AT / TICK[symbol]).to_integral_value(ROUND_DOWN) * TICK[symbol]
            self.n += 1
            # The client order id goes with every report: the watchdog matches the venue's
            # acknowledgement to it, and an order it cannot match is key misuse.
            order_id = f"bot-{os.getpid()}-{self.n}"
            client.report_order(
                "SUBMIT", symbol, "BUY", float(QTY[symbol]), float(price), order_id=order_id
            )
            try:
                await venue.new_order(
                    symbol,
                    Side.BUY,
                    OrderType.LIMIT,
                    QTY[symbol],
                    price=price,
                    time_in_force=TimeInForce.GTC,
                    client_order_id=order_id,
                )
            except VenueError as exc:
                reason = type(exc).__name__
                self.status.refused += 1
                self.status.refusals[reason] = self.status.refusals.get(reason, 0) + 1
                client.report_order(
                    "REJECT",
                    symbol,
                    "BUY",
                    float(QTY[symbol]),
                    float(price),
                    reason=reason,
                    order_id=order_id,
                )
                return
            self.mine[symbol] += 1
            self.status.placed += 1
            client.report_order(
                "ACK", symbol, "BUY", float(QTY[symbol]), float(price), order_id=order_id
            )

    async def _cancel_mine(self, venue: BinanceFutures, client: AsyncClient) -> None:
        """Cancel every order of mine, a few tries per symbol: a venue that cannot be reached
        is the watchdog's and the venue's countdown's job, and must not freeze the bot."""
        self.status.cancel_rounds += 1
        for symbol in self.config.symbols:
            for _ in range(3):
                try:
                    await venue.cancel_all(symbol)
                except VenueError:
                    await asyncio.sleep(0.1)
                    continue
                break
            for _ in range(self.mine[symbol]):
                client.report_order("CANCEL", symbol, "BUY", float(QTY[symbol]), 0.0)
            self.mine[symbol] = 0


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(prog="chaos-bot")
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(Bot(BotConfig.load(args.config)).run())


if __name__ == "__main__":
    main()
