"""OKX's rate limits (pure; time passed in), from OKX's v5 docs ("Rate Limits" and each
endpoint's "Rate limit" line). Public endpoints count per IP, private ones per account (OKX's
"User ID"); the trade endpoints OKX counts per account and instrument are counted per account
here, which is stricter. The order endpoints allow ``[rate_limits] okx_orders_per_2s`` (OKX: 60)
requests in 2 s, the batch ones five times as many orders (OKX: 300), so benches can lift both.
Beyond a limit: HTTP 429, code 50011.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from exchange_sim.config import RateLimitConfig


@dataclass(frozen=True, slots=True)
class Limit:
    count: int
    window_ms: int
    per_ip: bool = False


def limits(config: RateLimitConfig) -> dict[str, Limit]:
    orders = config.okx_orders_per_2s
    return {
        "GET /api/v5/public/time": Limit(10, 2000, per_ip=True),
        "GET /api/v5/public/instruments": Limit(20, 2000, per_ip=True),
        "GET /api/v5/market/ticker": Limit(20, 2000, per_ip=True),
        "GET /api/v5/market/tickers": Limit(20, 2000, per_ip=True),
        "GET /api/v5/market/books": Limit(40, 2000, per_ip=True),
        "POST /api/v5/trade/order": Limit(orders, 2000),
        "GET /api/v5/trade/order": Limit(60, 2000),
        "POST /api/v5/trade/batch-orders": Limit(orders * 5, 2000),
        "POST /api/v5/trade/cancel-order": Limit(orders, 2000),
        "POST /api/v5/trade/cancel-batch-orders": Limit(orders * 5, 2000),
        "POST /api/v5/trade/amend-order": Limit(orders, 2000),
        "GET /api/v5/trade/orders-pending": Limit(60, 2000),
        "GET /api/v5/trade/orders-history": Limit(40, 2000),
        "POST /api/v5/trade/cancel-all-after": Limit(1, 1000),
        "GET /api/v5/account/balance": Limit(10, 2000),
        "GET /api/v5/account/positions": Limit(10, 2000),
        "GET /api/v5/account/config": Limit(5, 2000),
        "GET /api/v5/asset/currencies": Limit(6, 1000),
        "POST /api/v5/users/subaccount/delete-apikey": Limit(1, 1000),
        "POST /api/v5/users/subaccount/modify-apikey": Limit(1, 1000),
        "GET /api/v5/users/subaccount/apikey": Limit(20, 2000),
    }


class RateLimiter:
    def __init__(self, config: RateLimitConfig) -> None:
        self.limits = limits(config)
        self._seen: dict[tuple[str, str], deque[int]] = {}

    def charge(self, who: str, endpoint: str, now_ms: int, units: int = 1) -> bool:
        """Count ``units`` (a batch's items) for ``who`` (an account or an address) on
        ``endpoint`` ("POST /api/v5/trade/order"); False, and nothing counted, once the
        window holds the limit."""
        limit = self.limits.get(endpoint)
        if limit is None:
            return True
        seen = self._seen.setdefault((who, endpoint), deque())
        while seen and seen[0] <= now_ms - limit.window_ms:
            seen.popleft()
        if len(seen) + units > limit.count:
            return False
        seen.extend([now_ms] * units)
        return True
