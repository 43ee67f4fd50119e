"""One root error for the demo; every message is one line a newcomer can act on."""

from __future__ import annotations


class DemoError(Exception):
    """Something the demo could not do or could not prove."""


class StartError(DemoError, RuntimeError):
    """A part did not start (its log tail is printed)."""


class ProofFailed(DemoError, AssertionError):
    """The venue, the watchdog or the trader did not show what the scenario must end with."""
