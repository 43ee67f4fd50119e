"""The one root error of sysprep and its subclasses.

Each subclass also inherits the matching standard-library type, so callers that only know the
standard library can still catch the right thing.
"""

from __future__ import annotations


class SysprepError(Exception):
    """Root of every error sysprep raises on purpose."""


class ProfileError(SysprepError, ValueError):
    """A profile is unknown, malformed or names something this host does not have."""


class MalformedValueError(SysprepError, ValueError):
    """A kernel file holds text that does not parse as the knob's format."""


class StateError(SysprepError, OSError):
    """The saved-originals state cannot be read or written."""


class BaselineError(SysprepError, ValueError):
    """A recorded probe baseline is unreadable or malformed."""


class ProbeError(SysprepError, RuntimeError):
    """The probe could not run or measure (a CPU it may not use, a spinner that failed)."""
