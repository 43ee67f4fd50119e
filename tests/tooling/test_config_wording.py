"""The same config mistake reads the same in every program: ``<file>: <key.path>: <reason>``.

The watchdog (its config, venue settings and credentials files), the trader and the limits
files share one reader (``risk.tomltable``); sysprep and the simulator may not import it and
keep their own. Each mistake below is made once in every program's config, and the reasons
must be word for word the same (docs/design.md, "Strict config reading").
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from exchange_sim.config import parse_config as parse_sim
from risk.limits import parse_limits
from risk.tomltable import Table
from sysprep.profile import parse_profile
from tests.support.configs import MINIMAL_TRADER
from tests.watchdog.daemon.conftest import write_config
from trader.config import parse_config as parse_trader
from watchdog.daemon.config import load_config as load_watchdog
from watchdog.daemon.venue.settings import parse_venue_settings
from watchdog.errors import ConfigError
from watchdog.venues.credentials import load_credentials

# A reader writes one program's minimal valid config with a mistake merged in (see `_merge`)
# and returns the name its errors start with and the error's text.
Reader = Callable[[Path, str], tuple[str, str]]

_WATCHDOG = """
state_dir = "state"
control_socket = "control.sock"
[ingress]
unix_socket = "ingress.sock"
[[traders]]
id = "alpha"
hmac_key_file = "alpha.key"
limits_file = "limits.toml"
"""
_VENUE = """
base_url = "http://127.0.0.1:1"
account_credentials = "account"
master_credentials = "master"
trader_email = "t@sub.example"
trader_key_file = "trader"
symbols = ["BTCUSDT"]
"""
_CREDENTIALS = """
api_key = "K"
secret = "S"
"""
_PROFILE = """
[profile]
name = "t"
"""
_SIM = """
[symbols.BTCUSDT]
price = "60000"
[accounts.master]
master = true
"""


def _merge(base: str, fragment: str) -> str:
    """``base`` with each ``key = value`` line of ``fragment`` set in its table (the last
    ``[header]`` above it, the top level before any); ``key = <absent>`` removes the key."""
    lines = base.strip().splitlines()
    header = ""
    for line in fragment.strip().splitlines():
        if line.startswith("["):
            header = line
            if header not in lines:
                lines.append(header)
            continue
        start = lines.index(header) + 1 if header else 0
        end = next((i for i in range(start, len(lines)) if lines[i].startswith("[")), len(lines))
        key = line.split("=")[0].strip()
        kept = [kept for kept in lines[start:end] if kept.split("=")[0].strip() != key]
        lines[start:end] = kept + ([] if line.endswith("<absent>") else [line])
    return "\n".join(lines) + "\n"


def _message(call: Callable[[], object]) -> str:
    """The text of the error ``call`` raises: each program's own type, all of them ValueErrors."""
    with pytest.raises(ValueError, match=r"^\S+: ") as caught:
        call()
    return str(caught.value)


def limits(directory: Path, fragment: str) -> tuple[str, str]:
    return "limits.toml", _message(lambda: parse_limits(fragment, "limits.toml"))


def watchdog(directory: Path, fragment: str) -> tuple[str, str]:
    path = write_config(directory, "")  # writes the key and limits files the config names
    path.write_text(_merge(_WATCHDOG, fragment))
    return str(path), _message(lambda: load_watchdog(path))


def venue(directory: Path, fragment: str) -> tuple[str, str]:
    for name in ("account", "master"):
        (directory / name).write_text(f'api_key = "{name}-key"\nsecret = "{name}-secret"\n')
        (directory / name).chmod(0o600)
    (directory / "trader").write_text('api_key = "trader-key"\n')
    data = tomllib.loads(_merge(_VENUE, fragment))
    table = Table("w.toml", "traders[0].venue", data, ConfigError)
    return "w.toml", _message(lambda: parse_venue_settings(table, base=directory))


def credentials(directory: Path, fragment: str) -> tuple[str, str]:
    path = directory / "venue.key"
    path.write_text(_merge(_CREDENTIALS, fragment))
    path.chmod(0o600)
    return str(path), _message(lambda: load_credentials(path))


def trader(directory: Path, fragment: str) -> tuple[str, str]:
    text = _merge(MINIMAL_TRADER, fragment)
    return "t.toml", _message(lambda: parse_trader(text, "t.toml", base=directory))


def sysprep(directory: Path, fragment: str) -> tuple[str, str]:
    text = _merge(_PROFILE, fragment)
    return "p.toml", _message(lambda: parse_profile(text, "p.toml"))


def sim(directory: Path, fragment: str) -> tuple[str, str]:
    return "sim.toml", _message(lambda: parse_sim(_merge(_SIM, fragment), "sim.toml"))


# (reader, fragment with the mistake, the key path it is reported at)
UNKNOWN_KEY = [
    (limits, 'profile = "standard"\nwarn_at = 80', "warn_at"),
    (watchdog, "colour = 1\n", "colour"),
    (venue, "colour = 1\n", "traders[0].venue.colour"),
    (credentials, "colour = 1", "colour"),
    (trader, "[feed]\ncolour = 1", "feed.colour"),
    (sysprep, "[cpu]\ncolour = 1\n", "cpu.colour"),
    (sim, "[market]\ncolour = 1", "market.colour"),
]
WRONG_TYPE = [  # a number where a string belongs
    (limits, 'profile = "standard"\n[daily_loss]\ntimezone = 1', "daily_loss.timezone"),
    (watchdog, "log_level = 1\n", "log_level"),
    (venue, "trader_email = 1\n", "traders[0].venue.trader_email"),
    (credentials, "api_key = 1", "api_key"),
    (trader, "[watchdog]\ntrader_id = 1", "watchdog.trader_id"),
    (sysprep, "[profile]\nname = 1\n", "profile.name"),
    (sim, "[market]\nmodel = 1", "market.model"),
]
MISSING = [
    (limits, "[daily_loss]\nmax_loss = { pct = 3 }", "warn_at_pct"),
    (watchdog, "state_dir = <absent>", "state_dir"),
    (venue, "trader_email = <absent>", "traders[0].venue.trader_email"),
    (credentials, "secret = <absent>", "secret"),
    (trader, "[watchdog]\ntrader_id = <absent>", "watchdog.trader_id"),
    (sysprep, "[profile]\nname = <absent>", "profile.name"),
    (sim, "[symbols.BTCUSDT]\nprice = <absent>", "symbols.BTCUSDT.price"),
]
OUT_OF_RANGE = [
    (limits, 'profile = "standard"\nwarn_at_pct = 101', "warn_at_pct"),
    (watchdog, "[metrics]\nport = 70000\n", "metrics.port"),
    (venue, "recv_window_ms = 90000\n", "traders[0].venue.recv_window_ms"),
    (trader, "[metrics]\nport = 70000", "metrics.port"),
    (sysprep, "[power]\nenergy_perf_bias = 16\n", "power.energy_perf_bias"),
    (sim, "journal_size = 5", "journal_size"),
]
NOT_A_CHOICE = [
    (limits, 'profile = "standard"\n[daily_loss]\naction = "pause"', "daily_loss.action"),
    (watchdog, 'log_level = "loud"\n', "log_level"),
    (sysprep, '[boot]\nsmt = "sometimes"\n', "boot.smt"),
    (sim, '[market]\nmodel = "loud"', "market.model"),
]


def _reason(reader: Reader, directory: Path, fragment: str, key_path: str) -> str:
    source, message = reader(directory, fragment)
    prefix = f"{source}: {key_path}: "
    assert message.startswith(prefix), message
    return message.removeprefix(prefix)


def _name(case: tuple[Reader, str, str]) -> str:
    return case[0].__name__


@pytest.mark.parametrize("case", UNKNOWN_KEY, ids=_name)
def test_an_unknown_key_lists_the_allowed_ones(
    tmp_path: Path, case: tuple[Reader, str, str]
) -> None:
    reason = _reason(case[0], tmp_path, case[1], case[2])
    listed = re.fullmatch(r"unknown key \(allowed: ([a-z_]+(, [a-z_]+)*)\)", reason)
    assert listed is not None, reason
    names = listed[1].split(", ")
    assert names == sorted(names)


@pytest.mark.parametrize("case", WRONG_TYPE, ids=_name)
def test_a_wrong_type_names_both_kinds(tmp_path: Path, case: tuple[Reader, str, str]) -> None:
    assert _reason(case[0], tmp_path, case[1], case[2]) == "expected a string, got an integer"


@pytest.mark.parametrize("case", MISSING, ids=_name)
def test_a_missing_key_says_it_is_required(tmp_path: Path, case: tuple[Reader, str, str]) -> None:
    assert _reason(case[0], tmp_path, case[1], case[2]) == "missing (required)"


@pytest.mark.parametrize("case", OUT_OF_RANGE, ids=_name)
def test_an_out_of_range_value_names_the_bounds_and_the_value(
    tmp_path: Path, case: tuple[Reader, str, str]
) -> None:
    reason = _reason(case[0], tmp_path, case[1], case[2])
    assert re.fullmatch(r"must be >=? [0-9.]+ and <= [0-9.]+, got [0-9.]+", reason), reason


@pytest.mark.parametrize("case", NOT_A_CHOICE, ids=_name)
def test_a_value_outside_a_set_lists_the_set(tmp_path: Path, case: tuple[Reader, str, str]) -> None:
    reason = _reason(case[0], tmp_path, case[1], case[2])
    assert re.fullmatch(r"must be one of [a-z_-]+(, [a-z_-]+)*, got '[a-z]+'", reason), reason


def test_every_program_is_covered_by_every_mistake_it_can_make() -> None:
    everyone = {limits, watchdog, venue, credentials, trader, sysprep, sim}
    for cases in (UNKNOWN_KEY, WRONG_TYPE, MISSING):
        assert {case[0] for case in cases} == everyone
