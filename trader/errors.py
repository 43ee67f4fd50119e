"""The trader's one root error and its subclasses.

Each subclass also inherits the stdlib type it resembles, so callers that only know the stdlib
(``except ValueError``) still catch it, and callers that know the trader catch ``TraderError``.
"""

from __future__ import annotations


class TraderError(Exception):
    """Root of every error the trader raises on purpose."""


class ConfigError(TraderError, ValueError):
    """The configuration file is missing, malformed or has an invalid or unknown key."""


class HostError(TraderError, RuntimeError):
    """The host is not fit to trade on (drifted preparation, bad CPU list)."""


class FeedError(TraderError, ConnectionError):
    """A market-data message could not be understood."""
