"""The running simulator: engine plus journal, faults, limits, streams and background loops.

This is the imperative shell around ``engine.Exchange``: it reads the clock, publishes what the
engine queued to the user-data streams, and owns the periodic work (market ticks, countdown
checks, listen-key expiry).
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import string
from dataclasses import dataclass
from decimal import Decimal

import orjson

from exchange_sim.clock import Clock
from exchange_sim.config import SimConfig
from exchange_sim.engine import Exchange, Key
from exchange_sim.faults import Faults
from exchange_sim.journal import Journal
from exchange_sim.market import PriceProcess, Quote, price_process
from exchange_sim.orders import fmt
from exchange_sim.ratelimit import RateLimiter
from exchange_sim.streams import Hub

log = logging.getLogger("exchange_sim")

_TOKEN_ALPHABET = string.ascii_letters + string.digits
# Catch-up cap: a loop that fell more than this many ticks behind drops the backlog.
MAX_TICKS_PER_WAKE = 2000


@dataclass(slots=True)
class ListenKey:
    token: str
    api_key: str
    account: str
    expires_mono: float


def book_ticker_stream(symbol: str) -> str:
    return f"{symbol.lower()}@bookTicker"


class Sim:
    def __init__(self, config: SimConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.engine = Exchange(config)
        self.journal = Journal(config.journal_size)
        self.faults = Faults()
        self.limiter = RateLimiter(config.rate_limits)
        self.rng = random.Random(config.market.seed ^ 0x5EED)
        self.hub = Hub(
            self.faults,
            self.rng,
            asyncio.get_running_loop().time,
            send_stamp=config.market.send_stamp,
        )
        self.process: PriceProcess = price_process(config.market, config.symbols)
        self.listen_keys: dict[str, ListenKey] = {}  # token -> listen key
        self._update_id = 0
        self._stream_names = {
            s.symbol: book_ticker_stream(s.symbol).encode() for s in config.symbols
        }
        for sym in config.symbols:
            self.tick(sym.symbol)

    # ------------------------------------------------------------------ time
    def now_ms(self) -> int:
        return int(self.clock.wall() * 1000)

    # ------------------------------------------------------------------ market
    def tick(self, symbol: str, quote: Quote | None = None) -> None:
        """Advance one symbol's price, match resting orders, publish the book ticker."""
        if quote is None:
            quote = self.process.step(symbol)
        now_ms = self.now_ms()
        self.engine.paused = self.faults.pause_matching
        self.engine.on_quote(symbol, quote, now_ms)
        self._update_id += 1
        self.flush_user_events()
        stream = self._stream_names[symbol]
        single = self.hub.has_market_subscribers(stream.decode())
        every = self.hub.has_market_subscribers("!bookTicker")
        if not (single or every):
            return
        raw = orjson.dumps(
            {
                "e": "bookTicker",
                "u": self._update_id,
                "s": symbol,
                "b": fmt(quote.bid),
                "B": fmt(quote.bid_qty),
                "a": fmt(quote.ask),
                "A": fmt(quote.ask_qty),
                "T": now_ms,
                "E": now_ms,
            }
        )
        if single:
            self.hub.publish_market(
                stream.decode(), raw, b'{"stream":"' + stream + b'","data":' + raw + b"}"
            )
        if every:
            self.hub.publish_market(
                "!bookTicker", raw, b'{"stream":"!bookTicker","data":' + raw + b"}"
            )

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
        for lk in self.listen_keys.values():
            by_account.setdefault(lk.account, []).append(lk.token)
        for event in outbox:
            tokens = by_account.get(event.account)
            if not tokens:
                continue
            payload = orjson.dumps(event.payload)
            for token in tokens:
                self.hub.publish_user(token, payload)

    def listen_key_for(self, api_key: str) -> ListenKey | None:
        return next((lk for lk in self.listen_keys.values() if lk.api_key == api_key), None)

    def open_listen_key(self, key: Key) -> ListenKey:
        """The venue returns the key's active listen key (extended) or creates one."""
        expires = self.clock.monotonic() + self.config.listen_key_validity_s
        existing = self.listen_key_for(key.config.api_key)
        if existing is not None:
            existing.expires_mono = expires
            return existing
        token = "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(64))
        lk = ListenKey(token, key.config.api_key, key.account, expires)
        self.listen_keys[token] = lk
        self._update_listening()
        return lk

    def _update_listening(self) -> None:
        self.engine.listening = {lk.account for lk in self.listen_keys.values()}

    def close_listen_key(self, lk: ListenKey, reason: str, final: bytes | None = None) -> None:
        self.listen_keys.pop(lk.token, None)
        self._update_listening()
        self.hub.close(self.hub.by_listen_key(lk.token), 1000, reason, final)

    def expire_listen_keys(self) -> None:
        now = self.clock.monotonic()
        for lk in [lk for lk in self.listen_keys.values() if lk.expires_mono <= now]:
            final = orjson.dumps(
                {"e": "listenKeyExpired", "E": self.now_ms(), "listenKey": lk.token}
            )
            self.close_listen_key(lk, "listenKeyExpired", final)
            self.journal.event(
                now, self.clock.wall(), "listen_key_expired", lk.account, lk.api_key[:8]
            )

    async def run_listen_key_expiry(self) -> None:
        period = min(1.0, self.config.listen_key_validity_s / 4)
        while True:
            await asyncio.sleep(period)
            self.expire_listen_keys()

    def delete_key(self, email: str, api_key: str) -> Key:
        key = self.engine.delete_key(email, api_key, self.now_ms())
        lk = self.listen_key_for(api_key)
        if lk is not None:
            self.close_listen_key(lk, "API key deleted")
        self.journal.event(
            self.clock.monotonic(),
            self.clock.wall(),
            "key_deleted",
            key.account,
            key.config.label,
            api_key,
        )
        log.info("key deleted", extra={"account": key.account, "label": key.config.label})
        return key

    # ------------------------------------------------------------------ countdowns
    def check_countdowns(self) -> None:
        mono = self.clock.monotonic()
        for account, symbol, cancelled in self.engine.expire_countdowns(mono, self.now_ms()):
            ids = ",".join(str(o.order_id) for o in cancelled)
            self.journal.event(
                mono, self.clock.wall(), "countdown_cancel_all", account, f"{symbol} [{ids}]"
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
