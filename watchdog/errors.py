"""The watchdog's errors: one root, and subclasses that also inherit the matching stdlib type.

The wire protocol's errors (`ProtocolError` and its reasons) belong to the protocol:
`killswitch_client.errors`.
"""

from __future__ import annotations


class WatchdogError(Exception):
    """Root of every error the watchdog package raises on purpose."""


class ConfigError(WatchdogError, ValueError):
    """A configuration value (or a key file) is invalid: the message says which and why."""


class IngressError(WatchdogError, OSError):
    """The watchdog's datagram endpoint cannot be set up (socket path in use, not a socket)."""
