"""The `[traders.venue]` table: the watchdog's own view of the trader's venue account.

Parsed by the venue side (`watchdog.daemon.venue.settings`, documented in docs/venues.md);
an empty or absent table means the trader has no venue side configured.
"""

from __future__ import annotations

from pathlib import Path

from watchdog.daemon.tomlcheck import Table
from watchdog.daemon.venue.settings import KNOWN_VENUE_KEYS, VenueSettings, parse_venue_settings

__all__ = ["KNOWN_VENUE_KEYS", "VenueSettings", "parse_venue"]


def parse_venue(table: Table) -> VenueSettings | None:
    """Validate the table; `None` when the trader has no venue side configured."""
    if not table.data:
        return None
    where = f"{table.source}: {table.path}"
    return parse_venue_settings(table.data, where, base=Path(table.source).parent)
