"""The OKX front's authentication: every refusal is OKX's code and status, and journaled."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from harness.sim import (
    MASTER_ACCOUNT,
    TRADER_ACCOUNT,
    TRADER_KEY,
    SimConfig,
    SimKey,
    SimProcess,
    okx_headers,
    okx_timestamp,
)
from tests.exchange_sim.fronts.okx.client import BTC, OkxClient

BALANCE = "/api/v5/account/balance"


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != name}


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("OK-ACCESS-KEY", "50103"),
        ("OK-ACCESS-PASSPHRASE", "50104"),
        ("OK-ACCESS-SIGN", "50106"),
        ("OK-ACCESS-TIMESTAMP", "50107"),
    ],
)
async def test_a_missing_auth_header_is_named(okx: OkxClient, header: str, code: str) -> None:
    headers = _without(okx_headers(okx.sim.trader_key, "GET", BALANCE), header)
    reply = await okx.raw("GET", BALANCE, **headers)
    assert (reply.status, reply.code, reply.data) == (401, code, [])
    assert header in reply.body["msg"]


async def test_each_wrong_credential_gets_its_own_code_and_is_journaled(okx: OkxClient) -> None:
    key = okx.sim.trader_key
    since = okx.sim.admin.last_seq()
    cases = {
        "50111": okx_headers(replace(key, api_key="X" * 64), "GET", BALANCE),
        "50105": okx_headers(replace(key, passphrase="NotTheOne1"), "GET", BALANCE),
        "50113": okx_headers(replace(key, secret="S" * 64), "GET", BALANCE),
        "50112": okx_headers(key, "GET", BALANCE, timestamp="2026-01-01 00:00:00"),
        "50102": okx_headers(key, "GET", BALANCE, timestamp=okx_timestamp(0)),
    }
    for code, headers in cases.items():
        reply = await okx.raw("GET", BALANCE, **headers)
        assert (reply.status, reply.code) == (401, code), reply.body
    journaled = [
        e["code"] for e in okx.sim.admin.journal(since) if e["endpoint"] == f"GET {BALANCE}"
    ]
    assert journaled == [int(c) for c in cases]


async def test_the_signature_covers_the_query_and_the_body(okx: OkxClient) -> None:
    key = okx.sim.trader_key
    signed_for_ccy = okx_headers(key, "GET", f"{BALANCE}?ccy=USDT")
    tampered = await okx.raw("GET", f"{BALANCE}?ccy=BTC", **signed_for_ccy)
    assert tampered.code == "50113"
    good = await okx.raw("GET", f"{BALANCE}?ccy=USDT", **signed_for_ccy)
    assert good.code == "0"
    body = json.dumps({"instId": BTC, "tdMode": "cross", "side": "buy", "ordType": "limit",
                       "sz": "1", "px": "50000"})  # fmt: skip
    headers = okx_headers(key, "POST", "/api/v5/trade/order", body)
    swapped = await okx.raw("POST", "/api/v5/trade/order", body.replace("50000", "50001"),
                            **headers)  # fmt: skip
    assert swapped.code == "50113"
    assert okx.sim.admin.open_orders("trader1") == []


async def test_a_read_only_key_cannot_trade(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    reader = SimKey("reader", "SimReaderKey".ljust(64, "0"), "SimReaderSecret".ljust(64, "0"),
                    ("read",))  # fmt: skip
    trader = replace(TRADER_ACCOUNT, keys=(*TRADER_ACCOUNT.keys, reader))
    config = SimConfig(book_ticker_hz=0, accounts=(MASTER_ACCOUNT, trader))
    sim = SimProcess.start(tmp_path, config, venue="okx")
    try:
        okx = OkxClient(sim, session)
        refused = await okx.limit(reader, "buy", "50000")
        assert (refused.status, refused.code) == (200, "50120")
        assert (await okx.get(BALANCE, reader)).code == "0"
    finally:
        sim.stop()


async def test_a_key_bound_to_another_address_is_refused(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    elsewhere = replace(TRADER_KEY, ips=("10.9.8.7",))
    trader = replace(TRADER_ACCOUNT, keys=(elsewhere,))
    sim = SimProcess.start(
        tmp_path, SimConfig(book_ticker_hz=0, accounts=(MASTER_ACCOUNT, trader)), venue="okx"
    )
    try:
        okx = OkxClient(sim, session)
        reply = await okx.get(BALANCE, elsewhere)
        assert (reply.status, reply.code) == (401, "50110")
        assert "127.0.0.1" in reply.body["msg"]
    finally:
        sim.stop()


async def test_unknown_paths_and_methods(okx: OkxClient) -> None:
    assert (await okx.raw("GET", "/api/v5/nowhere")).status == 404
    wrong = await okx.raw("DELETE", "/api/v5/trade/order")
    assert (wrong.status, wrong.code) == (405, "50115")
