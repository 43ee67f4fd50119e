"""Request-weight and order-count limits in the venue's fixed windows (pure; time passed in)."""

from __future__ import annotations

from dataclasses import dataclass

from exchange_sim.config import RateLimitConfig
from exchange_sim.fronts.binance import codes


@dataclass(slots=True)
class _Window:
    index: int = -1
    used: int = 0

    def add(self, index: int, amount: int) -> int:
        if index != self.index:
            self.index, self.used = index, 0
        self.used += amount
        return self.used


@dataclass(slots=True)
class _Client:
    weight: _Window
    refusals: _Window
    banned_until: float = 0.0


class RateLimiter:
    """Weight per minute per client address; orders per 10 s and per minute per account.

    A client that keeps hitting 429 inside one minute gets a 418 ban, as the venue does.
    """

    def __init__(self, config: RateLimitConfig) -> None:
        self.config = config
        self._clients: dict[str, _Client] = {}
        self._orders10: dict[str, _Window] = {}
        self._orders60: dict[str, _Window] = {}

    def charge_weight(self, client: str, weight: int, now_s: float) -> int:
        """Add ``weight``; return the minute's usage, or raise 429/418."""
        c = self._clients.get(client)
        if c is None:
            c = self._clients[client] = _Client(_Window(), _Window())
        if now_s < c.banned_until:
            raise codes.banned(int(c.banned_until * 1000))
        minute = int(now_s // 60)
        used = c.weight.add(minute, weight)
        if used > self.config.weight_per_minute:
            self._refused(c, minute, now_s)
            raise codes.too_many_requests(self.config.weight_per_minute)
        return used

    def _refused(self, c: _Client, minute: int, now_s: float) -> None:
        if c.refusals.add(minute, 1) >= self.config.ban_after_429s:
            c.banned_until = now_s + self.config.ban_s

    def charge_order(self, account: str, client: str, now_s: float) -> tuple[int, int]:
        """Count one new order; return (count in 10 s, count in 1 min), or raise -1015."""
        w10 = self._orders10.setdefault(account, _Window())
        w60 = self._orders60.setdefault(account, _Window())
        n10 = w10.add(int(now_s // 10), 1)
        n60 = w60.add(int(now_s // 60), 1)
        cfg = self.config
        c = self._clients.get(client)
        if n10 > cfg.orders_per_10s:
            if c is not None:
                self._refused(c, int(now_s // 60), now_s)
            raise codes.too_many_orders(cfg.orders_per_10s, "10 SECONDS")
        if n60 > cfg.orders_per_minute:
            if c is not None:
                self._refused(c, int(now_s // 60), now_s)
            raise codes.too_many_orders(cfg.orders_per_minute, "1 MINUTE")
        return n10, n60

    def retry_after(self, client: str, now_s: float) -> int:
        """Seconds a refused client should wait: a ban's remainder, else the configured value."""
        c = self._clients.get(client)
        if c is not None and now_s < c.banned_until:
            return max(1, int(c.banned_until - now_s + 0.999))
        return self.config.retry_after_s
