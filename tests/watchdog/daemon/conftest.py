"""Fixtures for the daemon's unit tests: config files on disk, as an operator writes them."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.logs import json_logs  # noqa: F401 - a fixture: pytest finds it by name

KEY = (b"k" * 40).hex()

LIMITS = """
profile = "standard"
[heartbeat]
interval_s = 0.1
warn_after_s = 0.4
halt_after_s = 0.8
kill_after_s = 1.5
cooldown_s = 0.5
"""


def write_config(directory: Path, body: str, *, traders: str | None = None) -> Path:
    """A config with one trader `alpha` unless `traders` is given; returns its path."""
    (directory / "alpha.key").write_text(KEY)
    (directory / "alpha.key").chmod(0o600)
    (directory / "limits.toml").write_text(LIMITS)
    default_trader = """
        [[traders]]
        id = "alpha"
        hmac_key_file = "alpha.key"
        limits_file = "limits.toml"
    """
    head = 'state_dir = "state"\ncontrol_socket = "control.sock"\n'
    ingress = '[ingress]\nunix_socket = "ingress.sock"\n'
    text = head + textwrap.dedent(body) + ingress + textwrap.dedent(traders or default_trader)
    path = directory / "watchdog.toml"
    path.write_text(text)
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Callable[..., Path]:
    def make(body: str = "", traders: str | None = None) -> Path:
        return write_config(tmp_path, body, traders=traders)

    return make


def setgid_directory(path: Path, gid: int) -> Path:
    """A new directory of group `gid` with the setgid bit; skips the test unless root."""
    if os.geteuid() != 0:
        pytest.skip("giving a directory another group needs root")
    path.mkdir()
    os.chown(path, -1, gid)
    path.chmod(0o2750)
    return path


VENUE = """
[traders.venue]
base_url = "http://127.0.0.1:1"
ws_url = "ws://127.0.0.1:1"
account_credentials = "account.cred"
master_credentials = "master.cred"
trader_email = "t@sub.example"
trader_key_file = "trader.id"
symbols = ["BTCUSDT"]
"""


ALPHA = '[[traders]]\nid = "alpha"\nhmac_key_file = "alpha.key"\nlimits_file = "limits.toml"\n'


def _trader(keys: str, venue: str = VENUE) -> str:
    return f'[[traders]]\nid = "bot"\nlimits_file = "limits.toml"\n{keys}\n{venue}'


@pytest.fixture
def silent_config(config_file: Callable[..., Path]) -> Callable[..., Path]:
    """A config whose trader `bot` has `keys` (after `alpha`, which sends telemetry, with
    `with_alpha`), with the venue's credential files in place."""

    def make(keys: str, venue: str = VENUE, *, with_alpha: bool = False) -> Path:
        path = config_file(traders=(ALPHA if with_alpha else "") + _trader(keys, venue))
        for name in ("account", "master"):
            cred = path.parent / f"{name}.cred"
            cred.write_text(f'api_key = "{name.upper()}KEY"\nsecret = "{name}-secret"\n')
            cred.chmod(0o600)
        (path.parent / "trader.id").write_text('api_key = "TRADERKEY"\n')
        return path

    return make
