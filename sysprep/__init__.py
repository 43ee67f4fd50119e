"""sysprep: prepare, verify and revert the host a latency-sensitive trader runs on.

The public API lives in :mod:`sysprep.api`: ``load_profile``, ``plan``, ``verify``, ``apply``,
``revert``.
"""
