"""The example config in the repository stays valid as the config format evolves."""

from __future__ import annotations

from pathlib import Path

from watchdog.daemon.config import load_config

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "watchdog.toml"


def test_the_example_config_is_valid(tmp_path: Path) -> None:
    # Point its absolute paths into tmp_path and create the files they name.
    text = EXAMPLE.read_text().replace("/etc/killswitch/", f"{tmp_path}/")
    for trader in ("mm-btc", "arb-eth"):
        key = tmp_path / f"{trader}.key"
        key.write_text(bytes(range(32)).hex())
        key.chmod(0o600)
        (tmp_path / f"{trader}.credential").write_text("api-key=secret\n")
    (tmp_path / "mm-btc.limits.toml").write_text('profile = "standard"\n')
    path = tmp_path / "watchdog.toml"
    path.write_text(text)
    config = load_config(path)
    assert [t.id for t in config.traders] == ["mm-btc", "arb-eth"]
    assert config.traders[0].process.unit == "trader-mm-btc.service"
    assert config.traders[1].limits.heartbeat.kill_after_s == 3.0
    assert config.control_socket_mode == 0o600
    assert {t.kill_group for t in config.traders} == {"desk-1"}
