"""Fuzzing the decoder: whatever arrives, only ProtocolError escapes, and nothing is accepted
without the right HMAC tag."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from killswitch_client.errors import AuthError, ProtocolError, ReplayError
from killswitch_client.protocol import (
    HEADER_SIZE,
    MAX_DATAGRAM,
    MAX_SYMBOL,
    TAG_SIZE,
    Heartbeat,
    OrderEvent,
    SessionGuard,
    TelemetryEvent,
    decode_ack,
    decode_telemetry,
    encode_event,
    encode_telemetry,
    hmac_sha256,
    pack_events,
)

from tests.watchdog.wire import KEY, NOW, OTHER_KEY, SESSION, TRADER, events

FUZZ = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)


def keys(trader_id: str) -> bytes | None:
    return KEY if trader_id == TRADER else None


def valid(evts: list[TelemetryEvent], seq: int = 1) -> bytes:
    group = pack_events([encode_event(e) for e in evts], TRADER)[0]
    return encode_telemetry(KEY, TRADER, SESSION, seq, NOW, group)


def decodes(data: bytes) -> bool:
    try:
        decode_telemetry(data, keys)
    except ProtocolError:
        return False
    return True


@FUZZ
@given(st.binary(max_size=2 * MAX_DATAGRAM))
def test_arbitrary_bytes_only_ever_raise_protocol_errors(data: bytes) -> None:
    assert not decodes(data)  # random bytes never carry a valid tag
    with contextlib.suppress(ProtocolError):
        decode_ack(data, KEY, TRADER, SESSION)


@FUZZ
@given(st.binary(min_size=0, max_size=200))
def test_arbitrary_bytes_behind_a_valid_header_are_refused(tail: bytes) -> None:
    head = valid([Heartbeat(ts=NOW)])[: HEADER_SIZE + len(TRADER)]
    assert not decodes(head + tail)


@FUZZ
@given(st.lists(events, min_size=1, max_size=8), st.data())
def test_any_truncation_of_a_valid_datagram_is_refused(
    evts: list[TelemetryEvent], data: st.DataObject
) -> None:
    datagram = valid(evts)
    cut = data.draw(st.integers(min_value=0, max_value=len(datagram) - 1))
    assert not decodes(datagram[:cut])


@FUZZ
@given(st.lists(events, min_size=1, max_size=8), st.data())
def test_any_bit_flip_in_a_valid_datagram_is_refused(
    evts: list[TelemetryEvent], data: st.DataObject
) -> None:
    datagram = bytearray(valid(evts))
    bit = data.draw(st.integers(min_value=0, max_value=len(datagram) * 8 - 1))
    datagram[bit // 8] ^= 1 << (bit % 8)
    assert not decodes(bytes(datagram))


@FUZZ
@given(st.lists(events, min_size=1, max_size=8), st.binary(min_size=1, max_size=64))
def test_bytes_appended_to_a_valid_datagram_are_refused(
    evts: list[TelemetryEvent], extra: bytes
) -> None:
    assert not decodes(valid(evts) + extra)


@FUZZ
@given(st.lists(events, min_size=1, max_size=8))
def test_a_datagram_under_the_wrong_key_is_an_auth_failure(evts: list[TelemetryEvent]) -> None:
    group = pack_events([encode_event(e) for e in evts], TRADER)[0]
    forged = encode_telemetry(OTHER_KEY, TRADER, SESSION, 1, NOW, group)
    with pytest.raises(AuthError) as caught:
        decode_telemetry(forged, keys)
    assert caught.value.reason == "bad_hmac"


@FUZZ
@given(st.binary(max_size=MAX_DATAGRAM - HEADER_SIZE - len(TRADER) - TAG_SIZE))
def test_any_authenticated_payload_bytes_decode_or_raise_protocol_errors(payload: bytes) -> None:
    """What a key holder with a bug could send: the decoder still never crashes."""
    datagram = valid([Heartbeat(ts=NOW)])
    body = datagram[: HEADER_SIZE + len(TRADER)] + payload
    decodes(body + hmac.digest(KEY, body, hashlib.sha256))


_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_values: st.SearchStrategy[object] = st.one_of(_scalars, st.lists(_scalars, max_size=3))


@FUZZ
@given(events, json_values, st.data())
def test_any_field_of_a_valid_event_replaced_by_any_json_value_is_validated(
    event: TelemetryEvent, value: object, data: st.DataObject
) -> None:
    """Structure-aware fuzzing: one field wrong (type, range, enum) and the rest right.

    The result either decodes to an event of the same kind whose fields are all in range, or
    is a ProtocolError: never another exception, never an out-of-range value accepted.
    """
    wire = orjson.loads(encode_event(event))
    field = data.draw(st.integers(min_value=1, max_value=len(wire) - 1))
    wire[field] = value
    try:
        payload = orjson.dumps([wire])
    except TypeError:  # orjson refuses integers beyond 64 bits: not sendable
        return
    body = valid([Heartbeat(ts=NOW)])[: HEADER_SIZE + len(TRADER)] + payload
    try:
        decoded = decode_telemetry(body + hmac.digest(KEY, body, hashlib.sha256), keys)
    except ProtocolError:
        return
    (result,) = decoded.events
    assert type(result) is type(event)
    for name in ("ts", "price", "mark_price", "last_event_ts", "equity", "qty"):
        number = getattr(result, name, 0.0)
        assert type(number) is float
        assert math.isfinite(number)
        signed = name == "equity" or (name == "qty" and not isinstance(result, OrderEvent))
        assert signed or number >= 0
    symbol = getattr(result, "symbol", "S")
    assert type(symbol) is str
    assert 0 < len(symbol) <= MAX_SYMBOL


@FUZZ
@given(st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=80))
def test_replayed_and_reordered_real_datagrams_are_each_accepted_at_most_once(
    order: list[int],
) -> None:
    """Deliver real datagrams in any order with duplicates: the guard admits each seq once."""
    datagrams = {seq: valid([Heartbeat(ts=NOW)], seq=seq) for seq in set(order)}
    guard = SessionGuard(window=16, max_skew=10.0)
    admitted: list[int] = []
    for seq in order:
        try:
            telemetry = decode_telemetry(datagrams[seq], keys)
            guard.admit(telemetry.header, NOW)
        except ReplayError:
            continue
        admitted.append(telemetry.header.seq)
    assert len(admitted) == len(set(admitted))
    assert admitted[0] == order[0]


@given(key=st.binary(min_size=32, max_size=200), message=st.binary(max_size=1400))
def test_the_tag_is_the_standard_hmac_sha256_for_any_key_and_message(
    key: bytes, message: bytes
) -> None:
    # Keys longer than SHA-256's block are hashed first (RFC 2104): both sides of 64 bytes.
    assert hmac_sha256(key, message) == hmac.digest(key, message, hashlib.sha256)
    assert hmac_sha256(key, message) == hmac.digest(key, message, hashlib.sha256)  # cached pads
