"""Config: one strict parse at the edge; every error names the file and the key path."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from risk.errors import LimitsError
from tests.watchdog.daemon.conftest import setgid_directory, write_config
from watchdog.daemon.config import load_config
from watchdog.errors import ConfigError

ConfigFile = Callable[..., Path]


def test_a_minimal_config_resolves_paths_next_to_the_file(config_file: ConfigFile) -> None:
    path = config_file()
    config = load_config(path)
    assert config.state_dir == path.parent / "state"
    assert config.ingress.unix_socket == path.parent / "ingress.sock"
    assert config.control_socket_mode == 0o600
    (trader,) = config.traders
    assert trader.id == "alpha"
    assert trader.limits.heartbeat.kill_after_s == 1.5
    assert not trader.process.configured
    assert config.max_maintenance_s == 3600.0


def test_the_hmac_key_never_shows_in_a_repr(config_file: ConfigFile) -> None:
    assert "6b6b6b6b" not in repr(load_config(config_file()))
    assert "kkkk" not in repr(load_config(config_file()))


def test_inline_limits_are_parsed_like_a_limits_file(config_file: ConfigFile) -> None:
    traders = """
        [[traders]]
        id = "alpha"
        hmac_key_file = "alpha.key"
        pidfile = "alpha.pid"
        credential_file = "alpha.cred"
        kill_group = "desk"
        [traders.limits]
        profile = "conservative"
        [traders.limits.heartbeat]
        interval_s = 0.1
        warn_after_s = 0.2
        halt_after_s = 0.3
        kill_after_s = 0.4
        cooldown_s = 1.0
        [traders.kill]
        stop_grace_s = 0.5
        revoke_mode = "remove"
    """
    path = config_file(traders=traders)
    (path.parent / "alpha.cred").write_text("api-key=secret\n")
    (trader,) = load_config(path).traders
    assert trader.limits.profile == "conservative"
    assert trader.limits.heartbeat.kill_after_s == 0.4
    assert trader.process.pidfile is not None
    assert trader.process.pidfile.name == "alpha.pid"
    assert trader.kill.revoke_mode == "remove"
    assert trader.kill_group == "desk"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("colour = 1\n", "colour: unknown key"),
        ("[kill]\ndeadline_s = -1\n", "kill.deadline_s: must be > 0"),
        ("[kill]\nbackoff_initial_s = 3\nbackoff_max_s = 1\n", "kill.backoff_max_s"),
        ('[alerts]\nwebhooks = ["ftp://x"]\n', "alerts.webhooks[0]: must be an http"),
        ('control_socket_mode = "0666"\n', "control_socket_mode: must be"),
        ("[metrics]\nport = true\n", "metrics.port: expected an integer, got a boolean"),
        ("max_maintenance_s = 0\n", "max_maintenance_s: must be > 0"),
        ("max_maintenance_s = 100000\n", "max_maintenance_s: at most 86400"),
    ],
)
def test_bad_values_name_the_file_and_key(config_file: ConfigFile, body: str, message: str) -> None:
    path = config_file(body)
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        load_config(path)
    assert str(caught.value).startswith(str(path))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('pid = 1234\nunit = "x.service"\n', r"traders\[0\].unit: give only one"),
        ('[traders.venue]\napi_key = "x"\n', r"traders\[0\].venue.api_key: unknown key"),
        ('[traders.kill]\nrevoke_mode = "shred"\n', r"traders\[0\].kill.revoke_mode"),
        ('limits = { profile = "standard" }\n', "give exactly one of limits_file"),
        ("pid = 1\n", r"traders\[0\].pid: must be >= 2"),
    ],
)
def test_trader_errors_name_the_trader_table(
    config_file: ConfigFile, extra: str, message: str
) -> None:
    traders = f"""
[[traders]]
id = "alpha"
hmac_key_file = "alpha.key"
limits_file = "limits.toml"
{extra}"""
    with pytest.raises(ConfigError, match=message):
        load_config(config_file(traders=traders))


def test_duplicate_trader_ids_are_refused(config_file: ConfigFile) -> None:
    one = '[[traders]]\nid = "alpha"\nhmac_key_file = "alpha.key"\nlimits_file = "limits.toml"\n'
    with pytest.raises(ConfigError, match=r"traders\[1\].id: duplicate"):
        load_config(config_file(traders=one + one))


def test_a_short_hmac_key_is_refused(config_file: ConfigFile, tmp_path: Path) -> None:
    path = config_file()
    (tmp_path / "alpha.key").write_text("abcd")
    with pytest.raises(ConfigError, match=r"hmac_key_file: .*need at least 32"):
        load_config(path)


def test_a_world_readable_hmac_key_is_refused(config_file: ConfigFile, tmp_path: Path) -> None:
    path = config_file()
    (tmp_path / "alpha.key").chmod(0o644)
    with pytest.raises(ConfigError, match=r"traders\[0\]\.hmac_key_file: .*other users"):
        load_config(path)


def test_bad_limits_name_the_limits_file_and_key(config_file: ConfigFile, tmp_path: Path) -> None:
    path = config_file()
    (tmp_path / "limits.toml").write_text('profile = "reckless"\n')
    expected = r"limits\.toml: profile: must be one of conservative, standard, aggressive, got "
    with pytest.raises(LimitsError, match=expected + "'reckless'$"):
        load_config(path)


def test_a_missing_or_broken_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("state_dir = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)


def test_telemetry_is_accepted_until_warn_after_s_old(config_file: ConfigFile) -> None:
    (trader,) = load_config(config_file()).traders
    assert trader.max_send_age == trader.limits.heartbeat.warn_after_s == 0.4
    assert trader.max_send_age < trader.limits.heartbeat.halt_after_s


# One trader whose limits are inline: the standard profile, to which a test adds a table.
INLINE_STANDARD = """
[[traders]]
id = "alpha"
hmac_key_file = "alpha.key"
[traders.limits]
profile = "standard"
"""


def test_bad_data_that_would_refuse_an_accepted_heartbeat_is_refused(
    config_file: ConfigFile,
) -> None:
    traders = INLINE_STANDARD + "[traders.limits.bad_data]\nmax_past_s = 2.0\n"
    # The standard profile warns after 3 s: a heartbeat 2..3 s old would be accepted as fresh
    # telemetry and then halt the trader as bad data.
    with pytest.raises(
        ConfigError, match=r"traders\[0\]\.limits\.bad_data\.max_past_s: .*below heartbeat"
    ):
        load_config(config_file(traders=traders))


def test_an_inline_limits_error_reads_as_one_key_path(config_file: ConfigFile) -> None:
    traders = INLINE_STANDARD + "[traders.limits.daily_loss]\nmax_los = { pct = 3 }\n"
    path = config_file(traders=traders)
    with pytest.raises(LimitsError) as caught:
        load_config(path)
    reason = "unknown key (allowed: action, max_loss, reset_time, timezone)"
    assert str(caught.value) == f"{path}: traders[0].limits.daily_loss.max_los: {reason}"


_CREDENTIAL_TRADER = """
[[traders]]
id = "alpha"
hmac_key_file = "alpha.key"
limits_file = "limits.toml"
credential_file = "trader-venue.crd"
"""


def test_a_credential_file_that_does_not_exist_is_refused(config_file: ConfigFile) -> None:
    # A kill would "revoke" the typo's path and verify it while the real secret stays.
    path = config_file(traders=_CREDENTIAL_TRADER)
    missing = path.parent / "trader-venue.crd"
    expected = f"{path}: traders[0].credential_file: {missing} does not exist"
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(path)
    missing.mkdir()
    with pytest.raises(ConfigError, match=r"credential_file: .* is not a regular file"):
        load_config(path)


def test_a_credential_removed_by_a_kill_is_still_a_valid_config(config_file: ConfigFile) -> None:
    # After a kill in "remove" mode the watchdog must start again (to finish or report it).
    path = config_file(traders=_CREDENTIAL_TRADER + '[traders.kill]\nrevoke_mode = "remove"\n')
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(path)
    (path.parent / ".trader-venue.crd.revoked").write_text("REVOKED")
    (trader,) = load_config(path).traders
    assert trader.credential_file == path.parent / "trader-venue.crd"


def test_a_credential_file_is_not_needed_when_nothing_revokes_it(config_file: ConfigFile) -> None:
    body = _CREDENTIAL_TRADER + "[traders.kill]\nrevoke_credential = false\n"
    (trader,) = load_config(config_file(traders=body)).traders
    assert trader.credential_file is not None


def test_a_control_socket_the_telemetry_group_could_use_is_refused(
    config_file: ConfigFile,
) -> None:
    # Both sockets get the watchdog's group: "0660" would let the trader trip or re-arm.
    path = config_file('control_socket_mode = "0660"\n')
    message = r'control_socket_mode: "0660" gives the control socket to group .* telemetry'
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_a_group_control_socket_is_accepted_without_a_unix_ingress(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'control_socket_mode = "0660"\n')
    path.write_text(path.read_text().replace('unix_socket = "ingress.sock"', 'udp = "127.0.0.1:0"'))
    assert load_config(path).control_socket_mode == 0o660


def test_a_group_control_socket_in_an_operators_setgid_directory_is_accepted(
    tmp_path: Path,
) -> None:
    setgid_directory(tmp_path / "operators", 4242)
    path = write_config(tmp_path, 'control_socket_mode = "0660"\n')
    path.write_text(path.read_text().replace('"control.sock"', '"operators/control.sock"'))
    assert load_config(path).control_socket_mode == 0o660
