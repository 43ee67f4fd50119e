"""Answers in no venue's words (injected by the simulator's faults) and the typed error every
adapter must turn each into: the same table for every venue, so none can drift."""

from __future__ import annotations

from typing import Any

from watchdog.venues import RateLimited, VenueProtocolError, VenueRejected, VenueUnavailable

BAD_ANSWERS: list[tuple[dict[str, Any], type[Exception]]] = [
    ({"kind": "html", "status": 502}, VenueUnavailable),
    ({"kind": "empty"}, VenueProtocolError),
    ({"kind": "unknown_code"}, VenueRejected),
    ({"kind": "5xx", "status": 503}, VenueUnavailable),
    ({"kind": "429"}, RateLimited),
]
