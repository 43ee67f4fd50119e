"""``python -m demo.write_config DIR``: the secrets of a local world, private from the start,
consistent with the sim world, and never written over."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
from killswitch_client.keyfile import load_key

from demo import configs, write_config
from watchdog.venues.credentials import load_api_key_id, load_credentials

NAMES = {
    "trader-hmac.key",
    "trader-venue.cred",
    "watchdog-account.cred",
    "watchdog-master.cred",
    "trader-key-id",
}


def test_writes_every_secret_private_and_matching_the_sim_world(tmp_path: Path) -> None:
    local = tmp_path / "examples" / "local"
    assert write_config.main([str(local)]) == 0
    assert {p.name for p in local.iterdir()} == NAMES
    assert stat.S_IMODE(local.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in local.iterdir()} == {0o600}
    keys = configs.world_keys()
    assert len(load_key(local / "trader-hmac.key")) == write_config.HMAC_KEY_BYTES
    assert load_credentials(local / "watchdog-account.cred").api_key == keys.watchdog.api_key
    assert load_credentials(local / "watchdog-master.cred").api_key == keys.master.api_key
    assert load_credentials(local / "trader-venue.cred").secret == keys.trader.secret
    assert load_api_key_id(local / "trader-key-id") == keys.trader.api_key


def test_a_second_run_is_refused_and_keeps_the_shared_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert write_config.main([str(tmp_path)]) == 0
    before = (tmp_path / "trader-hmac.key").read_text()
    assert write_config.main([str(tmp_path)]) == 1
    assert "trader-hmac.key: already exists" in capsys.readouterr().err
    assert (tmp_path / "trader-hmac.key").read_text() == before


def test_a_sim_world_without_the_needed_keys_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = tmp_path / "sim.toml"
    world = configs.sim_toml()
    sim.write_text(world.replace('label = "watchdog"', 'label = "observer"'))
    assert write_config.main([str(tmp_path / "local"), "--sim-config", str(sim)]) == 1
    assert "the sim world lacks a key labelled watchdog" in capsys.readouterr().err
    assert not (tmp_path / "local").exists()


def test_git_ignores_the_folder_the_readme_writes_secrets_into() -> None:
    repo = Path(__file__).resolve().parents[2]
    ignored = subprocess.run(
        ["git", "check-ignore", "--quiet", "--no-index", "examples/local/trader-hmac.key"],
        cwd=repo,
        check=False,
    )
    assert ignored.returncode == 0  # 1: not ignored, a generated secret could be committed
