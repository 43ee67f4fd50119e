"""Price processes: reproducible random walk, jumps, and CSV replay."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

import pytest

from exchange_sim.config import load_config
from exchange_sim.core.market import RandomWalk, Replay
from exchange_sim.errors import ConfigError


def test_the_random_walk_is_reproducible_for_a_seed_and_moves() -> None:
    cfg = load_config(None)
    a = RandomWalk(cfg.market, cfg.symbols)
    b = RandomWalk(cfg.market, cfg.symbols)
    path_a = [a.step("BTCUSDT") for _ in range(200)]
    path_b = [b.step("BTCUSDT") for _ in range(200)]
    assert path_a == path_b
    assert len({q.bid for q in path_a}) > 50
    for q in path_a:
        assert q.ask - q.bid == D("0.1")  # one tick of spread
        assert q.bid % D("0.1") == 0


def test_a_jump_moves_the_mid_by_the_percentage() -> None:
    cfg = load_config(None)
    walk = RandomWalk(replace(cfg.market, volatility_bps=0.0, jump_probability=0.0), cfg.symbols)
    before = walk.step("ETHUSDT").mid
    after = walk.jump("ETHUSDT", -20).mid
    assert after == pytest.approx(before * D("0.8"), rel=D("0.0001"))


def test_replay_plays_rows_in_order_and_loops(tmp_path: Path) -> None:
    csv = tmp_path / "ticks.csv"
    csv.write_text(
        "symbol,bid,ask,bid_qty,ask_qty\n"
        "BTCUSDT,100.0,100.1,1,2\nETHUSDT,10.00,10.01,1,1\nBTCUSDT,101.0,101.1,3,4\n",
        encoding="utf-8",
    )
    cfg = load_config(None)
    replay = Replay(replace(cfg.market, model="replay", replay_csv=csv), cfg.symbols)
    bids = [replay.step("BTCUSDT").bid for _ in range(3)]
    assert bids == [D("100.0"), D("101.0"), D("100.0")]
    jumped = replay.jump("BTCUSDT", 10)
    assert jumped.bid == D("110.0")


def test_a_bad_replay_file_names_the_line(tmp_path: Path) -> None:
    csv = tmp_path / "ticks.csv"
    csv.write_text("symbol,bid,ask\nBTCUSDT,100,99\n", encoding="utf-8")
    cfg = load_config(None)
    with pytest.raises(ConfigError, match=r"ticks.csv:2"):
        Replay(replace(cfg.market, model="replay", replay_csv=csv), cfg.symbols)


def test_a_replay_config_resolves_the_csv_next_to_the_config(tmp_path: Path) -> None:
    from exchange_sim.config import DEFAULT_CONFIG

    (tmp_path / "ticks.csv").write_text(
        "symbol,bid,ask\nBTCUSDT,100.0,100.1\nETHUSDT,10.00,10.01\n", encoding="utf-8"
    )
    text = DEFAULT_CONFIG.replace(
        'model = "random_walk"', 'model = "replay"\nreplay_csv = "ticks.csv"'
    )
    config_path = tmp_path / "sim.toml"
    config_path.write_text(text, encoding="utf-8")
    cfg = load_config(config_path)
    assert cfg.market.replay_csv == tmp_path / "ticks.csv"
    assert Replay(cfg.market, cfg.symbols).step("ETHUSDT").ask == D("10.01")
