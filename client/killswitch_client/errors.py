"""The client's errors: one root, and subclasses that also inherit the matching stdlib type.

Every `ProtocolError` carries a stable `reason` code: the watchdog counts dropped datagrams by
it (and exports the counts as metric labels), so the codes are part of the interface.
"""

from __future__ import annotations

from killswitch_client.states import TradingState


class ClientError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(ClientError, ValueError):
    """A setting (or the key file) is invalid: the message says which and why."""


class ReportError(ClientError, ValueError):
    """A `report_*` call carried a value the watchdog cannot judge (NaN, a negative price,
    an unknown side): nothing was sent, the bot has a bug to fix."""


class TradingHalted(ClientError, RuntimeError):
    """The watchdog's state forbids this order; `state` is the state that forbade it."""

    def __init__(self, state: TradingState, what: str) -> None:
        super().__init__(f"{what} refused: the watchdog's state is {state.name}")
        self.state = state


class ProtocolError(ClientError, ValueError):
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
