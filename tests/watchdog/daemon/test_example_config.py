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
    for name, content in (
        ("watchdog-account.cred", 'api_key = "ACCOUNTKEY"\nsecret = "account-secret"\n'),
        ("watchdog-master.cred", 'api_key = "MASTERKEY"\nsecret = "master-secret"\n'),
        ("mm-btc.key-id", 'api_key = "TRADERKEY"\n'),
    ):
        (tmp_path / name).write_text(content)
        (tmp_path / name).chmod(0o600)
    path = tmp_path / "watchdog.toml"
    path.write_text(text)
    config = load_config(path)
    assert [t.id for t in config.traders] == ["mm-btc", "arb-eth"]
    assert config.traders[0].process.unit == "trader-mm-btc.service"
    assert config.traders[1].limits.heartbeat.kill_after_s == 3.0
    assert config.control_socket_mode == 0o600
    assert {t.kill_group for t in config.traders} == {"desk-1"}
    venue = config.traders[0].venue
    assert venue is not None
    assert venue.max_venue_blind_s == 5.0
    assert config.traders[1].venue is None
