"""The client against a real ingress (or a fake watchdog socket) over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import math
import re
import socket
import statistics
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import killswitch_client.protocol as wire
import pytest
from killswitch_client import (
    AsyncClient,
    ClientConfig,
    ConfigError,
    ReportError,
    TradingState,
    load_key,
)
from killswitch_client.protocol import (
    SEQ_BLOCK,
    Ack,
    GuardMark,
    TelemetryEvent,
    decode_telemetry,
    encode_ack,
)

from risk.events import (
    AccountSnapshot,
    FeedStatus,
    Heartbeat,
    OrderEvent,
    OrderEventKind,
    PositionSnapshot,
)
from risk.state import TradingState as RiskState
from tests.client.rig import Watchdog, config
from tests.watchdog.wire import KEY, NOW, OTHER_KEY, TRADER, wait_until
from watchdog.clock import FakeClock
from watchdog.daemon.ingress import Ingress, IngressConfig, IngressEvent


async def test_heartbeats_arrive_at_the_configured_interval(watchdog: Watchdog) -> None:
    async with AsyncClient(config(str(watchdog.path)), clock=watchdog.clock) as client:
        await wait_until(lambda: len(watchdog.batches) >= 20)
    assert watchdog.batches[0][2] is True  # the first datagram starts the session
    assert {session for session, _, _ in watchdog.batches} == {client.session_id}
    assert all(any(isinstance(e, Heartbeat) for e in events) for _, events, _ in watchdog.batches)
    gaps = [later - earlier for earlier, later in itertools.pairwise(watchdog.arrivals)]
    # 20 ms apart; generous bounds because the machine is shared.
    assert 0.01 < statistics.median(gaps) < 0.1
    assert client.counters.send_errors == 0


async def test_acks_set_the_state_and_silence_fails_closed_after_the_timeout(
    watchdog: Watchdog, clock: FakeClock
) -> None:
    changes: list[tuple[TradingState, TradingState]] = []
    client = AsyncClient(
        config(str(watchdog.path)),
        clock=watchdog.clock,
        on_state_change=lambda old, new: changes.append((old, new)),
    )
    assert client.state is TradingState.HALTED  # no ack yet: fail closed
    async with client:
        await wait_until(lambda: client.state is TradingState.ACTIVE)
        assert client.counters.acks >= 1
        watchdog.state = TradingState.REDUCING
        await wait_until(lambda: client.state is TradingState.REDUCING)
        watchdog.state = None  # the watchdog goes silent
        silent_from = len(watchdog.batches)
        await wait_until(lambda: len(watchdog.batches) >= silent_from + 3)
        clock.advance(0.49)
        assert state_of(client) is TradingState.REDUCING
        clock.advance(0.02)
        assert state_of(client) is TradingState.HALTED
        await wait_until(lambda: changes[-1] == (TradingState.REDUCING, TradingState.HALTED))
        watchdog.state = TradingState.ACTIVE
        await wait_until(lambda: client.state is TradingState.ACTIVE)
    assert changes[:2] == [
        (TradingState.HALTED, TradingState.ACTIVE),
        (TradingState.ACTIVE, TradingState.REDUCING),
    ]


def state_of(client: AsyncClient) -> TradingState:
    """Read the property through a call: the clock moved, mypy's narrowing must not stick."""
    return client.state


async def test_killed_stays_killed_whatever_comes_next(
    watchdog: Watchdog, clock: FakeClock
) -> None:
    async with AsyncClient(config(str(watchdog.path)), clock=watchdog.clock) as client:
        watchdog.state = TradingState.KILLED
        await wait_until(lambda: client.state is TradingState.KILLED)
        watchdog.state = TradingState.ACTIVE
        acks = client.counters.acks
        await wait_until(lambda: client.counters.acks > acks + 2)
        assert client.state is TradingState.KILLED
        clock.advance(60)
        assert client.state is TradingState.KILLED


async def test_a_missing_watchdog_is_counted_and_the_client_recovers_when_it_appears(
    tmp_path: Path, clock: FakeClock
) -> None:
    dog = Watchdog(tmp_path / "wd.sock", clock)
    async with AsyncClient(config(str(dog.path), max_pending_orders=3), clock=clock) as client:
        await wait_until(lambda: client.counters.send_errors >= 3)
        for qty in range(1, 6):
            client.report_order("SUBMIT", "BTCUSDT", "BUY", qty, 100.0)
        assert client.counters.dropped == 2
        assert client.state is TradingState.HALTED
        await dog.start()
        try:
            await wait_until(lambda: client.state is TradingState.ACTIVE)
            await wait_until(lambda: len(dog.of(OrderEvent)) == 3)
        finally:
            assert dog.ingress is not None
            await dog.ingress.close()
    assert [event.qty for event in dog.of(OrderEvent)] == [3.0, 4.0, 5.0]  # type: ignore[union-attr]


async def test_a_restarted_watchdog_is_found_again(watchdog: Watchdog) -> None:
    async with AsyncClient(config(str(watchdog.path)), clock=watchdog.clock) as client:
        await wait_until(lambda: client.state is TradingState.ACTIVE)
        assert watchdog.ingress is not None
        await watchdog.ingress.close()
        await wait_until(lambda: client.counters.send_errors >= 1)
        count = len(watchdog.batches)
        await watchdog.start()
        await wait_until(lambda: len(watchdog.batches) > count + 2)
    assert client.state is TradingState.ACTIVE


async def test_snapshots_coalesce_latest_wins_per_kind_and_symbol(
    tmp_path: Path, clock: FakeClock
) -> None:
    dog = Watchdog(tmp_path / "wd.sock", clock)
    client = AsyncClient(config(str(dog.path)), clock=clock)
    client.report_account(1000.0, 0.0, 0.0)
    client.report_account(990.0, -5.0, -5.0)
    client.report_position("BTCUSDT", 0.1, 65_000.0)
    client.report_position("ETHUSDT", -1.0, 3_000.0)
    client.report_position("BTCUSDT", 0.2, 65_100.0)
    await dog.start()
    try:
        async with client:
            await wait_until(lambda: bool(dog.of(AccountSnapshot)))
    finally:
        assert dog.ingress is not None
        await dog.ingress.close()
    assert [(e.equity, e.realized_pnl) for e in dog.of(AccountSnapshot)] == [(990.0, -5.0)]  # type: ignore[union-attr]
    positions = {(e.symbol, e.qty) for e in dog.of(PositionSnapshot)}  # type: ignore[union-attr]
    assert positions == {("BTCUSDT", 0.2), ("ETHUSDT", -1.0)}


@contextlib.asynccontextmanager
async def _between_heartbeats(watchdog: Watchdog) -> AsyncIterator[AsyncClient]:
    """A client whose first heartbeat has arrived and whose next one is 10 s away: whatever
    arrives within the tests' 5 s bounds was sent at once."""
    slow = config(str(watchdog.path), heartbeat_interval=10.0, ack_timeout=20.0)
    async with AsyncClient(slow, clock=watchdog.clock) as client:
        await wait_until(lambda: len(watchdog.batches) == 1)
        yield client


async def test_an_order_event_goes_out_at_once_not_at_the_next_heartbeat(
    watchdog: Watchdog,
) -> None:
    async with _between_heartbeats(watchdog) as client:
        client.report_order(OrderEventKind.FILL, "BTCUSDT", "SELL", 0.5, 65_000.0, realized_pnl=-3)
        client.report_order(OrderEventKind.REJECT, "BTCUSDT", "BUY", 1, 1.0, reason="-2019 margin")
        await wait_until(lambda: len(watchdog.of(OrderEvent)) == 2, within=5.0)
    orders = watchdog.of(OrderEvent)
    assert len(watchdog.batches) == 2  # both orders in one datagram, no heartbeat in between
    assert [(o.kind, o.reason, o.realized_pnl) for o in orders] == [  # type: ignore[union-attr]
        (OrderEventKind.FILL, "", -3.0),
        (OrderEventKind.REJECT, "-2019 margin", None),
    ]


async def test_a_submit_is_on_the_socket_before_report_order_returns(watchdog: Watchdog) -> None:
    # The bot reports a SUBMIT and then writes its order: the order must not reach the venue
    # (and its ACK the watchdog) while the report waits for a later loop iteration.
    async with _between_heartbeats(watchdog) as client:
        client.report_feed("BTCUSDT", NOW)  # what waited goes with it, in order
        sent = client.counters.sent
        client.report_order(OrderEventKind.SUBMIT, "BTCUSDT", "BUY", 1, 65_000.0, order_id="o-1")
        assert client.counters.sent == sent + 1  # handed to the socket, no loop iteration yet
        await wait_until(lambda: bool(watchdog.of(OrderEvent)), within=5.0)
    (_, events, _) = watchdog.batches[1]
    assert [type(e) for e in events] == [FeedStatus, OrderEvent]


async def test_a_question_in_an_ack_is_answered_at_once_after_what_waited(
    watchdog: Watchdog,
) -> None:
    # Key misuse settles an order at the answer: it must trail everything reported before it.
    async with _between_heartbeats(watchdog) as client:
        client.report_feed("BTCUSDT", NOW)  # waits for the next heartbeat, 10 s away...
        assert watchdog.ingress is not None
        watchdog.ingress.send_ack(TRADER, RiskState.ACTIVE, limits_version="v1", ask=7)
        await wait_until(lambda: len(watchdog.batches) == 2, within=5.0)  # ...but goes now
        for _ in range(3):
            await asyncio.sleep(0)
    events = watchdog.batches[1][1]
    assert [type(e) for e in events] == [FeedStatus, Heartbeat]
    assert [e.answers for e in events if isinstance(e, Heartbeat)] == [7]
    assert len(watchdog.batches) == 2  # answered once; the plain acks after it ask nothing


async def test_a_datagram_the_socket_could_not_take_still_uses_its_sequence(
    watchdog: Watchdog,
) -> None:
    # A hole the watchdog can see: an answer after it proves nothing about what was lost.
    async with _between_heartbeats(watchdog) as client:
        seq, dropped = client._seq, client.counters.dropped
        client.config = dataclasses.replace(client.config, max_write_buffer=-1)
        client.report_order(OrderEventKind.SUBMIT, "BTCUSDT", "BUY", 1, 65_000.0, order_id="o-1")
        assert (client._seq, client.counters.dropped) == (seq + 1, dropped + 1)


async def test_a_rehearsed_report_sends_buffers_and_counts_nothing(watchdog: Watchdog) -> None:
    async with _between_heartbeats(watchdog) as client:
        sent, seq = client.counters.sent, client._seq
        for i in range(100):
            client.rehearse_report("BTCUSDT", f"warm-{i}")
        for _ in range(3):
            await asyncio.sleep(0)  # nothing scheduled either
        assert (client.counters.sent, client._seq) == (sent, seq)
        assert client._take(heartbeat=False) == []
        with pytest.raises(ReportError, match="symbol"):
            client.rehearse_report("", "warm")  # validated like a real report
    assert len(watchdog.batches) == 1  # the first heartbeat only


async def test_an_account_snapshot_goes_out_at_once_not_at_the_next_heartbeat(
    watchdog: Watchdog,
) -> None:
    async with _between_heartbeats(watchdog) as client:
        client.report_account(9_000.0, -1_000.0, 0.0)  # a 10% loss: a breach for any profile
        await wait_until(lambda: len(watchdog.batches) == 2, within=5.0)
    (_, events, _) = watchdog.batches[1]
    assert [(type(e), e.equity) for e in events] == [(AccountSnapshot, 9_000.0)]  # type: ignore[union-attr]


async def test_what_can_breach_a_limit_goes_at_once_in_one_datagram_with_what_waited(
    watchdog: Watchdog,
) -> None:
    async with _between_heartbeats(watchdog) as client:
        client.report_feed("BTCUSDT", NOW)  # cannot breach alone: it waits...
        for _ in range(3):
            await asyncio.sleep(0)  # ...for a few loop iterations, in which nothing is sent
        client.report_order(OrderEventKind.FILL, "BTCUSDT", "BUY", 0.5, 65_000.0)
        client.report_position("BTCUSDT", 0.5, 65_000.0)
        client.report_account(9_990.0, 0.0, -10.0)
        await wait_until(lambda: bool(watchdog.of(AccountSnapshot)), within=5.0)
    # One datagram for the iteration's reports, carrying the feed report that waited.
    assert len(watchdog.batches) == 2, [[type(e) for e in b[1]] for b in watchdog.batches]
    kinds = {type(e) for e in watchdog.batches[1][1]}
    assert kinds == {FeedStatus, OrderEvent, PositionSnapshot, AccountSnapshot}


async def test_udp_on_loopback_carries_heartbeats_and_acks(clock: FakeClock) -> None:
    batches: list[Sequence[IngressEvent]] = []
    holder: list[Ingress] = []

    def on_batch(tid: str, session: bytes, events: Sequence[IngressEvent], new: bool) -> None:
        batches.append(events)
        holder[0].send_ack(tid, RiskState.WARN, limits_version="v9")

    cfg = IngressConfig(keys={TRADER: KEY}, max_send_age={TRADER: 10.0}, udp=("127.0.0.1", 0))
    async with Ingress(cfg, clock=clock, on_batch=on_batch) as ingress:
        holder.append(ingress)
        address = ingress.udp_address
        assert address is not None
        async with AsyncClient(config(address), clock=clock) as client:
            await wait_until(lambda: client.state is TradingState.WARN)
            await wait_until(lambda: len(batches) >= 3)
    assert client.last_ack is not None
    assert client.last_ack.ack.limits_version == "v9"


async def test_the_client_keeps_running_when_no_udp_watchdog_listens(clock: FakeClock) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        address = probe.getsockname()
    async with AsyncClient(config(address), clock=clock) as client:  # port now closed
        await wait_until(lambda: client.counters.send_errors >= 2)
        client.report_order("SUBMIT", "BTCUSDT", "BUY", 1, 1)
        assert client.state is TradingState.HALTED


# -- against a fake watchdog: a bare socket whose acks the test writes ------------------------


@pytest.fixture
async def fake_watchdog(tmp_path: Path) -> AsyncIterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "fake.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    yield sock, path
    sock.close()


async def receive(sock: socket.socket) -> tuple[bytes, Any]:
    loop = asyncio.get_running_loop()
    return await asyncio.wait_for(loop.sock_recvfrom(sock, 2048), 10)


@contextlib.asynccontextmanager
async def first_heard(
    fake_watchdog: tuple[socket.socket, str], clock: FakeClock, **options: Any
) -> AsyncIterator[tuple[AsyncClient, socket.socket, int, Any]]:
    """A client of the fake watchdog once its first datagram arrived: the client, the fake's
    socket, that datagram's sequence number and the client's address to ack it to."""
    sock, path = fake_watchdog
    async with AsyncClient(config(path), clock=clock, **options) as client:
        data, peer = await receive(sock)
        yield client, sock, decode_telemetry(data, {TRADER: KEY}.get).header.seq, peer


async def test_replayed_forged_and_premature_acks_are_rejected(
    fake_watchdog: tuple[socket.socket, str], clock: FakeClock
) -> None:
    async with first_heard(fake_watchdog, clock) as (client, sock, seq, peer):
        session = client.session_id

        def ack(state: TradingState, last_seq: int, ack_seq: int, key: bytes = KEY) -> bytes:
            return encode_ack(key, TRADER, session, ack_seq, Ack(state, "v1", last_seq, "", NOW))

        first = ack(TradingState.ACTIVE, seq, 1)
        sock.sendto(first, peer)
        await wait_until(lambda: client.state is TradingState.ACTIVE)
        sock.sendto(ack(TradingState.ACTIVE, seq, 2, key=OTHER_KEY), peer)  # forged
        sock.sendto(first, peer)  # replayed
        sock.sendto(ack(TradingState.ACTIVE, seq + 10_000, 3), peer)  # acks what was never sent
        sock.sendto(b"junk", peer)
        await wait_until(lambda: client.counters.rejected_acks == 4)
        sock.sendto(ack(TradingState.HALTED, seq, 2), peer)  # same telemetry, newer ack: fine
        await wait_until(lambda: client.state is TradingState.HALTED)
        assert client.counters.acks == 2


async def test_a_failing_state_callback_does_not_stop_heartbeats(
    fake_watchdog: tuple[socket.socket, str], clock: FakeClock
) -> None:
    def explode(old: TradingState, new: TradingState) -> None:
        raise RuntimeError("bot bug")

    async with first_heard(fake_watchdog, clock, on_state_change=explode) as heard:
        client, sock, seq, peer = heard
        ack = Ack(TradingState.ACTIVE, "v1", seq, "", NOW)
        sock.sendto(encode_ack(KEY, TRADER, client.session_id, 1, ack), peer)
        await wait_until(lambda: client.state is TradingState.ACTIVE)
        for _ in range(3):
            await receive(sock)


async def test_an_invalid_report_raises_at_the_call_naming_what_was_wrong_and_sends_nothing(
    fake_watchdog: tuple[socket.socket, str], clock: FakeClock
) -> None:
    sock, path = fake_watchdog
    async with AsyncClient(config(path), clock=clock) as client:
        bad: list[tuple[str, Callable[[], None]]] = [
            ("equity nan", lambda: client.report_account(math.nan, 0, 0)),
            ("realized_pnl inf", lambda: client.report_account(1.0, math.inf, 0)),
            ("symbol ''", lambda: client.report_position("", 1, 1)),
            ("symbol 'XXX", lambda: client.report_position("X" * 40, 1, 1)),
            ("mark_price -1", lambda: client.report_position("BTCUSDT", 1, -1)),
            ("kind 'EXPLODE'", lambda: client.report_order("EXPLODE", "BTCUSDT", "BUY", 1, 1)),
            ("side 'HOLD'", lambda: client.report_order("FILL", "BTCUSDT", "HOLD", 1, 1)),
            ("qty -1", lambda: client.report_order("FILL", "BTCUSDT", "BUY", -1, 1)),
            ("kind ['FILL']", lambda: client.report_order(["FILL"], "BTCUSDT", "BUY", 1, 1)),  # type: ignore[arg-type]
            ("qty True", lambda: client.report_order("FILL", "BTCUSDT", "BUY", True, 1)),
            (
                "order_id 'xxx",
                lambda: client.report_order("ACK", "BTC", "BUY", 1, 1, order_id="x" * 65),
            ),
            (
                "order_id 'caf",
                lambda: client.report_order("ACK", "BTC", "BUY", 1, 1, order_id="caf\u00e9"),
            ),
            ("last_event_ts -5.0", lambda: client.report_feed("BTCUSDT", -5.0)),
            ("count -1", lambda: client.report_open_orders(-1)),
            ("7 is not a trading state", lambda: client.report_state(7)),
            ("ts nan", lambda: client.report_account(1.0, 0, 0, ts=math.nan)),
        ]
        for needle, call in bad:
            with pytest.raises(ReportError, match=re.escape(needle)):
                call()
        client.report_order(
            "FILL", "BTCUSDT", "BUY", 1, 1, reason="bad\x00\nreason" * 50, order_id="mm1-7"
        )
        orders: list[wire.OrderEvent] = []
        while not orders:
            data, _ = await receive(sock)
            orders = [e for e in decode(data) if isinstance(e, wire.OrderEvent)]
    assert [(o.reason, o.order_id) for o in orders] == [(("bad??reason" * 50)[:200], "mm1-7")]
    assert client.counters.events_sent >= 1


def decode(data: bytes) -> tuple[TelemetryEvent, ...]:
    return decode_telemetry(data, {TRADER: KEY}.get).events


# -- configuration and keys -------------------------------------------------------------------


def test_load_key_reads_hex_and_refuses_unsafe_or_short_files(tmp_path: Path) -> None:
    path = tmp_path / "trader.key"
    path.write_text(KEY.hex()[:32] + "\n" + KEY.hex()[32:] + "\n")
    path.chmod(0o600)
    assert load_key(path) == KEY
    path.chmod(0o604)
    with pytest.raises(ConfigError, match="other users"):
        load_key(path)
    path.chmod(0o600)
    path.write_text("abcd")
    with pytest.raises(ConfigError, match="need at least 32"):
        load_key(path)
    path.write_text("not hex at all, no")
    with pytest.raises(ConfigError, match="not hex"):
        load_key(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_key(tmp_path / "missing.key")


def test_the_client_config_refuses_nonsense() -> None:
    with pytest.raises(ConfigError, match="trader id"):
        ClientConfig("bad id", KEY)
    with pytest.raises(ConfigError, match="at least 32"):
        ClientConfig(TRADER, b"short")
    with pytest.raises(ConfigError, match="ack_timeout"):
        ClientConfig(TRADER, KEY, heartbeat_interval=1.0, ack_timeout=0.5)
    shown = repr(ClientConfig(TRADER, KEY))
    assert repr(KEY) not in shown
    assert "key=" not in shown


async def test_an_ack_counts_as_fresh_from_when_the_acked_telemetry_was_sent(
    fake_watchdog: tuple[socket.socket, str], clock: FakeClock
) -> None:
    """An ack that sat in a queue while time passed proves nothing about the watchdog now."""
    async with first_heard(fake_watchdog, clock) as (client, sock, old_seq, peer):
        clock.advance(0.6)  # past ack_timeout since old_seq left
        ack = Ack(TradingState.ACTIVE, "v1", old_seq, "", NOW)
        sock.sendto(encode_ack(KEY, TRADER, client.session_id, 1, ack), peer)
        await wait_until(lambda: client.counters.acks == 1)
        assert state_of(client) is TradingState.HALTED
        while (seq := decode_telemetry((await receive(sock))[0], {TRADER: KEY}.get).header.seq) < (
            client.counters.sent
        ):
            pass  # catch up with what was sent after the clock moved
        fresh = Ack(TradingState.ACTIVE, "v1", seq, "", NOW)
        sock.sendto(encode_ack(KEY, TRADER, client.session_id, 2, fresh), peer)
        await wait_until(lambda: client.state is TradingState.ACTIVE)


async def test_an_authentic_killed_ack_latches_even_when_it_arrives_out_of_order(
    fake_watchdog: tuple[socket.socket, str], clock: FakeClock
) -> None:
    async with first_heard(fake_watchdog, clock) as (client, sock, seq, peer):
        session = client.session_id
        active = Ack(TradingState.ACTIVE, "v1", seq, "", NOW)
        killed = Ack(TradingState.KILLED, "v1", seq, "daily loss", NOW)
        sock.sendto(encode_ack(KEY, TRADER, session, 5, active), peer)
        await wait_until(lambda: client.state is TradingState.ACTIVE)
        sock.sendto(encode_ack(KEY, TRADER, session, 4, killed), peer)  # older ack sequence
        await wait_until(lambda: client.state is TradingState.KILLED)


async def test_number_subclasses_such_as_numpy_floats_are_accepted(
    fake_watchdog: tuple[socket.socket, str], clock: FakeClock
) -> None:
    class Float64(float):
        pass

    sock, path = fake_watchdog
    async with AsyncClient(config(path), clock=clock) as client:
        client.report_account(Float64(1000.5), Float64(0), 0)
        snapshots: list[wire.AccountSnapshot] = []
        while not snapshots:
            data, _ = await receive(sock)
            snapshots = [e for e in decode(data) if isinstance(e, wire.AccountSnapshot)]
    assert snapshots[0].equity == 1000.5
    assert type(snapshots[0].equity) is float


async def test_a_stale_socket_file_with_no_watchdog_is_counted_not_raised(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "dead.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(str(path))
    dead.close()  # the file stays: connecting to it is refused (ECONNREFUSED)
    async with AsyncClient(config(str(path)), clock=clock) as client:
        client.report_account(1.0, 0.0, 0.0)
        await wait_until(lambda: client.counters.send_errors >= 3)
        assert client.state is TradingState.HALTED
    assert client.counters.sent == 0


async def test_after_an_ack_silence_the_client_skips_a_block_so_a_restarted_watchdog_hears_it(
    tmp_path: Path, clock: FakeClock
) -> None:
    dog = Watchdog(tmp_path / "wd.sock", clock)
    await dog.start()
    async with AsyncClient(config(str(dog.path)), clock=clock) as client:
        await wait_until(lambda: client.state is TradingState.ACTIVE)
        assert dog.ingress is not None
        accepted = dog.ingress.marks()[TRADER]
        await dog.ingress.close()
        # It crashed having reserved (durably) a whole block above what it accepted.
        reserved = GuardMark(client.session_id, accepted.seq_mark + SEQ_BLOCK)
        restarted = Watchdog(dog.path, clock)
        await restarted.start(restored={TRADER: reserved})
        clock.advance(0.6)  # no ack for longer than ack_timeout (0.5 s)
        await wait_until(lambda: len(restarted.batches) >= 3)
        assert restarted.batches[0][2] is False  # the same session, heard again
        await wait_until(lambda: client.state is TradingState.ACTIVE)
        assert restarted.ingress is not None
        await restarted.ingress.close()
