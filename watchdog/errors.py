"""The watchdog's errors: one root, and subclasses that also inherit the matching stdlib type.

Every `ProtocolError` carries a stable `reason` code: the ingress counts drops by it (and the
daemon exports the counts as Prometheus labels), so the codes are part of the interface.
"""

from __future__ import annotations


class WatchdogError(Exception):
    """Root of every error the watchdog package raises on purpose."""


class ConfigError(WatchdogError, ValueError):
    """A configuration value (or a key file) is invalid: the message says which and why."""


class ProtocolError(WatchdogError, ValueError):
    """A datagram was rejected. `reason` is a stable short code for counters."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class MalformedError(ProtocolError):
    """The bytes are not a well-formed datagram: truncated, oversized, bad header or payload."""


class VersionError(ProtocolError):
    """A well-framed datagram of a protocol version this side does not speak."""


class AuthError(ProtocolError):
    """Unknown trader id or a wrong HMAC tag: forged, corrupted, or the wrong key."""


class ReplayError(ProtocolError):
    """Authentic but not fresh: a replayed, too old, stale-session or clock-skewed datagram."""


class IngressError(WatchdogError, OSError):
    """The watchdog's datagram endpoint cannot be set up (socket path in use, not a socket)."""
