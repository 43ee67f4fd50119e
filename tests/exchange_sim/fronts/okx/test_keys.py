"""Sub-account key management with the master key: list, strip trading, delete; the master
must be bound to an address, as OKX requires."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import aiohttp

from harness.sim import MASTER_ACCOUNT, MASTER_KEY, TRADER_ACCOUNT, SimConfig, SimProcess
from tests.exchange_sim.fronts.okx.client import OkxClient

SUB = "/api/v5/users/subaccount"


async def test_the_master_lists_a_sub_accounts_keys(okx: OkxClient) -> None:
    sim = okx.sim
    reply = await okx.get(f"{SUB}/apikey", sim.master_key, subAcct="trader1")
    assert reply.code == "0", reply.body
    listed = {k["label"]: (k["apiKey"], k["perm"]) for k in reply.data}
    assert listed == {
        "trader": (sim.trader_key.api_key, "read_only,trade"),
        "watchdog": (sim.watchdog_key.api_key, "read_only,trade"),
    }
    [config] = (await okx.get("/api/v5/account/config", sim.master_key)).data
    assert (config["ip"], config["perm"], config["type"]) == ("127.0.0.1", "read_only,trade", "0")
    [trader] = (await okx.get("/api/v5/account/config", sim.trader_key)).data
    ids = (trader["uid"], trader["mainUid"], trader["type"])
    assert ids == (sim.uid("trader1"), sim.uid("master"), "1")
    assert (trader["ip"], trader["label"], trader["posMode"]) == ("", "trader", "net_mode")


async def test_a_deleted_key_is_refused_from_then_on(okx: OkxClient) -> None:
    sim = okx.sim
    assert (await okx.get("/api/v5/account/balance", sim.trader_key)).code == "0"
    deleted = await okx.post(
        f"{SUB}/delete-apikey",
        sim.master_key,
        {"subAcct": "trader1", "apiKey": sim.trader_key.api_key},
    )
    assert (deleted.code, deleted.data) == ("0", [{"subAcct": "trader1"}])
    assert sim.admin.key_status(sim.trader_key.api_key)["status"] == "deleted"
    refused = await okx.limit(sim.trader_key, "buy", "50000")
    assert (refused.status, refused.code) == (401, "50111")
    assert (await okx.get("/api/v5/account/balance", sim.watchdog_key)).code == "0"
    entry = sim.admin.wait_for_journal(lambda e: e["endpoint"] == "key_deleted")
    assert entry["account"] == "trader1"
    listed = await okx.get(f"{SUB}/apikey", sim.master_key, subAcct="trader1")
    assert [k["label"] for k in listed.data] == ["watchdog"]


async def test_stripping_the_trade_permission_refuses_orders_but_not_reads(
    okx: OkxClient,
) -> None:
    sim = okx.sim
    stripped = await okx.post(
        f"{SUB}/modify-apikey",
        sim.master_key,
        {"subAcct": "trader1", "apiKey": sim.trader_key.api_key, "perm": "read_only"},
    )
    assert stripped.code == "0", stripped.body
    assert stripped.data[0]["perm"] == "read_only"
    refused = await okx.limit(sim.trader_key, "buy", "50000")
    assert refused.code == "50120"
    assert (await okx.get("/api/v5/account/balance", sim.trader_key)).code == "0"
    assert sim.admin.key_status(sim.trader_key.api_key)["permissions"] == ["read"]
    entry = sim.admin.wait_for_journal(lambda e: e["endpoint"] == "key_modified")
    assert entry["detail"] == "trader permissions=read"


async def test_sub_account_calls_are_refused_with_okx_codes(okx: OkxClient) -> None:
    sim = okx.sim
    target = {"subAcct": "trader1", "apiKey": sim.trader_key.api_key}
    not_master = await okx.post(f"{SUB}/delete-apikey", sim.watchdog_key, target)
    assert not_master.code == "59500"
    unknown_key = await okx.post(
        f"{SUB}/modify-apikey", sim.master_key, target | {"apiKey": "Z" * 64, "perm": "read_only"}
    )
    assert unknown_key.code == "59506"
    missing = await okx.get(f"{SUB}/apikey", sim.master_key)
    assert (missing.status, missing.code) == (400, "50014")
    assert sim.admin.key_status(sim.trader_key.api_key)["status"] == "active"


async def test_a_master_key_bound_to_no_address_cannot_manage_keys(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    unbound = replace(MASTER_ACCOUNT, keys=(replace(MASTER_KEY, ips=()),))
    config = SimConfig(book_ticker_hz=0, accounts=(unbound, TRADER_ACCOUNT))
    sim = SimProcess.start(tmp_path, config, venue="okx")
    try:
        okx = OkxClient(sim, session)
        reply = await okx.post(
            f"{SUB}/delete-apikey",
            sim.master_key,
            {"subAcct": "trader1", "apiKey": sim.trader_key.api_key},
        )
        assert (reply.status, reply.code) == (403, "50035")
        assert sim.admin.key_status(sim.trader_key.api_key)["status"] == "active"
        [config_row] = (await okx.get("/api/v5/account/config", sim.master_key)).data
        assert config_row["ip"] == ""  # what the watchdog's start-up check reads
    finally:
        sim.stop()
