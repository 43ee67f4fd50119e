"""The `[traders.venue]` table: the watchdog's own view of the trader's venue account.

The venue adapters plug in here: each known key gets a field on `VenueSettings` and a line in
`parse_venue`. Until an adapter is configured the table must be empty or absent, so a typo or a
setting this build cannot honour is an error instead of a silently ignored safety feature.
"""

from __future__ import annotations

from dataclasses import dataclass

from watchdog.daemon.tomlcheck import Table

KNOWN_VENUE_KEYS: frozenset[str] = frozenset()


@dataclass(frozen=True)
class VenueSettings:
    """Settings of the trader's venue account as the watchdog sees it (filled by adapters)."""


def parse_venue(table: Table) -> VenueSettings | None:
    """Validate the table; `None` when the trader has no venue side configured."""
    if not table.data:
        return None
    table.reject_unknown(KNOWN_VENUE_KEYS)
    return VenueSettings()
