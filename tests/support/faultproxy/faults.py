"""Fault specifications: frozen values, validated once, (de)serialised for the control port.

Pure: no sockets, no clock. The proxies hold one spec at a time and swap it atomically, so a
scenario can change every fault in one step and "come back" is simply the default spec.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar


class FaultProxyError(Exception):
    """Root of every error the fault proxy raises."""


class FaultSpecError(FaultProxyError, ValueError):
    """A fault specification is invalid: the message names the field and what was wrong."""


class Direction(enum.Enum):
    """Which way bytes or datagrams travel through the proxy."""

    UPSTREAM = "upstream"  # client -> server (orders, telemetry)
    DOWNSTREAM = "downstream"  # server -> client (market data, acks)


class AcceptMode(enum.Enum):
    """What the TCP proxy does with a new connection."""

    FORWARD = "forward"  # connect upstream and relay
    RESET = "reset"  # accept, then RST at once (SO_LINGER 0)
    HANG = "hang"  # accept, never connect upstream, never answer: a connect into a void
    CLOSED = "closed"  # stop listening: the kernel refuses (ECONNREFUSED)


def _check_seconds(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise FaultSpecError(f"{name}: must be a finite number of seconds >= 0, got {value!r}")


def _check_probability(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
        raise FaultSpecError(f"{name}: must be a probability in [0, 1], got {value!r}")


@dataclass(frozen=True)
class Latency:
    """Added one-way delay: base + uniform(0, jitter), plus a spike on some chunks.

    A spike hits every ``spike_every``-th chunk (0 = never) and, independently, any chunk with
    probability ``spike_probability``.
    """

    base_s: float = 0.0
    jitter_s: float = 0.0
    spike_s: float = 0.0
    spike_every: int = 0
    spike_probability: float = 0.0

    def __post_init__(self) -> None:
        _check_seconds("base_s", self.base_s)
        _check_seconds("jitter_s", self.jitter_s)
        _check_seconds("spike_s", self.spike_s)
        _check_probability("spike_probability", self.spike_probability)
        if not (isinstance(self.spike_every, int) and self.spike_every >= 0):
            raise FaultSpecError(f"spike_every: must be an integer >= 0, got {self.spike_every!r}")

    @property
    def is_zero(self) -> bool:
        return self == Latency()

    def sample(self, ordinal: int, rng: random.Random) -> float:
        """Delay in seconds for the ``ordinal``-th chunk (1-based) of a direction."""
        if self.is_zero:
            return 0.0  # no draw: a healthy path does not consume randomness
        delay = self.base_s + (rng.uniform(0.0, self.jitter_s) if self.jitter_s else 0.0)
        periodic = self.spike_every > 0 and ordinal % self.spike_every == 0
        chance = self.spike_probability > 0 and rng.random() < self.spike_probability
        return delay + self.spike_s if periodic or chance else delay


@dataclass(frozen=True)
class TcpFaults:
    """Every fault of the TCP proxy at one moment. ``TcpFaults()`` is the healthy path."""

    upstream: Latency = field(default_factory=Latency)
    downstream: Latency = field(default_factory=Latency)
    stall_upstream: bool = False
    stall_downstream: bool = False
    accept: AcceptMode = AcceptMode.FORWARD

    def latency(self, direction: Direction) -> Latency:
        return self.upstream if direction is Direction.UPSTREAM else self.downstream

    def stalled(self, direction: Direction) -> bool:
        return self.stall_upstream if direction is Direction.UPSTREAM else self.stall_downstream


@dataclass(frozen=True)
class DatagramPath:
    """Faults applied to datagrams travelling one way through the relay."""

    delay: Latency = field(default_factory=Latency)
    drop_probability: float = 0.0
    duplicate_probability: float = 0.0
    reorder_probability: float = 0.0  # hold a datagram and send it after the next one
    reorder_hold_s: float = 0.05  # a held datagram leaves alone after this, if none follows
    blackhole: bool = False

    def __post_init__(self) -> None:
        _check_probability("drop_probability", self.drop_probability)
        _check_probability("duplicate_probability", self.duplicate_probability)
        _check_probability("reorder_probability", self.reorder_probability)
        _check_seconds("reorder_hold_s", self.reorder_hold_s)


@dataclass(frozen=True)
class DatagramFaults:
    """Every fault of the datagram relay. ``DatagramFaults()`` is the healthy path."""

    upstream: DatagramPath = field(default_factory=DatagramPath)
    downstream: DatagramPath = field(default_factory=DatagramPath)

    def path(self, direction: Direction) -> DatagramPath:
        return self.upstream if direction is Direction.UPSTREAM else self.downstream


# --- (de)serialisation for the control port: strict, unknown keys are errors -------------------


def to_json(spec: TcpFaults | DatagramFaults) -> dict[str, Any]:
    """A JSON-ready dict of a spec (enums by value)."""
    encoded: dict[str, Any] = _jsonable(asdict(spec))
    return encoded


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, enum.Enum):
        return value.value
    return value


def latency_from_json(data: object, where: str = "latency") -> Latency:
    return _build(Latency, dict(_known_keys(data, Latency, where)), where)


def tcp_faults_from_json(data: object) -> TcpFaults:
    raw = _known_keys(data, TcpFaults, "faults")
    kwargs: dict[str, Any] = dict(raw)
    for side in ("upstream", "downstream"):
        if side in raw:
            kwargs[side] = latency_from_json(raw[side], f"faults.{side}")
    for flag in ("stall_upstream", "stall_downstream"):
        if flag in raw and not isinstance(raw[flag], bool):
            raise FaultSpecError(f"faults.{flag}: must be true or false, got {raw[flag]!r}")
    if "accept" in raw:
        kwargs["accept"] = _enum(AcceptMode, raw["accept"], "faults.accept")
    return _build(TcpFaults, kwargs, "faults")


def datagram_faults_from_json(data: object) -> DatagramFaults:
    raw = _known_keys(data, DatagramFaults, "faults")
    kwargs = {side: _path_from_json(raw[side], f"faults.{side}") for side in raw}
    return _build(DatagramFaults, kwargs, "faults")


def _path_from_json(data: object, where: str) -> DatagramPath:
    raw = _known_keys(data, DatagramPath, where)
    kwargs: dict[str, Any] = dict(raw)
    if "delay" in raw:
        kwargs["delay"] = latency_from_json(raw["delay"], f"{where}.delay")
    if "blackhole" in raw and not isinstance(raw["blackhole"], bool):
        raise FaultSpecError(f"{where}.blackhole: must be true or false, got {raw['blackhole']!r}")
    return _build(DatagramPath, kwargs, where)


_Spec = TypeVar("_Spec")
_Enum = TypeVar("_Enum", bound=enum.Enum)


def _build(kind: type[_Spec], kwargs: dict[str, Any], where: str) -> _Spec:
    try:
        return kind(**kwargs)
    except FaultSpecError as exc:
        raise FaultSpecError(f"{where}.{exc}") from None


def _known_keys(data: object, kind: type, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise FaultSpecError(f"{where}: must be an object, got {type(data).__name__}")
    allowed = {f.name for f in fields(kind)}
    unknown = sorted(set(map(str, data)) - allowed)
    if unknown:
        raise FaultSpecError(f"{where}: unknown key(s) {', '.join(unknown)}")
    return data


def _enum(kind: type[_Enum], value: object, where: str) -> _Enum:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(str(member.value) for member in kind)
        raise FaultSpecError(f"{where}: must be one of {choices}, got {value!r}") from None
