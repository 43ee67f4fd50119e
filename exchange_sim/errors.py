"""One root error for the simulator, and the venue's own error replies.

``SimError`` covers the simulator's own failures (bad config, bad CLI input). ``VenueError`` is
what a client sees on the wire: a Binance-style ``{"code", "msg"}`` body with an HTTP status.
"""

from __future__ import annotations


class SimError(Exception):
    """Root of every error raised by exchange_sim."""


class ConfigError(SimError, ValueError):
    """The simulator's TOML config is invalid: the message names the file and the key."""


class VenueError(SimError):
    """A request the venue refuses: rendered as ``{"code": code, "msg": msg}`` with ``status``."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status
