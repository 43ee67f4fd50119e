"""Credentials files: strict format, strict permissions, the secret never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchdog.venues.credentials import load_api_key_id, load_credentials
from watchdog.venues.errors import CredentialsError

SECRET = "s3cr3t-value-that-must-never-be-shown"


def _write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "cred.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_a_well_formed_file_loads(tmp_path: Path) -> None:
    creds = load_credentials(_write(tmp_path, f'api_key = "KEY123"\nsecret = "{SECRET}"\n'))
    assert creds.api_key == "KEY123"
    assert creds.secret == SECRET


def test_a_file_open_to_others_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, f'api_key = "K"\nsecret = "{SECRET}"\n', mode=0o644)
    with pytest.raises(CredentialsError, match=r"open to group or others .*chmod 600"):
        load_credentials(path)


def test_unknown_keys_are_errors(tmp_path: Path) -> None:
    path = _write(tmp_path, 'api_key = "K"\nsecret = "S"\nlabel = "x"\n')
    with pytest.raises(CredentialsError) as caught:
        load_credentials(path)
    assert str(caught.value) == (
        f"{path}: label: unknown key (allowed: api_key, passphrase, secret)"
    )


def test_a_passphrase_is_read_when_present_and_never_shown(tmp_path: Path) -> None:
    path = _write(tmp_path, f'api_key = "KEY123"\nsecret = "S"\npassphrase = "{SECRET}"\n')
    creds = load_credentials(path)
    assert creds.passphrase == SECRET
    assert SECRET not in repr(creds)
    assert "passphrase=<hidden>" in repr(creds)


def test_a_file_without_a_passphrase_has_none(tmp_path: Path) -> None:
    assert load_credentials(_write(tmp_path, 'api_key = "K"\nsecret = "S"\n')).passphrase is None


def test_a_blank_passphrase_is_refused_by_name(tmp_path: Path) -> None:
    path = _write(tmp_path, 'api_key = "K"\nsecret = "S"\npassphrase = " x"\n')
    with pytest.raises(CredentialsError) as caught:
        load_credentials(path)
    assert str(caught.value) == f"{path}: passphrase: must have no spaces around it"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('api_key = "K"\n', "secret: missing (required)"),
        ('api_key = ""\nsecret = "S"\n', "api_key: must not be empty"),
        ('api_key = " K"\nsecret = "S"\n', "api_key: must have no spaces around it"),
        ("api_key = 5\nsecret = 'S'\n", "api_key: expected a string, got an integer"),
        (f"api_key = 'K'\nsecret = {len(SECRET)}\n", "secret: expected a string, got an integer"),
        ('api_key = "K\\u00e9"\nsecret = "S"\n', "api_key: must be printable ASCII"),
    ],
)
def test_missing_or_bad_values_are_errors(tmp_path: Path, text: str, reason: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(CredentialsError) as caught:
        load_credentials(path)
    assert str(caught.value) == f"{path}: {reason}"


def test_a_toml_error_does_not_quote_the_secret(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError) as info:
        load_credentials(_write(tmp_path, f'api_key = "K"\nsecret = {SECRET}\n'))
    assert SECRET not in str(info.value)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="cannot read credentials"):
        load_credentials(tmp_path / "absent.toml")


def test_the_key_id_file_holds_only_the_key(tmp_path: Path) -> None:
    assert load_api_key_id(_write(tmp_path, 'api_key = "TRADERKEY"\n', mode=0o644)) == "TRADERKEY"
    with pytest.raises(CredentialsError, match=r": secret: unknown key \(allowed: api_key\)$"):
        load_api_key_id(_write(tmp_path, 'api_key = "K"\nsecret = "S"\n'))
