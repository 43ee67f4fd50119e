"""Request parameters and signatures, as the venue documents them (pure functions).

The venue signs ``totalParams``: the query string concatenated with the request body, exactly as
sent, without the ``signature`` parameter itself. Parameters may come in either part.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import unquote_plus

from exchange_sim.fronts.binance import codes

MAX_PARAMS = 64
MAX_VALUE_LEN = 1024


@dataclass(frozen=True, slots=True)
class Params:
    values: dict[str, str]
    signed_payload: str  # what the client must have signed
    signature: str | None


def _split(raw: str, values: dict[str, str], kept: list[str]) -> str | None:
    signature: str | None = None
    for part in raw.split("&"):
        if not part:
            continue
        name_raw, _, value_raw = part.partition("=")
        if "%" in part or "+" in part:
            try:
                name = unquote_plus(name_raw, errors="strict")
                value = unquote_plus(value_raw, errors="strict")
            except UnicodeDecodeError:
                raise codes.illegal_chars(name_raw[:32]) from None
        else:  # the common case: nothing escaped, nothing to decode
            name, value = name_raw, value_raw
        if not name.isascii() or not name.isprintable() or not name:
            raise codes.illegal_chars(name[:32])
        if len(value) > MAX_VALUE_LEN or not value.isprintable():
            raise codes.illegal_chars(name)
        if name in values or (name == "signature" and signature is not None):
            raise codes.duplicate_param(name)
        if name == "signature":
            signature = value
            continue
        values[name] = value
        kept.append(part)
    if len(values) > MAX_PARAMS:
        raise codes.too_many_params()
    return signature


def parse_params(query: str, body: str) -> Params:
    """Split query and body into parameters; build the payload the signature must cover."""
    values: dict[str, str] = {}
    kept_query: list[str] = []
    kept_body: list[str] = []
    sig_q = _split(query, values, kept_query)
    sig_b = _split(body, values, kept_body)
    if sig_q is not None and sig_b is not None:
        raise codes.duplicate_param("signature")
    payload = "&".join(kept_query) + "&".join(kept_body)
    return Params(values, payload, sig_q if sig_q is not None else sig_b)


def sign(secret: str, payload: str) -> str:
    """Hex HMAC-SHA256 of the payload: what a client sends as ``signature``."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def signature_valid(secret: str, payload: str, signature: str) -> bool:
    """Constant-time compare; a signature that is not ASCII (``%C3%A9``) is simply wrong, since
    ``hmac.compare_digest`` refuses non-ASCII text instead of answering False."""
    if not signature.isascii():
        return False
    return hmac.compare_digest(sign(secret, payload), signature.lower())


def parse_int(values: dict[str, str], name: str) -> int:
    """A mandatory integer parameter, or -1102 naming it."""
    raw = values.get(name, "")
    if not raw or len(raw) > 20 or not (digits(raw) or (raw[0] == "-" and digits(raw[1:]))):
        raise codes.mandatory(name)
    return int(raw)


def digits(raw: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also takes "²", which ``int`` refuses."""
    return raw.isascii() and raw.isdigit()


def check_timestamp(values: dict[str, str], now_ms: int, max_window_ms: int) -> None:
    """The venue's rule: ``timestamp < now + 1000`` and ``now - timestamp <= recvWindow``."""
    timestamp = parse_int(values, "timestamp")
    window = 5000
    if "recvWindow" in values:
        window = parse_int(values, "recvWindow")
        if window <= 0 or window > max_window_ms:
            raise codes.bad_recv_window()
    if timestamp >= now_ms + 1000:
        raise codes.timestamp_ahead()
    if now_ms - timestamp > window:
        raise codes.timestamp_outside()
