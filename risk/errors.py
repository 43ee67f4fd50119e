"""The risk package's errors: one root, subclasses that also inherit the matching stdlib type."""

from __future__ import annotations


class RiskError(Exception):
    """Root of every error raised by the risk package."""


class LimitsError(RiskError, ValueError):
    """A limits file is invalid. The message reads ``<source>: <key.path>: <reason>``."""


class PersistedStateError(RiskError, ValueError):
    """A stored `PersistedRisk` record is malformed (a field is missing or has a bad value)."""
