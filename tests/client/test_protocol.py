"""The wire format: round trips, exact rejections, and the replay guard."""

from __future__ import annotations

import hashlib
import hmac
import struct

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from killswitch_client.errors import (
    AuthError,
    MalformedError,
    ProtocolError,
    ReplayError,
    VersionError,
)
from killswitch_client.protocol import (
    HEADER_SIZE,
    MAX_DATAGRAM,
    MAX_EVENTS,
    MAX_ORDER_ID,
    MAX_REASON,
    MAX_SYMBOL,
    SEQ_BLOCK,
    TAG_SIZE,
    Ack,
    GuardMark,
    Header,
    Heartbeat,
    MessageType,
    OrderEvent,
    SessionGuard,
    TelemetryEvent,
    decode_ack,
    decode_telemetry,
    encode_ack,
    encode_event,
    encode_telemetry,
    new_session_id,
    pack_events,
    session_started,
)
from killswitch_client.states import OrderEventKind, Side, TradingState

from tests.watchdog.wire import KEY, NOW, OTHER_KEY, SESSION, TRADER, events, fill


def keys(trader_id: str) -> bytes | None:
    return KEY if trader_id == TRADER else None


def datagram(
    evts: list[TelemetryEvent], seq: int = 1, key: bytes = KEY, session: bytes = SESSION
) -> bytes:
    return encode_telemetry(key, TRADER, session, seq, NOW, [encode_event(e) for e in evts])


def reseal(body: bytes, key: bytes = KEY) -> bytes:
    """A datagram with a valid tag over arbitrary bytes: tests what the key holder could send."""
    return body + hmac.digest(key, body, hashlib.sha256)


def raw(
    payload: bytes, *, version: int = 1, msg_type: int = 1, tid: bytes = TRADER.encode()
) -> bytes:
    header = struct.pack("!4sBBBx16sQd", b"KSWD", version, msg_type, len(tid), SESSION, 1, NOW)
    return reseal(header + tid + payload)


@given(st.lists(events, min_size=1, max_size=40))
def test_every_valid_event_list_round_trips_through_packed_datagrams(
    evts: list[TelemetryEvent],
) -> None:
    decoded: list[TelemetryEvent] = []
    for seq, group in enumerate(pack_events([encode_event(e) for e in evts], TRADER), start=1):
        data = encode_telemetry(KEY, TRADER, SESSION, seq, NOW, group)
        assert len(data) <= MAX_DATAGRAM
        telemetry = decode_telemetry(data, keys)
        assert telemetry.header == Header(1, MessageType.TELEMETRY, TRADER, SESSION, seq, NOW)
        decoded.extend(telemetry.events)
    assert decoded == evts


def test_decoded_events_are_the_risk_events_with_telemetry_source() -> None:
    telemetry = decode_telemetry(datagram([Heartbeat(ts=NOW), fill()]), keys)
    assert telemetry.events == (Heartbeat(ts=NOW), fill())
    assert isinstance(telemetry.events[1], OrderEvent)


def test_the_header_layout_is_the_documented_one() -> None:
    data = datagram([Heartbeat(ts=NOW)], seq=7)
    magic, version, msg_type, tid_len, session, seq, sent = struct.unpack_from("!4sBBBx16sQd", data)
    assert (magic, version, msg_type, tid_len, session, seq, sent) == (
        b"KSWD",
        1,
        1,
        len(TRADER),
        SESSION,
        7,
        NOW,
    )
    assert HEADER_SIZE == 40
    assert data[HEADER_SIZE : HEADER_SIZE + tid_len] == TRADER.encode()
    assert orjson.loads(data[HEADER_SIZE + tid_len : -TAG_SIZE]) == [["hb", NOW]]
    assert data[-TAG_SIZE:] == hmac.digest(KEY, data[:-TAG_SIZE], hashlib.sha256)


def test_pack_events_splits_at_the_datagram_limit_and_keeps_order() -> None:
    encoded = [encode_event(fill(ts=NOW + i)) for i in range(100)]
    groups = pack_events(encoded, TRADER)
    assert len(groups) > 1
    assert [item for group in groups for item in group] == encoded
    for group in groups:
        assert len(encode_telemetry(KEY, TRADER, SESSION, 1, NOW, group)) <= MAX_DATAGRAM


def test_pack_events_caps_the_event_count_per_datagram() -> None:
    groups = pack_events([b"[]"] * (MAX_EVENTS + 1), TRADER)
    assert [len(g) for g in groups] == [MAX_EVENTS, 1]


@pytest.mark.parametrize(
    ("data", "error", "reason"),
    [
        (b"", MalformedError, "truncated"),
        (b"x" * (MAX_DATAGRAM + 1), MalformedError, "oversized"),
        (b"JUNK" + bytes(200), MalformedError, "bad_magic"),
        (raw(b"[]", version=2), VersionError, "bad_version"),
        (raw(b"[]", msg_type=9), MalformedError, "bad_type"),
        (raw(b"[]", msg_type=2), MalformedError, "bad_type"),
        (raw(b"[]", tid=b"bad id!"), MalformedError, "bad_header"),
        (raw(b"[]", tid=b"someone-else"), AuthError, "unknown_trader"),
        (raw(b"{}"), MalformedError, "bad_payload"),
        (raw(b"[not json"), MalformedError, "bad_payload"),
        (raw(b'[["hb"]]'), MalformedError, "bad_payload"),
        (raw(b'[["hb", -1]]'), MalformedError, "bad_payload"),
        (raw(b'[["hb", true]]'), MalformedError, "bad_payload"),
        (raw(b'[["hb", 1e400]]'), MalformedError, "bad_payload"),
        (raw(b'[["hb", 1, 0]]'), MalformedError, "bad_payload"),  # 0 is never written
        (raw(b'[["hb", 1, 4294967296]]'), MalformedError, "bad_payload"),
        (raw(b'[["hb", 1, 2.0]]'), MalformedError, "bad_payload"),
        (raw(b'[["hb", 1, true]]'), MalformedError, "bad_payload"),
        (raw(b'[["hb", 1, 2, 3]]'), MalformedError, "bad_payload"),
        (raw(b'[["warp", 1]]'), MalformedError, "bad_payload"),
        (raw(b'[["acct", 1, "1", 0, 0]]'), MalformedError, "bad_payload"),
        (raw(b'[["pos", 1, "", 1, 1]]'), MalformedError, "bad_payload"),
        (raw(b'[["pos", 1, "BTC", 1, -1]]'), MalformedError, "bad_payload"),
        (
            raw(b'[["ord", 1, "EXPLODE", "BTC", "BUY", 1, 1, "", null]]'),
            MalformedError,
            "bad_payload",
        ),
        (
            raw(b'[["ord", 1, "FILL", "BTC", "HOLD", 1, 1, "", null]]'),
            MalformedError,
            "bad_payload",
        ),
        (
            raw(b'[["ord", 1, "FILL", "BTC", "BUY", -1, 1, "", null]]'),
            MalformedError,
            "bad_payload",
        ),
        (
            raw(b'[["ord", 1, "ACK", "BTC", "BUY", 1, 1, "", null, 7]]'),
            MalformedError,
            "bad_payload",
        ),
        (
            raw(b'[["ord", 1, "ACK", "BTC", "BUY", 1, 1, "", null, "' + b"x" * 65 + b'"]]'),
            MalformedError,
            "bad_payload",
        ),
        (
            raw('[["ord", 1, "ACK", "BTC", "BUY", 1, 1, "", null, "\u00e9"]]'.encode()),
            MalformedError,
            "bad_payload",
        ),
        (
            raw(b'[["ord", 1, "ACK", "BTC", "BUY", 1, 1, "", null, "a", "b"]]'),
            MalformedError,
            "bad_payload",
        ),
        (raw(b'[["state", 1, "FINE", ""]]'), MalformedError, "bad_payload"),
        (raw(b'[["feed", 1, "' + b"S" * 33 + b'", 1]]'), MalformedError, "bad_payload"),
    ],
)
def test_each_kind_of_bad_datagram_has_its_own_error_and_reason(
    data: bytes, error: type[ProtocolError], reason: str
) -> None:
    with pytest.raises(error) as caught:
        decode_telemetry(data, keys)
    assert caught.value.reason == reason
    assert isinstance(caught.value, ValueError)


def test_a_datagram_signed_with_another_key_is_an_auth_failure() -> None:
    with pytest.raises(AuthError) as caught:
        decode_telemetry(datagram([Heartbeat(ts=NOW)], key=OTHER_KEY), keys)
    assert caught.value.reason == "bad_hmac"


def test_too_many_events_in_one_datagram_are_refused() -> None:
    with pytest.raises(MalformedError, match="events"):
        decode_telemetry(raw(b"[" + b",".join([b"[]"] * (MAX_EVENTS + 1)) + b"]"), keys)


# -- acks --------------------------------------------------------------------------------


def an_ack(state: TradingState = TradingState.ACTIVE, last_seq: int = 5) -> Ack:
    return Ack(state, "limits-v3", last_seq, "all clear", NOW)


def test_an_ack_round_trips_with_its_ordering_key() -> None:
    frame = decode_ack(encode_ack(KEY, TRADER, SESSION, 9, an_ack()), KEY, TRADER, SESSION)
    assert frame.ack == an_ack()
    assert (frame.session_id, frame.ack_seq, frame.order_key) == (SESSION, 9, (5, 9))


def test_an_ack_carries_a_question_only_when_it_asks_one() -> None:
    asked = Ack(TradingState.ACTIVE, "limits-v3", 5, "", NOW, ask=2**32 - 1)
    assert decode_ack(encode_ack(KEY, TRADER, SESSION, 1, asked), KEY, TRADER, SESSION).ack == asked
    plain = encode_ack(KEY, TRADER, SESSION, 1, an_ack())
    assert b'"all clear"]' in plain  # four fields: what an older client reads


@pytest.mark.parametrize("ask", [b"0", b"-1", b"4294967296", b"1.5", b"true", b'"1"'])
def test_an_ack_with_a_question_that_is_not_a_positive_u32_is_refused(ask: bytes) -> None:
    header = struct.pack("!4sBBBx16sQd", b"KSWD", 1, 2, len(TRADER), SESSION, 1, NOW)
    data = reseal(header + TRADER.encode() + b'["ACTIVE", "v", 1, "", ' + ask + b"]")
    with pytest.raises(MalformedError, match="question"):
        decode_ack(data, KEY, TRADER, SESSION)


def test_an_ack_for_another_session_or_trader_or_key_is_refused() -> None:
    data = encode_ack(KEY, TRADER, SESSION, 1, an_ack())
    with pytest.raises(ReplayError, match="session"):
        decode_ack(data, KEY, TRADER, b"\x01" * 16)
    with pytest.raises(AuthError):
        decode_ack(data, KEY, "other", SESSION)
    with pytest.raises(AuthError):
        decode_ack(data, OTHER_KEY, TRADER, SESSION)
    with pytest.raises(MalformedError):
        decode_ack(datagram([Heartbeat(ts=NOW)]), KEY, TRADER, SESSION)


# -- the replay guard ---------------------------------------------------------------------


def hdr(seq: int, session: bytes = SESSION, sent: float = NOW) -> Header:
    return Header(1, MessageType.TELEMETRY, TRADER, session, seq, sent)


def reason_of(guard: SessionGuard, header: Header) -> str:
    with pytest.raises(ReplayError) as caught:
        guard.admit(header, NOW)
    reason: str = caught.value.reason
    return reason


def test_the_first_datagram_starts_a_session_and_higher_sequences_follow() -> None:
    guard = SessionGuard(max_skew=10.0)
    assert guard.admit(hdr(5), NOW).session_changed
    admission = guard.admit(hdr(6), NOW)
    assert (admission.session_changed, admission.late) == (False, False)
    assert guard.admit(hdr(100), NOW).late is False
    assert guard.highest_seq == 100


def test_a_replayed_sequence_is_dropped_once_accepted() -> None:
    guard = SessionGuard(max_skew=10.0)
    guard.admit(hdr(1), NOW)
    guard.admit(hdr(2), NOW)
    assert reason_of(guard, hdr(2)) == "replay"
    assert reason_of(guard, hdr(1)) == "replay"


def test_a_reordered_sequence_within_the_window_is_accepted_once_as_late() -> None:
    guard = SessionGuard(window=4, max_skew=10.0)
    guard.admit(hdr(1), NOW)
    guard.admit(hdr(5), NOW)
    assert guard.admit(hdr(3), NOW).late
    assert reason_of(guard, hdr(3)) == "replay"
    guard.admit(hdr(6), NOW)
    assert reason_of(guard, hdr(1)) == "too_old"
    assert guard.admit(hdr(2), NOW).late  # exactly at the window's edge


def test_a_zero_window_accepts_only_strictly_increasing_sequences() -> None:
    guard = SessionGuard(window=0, max_skew=10.0)
    guard.admit(hdr(3), NOW)
    assert reason_of(guard, hdr(2)) == "too_old"
    assert reason_of(guard, hdr(3)) == "replay"


def test_a_new_session_is_reported_and_the_old_one_cannot_come_back() -> None:
    guard = SessionGuard(max_skew=10.0)
    old, new = b"\x01" * 16, b"\x02" * 16
    guard.admit(hdr(50, old), NOW)
    assert guard.admit(hdr(1, new), NOW).session_changed
    assert guard.session_id == new
    assert reason_of(guard, hdr(51, old)) == "stale_session"
    assert guard.admit(hdr(2, new), NOW).session_changed is False


def started(seconds_before_now: float) -> bytes:
    """A session id of a trader that started `seconds_before_now` before NOW."""
    return new_session_id(int((NOW - seconds_before_now) * 1e9), b"\x07" * 8)


def test_a_session_id_carries_its_start_time() -> None:
    assert session_started(started(2.5)) == pytest.approx(NOW - 2.5)
    with pytest.raises(ValueError, match="8-byte nonce"):
        new_session_id(1, b"short")


def test_an_older_session_cannot_displace_a_newer_one_even_if_never_seen() -> None:
    guard = SessionGuard(max_skew=10.0)
    current, older, newer = started(60.0), started(120.0), started(1.0)
    guard.admit(hdr(7, current), NOW)
    assert reason_of(guard, hdr(1, older)) == "stale_session"
    assert guard.session_id == current
    assert guard.admit(hdr(1, newer), NOW).session_changed
    assert reason_of(guard, hdr(8, current)) == "stale_session"


def test_a_session_that_starts_in_the_future_is_refused() -> None:
    guard = SessionGuard(max_skew=5.0)
    assert reason_of(guard, hdr(1, started(-5.5))) == "clock_skew"
    assert guard.session_id is None
    assert guard.admit(hdr(1, started(-4.5)), NOW).session_changed


def test_sequences_are_reserved_a_block_ahead_and_again_only_past_the_mark() -> None:
    guard = SessionGuard(max_skew=10.0, block=10)
    session = started(1.0)
    assert guard.admit(hdr(1, session), NOW).reserve == GuardMark(session, 11)
    assert all(guard.admit(hdr(seq, session), NOW).reserve is None for seq in (2, 3, 9, 11))
    assert guard.admit(hdr(12, session), NOW).reserve == GuardMark(session, 22)
    assert guard.admit(hdr(10, session), NOW).late  # late ones never need a reservation
    assert guard.exact_mark() == GuardMark(session, 12)


def test_a_restored_guard_refuses_everything_up_to_its_mark_and_takes_what_follows() -> None:
    session = started(1.0)
    guard = SessionGuard(max_skew=10.0, window=4, restored=GuardMark(session, 100))
    assert guard.session_id == session
    assert reason_of(guard, hdr(100, session)) == "replay"
    assert reason_of(guard, hdr(96, session)) == "replay"  # in the window: counted as seen
    assert reason_of(guard, hdr(3, session)) == "too_old"
    assert reason_of(guard, hdr(5, started(2.0))) == "stale_session"  # an older session
    admission = guard.admit(hdr(101, session), NOW)
    assert (admission.session_changed, admission.late) == (False, False)
    assert admission.reserve == GuardMark(session, 101 + SEQ_BLOCK)


def test_a_sequence_jump_far_past_the_window_is_cheap() -> None:
    guard = SessionGuard(max_skew=10.0)
    guard.admit(hdr(1), NOW)
    assert guard.admit(hdr(2**64 - 1), NOW).reserve == GuardMark(SESSION, 2**64 - 1)
    assert reason_of(guard, hdr(2)) == "too_old"


def test_datagrams_sent_too_far_from_the_receivers_clock_are_refused() -> None:
    guard = SessionGuard(max_skew=5.0)
    assert reason_of(guard, hdr(1, sent=NOW - 5.5)) == "clock_skew"
    assert reason_of(guard, hdr(1, sent=NOW + 5.5)) == "clock_skew"
    assert guard.session_id is None
    guard.admit(hdr(1, sent=NOW - 4.5), NOW)


@given(st.lists(st.integers(min_value=1, max_value=200), max_size=300), st.integers(0, 64))
def test_the_guard_accepts_exactly_the_unseen_sequences_within_the_window(
    seqs: list[int], window: int
) -> None:
    guard = SessionGuard(window=window, max_skew=10.0)
    accepted: set[int] = set()
    highest = 0
    for seq in seqs:
        expected = not accepted or (seq not in accepted and highest - seq <= window)
        try:
            guard.admit(hdr(seq), NOW)
        except ReplayError:
            assert not expected, seq
            continue
        assert expected, seq
        accepted.add(seq)
        highest = max(highest, seq)


def test_a_session_is_complete_while_no_sequence_below_the_highest_is_missing() -> None:
    guard = SessionGuard(window=4, max_skew=10.0)
    guard.admit(hdr(1), NOW)
    assert guard.complete()
    guard.admit(hdr(3), NOW)
    assert not guard.complete()  # 2 may still be on its way
    guard.admit(hdr(2), NOW)
    assert guard.complete()
    guard.admit(hdr(9), NOW)  # 4..8 missing, within the window
    assert not guard.complete()
    for seq in (5, 6, 7, 8):
        guard.admit(hdr(seq), NOW)
    assert guard.complete()  # 4 is beyond the window: too old to arrive, lost for good


def test_a_session_seen_from_a_later_first_sequence_is_not_complete_until_the_window_passes() -> (
    None
):
    guard = SessionGuard(window=4, max_skew=10.0)
    guard.admit(hdr(3), NOW)  # 1 and 2 may still be on their way
    assert not guard.complete()
    for seq in (4, 5, 6, 7):
        guard.admit(hdr(seq), NOW)
    assert guard.complete()
    restored = SessionGuard(window=4, max_skew=10.0, restored=GuardMark(SESSION, 100))
    assert restored.complete()  # what its predecessor accepted is refused anyway


def test_the_largest_valid_event_fits_one_datagram_even_with_the_longest_trader_id() -> None:
    widest = "\U0001d11e"  # 4 bytes in UTF-8, sent unescaped
    event = OrderEvent(
        ts=4e9 + 0.123456789,
        kind=OrderEventKind.CANCEL,
        symbol=widest * MAX_SYMBOL,
        side=Side.SELL,
        qty=1.2345678901234567e300,
        price=1.2345678901234567e300,
        reason=widest * MAX_REASON,
        realized_pnl=-1.2345678901234567e300,
        order_id="~" * MAX_ORDER_ID,
    )
    trader_id = "t" * 64
    (group,) = pack_events([encode_event(event)], trader_id)
    data = encode_telemetry(KEY, trader_id, SESSION, 2**64 - 1, NOW, group)
    assert len(data) <= MAX_DATAGRAM
    assert decode_telemetry(data, lambda _: KEY).events == (event,)


def test_an_open_orders_count_must_be_a_non_negative_integer() -> None:
    for bad in (b"-1", b"1.5", b"true", b'"3"'):
        with pytest.raises(MalformedError, match="open order count"):
            decode_telemetry(raw(b'[["open", 1, ' + bad + b"]]"), keys)


def test_an_order_event_names_its_order_and_one_without_the_id_field_is_still_read() -> None:
    named = decode_telemetry(
        raw(b'[["ord", 1, "ACK", "BTC", "BUY", 1, 1, "", null, "mm1-42"]]'), keys
    )
    older = decode_telemetry(raw(b'[["ord", 1, "ACK", "BTC", "BUY", 1, 1, "", null]]'), keys)
    orders = [e for e in (*named.events, *older.events) if isinstance(e, OrderEvent)]
    assert [e.order_id for e in orders] == ["mm1-42", ""]
