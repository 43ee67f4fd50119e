"""Errors of the server side. All derive from the package root `WatchdogError`."""

from __future__ import annotations

from watchdog.errors import WatchdogError


class DaemonError(WatchdogError):
    """Root of the errors the daemon raises on purpose."""


class StoreError(DaemonError, OSError):
    """The state database cannot be opened or written: the watchdog must not run blind."""


class StartupError(DaemonError, RuntimeError):
    """The watchdog refuses to arm: the message says what is missing and what to do."""


class ControlError(DaemonError, ConnectionError):
    """The control API could not be reached or answered with an error (CLI side)."""


class KillStepError(DaemonError, RuntimeError):
    """One attempt of a kill action failed; the pipeline retries it with backoff."""
