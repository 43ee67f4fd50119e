"""Bybit's rate limits (pure; time passed in), from Bybit's v5 rate-limit page: per IP, 600
requests in any 5 s (beyond: HTTP 403); per UID and endpoint in a rolling second, the trade
endpoints allow 10 requests on ``linear`` by default, the sub-account key endpoints 5, the user
queries 10; the page names no limit for the other endpoints simulated here."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from exchange_sim.config import RateLimitConfig

WINDOW_MS = 1000
IP_WINDOW_MS = 5000


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_ms: int  # when a refused caller may try again; otherwise now

    def headers(self) -> dict[str, str]:
        return {
            "X-Bapi-Limit": str(self.limit),
            "X-Bapi-Limit-Status": str(self.remaining),
            "X-Bapi-Limit-Reset-Timestamp": str(self.reset_ms),
        }


class RateLimiter:
    def __init__(self, config: RateLimitConfig) -> None:
        orders = config.bybit_orders_per_s
        self.limits: dict[str, int] = {
            "/v5/order/create": orders,
            "/v5/order/amend": orders,
            "/v5/order/cancel": orders,
            "/v5/order/cancel-all": orders,
            "/v5/user/delete-sub-api": 5,
            "/v5/user/query-sub-members": 10,
            "/v5/user/query-api": 10,
        }
        self._seen: dict[tuple[str, str], deque[int]] = {}
        self.ip_limit = config.bybit_ip_per_5s
        self._ips: dict[str, deque[int]] = {}

    def charge_ip(self, client: str, now_ms: int) -> bool:
        """Count one request from ``client``; False once it sent ``ip_limit`` in 5 s."""
        seen = self._ips.setdefault(client, deque())
        while seen and seen[0] <= now_ms - IP_WINDOW_MS:
            seen.popleft()
        if len(seen) >= self.ip_limit:
            return False
        seen.append(now_ms)
        return True

    def charge(self, uid: str, path: str, now_ms: int) -> Verdict | None:
        """Count one request; None when the endpoint has no limit."""
        limit = self.limits.get(path)
        if limit is None:
            return None
        seen = self._seen.setdefault((uid, path), deque())
        while seen and seen[0] <= now_ms - WINDOW_MS:
            seen.popleft()
        if len(seen) >= limit:
            return Verdict(False, limit, 0, seen[0] + WINDOW_MS)
        seen.append(now_ms)
        return Verdict(True, limit, limit - len(seen), now_ms)
