"""The one place that maps a ``[traders.venue] kind`` to its adapter and its own settings.

Every kind shares the common keys (``settings.py``); an entry adds the keys only it reads, how
its endpoint, its trader reference and its dead man's switch are parsed, and how an adapter is
opened on one key. A new venue is one adapter in ``watchdog.venues`` and one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from risk.tomltable import Table
from watchdog.clock import Clock
from watchdog.daemon.venue.dms import DmsSettings
from watchdog.venues.base import SubAccountRef, VenueAdapter
from watchdog.venues.binance_futures import BinanceFutures, VenueEndpoint
from watchdog.venues.bybit import Bybit, BybitEndpoint
from watchdog.venues.bybit_wire import DCP_WINDOW_MAX_S, DCP_WINDOW_MIN_S
from watchdog.venues.credentials import Credentials
from watchdog.venues.okx import Okx, OkxEndpoint
from watchdog.venues.okx_wire import DMS_MAX_S, DMS_MIN_S

Connect = Callable[[aiohttp.ClientSession, Credentials, Clock], VenueAdapter]
HTTP = ("http", "https")
_COUNTDOWN_MIN_MS, _COUNTDOWN_MAX_MS = 1_000, 3_600_000  # Binance's countdown range


@dataclass(frozen=True, slots=True)
class KindSettings:
    """What a kind parsed from its own keys."""

    connect: Connect  # an adapter on the parsed endpoint, for one of the watchdog's keys
    trader: SubAccountRef
    dms: DmsSettings | None


@dataclass(frozen=True, slots=True)
class Common:
    base_url: str
    recv_window_ms: int
    request_timeout_s: float
    ws_url: str | None


@dataclass(frozen=True, slots=True)
class VenueKind:
    name: str
    keys: frozenset[str]  # the keys only this kind reads
    # (table, common endpoint values, trader key id) -> the kind's settings
    parse: Callable[[Table, Common, str], KindSettings]
    can_flatten: bool  # the adapter enters orders (reduce-only market exits)
    needs_passphrase: bool = False  # the venue's keys carry a passphrase (OKX)


def connect_binance(endpoint: VenueEndpoint) -> Connect:
    def connect(session: aiohttp.ClientSession, keys: Credentials, clock: Clock) -> VenueAdapter:
        return BinanceFutures(session, endpoint, keys, clock=clock)

    return connect


def connect_bybit(endpoint: BybitEndpoint) -> Connect:
    def connect(session: aiohttp.ClientSession, keys: Credentials, clock: Clock) -> VenueAdapter:
        return Bybit(session, endpoint, keys, clock=clock)

    return connect


def connect_okx(endpoint: OkxEndpoint) -> Connect:
    def connect(session: aiohttp.ClientSession, keys: Credentials, clock: Clock) -> VenueAdapter:
        return Okx(session, endpoint, keys, clock=clock)

    return connect


def url(t: Table, key: str, schemes: tuple[str, ...]) -> str:
    value = t.text(key)
    if not value.startswith(tuple(f"{scheme}://" for scheme in schemes)):
        raise t.fail(key, f"must start with {' or '.join(f'{s}://' for s in schemes)}")
    return value


def _binance(t: Table, common: Common, trader_key: str) -> KindSettings:
    endpoint = VenueEndpoint(
        common.base_url,
        sapi_url=url(t, "sapi_url", HTTP) if t.has("sapi_url") else None,
        recv_window_ms=common.recv_window_ms,
        request_timeout_s=common.request_timeout_s,
    )
    trader = SubAccountRef(trader_key, email=t.text("trader_email"))
    return KindSettings(connect_binance(endpoint), trader, _countdown(t))


def _countdown(t: Table) -> DmsSettings | None:
    key = "dms_countdown_ms"
    countdown = t.integer(key, 10_000, high=_COUNTDOWN_MAX_MS)
    if not countdown:
        return None
    if countdown < _COUNTDOWN_MIN_MS:
        bounds = f">= {_COUNTDOWN_MIN_MS} and <= {_COUNTDOWN_MAX_MS}"
        raise t.fail(key, f"must be 0 (off) or {bounds}, got {countdown}")
    refresh = t.optional_number("dms_refresh_s")
    if refresh is not None and refresh >= countdown / 1000 / 2:
        raise t.fail("dms_refresh_s", f"must be under half the countdown, got {refresh!r}")
    return DmsSettings(countdown, refresh, t.boolean("dms_disarm_on_shutdown", False))


def _bybit(t: Table, common: Common, trader_key: str) -> KindSettings:
    coins = t.str_list("settle_coins") if t.has("settle_coins") else ("USDT", "USDC")
    if not coins:
        raise t.fail("settle_coins", "name at least one settle coin (e.g. 'USDT')")
    endpoint = BybitEndpoint(
        common.base_url,
        recv_window_ms=common.recv_window_ms,
        request_timeout_s=common.request_timeout_s,
        settle_coins=coins,
    )
    uid = t.text("trader_uid")
    if not uid.isdigit():
        raise t.fail("trader_uid", f"expected the sub-account's numeric UID, got {uid!r}")
    return KindSettings(
        connect_bybit(endpoint), SubAccountRef(trader_key, uid=uid), _dcp(t, common)
    )


def _dcp(t: Table, common: Common) -> DmsSettings | None:
    key = "dcp_window_s"
    window = t.integer(key, 10, high=DCP_WINDOW_MAX_S)
    if not window:
        return None
    if window < DCP_WINDOW_MIN_S:
        raise t.fail(
            key,
            f"must be 0 (off) or >= {DCP_WINDOW_MIN_S} and <= {DCP_WINDOW_MAX_S}, got {window}",
        )
    if common.ws_url is None:
        # The venue counts down once the account's last private stream subscribed to dcp is
        # gone: without the watchdog holding one, it would never count, or count at once.
        raise t.fail("ws_url", f"required while {key} > 0: the DCP is held by the private stream")
    refresh = t.optional_number("dcp_refresh_s")
    if refresh is not None and refresh >= window / 2:
        raise t.fail("dcp_refresh_s", f"must be under half the window, got {refresh!r}")
    return DmsSettings(window * 1000, refresh, disarm_on_shutdown=False)


def _okx(t: Table, common: Common, trader_key: str) -> KindSettings:
    endpoint = OkxEndpoint(common.base_url, request_timeout_s=common.request_timeout_s)
    sub = t.text("trader_sub_account")
    if not sub.isalnum():
        raise t.fail("trader_sub_account", f"expected the sub-account's name, got {sub!r}")
    trader = SubAccountRef(trader_key, sub_account=sub)
    return KindSettings(connect_okx(endpoint), trader, _cancel_after(t))


def _cancel_after(t: Table) -> DmsSettings | None:
    """OKX's account-wide countdown (cancel-all-after), refreshed by the watchdog."""
    key = "dms_timeout_s"
    timeout = t.integer(key, 30, high=DMS_MAX_S)
    if not timeout:
        return None
    if timeout < DMS_MIN_S:
        raise t.fail(key, f"must be 0 (off) or >= {DMS_MIN_S} and <= {DMS_MAX_S}, got {timeout}")
    refresh = t.optional_number("dms_refresh_s")
    if refresh is not None and refresh >= timeout / 2:
        raise t.fail("dms_refresh_s", f"must be under half the timeout, got {refresh!r}")
    return DmsSettings(timeout * 1000, refresh, t.boolean("dms_disarm_on_shutdown", False))


_BINANCE_KEYS = ("sapi_url", "trader_email", "dms_countdown_ms", "dms_refresh_s",
                 "dms_disarm_on_shutdown")  # fmt: skip
_BYBIT_KEYS = ("trader_uid", "settle_coins", "dcp_window_s", "dcp_refresh_s")
_OKX_KEYS = ("trader_sub_account", "dms_timeout_s", "dms_refresh_s", "dms_disarm_on_shutdown")

KINDS: dict[str, VenueKind] = {
    kind.name: kind
    for kind in (
        VenueKind("binance_futures", frozenset(_BINANCE_KEYS), _binance, can_flatten=True),
        VenueKind("bybit", frozenset(_BYBIT_KEYS), _bybit, can_flatten=False),
        VenueKind("okx", frozenset(_OKX_KEYS), _okx, can_flatten=False, needs_passphrase=True),
    )
}
