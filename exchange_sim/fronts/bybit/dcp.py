"""Bybit's disconnection protection (DCP), per account (pure: the shell arms the core's
countdown with what this decides).

From Bybit's docs (v5/order/dcp, v5/websocket/private/dcp): once DCP is configured, the private
connections that subscribed to the ``dcp`` topic are what it watches; when the last of them is
gone and none comes back within the account's ``timeWindow`` (3-300 s, default 10), every
derivatives order of the account is cancelled. A connection that subscribes again in time
disarms it.
"""

from __future__ import annotations

from aiohttp import web

DEFAULT_WINDOW_S = 10
PRODUCTS = ("OPTIONS", "DERIVATIVES", "SPOT")


class Dcp:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.windows: dict[str, dict[str, int]] = {}  # account -> product -> seconds
        self._live: dict[str, set[int]] = {}  # account -> ids of connections subscribed to dcp

    def set_window(self, account: str, product: str, seconds: int) -> None:
        self.windows.setdefault(account, {})[product] = seconds

    def window_s(self, account: str) -> int:
        return self.windows.get(account, {}).get("DERIVATIVES", DEFAULT_WINDOW_S)

    def join(self, account: str, conn_id: int) -> None:
        self._live.setdefault(account, set()).add(conn_id)

    def leave(self, account: str, conn_id: int) -> int | None:
        """A connection ended: the window (s) to arm if it was the last one watching, else None."""
        live = self._live.get(account)
        if live is None or conn_id not in live:
            return None
        live.discard(conn_id)
        if live or not self.enabled:
            return None
        return self.window_s(account)


DCP = web.AppKey("bybit_dcp", Dcp)
