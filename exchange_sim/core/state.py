"""The running simulator: engine plus journal, faults, streams, its front and background loops.

This is the imperative shell around ``engine.Exchange``: it reads the clock, hands what the
engine queued to the front to render for the user-data channels, and owns the periodic work
(market ticks, countdown checks, channel expiry). It speaks no venue's protocol: the front
(``exchange_sim.fronts``) does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import random
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from aiohttp import web

from exchange_sim.clock import Clock
from exchange_sim.config import SimConfig
from exchange_sim.core.engine import Exchange, Key
from exchange_sim.core.events import UserEvent
from exchange_sim.core.faults import Faults
from exchange_sim.core.journal import Journal
from exchange_sim.core.market import PriceProcess, Quote, price_process
from exchange_sim.core.orders import fmt
from exchange_sim.core.streams import Hub

log = logging.getLogger("exchange_sim")

_TOKEN_ALPHABET = string.ascii_letters + string.digits
# Catch-up cap: a loop that fell more than this many ticks behind drops the backlog.
MAX_TICKS_PER_WAKE = 2000


@dataclass(slots=True)
class Channel:
    """A user-data channel: what a key follows its account's events through (Binance's listen
    key; one authenticated private socket on Bybit). Closed when its key is deleted."""

    token: str
    api_key: str
    account: str
    expires_mono: float  # math.inf: lives as long as its connection


class Front(Protocol):
    """What the core needs from a venue front (``exchange_sim.fronts``)."""

    name: str

    def build_app(self) -> web.Application: ...

    def publish_quote(self, symbol: str, quote: Quote, now_ms: int, update_id: int) -> None:
        """Send a new top of book to the market streams that follow ``symbol``."""

    def render_user_event(self, event: UserEvent) -> list[tuple[str, bytes]]:
        """The event as the venue's user-data messages: (topic, payload) pairs."""

    def expiry_notice(self, channel: Channel, now_ms: int) -> bytes | None:
        """What a channel hears just before it expires (None: nothing)."""


FrontFactory = Callable[["Sim"], Front]


class Sim:
    def __init__(self, config: SimConfig, clock: Clock, front: FrontFactory) -> None:
        self.config = config
        self.clock = clock
        self.engine = Exchange(config, int(clock.wall() * 1000))
        self.journal = Journal(config.journal_size)
        self.faults = Faults()
        self.rng = random.Random(config.market.seed ^ 0x5EED)
        self.hub = Hub(
            self.faults,
            self.rng,
            asyncio.get_running_loop().time,
            send_stamp=config.market.send_stamp,
        )
        self.process: PriceProcess = price_process(config.market, config.symbols)
        self.channels: dict[str, Channel] = {}  # token -> channel
        self._update_id = 0
        self.front = front(self)
        for sym in config.symbols:
            self.tick(sym.symbol)

    @property
    def update_id(self) -> int:
        """How many tops of book have been published: the market streams' update id."""
        return self._update_id

    # ------------------------------------------------------------------ time
    def now_ms(self) -> int:
        return int(self.clock.wall() * 1000)

    # ------------------------------------------------------------------ market
    def tick(self, symbol: str, quote: Quote | None = None) -> None:
        """Advance one symbol's price, match resting orders, publish the new top of book."""
        if quote is None:
            quote = self.process.step(symbol)
        now_ms = self.now_ms()
        self.engine.paused = self.faults.pause_matching
        self.engine.on_quote(symbol, quote, now_ms)
        self._update_id += 1
        self.flush_user_events()
        self.front.publish_quote(symbol, quote, now_ms, self._update_id)

    def jump(self, symbol: str, pct: float) -> Quote:
        quote = self.process.jump(symbol, pct)
        self.tick(symbol, quote)
        self.journal.event(
            self.clock.monotonic(), self.clock.wall(), "price_jump", None, f"{symbol} {pct:+}%"
        )
        return quote

    async def run_market(self) -> None:
        hz = self.config.market.book_ticker_hz
        symbols = [s.symbol for s in self.config.symbols]
        if hz <= 0:
            await asyncio.Event().wait()  # frozen market: only admin price jumps move it
        loop = asyncio.get_running_loop()
        start, emitted = loop.time(), 0
        while True:
            due = int((loop.time() - start) * hz) - emitted
            if due > MAX_TICKS_PER_WAKE:
                emitted += due - MAX_TICKS_PER_WAKE
                due = MAX_TICKS_PER_WAKE
            for _ in range(due):
                for symbol in symbols:
                    self.tick(symbol)
            emitted += due
            await asyncio.sleep(max(0.0, start + (emitted + 1) / hz - loop.time()))

    # ------------------------------------------------------------------ user data
    def flush_user_events(self) -> None:
        outbox = self.engine.outbox
        if not outbox:
            return
        self.engine.outbox = []
        by_account: dict[str, list[str]] = {}
        for channel in self.channels.values():
            by_account.setdefault(channel.account, []).append(channel.token)
        for event in outbox:
            tokens = by_account.get(event.account)
            if not tokens:
                continue
            for topic, payload in self.front.render_user_event(event):
                for token in tokens:
                    self.hub.publish_user(token, payload, topic)

    def channel_for(self, api_key: str) -> Channel | None:
        return next((c for c in self.channels.values() if c.api_key == api_key), None)

    def open_channel(self, key: Key, expires_mono: float = math.inf) -> Channel:
        token = "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(64))
        channel = Channel(token, key.config.api_key, key.account, expires_mono)
        self.channels[token] = channel
        self._update_listening()
        return channel

    def _update_listening(self) -> None:
        self.engine.listening = {c.account for c in self.channels.values()}

    def close_channel(self, channel: Channel, reason: str, final: bytes | None = None) -> None:
        self.channels.pop(channel.token, None)
        self._update_listening()
        self.hub.close(self.hub.by_channel(channel.token), 1000, reason, final)

    def expire_channels(self) -> None:
        now = self.clock.monotonic()
        for channel in [c for c in self.channels.values() if c.expires_mono <= now]:
            final = self.front.expiry_notice(channel, self.now_ms())
            self.close_channel(channel, "listenKeyExpired", final)
            self.journal.event(
                now, self.clock.wall(), "listen_key_expired", channel.account, channel.api_key[:8]
            )

    async def run_channel_expiry(self) -> None:
        period = min(1.0, self.config.listen_key_validity_s / 4)
        while True:
            await asyncio.sleep(period)
            self.expire_channels()

    def delete_key(self, email: str | None, api_key: str) -> Key:
        """Delete a sub-account key (``email``: see ``Exchange.delete_key``); its channels close."""
        key = self.engine.delete_key(email, api_key, self.now_ms())
        for channel in [c for c in self.channels.values() if c.api_key == api_key]:
            self.close_channel(channel, "API key deleted")
        self.journal.event(
            self.clock.monotonic(),
            self.clock.wall(),
            "key_deleted",
            key.account,
            key.config.label,
            api_key,
        )
        log.info("key_deleted", extra={"account": key.account, "label": key.config.label})
        return key

    def modify_key(
        self,
        key: Key,
        *,
        permissions: frozenset[str] | None = None,
        ips: tuple[str, ...] | None = None,
        label: str | None = None,
    ) -> Key:
        """Reset a sub-account key's permissions, bound addresses or label (what the venue's
        "modify a sub-account key" call does); journaled as ``key_modified``."""
        old = key.config
        key.config = dataclasses.replace(
            old,
            permissions=old.permissions if permissions is None else permissions,
            ips=old.ips if ips is None else ips,
            label=old.label if label is None else label,
        )
        self.journal.event(
            self.clock.monotonic(),
            self.clock.wall(),
            "key_modified",
            key.account,
            f"{key.config.label} permissions={','.join(sorted(key.config.permissions))}",
            key.config.api_key,
        )
        log.info("key_modified", extra={"account": key.account, "label": key.config.label})
        return key

    # ------------------------------------------------------------------ countdowns
    def check_countdowns(self) -> None:
        mono = self.clock.monotonic()
        for account, scope, cancelled in self.engine.expire_countdowns(mono, self.now_ms()):
            ids = ",".join(str(o.order_id) for o in cancelled)
            self.journal.event(
                mono,
                self.clock.wall(),
                "countdown_cancel_all",
                account,
                f"{scope or '*'} [{ids}]",
            )
        self.flush_user_events()

    async def run_countdowns(self) -> None:
        period = self.config.countdown_check_ms / 1000
        while True:
            await asyncio.sleep(period)
            self.check_countdowns()

    # ------------------------------------------------------------------ views
    def position_view(self, account_name: str) -> list[dict[str, object]]:
        account = self.engine.accounts[account_name]
        out: list[dict[str, object]] = []
        for pos in account.positions.values():
            sym = self.engine.symbols[pos.symbol]
            mark = self.engine.mark(pos.symbol)
            out.append(
                {
                    "symbol": pos.symbol,
                    "positionAmt": fmt(pos.qty),
                    "entryPrice": fmt(pos.entry),
                    "breakEvenPrice": fmt(pos.entry),
                    "markPrice": fmt(mark),
                    "unRealizedProfit": fmt(self.engine.unrealized(pos)),
                    "liquidationPrice": "0",
                    "leverage": str(sym.leverage),
                    "maxNotionalValue": "1000000",
                    "marginType": "cross",
                    "isolatedMargin": "0",
                    "isAutoAddMargin": "false",
                    "positionSide": "BOTH",
                    "notional": fmt(pos.qty * mark),
                    "isolatedWallet": "0",
                    "updateTime": pos.update_ms,
                }
            )
        return out

    def account_totals(self, account_name: str) -> dict[str, Decimal]:
        e = self.engine
        account = e.accounts[account_name]
        positions = account.positions.values()
        upnl = sum((e.unrealized(p) for p in positions), Decimal(0))
        pos_margin = sum((e.position_margin(p) for p in positions), Decimal(0))
        return {
            "wallet": account.wallet,
            "unrealized": upnl,
            "margin_balance": account.wallet + upnl,
            "position_margin": pos_margin,
            "order_margin": e.order_margin(account),
            "available": e.available_balance(account),
        }


SIM = web.AppKey("sim", Sim)  # how the front's and the admin's handlers find the running sim
