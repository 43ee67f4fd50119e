"""`telemetry = "none"`: a trader watched through its process and the venue view alone.

Every mistake is one line naming the file and `traders[N].<key>`."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.watchdog.daemon.conftest import VENUE
from watchdog.daemon.config import TELEMETRY_NONE, load_config
from watchdog.errors import ConfigError

ConfigFile = Callable[..., Path]


def test_a_pid_file_with_a_command_line_and_a_venue_is_accepted(
    silent_config: Callable[..., Path],
) -> None:
    path = silent_config('telemetry = "none"\npidfile = "bot.pid"\ncmdline = "bot.py --live"')
    (trader,) = load_config(path).traders
    assert trader.telemetry == TELEMETRY_NONE
    assert not trader.telemetry_expected
    assert trader.hmac_key is None
    assert trader.process.pidfile == path.parent / "bot.pid"
    assert trader.process.cmdline == "bot.py --live"


def test_a_unit_needs_no_command_line(silent_config: Callable[..., Path]) -> None:
    (trader,) = load_config(silent_config('telemetry = "none"\nunit = "bot.service"')).traders
    assert trader.process.unit == "bot.service"
    assert trader.process.cmdline is None


def test_telemetry_is_required_by_default(config_file: ConfigFile) -> None:
    (trader,) = load_config(config_file()).traders
    assert trader.telemetry_expected
    assert trader.hmac_key is not None


@pytest.mark.parametrize(
    ("keys", "venue", "message"),
    [
        (
            'telemetry = "off"\nunit = "u"',
            VENUE,
            "traders[0].telemetry: must be one of required, none, got 'off'",
        ),
        ("telemetry = false\nunit = 'u'", VENUE, "traders[0].telemetry: expected a string"),
        (
            'telemetry = "none"\nunit = "u"',
            "",
            'traders[0].telemetry: "none" needs a [traders.venue] table',
        ),
        ('telemetry = "none"', VENUE, 'traders[0].telemetry: "none" needs one of pid, pidfile'),
        (
            'telemetry = "none"\nunit = "u"\nhmac_key_file = "alpha.key"',
            VENUE,
            'traders[0].hmac_key_file: not used with telemetry = "none"',
        ),
        (
            'telemetry = "none"\npid = 1234',
            VENUE,
            "traders[0].cmdline: missing (required): with telemetry",
        ),
        (
            'telemetry = "none"\nunit = "u"\ncmdline = "bot"',
            VENUE,
            'traders[0].cmdline: only for telemetry = "none" with pid or pidfile',
        ),
        (
            'hmac_key_file = "alpha.key"\npid = 1234\ncmdline = "bot"',
            VENUE,
            'traders[0].cmdline: only for telemetry = "none"',
        ),
        (
            'telemetry = "none"\npid = 1234\ncmdline = ""',
            VENUE,
            "traders[0].cmdline: must not be empty",
        ),
    ],
)
def test_mistakes_name_the_file_and_the_key(
    silent_config: Callable[..., Path], keys: str, venue: str, message: str
) -> None:
    path = silent_config(keys, venue)
    with pytest.raises(ConfigError, match=re.escape(f"{path}: {message}")):
        load_config(path)
