"""What a bot needs to talk to its watchdog, from keyword arguments or a small TOML file."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from killswitch_client.errors import ConfigError
from killswitch_client.keyfile import load_key
from killswitch_client.protocol import MIN_KEY_SIZE, check_trader_id

DEFAULT_SOCKET_PATH = "/run/killswitch-watchdog/telemetry.sock"

Address = str | tuple[str, int]


@dataclass(frozen=True)
class ClientConfig:
    """`address`: the watchdog's Unix socket path, or (host, port) for UDP."""

    trader_id: str
    key: bytes = field(repr=False)
    address: Address = DEFAULT_SOCKET_PATH
    heartbeat_interval: float = 0.1
    ack_timeout: float = 1.0
    max_pending_orders: int = 1024
    max_snapshot_keys: int = 256
    max_write_buffer: int = 64 * 1024

    def __post_init__(self) -> None:
        try:
            check_trader_id(self.trader_id)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if len(self.key) < MIN_KEY_SIZE:
            raise ConfigError(f"HMAC key must be at least {MIN_KEY_SIZE} bytes")
        if not 0.001 <= self.heartbeat_interval <= 10:
            raise ConfigError(f"heartbeat_interval {self.heartbeat_interval} not in 0.001..10 s")
        if not self.ack_timeout > self.heartbeat_interval:
            raise ConfigError("ack_timeout must be longer than heartbeat_interval")
        if self.max_pending_orders < 1 or self.max_snapshot_keys < 1:
            raise ConfigError("buffer bounds must be at least 1")

    @classmethod
    def build(
        cls,
        *,
        trader_id: str,
        address: str,
        key_file: str | os.PathLike[str],
        heartbeat_interval: float = 0.1,
        ack_timeout: float = 1.0,
    ) -> ClientConfig:
        """The keyword form every client takes: the key is read (and checked) now."""
        return cls(
            trader_id=trader_id,
            key=load_key(key_file),
            address=parse_address(address),
            heartbeat_interval=heartbeat_interval,
            ack_timeout=ack_timeout,
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ClientConfig:
        """Read `trader_id`, `address` and `key_file` (relative to the file) from a TOML file.

        Errors name the file and the key: `client.toml: address: reason`.
        """
        path = Path(path)
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from None
        unknown = sorted(set(table) - set(_FILE_KEYS))
        if unknown:
            raise ConfigError(f"{path}: {unknown[0]}: unknown key (known: {', '.join(_FILE_KEYS)})")
        values: dict[str, str] = {}
        for key in _FILE_KEYS:
            value = table.get(key)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{path}: {key}: required, a non-empty string")
            values[key] = value
        try:
            return cls.build(
                trader_id=values["trader_id"],
                address=values["address"],
                key_file=path.parent / values["key_file"],
            )
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None


def resolve_config(
    config: ClientConfig | None,
    trader_id: str | None,
    address: str | None,
    key_file: str | os.PathLike[str] | None,
) -> ClientConfig:
    """The config from either a `ClientConfig` or the three keywords, never a mix."""
    keywords = (trader_id, address, key_file)
    if config is not None:
        if any(value is not None for value in keywords):
            raise TypeError("give either config or trader_id/address/key_file, not both")
        return config
    if trader_id is None or address is None or key_file is None:
        raise TypeError("trader_id, address and key_file are all required")
    return ClientConfig.build(trader_id=trader_id, address=address, key_file=key_file)


_FILE_KEYS = ("trader_id", "address", "key_file")


def parse_address(text: str) -> Address:
    """A Unix socket path (it contains a `/`) or `host:port` (`[v6]:port` too) for UDP."""
    if not isinstance(text, str) or not text:
        raise ConfigError(f"address: {text!r} is neither a socket path nor host:port")
    if "/" in text:
        return text
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]") if host.startswith("[") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"address: {text!r} is neither a socket path (it has no /) nor host:port "
            "with a port in 1..65535"
        )
    return (host, int(port))
