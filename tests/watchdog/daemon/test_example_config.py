"""The example config in the repository stays valid as the config format evolves, and passes
its check with nothing but the secrets ``python -m demo.write_config`` generates."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

from demo import configs, write_config
from watchdog.daemon.config import load_config
from watchdog.daemon.venue.settings import venue_keys

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_the_example_config_is_valid_with_the_generated_secrets(tmp_path: Path) -> None:
    examples = tmp_path / "examples"
    shutil.copytree(EXAMPLES, examples, ignore=shutil.ignore_patterns("local"))
    assert write_config.main([str(examples / "local")]) == 0
    config = load_config(examples / "watchdog.toml")
    assert [t.id for t in config.traders] == ["trader-1"]
    trader = config.traders[0]
    assert trader.credential_file == examples / "local" / "trader-venue.cred"
    assert trader.limits.heartbeat.kill_after_s == 15.0  # examples/limits.toml
    assert config.control_socket == examples / "local" / "control.sock"
    assert config.alerts.webhooks == ()  # a local world sends nothing off the machine
    venue = trader.venue
    assert venue is not None
    assert venue.trader.api_key == configs.world_keys().trader.api_key
    assert venue.max_venue_blind_s == 5.0


def test_the_example_venue_table_sets_every_key() -> None:
    data = tomllib.loads((EXAMPLES / "watchdog.toml").read_text())
    assert set(data["traders"][0]["venue"]) == venue_keys("binance_futures")


def test_the_example_names_each_way_to_find_the_process() -> None:
    text = (EXAMPLES / "watchdog.toml").read_text()
    for key in ("pid", "pidfile", "unit"):
        assert re.search(rf"^#\s+{key} = ", text, re.MULTILINE), key


def test_the_example_shows_supervision_without_telemetry() -> None:
    text = (EXAMPLES / "watchdog.toml").read_text()
    for key in ("telemetry", "cmdline"):
        assert re.search(rf"^#\s+{key} = ", text, re.MULTILINE), key
