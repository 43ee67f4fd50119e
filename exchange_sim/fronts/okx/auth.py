"""OKX v5 request authentication and parameters, as OKX documents them (pure functions).

A private request carries ``OK-ACCESS-KEY``, ``OK-ACCESS-SIGN``, ``OK-ACCESS-TIMESTAMP`` and
``OK-ACCESS-PASSPHRASE``. The timestamp is ISO 8601 UTC with milliseconds
(``2020-12-08T09:08:57.715Z``) and must lie within 30 s of the server's time. The signature is
the Base64 of the HMAC-SHA256, with the key's secret, of ``timestamp + METHOD + requestPath +
body``: the request path with its query string exactly as sent (GET), the JSON body exactly as
sent (POST). A private WebSocket logs in with ``{"op": "login", "args": [{"apiKey",
"passphrase", "timestamp", "sign"}]}``, ``timestamp`` in seconds and ``sign`` the same Base64
HMAC of ``timestamp + "GET" + "/users/self/verify"``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime
from typing import Any

import orjson

from exchange_sim.errors import VenueError
from exchange_sim.fronts.common import params
from exchange_sim.fronts.okx import codes

MAX_SKEW_MS = 30_000
MAX_ITEMS = 100  # array bodies (batch calls): each endpoint enforces its own, lower, limit
WS_VERIFY_PATH = "/users/self/verify"
_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")


def sign(secret: str, text: str) -> str:
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def digits(raw: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also takes "²", which ``int`` refuses."""
    return raw.isascii() and raw.isdigit()


def signature_valid(secret: str, text: str, signature: str) -> bool:
    """Constant-time; a non-ASCII signature is simply wrong (``compare_digest`` would raise)."""
    if not signature.isascii():
        return False
    return hmac.compare_digest(sign(secret, text), signature)


def signed_text(timestamp: str, method: str, request_path: str, body: str) -> str:
    return f"{timestamp}{method}{request_path}{body}"


def timestamp_ms(raw: str) -> int:
    """An ``OK-ACCESS-TIMESTAMP`` in ms since the epoch; 50112 unless ISO 8601 UTC with ms."""
    if not _ISO.fullmatch(raw):
        raise codes.timestamp_invalid()
    try:
        parsed = datetime.strptime(raw, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        raise codes.timestamp_invalid() from None
    return int(parsed.timestamp() * 1000)


def check_timestamp(raw: str, now_ms: int) -> None:
    if abs(timestamp_ms(raw) - now_ms) > MAX_SKEW_MS:
        raise codes.timestamp_expired()


def iso(ms: int) -> str:
    """Milliseconds since the epoch as OKX writes a timestamp."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def ws_login_valid(secret: str, timestamp: str, signature: str) -> bool:
    return signature_valid(secret, f"{timestamp}GET{WS_VERIFY_PATH}", signature)


def query_params(raw: str) -> dict[str, str]:
    """A GET query string: every name once, values percent-decoded."""
    try:
        return params.query_params(raw)
    except params.BadParam as bad:
        raise _refusal(bad) from None


def body_doc(raw: bytes) -> Any:
    """A POST body: a JSON object, or an array of objects for the batch calls (empty: {})."""
    if not raw.strip():
        return {}
    try:
        doc: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise codes.body_not_json() from None
    if isinstance(doc, list):
        if len(doc) > MAX_ITEMS:
            raise codes.param("body: too many items")
        return [object_params(item) for item in doc]
    return object_params(doc)


def object_params(doc: Any) -> dict[str, str]:
    """One JSON object of scalars as strings (null means absent; booleans as true/false)."""
    if not isinstance(doc, dict):
        raise codes.body_not_json()
    try:
        return params.scalar_params(doc)
    except params.BadParam as bad:
        raise _refusal(bad) from None


def _refusal(bad: params.BadParam) -> VenueError:
    """OKX answers every broken parameter rule with 51000, naming the parameter."""
    return codes.param(repr(bad.name[:32]) if bad.rule == "bad_name" else bad.name[:32])
