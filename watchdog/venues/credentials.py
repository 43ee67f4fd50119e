"""API credentials from files, never from argv, the environment or a log line.

File format (TOML, UTF-8, mode 0600 or stricter; systemd ``LoadCredential=`` in production)::

    api_key = "the key id the venue shows"
    secret = "the HMAC secret"
    passphrase = "the key's passphrase"   # OKX only: set when the key was created

A key-id file (for the trader's key, which the watchdog must be able to name and revoke but
never use) holds only ``api_key``. Unknown keys are errors.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import stat
from dataclasses import dataclass, field
from pathlib import Path

from risk.tomltable import Table, loads
from watchdog.venues.errors import CredentialsError

_GROUP_OR_OTHER = stat.S_IRWXG | stat.S_IRWXO


@dataclass(frozen=True, slots=True)
class Credentials:
    api_key: str
    secret: str = field(repr=False)
    passphrase: str | None = field(default=None, repr=False)  # OKX's third factor

    def __repr__(self) -> str:
        shown = ", passphrase=<hidden>" if self.passphrase is not None else ""
        return f"Credentials(api_key={redact_key(self.api_key)!r}, secret=<hidden>{shown})"

    def sign(self, payload: str) -> str:
        """Hex HMAC-SHA256 of the exact bytes sent (query string), as the venue recomputes it."""
        return sign(self.secret, payload)

    def sign_base64(self, payload: str) -> str:
        """Base64 HMAC-SHA256 of the exact bytes sent (OKX's ``OK-ACCESS-SIGN``)."""
        return sign_base64(self.secret, payload)


def sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def sign_base64(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def redact_key(api_key: str) -> str:
    """A key id short enough to name in logs and audit without handing it out whole."""
    return f"{api_key[:4]}…{api_key[-4:]}" if len(api_key) > 12 else "…"


def load_credentials(path: Path) -> Credentials:
    """A key and its secret; ``passphrase`` too where the venue has one (OKX: the adapter
    refuses credentials without it)."""
    table = _read_table(path, allowed={"api_key", "secret", "passphrase"}, secret_inside=True)
    return Credentials(
        api_key=_key_text(table, "api_key"),
        secret=_key_text(table, "secret"),
        passphrase=_key_text(table, "passphrase") if table.has("passphrase") else None,
    )


def load_api_key_id(path: Path) -> str:
    """The trader's key id alone; a file that also carries a secret is refused (least knowledge)."""
    return _key_text(_read_table(path, allowed={"api_key"}, secret_inside=False), "api_key")


def _read_table(path: Path, *, allowed: set[str], secret_inside: bool) -> Table:
    try:
        mode = path.stat().st_mode
        raw = path.read_bytes()
    except OSError as exc:
        raise CredentialsError(f"{path}: cannot read credentials: {exc.strerror}") from exc
    if secret_inside and mode & _GROUP_OR_OTHER:
        raise CredentialsError(
            f"{path}: credentials file is open to group or others (mode {stat.S_IMODE(mode):o}); "
            "chmod 600 it"
        )
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise CredentialsError(f"{path}: not valid TOML: not UTF-8") from None
    # The parser's message can quote the line, which may hold the secret: say only where.
    table = Table.root(
        loads(text, str(path), CredentialsError, secret=True), str(path), CredentialsError
    )
    table.reject_unknown(allowed)
    return table


def _key_text(table: Table, key: str) -> str:
    value = table.text(key)
    if value != value.strip():
        raise table.fail(key, "must have no spaces around it")
    if not value.isascii() or not value.isprintable():
        raise table.fail(key, "must be printable ASCII")
    return value
