"""The ingress over real sockets: binding, validation, counting, delivery and acks."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from killswitch_client.protocol import (
    SEQ_BLOCK,
    GuardMark,
    Heartbeat,
    TelemetryEvent,
    decode_ack,
    encode_event,
    encode_telemetry,
)
from killswitch_client.states import TradingState as WireState

from risk.events import EventSource, OrderEvent, OrderEventKind, Side
from risk.events import Heartbeat as RiskHeartbeat
from risk.state import TradingState
from tests.watchdog.wire import KEY, NOW, OTHER_KEY, SESSION, TRADER, fill, send, wait_until
from watchdog.clock import FakeClock
from watchdog.daemon.ingress import (
    BurstDetector,
    Ingress,
    IngressConfig,
    IngressEvent,
    InvalidBurst,
)
from watchdog.errors import IngressError

# fill() as the watchdog's risk engine receives it.
RISK_FILL = OrderEvent(
    NOW, OrderEventKind.FILL, "BTCUSDT", Side.SELL, 0.01, 65_000.0, "", -12.5, EventSource.TELEMETRY
)


@dataclass
class Recorder:
    batches: list[tuple[str, bytes, list[IngressEvent], bool]] = field(default_factory=list)
    rejects: list[str] = field(default_factory=list)
    bursts: list[InvalidBurst] = field(default_factory=list)
    senders: list[tuple[str, int | None]] = field(default_factory=list)

    def on_sender(self, trader_id: str, pid: int | None) -> None:
        self.senders.append((trader_id, pid))

    def on_batch(
        self,
        trader_id: str,
        session_id: bytes,
        events: Sequence[IngressEvent],
        session_changed: bool,
    ) -> None:
        self.batches.append((trader_id, session_id, list(events), session_changed))


def datagram(
    events: list[TelemetryEvent],
    seq: int,
    *,
    key: bytes = KEY,
    session: bytes = SESSION,
    sent: float = NOW,
) -> bytes:
    return encode_telemetry(key, TRADER, session, seq, sent, [encode_event(e) for e in events])


def make_ingress(config: IngressConfig, rec: Recorder) -> Ingress:
    return Ingress(
        config,
        clock=FakeClock(wall=NOW),
        on_batch=rec.on_batch,
        on_reject=rec.rejects.append,
        on_invalid_burst=rec.bursts.append,
        on_sender=rec.on_sender,
    )


@pytest.fixture
def sock_path(tmp_path: Path) -> Path:
    return tmp_path / "telemetry.sock"


@pytest.fixture
async def ingress(sock_path: Path) -> AsyncIterator[tuple[Ingress, Recorder]]:
    rec = Recorder()
    config = IngressConfig(
        keys={TRADER: KEY}, max_send_age={TRADER: 10.0}, unix_path=sock_path, burst_threshold=5
    )
    async with make_ingress(config, rec) as ing:
        yield ing, rec


async def recv(sock: socket.socket) -> bytes:
    sock.setblocking(False)
    return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 2048), 10)


def sender(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("")  # abstract autobind, as the client does: where acks come back
    sock.connect(str(path))
    sock.setblocking(False)
    return sock


async def test_an_authentic_batch_is_delivered_with_the_session_change_flag(
    ingress: tuple[Ingress, Recorder], sock_path: Path
) -> None:
    ing, rec = ingress
    with sender(sock_path) as sock:
        await send(sock, datagram([Heartbeat(ts=NOW), fill()], seq=1))
        await send(sock, datagram([Heartbeat(ts=NOW)], seq=2))
        await wait_until(lambda: len(rec.batches) == 2)
    # Delivered as the risk engine's events, from telemetry.
    assert rec.batches[0] == (TRADER, SESSION, [RiskHeartbeat(ts=NOW), RISK_FILL], True)
    assert rec.batches[1] == (TRADER, SESSION, [RiskHeartbeat(ts=NOW)], False)
    assert (ing.accepted_datagrams, ing.accepted_events, ing.rejects) == (2, 3, {})


async def test_bad_datagrams_are_dropped_and_counted_by_reason_never_delivered(
    ingress: tuple[Ingress, Recorder], sock_path: Path
) -> None:
    ing, rec = ingress
    good = datagram([Heartbeat(ts=NOW)], seq=1)
    with sender(sock_path) as sock:
        await send(sock, b"garbage")
        await send(sock, datagram([Heartbeat(ts=NOW)], seq=1, key=OTHER_KEY))
        await send(sock, good)
        await send(sock, good)  # replay
        await send(sock, datagram([Heartbeat(ts=NOW)], seq=2, sent=NOW - 3600))
        await send(sock, good[:-1] + bytes([good[-1] ^ 1]))
        await wait_until(lambda: sum(ing.rejects.values()) == 5)
    assert ing.rejects == {"truncated": 1, "bad_hmac": 2, "replay": 1, "clock_skew": 1}
    assert sorted(rec.rejects) == sorted(
        ["truncated", "bad_hmac", "bad_hmac", "replay", "clock_skew"]
    )
    assert len(rec.batches) == 1


async def test_a_burst_of_invalid_input_is_reported_once_per_window(
    ingress: tuple[Ingress, Recorder], sock_path: Path
) -> None:
    ing, rec = ingress
    with sender(sock_path) as sock:
        for _ in range(12):
            await send(sock, b"x" * 100)
        await wait_until(lambda: sum(ing.rejects.values()) == 12)
    assert rec.bursts == [InvalidBurst(count=5, window=1.0, reasons={"bad_magic": 5})]


def test_the_burst_detector_starts_a_new_window_after_the_old_one_ends() -> None:
    detector = BurstDetector(threshold=2, window=1.0)
    assert detector.record(0.0, "a") is None
    assert detector.record(0.5, "b") == InvalidBurst(2, 1.0, {"a": 1, "b": 1})
    assert detector.record(0.9, "a") is None
    assert detector.record(2.0, "a") is None
    assert detector.record(2.1, "a") == InvalidBurst(2, 1.0, {"a": 2})


async def test_a_late_datagram_delivers_only_its_order_events(
    ingress: tuple[Ingress, Recorder], sock_path: Path
) -> None:
    _, rec = ingress
    with sender(sock_path) as sock:
        await send(sock, datagram([Heartbeat(ts=NOW)], seq=1))
        await send(sock, datagram([Heartbeat(ts=NOW)], seq=3))
        await send(sock, datagram([Heartbeat(ts=NOW), fill()], seq=2))
        await send(sock, datagram([Heartbeat(ts=NOW)], seq=4))
        await wait_until(lambda: len(rec.batches) == 4)
    assert rec.batches[2] == (TRADER, SESSION, [RISK_FILL], False)


async def test_an_answer_is_passed_on_only_when_no_datagram_before_it_is_missing(
    ingress: tuple[Ingress, Recorder], sock_path: Path
) -> None:
    # Key misuse settles an order at the trader's answer only if nothing sent before the
    # answer can still be on its way: a missing sequence may carry the order's SUBMIT.
    _, rec = ingress
    with sender(sock_path) as sock:
        await send(sock, datagram([Heartbeat(ts=NOW)], seq=1))
        await send(sock, datagram([Heartbeat(ts=NOW, answers=5)], seq=2))
        await send(sock, datagram([Heartbeat(ts=NOW, answers=6)], seq=4))  # 3 is missing
        await send(sock, datagram([fill()], seq=3))  # arrives late: the hole is filled
        await send(sock, datagram([Heartbeat(ts=NOW, answers=7)], seq=5))
        await wait_until(lambda: len(rec.batches) == 5)
    answers = [
        e.answers for _, _, events, _ in rec.batches for e in events if isinstance(e, RiskHeartbeat)
    ]
    assert answers == [0, 5, 0, 7]


async def test_an_ack_can_carry_a_question(
    ingress: tuple[Ingress, Recorder], sock_path: Path
) -> None:
    ing, rec = ingress
    with sender(sock_path) as trader:
        await send(trader, datagram([Heartbeat(ts=NOW)], seq=1))
        await wait_until(lambda: len(rec.batches) == 1)
        assert ing.send_ack(TRADER, TradingState.ACTIVE, limits_version="v1", ask=42)
        asked = decode_ack(await recv(trader), KEY, TRADER, SESSION)
        assert ing.send_ack(TRADER, TradingState.ACTIVE, limits_version="v1")
        plain = decode_ack(await recv(trader), KEY, TRADER, SESSION)
    assert (asked.ack.ask, plain.ack.ask) == (42, 0)


async def test_acks_go_back_to_the_last_authenticated_sender(
    ingress: tuple[Ingress, Recorder], sock_path: Path
) -> None:
    ing, rec = ingress
    assert ing.send_ack(TRADER, TradingState.ACTIVE, limits_version="v1") is False
    with sender(sock_path) as trader, sender(sock_path) as forger:
        await send(trader, datagram([Heartbeat(ts=NOW)], seq=7))
        await wait_until(lambda: len(rec.batches) == 1)
        await send(forger, datagram([Heartbeat(ts=NOW)], seq=8, key=OTHER_KEY))
        await wait_until(lambda: ing.rejects.get("bad_hmac") == 1)
        assert ing.send_ack(TRADER, TradingState.REDUCING, limits_version="v1", reason="dd")
        frame = decode_ack(await recv(trader), KEY, TRADER, SESSION)
        with pytest.raises(BlockingIOError):
            forger.recv(2048)
    assert (frame.ack.state, frame.ack.limits_version, frame.ack.reason) == (
        WireState.REDUCING,
        "v1",
        "dd",
    )
    assert (frame.ack.last_seq, frame.ack_seq, frame.ack.ts) == (7, 1, NOW)


async def test_a_sender_without_an_address_is_served_but_never_breaks_the_ingress(
    ingress: tuple[Ingress, Recorder], sock_path: Path
) -> None:
    ing, rec = ingress
    unbound = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # no bind(): no return address
    unbound.connect(str(sock_path))
    unbound.setblocking(False)
    with unbound, sender(sock_path) as trader:
        await send(unbound, datagram([Heartbeat(ts=NOW)], seq=1))
        await wait_until(lambda: len(rec.batches) == 1)
        assert ing.send_ack(TRADER, TradingState.ACTIVE, limits_version="v1") is False
        assert ing.healthy
        await send(trader, datagram([Heartbeat(ts=NOW)], seq=2))
        await wait_until(lambda: len(rec.batches) == 2)
        assert ing.send_ack(TRADER, TradingState.ACTIVE, limits_version="v1")
        frame = decode_ack(await recv(trader), KEY, TRADER, SESSION)
    assert frame.ack.last_seq == 2
    assert ing.healthy


async def test_the_ingress_is_unhealthy_once_closed(sock_path: Path) -> None:
    config = IngressConfig(keys={TRADER: KEY}, max_send_age={TRADER: 10.0}, unix_path=sock_path)
    ing = make_ingress(config, Recorder())
    seen = [ing.healthy]
    await ing.start()
    seen.append(ing.healthy)
    await ing.close()
    seen.append(ing.healthy)
    assert seen == [False, True, False]


async def test_udp_on_loopback_works_the_same(tmp_path: Path) -> None:
    rec = Recorder()
    config = IngressConfig(keys={TRADER: KEY}, max_send_age={TRADER: 10.0}, udp=("127.0.0.1", 0))
    async with make_ingress(config, rec) as ing:
        address = ing.udp_address
        assert address is not None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(10)
            sock.connect(address)
            sock.send(datagram([Heartbeat(ts=NOW)], seq=1))
            await wait_until(lambda: len(rec.batches) == 1)
            assert ing.send_ack(TRADER, TradingState.WARN, limits_version="v2")
            frame = decode_ack(await recv(sock), KEY, TRADER, SESSION)
    assert frame.ack.state is WireState.WARN
    assert rec.senders == [(TRADER, None)]  # UDP: the kernel cannot say who sent it


SEND_FROM_A_CHILD = (
    "import socket, sys; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); "
    "s.bind(''); s.sendto(bytes.fromhex(sys.argv[2]), sys.argv[1])"
)


async def test_the_kernel_names_the_process_that_sent_each_accepted_datagram(
    ingress: tuple[Ingress, Recorder], sock_path: Path
) -> None:
    ing, rec = ingress
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SEND_FROM_A_CHILD, str(sock_path),
        datagram([Heartbeat(ts=NOW)], seq=1).hex(),
    )  # fmt: skip
    assert await child.wait() == 0
    await wait_until(lambda: len(rec.batches) == 1)
    assert rec.senders == [(TRADER, child.pid)]  # not ours: the sender's, as the kernel saw it
    with sender(sock_path) as sock:
        await send(sock, datagram([Heartbeat(ts=NOW)], seq=2, key=OTHER_KEY))  # forged
        await send(sock, datagram([Heartbeat(ts=NOW)], seq=3))
        await wait_until(lambda: len(rec.batches) == 2)
    assert rec.senders == [(TRADER, child.pid), (TRADER, os.getpid())]  # the forgery: none
    assert ing.rejects == {"bad_hmac": 1}


async def test_the_socket_file_has_mode_0660_and_is_removed_on_close(sock_path: Path) -> None:
    async with make_ingress(
        IngressConfig(keys={TRADER: KEY}, max_send_age={TRADER: 10.0}, unix_path=sock_path),
        Recorder(),
    ):
        mode = os.lstat(sock_path).st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o660
    assert not exists(sock_path)


async def test_a_stale_socket_file_is_replaced(sock_path: Path) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stale.bind(str(sock_path))
    stale.close()  # the file stays, nobody listens: a watchdog that died
    rec = Recorder()
    async with make_ingress(
        IngressConfig(keys={TRADER: KEY}, max_send_age={TRADER: 10.0}, unix_path=sock_path), rec
    ):
        with sender(sock_path) as sock:
            await send(sock, datagram([Heartbeat(ts=NOW)], seq=1))
            await wait_until(lambda: len(rec.batches) == 1)


async def test_a_socket_in_use_or_a_regular_file_is_never_replaced(sock_path: Path) -> None:
    config = IngressConfig(keys={TRADER: KEY}, max_send_age={TRADER: 10.0}, unix_path=sock_path)
    async with make_ingress(config, Recorder()):
        with pytest.raises(IngressError, match="in use"):
            await make_ingress(config, Recorder()).start()
    write(sock_path, "precious")
    with pytest.raises(IngressError, match="not a socket"):
        await make_ingress(config, Recorder()).start()
    assert read(sock_path) == "precious"


def exists(path: Path) -> bool:
    return os.path.lexists(path)


def write(path: Path, text: str) -> None:
    path.write_text(text)


def read(path: Path) -> str:
    return path.read_text()


def test_the_config_refuses_short_keys_bad_ids_and_no_endpoint(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="shorter than 32"):
        IngressConfig(keys={TRADER: b"short"}, max_send_age={TRADER: 1.0}, unix_path=tmp_path / "s")
    with pytest.raises(ValueError, match="trader id"):
        IngressConfig(keys={"bad id": KEY}, max_send_age={"bad id": 1.0}, unix_path=tmp_path / "s")
    with pytest.raises(ValueError, match="needs a Unix socket"):
        IngressConfig(keys={TRADER: KEY}, max_send_age={TRADER: 10.0})
    with pytest.raises(ValueError, match="needs a max_send_age"):
        IngressConfig(keys={TRADER: KEY}, unix_path=tmp_path / "s")


async def test_each_trader_is_authenticated_with_its_own_key_and_acked_on_its_own_address(
    sock_path: Path,
) -> None:
    rec = Recorder()
    other = "arb-eth"
    config = IngressConfig(
        keys={TRADER: KEY, other: OTHER_KEY},
        max_send_age={TRADER: 10.0, other: 10.0},
        unix_path=sock_path,
    )
    async with make_ingress(config, rec) as ing:
        impostor = encode_telemetry(KEY, other, SESSION, 1, NOW, [encode_event(Heartbeat(NOW))])
        genuine = encode_telemetry(
            OTHER_KEY, other, SESSION, 1, NOW, [encode_event(Heartbeat(NOW))]
        )
        with sender(sock_path) as mine, sender(sock_path) as theirs:
            await send(mine, datagram([Heartbeat(ts=NOW)], seq=1))
            await send(theirs, impostor)  # trader A's key cannot speak for trader B
            await send(theirs, genuine)
            await wait_until(lambda: len(rec.batches) == 2)
            assert ing.rejects == {"bad_hmac": 1}
            assert ing.send_ack(other, TradingState.HALTED, limits_version="v1")
            frame = decode_ack(await recv(theirs), OTHER_KEY, other, SESSION)
            assert ing.send_ack(TRADER, TradingState.ACTIVE, limits_version="v1")
            assert decode_ack(await recv(mine), KEY, TRADER, SESSION).ack.state is (
                WireState.ACTIVE
            )
    assert [batch[0] for batch in rec.batches] == [TRADER, other]
    assert frame.ack.state is WireState.HALTED


junk = st.one_of(
    st.binary(max_size=1500),
    st.builds(
        lambda seq, cut: datagram([Heartbeat(ts=NOW)], seq=seq)[:cut],
        st.integers(1, 5),
        st.integers(0, 200),
    ),
    st.builds(
        lambda seq, bit: flip(datagram([Heartbeat(ts=NOW), fill()], seq=seq), bit),
        st.integers(1, 5),
        st.integers(0, 8 * 150),
    ),
)
real = st.builds(lambda seq: datagram([Heartbeat(ts=NOW)], seq=seq), st.integers(1, 5))


def flip(data: bytes, bit: int) -> bytes:
    flipped = bytearray(data)
    flipped[(bit // 8) % len(data)] ^= 1 << (bit % 8)
    return bytes(flipped)


@settings(max_examples=200, deadline=None)
@given(st.lists(junk | real, max_size=30))
def test_whatever_arrives_each_datagram_is_either_delivered_once_or_counted(
    inputs: list[bytes],
) -> None:
    rec = Recorder()
    ing = make_ingress(
        IngressConfig(keys={TRADER: KEY}, max_send_age={TRADER: 10.0}, udp=("127.0.0.1", 0)), rec
    )
    for data in inputs:
        ing.handle_datagram(data, None, None)
    assert ing.accepted_datagrams + sum(ing.rejects.values()) == len(inputs)
    assert len(rec.batches) == ing.accepted_datagrams - ing.late_datagrams
    genuine = {datagram([Heartbeat(ts=NOW)], seq=seq) for seq in range(1, 6)}
    assert ing.accepted_datagrams <= len(genuine & set(inputs))


async def test_a_reservation_is_handed_over_before_the_batch_that_needs_it(
    sock_path: Path,
) -> None:
    rec = Recorder()
    calls: list[object] = []

    def on_batch(*args: Any) -> None:
        calls.append("batch")
        rec.on_batch(*args)

    config = IngressConfig(keys={TRADER: KEY}, max_send_age={TRADER: 10.0}, unix_path=sock_path)
    ingress = Ingress(
        config,
        clock=FakeClock(wall=NOW),
        on_batch=on_batch,
        on_reserve=lambda trader, mark: calls.append((trader, mark)),
    )
    async with ingress:
        with sender(sock_path) as sock:
            await send(sock, datagram([Heartbeat(ts=NOW)], seq=1))
            await send(sock, datagram([Heartbeat(ts=NOW)], seq=2))
            await wait_until(lambda: len(rec.batches) == 2)
        assert ingress.marks() == {TRADER: GuardMark(SESSION, 2)}
    assert calls == [(TRADER, GuardMark(SESSION, 1 + SEQ_BLOCK)), "batch", "batch"]


async def test_a_restored_ingress_refuses_what_its_predecessor_may_have_accepted(
    sock_path: Path,
) -> None:
    rec = Recorder()
    config = IngressConfig(
        keys={TRADER: KEY},
        max_send_age={TRADER: 10.0},
        unix_path=sock_path,
        reorder_window=2,
        restored={TRADER: GuardMark(SESSION, 5)},
    )
    async with make_ingress(config, rec) as ingress:
        with sender(sock_path) as sock:
            for seq in (1, 5, 6):
                await send(sock, datagram([Heartbeat(ts=NOW)], seq=seq))
            await wait_until(lambda: len(rec.batches) == 1)
        assert ingress.rejects == {"replay": 1, "too_old": 1}
    assert rec.batches == [(TRADER, SESSION, [RiskHeartbeat(ts=NOW)], False)]  # same session


async def test_datagrams_for_a_trader_without_telemetry_are_refused_under_their_own_reason(
    sock_path: Path,
) -> None:
    rec = Recorder()
    config = IngressConfig(keys={}, unix_path=sock_path, silent=frozenset({TRADER}))
    async with make_ingress(config, rec) as ing:
        with sender(sock_path) as sock:
            await send(sock, datagram([Heartbeat(ts=NOW)], seq=1))
            await wait_until(lambda: sum(ing.rejects.values()) == 1)
    assert ing.rejects == {"telemetry_none": 1}
    assert (rec.batches, rec.senders, ing.accepted_datagrams) == ([], [], 0)
