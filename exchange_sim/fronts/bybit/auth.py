"""Bybit v5 request authentication and parameters, as Bybit documents them (pure functions).

A signed request carries ``X-BAPI-API-KEY``, ``X-BAPI-TIMESTAMP`` (ms), ``X-BAPI-SIGN`` and
optionally ``X-BAPI-RECV-WINDOW`` (ms, default 5000). The signature is the hex HMAC-SHA256, with
the key's secret, of ``timestamp + api_key + recv_window + payload`` where ``recv_window`` is the
header's value as sent (nothing if absent) and the payload is the query string exactly as sent
(GET) or the JSON body exactly as sent (POST). The timestamp must satisfy
``server_time - recv_window <= timestamp < server_time + 1000``. A private WebSocket
authenticates with ``{"op": "auth", "args": [api_key, expires, sign]}``, ``sign`` being the hex
HMAC-SHA256 of ``"GET/realtime" + expires`` and ``expires`` a future time in ms.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson

from exchange_sim.errors import VenueError
from exchange_sim.fronts.bybit import codes
from exchange_sim.fronts.common import params

DEFAULT_RECV_WINDOW_MS = 5000


def sign(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def digits(raw: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also takes "²", which ``int`` refuses."""
    return raw.isascii() and raw.isdigit()


def signature_valid(secret: str, text: str, signature: str) -> bool:
    """Constant-time; a non-ASCII signature is simply wrong (``compare_digest`` would raise)."""
    if not signature.isascii():
        return False
    return hmac.compare_digest(sign(secret, text), signature.lower())


def signed_text(timestamp: str, api_key: str, recv_window: str | None, payload: str) -> str:
    return f"{timestamp}{api_key}{recv_window or ''}{payload}"


def _int(raw: str, what: str) -> int:
    if not raw or len(raw) > 20 or not digits(raw):
        raise codes.params(f"{what} must be an integer")
    return int(raw)


def check_timestamp(timestamp: str, recv_window: str | None, now_ms: int, max_ms: int) -> None:
    sent = _int(timestamp, "X-BAPI-TIMESTAMP")
    window = DEFAULT_RECV_WINDOW_MS if recv_window is None else _int(recv_window, "recv_window")
    if window <= 0 or window > max_ms:
        raise codes.params(f"recv_window must be in (0, {max_ms}]")
    if not now_ms - window <= sent < now_ms + 1000:
        raise codes.timestamp(now_ms, sent, window)


def ws_auth_valid(secret: str, expires: int, signature: str) -> bool:
    return signature_valid(secret, f"GET/realtime{expires}", signature)


def query_params(raw: str) -> dict[str, str]:
    """A GET query string: every name once, values percent-decoded."""
    try:
        return params.query_params(raw)
    except params.BadParam as bad:
        raise _refusal(bad) from None


def body_params(raw: bytes) -> dict[str, str]:
    """A POST body: one JSON object of scalars (null means absent)."""
    if not raw.strip():
        return {}
    try:
        doc: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise codes.params("the body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise codes.params("the body must be a JSON object")
    try:
        return params.scalar_params(doc)
    except params.BadParam as bad:
        raise _refusal(bad) from None


def _refusal(bad: params.BadParam) -> VenueError:
    """Bybit answers every broken parameter rule with 10001, in its own words."""
    name = bad.name
    words = {
        "undecodable": f"illegal characters in {name[:32]!r}",
        "bad_name": f"illegal parameter name {name[:32]!r}",
        "bad_value": f"illegal characters in {name}",
        "duplicate": f"duplicate parameter {name}",
        "too_many": "too many parameters",
        "not_scalar": f"{name[:32]} must be a string, a number or a boolean",
    }
    return codes.params(words[bad.rule])
