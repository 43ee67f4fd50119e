"""The HMAC key file both sides read: hex text (whitespace ignored), at least 32 bytes of key."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from killswitch_client.errors import ConfigError
from killswitch_client.protocol import MIN_KEY_SIZE


def load_key(path: str | os.PathLike[str]) -> bytes:
    """Read an HMAC key file.

    Refuses a file that other users can read or write: the key is what makes telemetry
    trustworthy.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read key file {path}: {exc}") from None
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        raise ConfigError(f"key file {path} is accessible to other users: chmod o-rwx it")
    try:
        key = bytes.fromhex("".join(text.split()))
    except ValueError:
        raise ConfigError(f"key file {path} is not hex text") from None
    if len(key) < MIN_KEY_SIZE:
        raise ConfigError(f"key file {path} holds {len(key)} bytes, need at least {MIN_KEY_SIZE}")
    return key
