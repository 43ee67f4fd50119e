"""Faults the admin API injects, and their parsing from JSON (strict: unknown keys are errors)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from exchange_sim.core.refusals import REJECTION_CODES
from exchange_sim.errors import SimError

STREAM_KINDS = ("market", "user")
FAIL_KINDS = ("5xx", "429", "-1021", "unknown_code", "html", "empty")
OVERLOADED = -1008  # the admin API's name for "the venue is overloaded" (Binance's code)


class FaultSpecError(SimError, ValueError):
    """An admin request described a fault the simulator does not understand."""


@dataclass(frozen=True, slots=True)
class Latency:
    """Fixed delay plus uniform jitter, plus a ``spike_ms`` spike with ``spike_probability``."""

    fixed_ms: float = 0.0
    jitter_ms: float = 0.0
    spike_ms: float = 0.0
    spike_probability: float = 0.0

    def sample_s(self, rng: random.Random) -> float:
        ms = self.fixed_ms
        if self.jitter_ms:
            ms += rng.uniform(0.0, self.jitter_ms)
        if self.spike_probability and rng.random() < self.spike_probability:
            ms += self.spike_ms
        return ms / 1000


@dataclass(slots=True)
class FailNext:
    """The next ``count`` requests fail: ``kind`` 5xx (a server error with ``status``), 429 (the
    rate limit), -1021 (a timestamp refusal) or unknown_code (an error code the venue never
    documented), each in the front's own words; or html (a proxy's HTML error page with
    ``status``) or empty (HTTP 200 with an empty JSON object: every field missing), the same
    whichever front serves."""

    count: int
    kind: str
    status: int
    endpoint: str | None  # e.g. "POST /fapi/v1/order"; None = every venue request


class RawAnswer(SimError):
    """An injected answer in no venue's shape, sent as is."""

    def __init__(self, status: int, body: bytes, content_type: str, what: str) -> None:
        super().__init__(what)
        self.status = status
        self.body = body
        self.content_type = content_type


_PROXY_PAGE = (
    "<html><head><title>{status} Bad Gateway</title></head><body><center><h1>{status} Bad "
    "Gateway</h1></center><hr><center>proxy</center></body></html>\n"
)


def raw_answer(fail: FailNext) -> RawAnswer | None:
    """The answer of a front-independent failure kind, or None for the front to render."""
    if fail.kind == "html":
        page = _PROXY_PAGE.format(status=fail.status).encode()
        return RawAnswer(fail.status, page, "text/html", "injected proxy page")
    if fail.kind == "empty":
        return RawAnswer(200, b"{}", "application/json", "injected empty answer")
    return None


@dataclass(slots=True)
class Faults:
    rest_latency: Latency | None = None
    stream_latency: Latency | None = None
    fail_next: list[FailNext] = field(default_factory=list)
    # What every new order gets, named by its Binance code (a key of REJECTION_CODES); None = off
    reject_orders: int | None = None
    pause_matching: bool = False
    stalled: set[str] = field(default_factory=set)

    def take_failure(self, endpoint: str) -> FailNext | None:
        """Consume one pending failure matching ``endpoint``, if any."""
        for fail in self.fail_next:
            if fail.endpoint is None or fail.endpoint == endpoint:
                fail.count -= 1
                if fail.count <= 0:
                    self.fail_next.remove(fail)
                return fail
        return None

    def to_json(self) -> dict[str, Any]:
        def lat(x: Latency | None) -> dict[str, float] | None:
            return (
                None
                if x is None
                else {
                    "fixed_ms": x.fixed_ms,
                    "jitter_ms": x.jitter_ms,
                    "spike_ms": x.spike_ms,
                    "spike_probability": x.spike_probability,
                }
            )

        return {
            "rest_latency": lat(self.rest_latency),
            "stream_latency": lat(self.stream_latency),
            "fail_next": [
                {"count": f.count, "kind": f.kind, "status": f.status, "endpoint": f.endpoint}
                for f in self.fail_next
            ],
            "reject_orders": (
                False if self.reject_orders is None else {"code": self.reject_orders}
            ),
            "pause_matching": self.pause_matching,
            "stalled": sorted(self.stalled),
        }


def _number(spec: dict[str, Any], key: str, low: float, high: float) -> float:
    value = spec.pop(key, 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise FaultSpecError(f"{key}: must be a number in [{low}, {high}], got {value!r}")
    return float(value)


def _no_leftovers(spec: dict[str, Any], where: str) -> None:
    if spec:
        raise FaultSpecError(f"{where}: unknown key {sorted(spec)[0]!r}")


def parse_latency(raw: Any, where: str) -> Latency | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise FaultSpecError(f"{where}: must be an object or null")
    spec = dict(raw)
    latency = Latency(
        fixed_ms=_number(spec, "fixed_ms", 0, 600_000),
        jitter_ms=_number(spec, "jitter_ms", 0, 600_000),
        spike_ms=_number(spec, "spike_ms", 0, 600_000),
        spike_probability=_number(spec, "spike_probability", 0, 1),
    )
    _no_leftovers(spec, where)
    return latency


def parse_fail_next(raw: Any) -> FailNext:
    if not isinstance(raw, dict):
        raise FaultSpecError("fail_next: must be an object")
    spec = dict(raw)
    count = spec.pop("count", 1)
    kind = spec.pop("kind", "5xx")
    status = spec.pop("status", 503)
    endpoint = spec.pop("endpoint", None)
    _no_leftovers(spec, "fail_next")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1_000_000:
        raise FaultSpecError("fail_next.count: must be an integer >= 1")
    if kind not in FAIL_KINDS:
        raise FaultSpecError(f"fail_next.kind: must be one of {', '.join(FAIL_KINDS)}")
    if isinstance(status, bool) or not isinstance(status, int) or not 500 <= status <= 599:
        raise FaultSpecError("fail_next.status: must be a 5xx status")
    if endpoint is not None and not isinstance(endpoint, str):
        raise FaultSpecError("fail_next.endpoint: must be a string like 'POST /fapi/v1/order'")
    return FailNext(count, kind, status, endpoint)


def parse_reject_orders(raw: Any) -> int | None:
    """``true`` (the overload error, -1008), ``false`` (off), or ``{"code": <rejection>}``."""
    if raw is True:
        return OVERLOADED
    if raw is False:
        return None
    if not isinstance(raw, dict):
        raise FaultSpecError('reject_orders: must be true, false or {"code": <code>}')
    spec = dict(raw)
    code = spec.pop("code", None)
    _no_leftovers(spec, "reject_orders")
    if isinstance(code, bool) or not isinstance(code, int) or code not in REJECTION_CODES:
        known = ", ".join(str(c) for c in sorted(REJECTION_CODES, reverse=True))
        raise FaultSpecError(f"reject_orders.code: must be one of {known}, got {code!r}")
    return code


def apply_spec(faults: Faults, raw: Any) -> None:
    """Merge a JSON fault request into ``faults``; validate everything before changing anything."""
    if not isinstance(raw, dict):
        raise FaultSpecError("body: must be a JSON object")
    spec = dict(raw)
    updates: dict[str, Any] = {}
    for key in ("rest_latency", "stream_latency"):
        if key in spec:
            updates[key] = parse_latency(spec.pop(key), key)
    if "fail_next" in spec:
        updates["fail_next"] = parse_fail_next(spec.pop("fail_next"))
    if "reject_orders" in spec:
        updates["reject_orders"] = parse_reject_orders(spec.pop("reject_orders"))
    if "pause_matching" in spec:
        value = spec.pop("pause_matching")
        if not isinstance(value, bool):
            raise FaultSpecError("pause_matching: must be true or false")
        updates["pause_matching"] = value
    _no_leftovers(spec, "body")
    for key, value in updates.items():
        if key == "fail_next":
            faults.fail_next.append(value)
        else:
            setattr(faults, key, value)
