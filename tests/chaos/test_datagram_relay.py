"""The datagram relay against real UDP and Unix datagram echo servers, both directions."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.chaos.echo import (
    DatagramClient,
    DatagramEcho,
    datagram_client,
    udp_echo_server,
    unix_echo_server,
    wait_for_condition,
)
from tests.support.faultproxy import (
    DatagramFaults,
    DatagramPath,
    DatagramRelay,
    Direction,
    Latency,
)

QUIET_S = 0.5
DEADLINE_S = 10.0


@pytest.fixture
async def udp() -> AsyncIterator[tuple[DatagramEcho, DatagramRelay, DatagramClient]]:
    async with (
        udp_echo_server() as (echo, address),
        DatagramRelay(address, rng=random.Random(11)) as relay,
        datagram_client() as client,
    ):
        yield echo, relay, client


async def silence(client: DatagramClient) -> bool:
    try:
        await client.receive(QUIET_S)
    except TimeoutError:
        return True
    return False


async def test_udp_datagrams_and_their_replies_pass_in_order_when_healthy(
    udp: tuple[DatagramEcho, DatagramRelay, DatagramClient],
) -> None:
    _, relay, client = udp
    for i in range(20):
        client.send(f"hb{i}".encode(), relay.address)
    replies = [await client.receive(DEADLINE_S) for _ in range(20)]
    assert replies == [f"echo:hb{i}".encode() for i in range(20)]
    stats = relay.stats()
    assert stats.clients == 1
    assert stats.upstream.forwarded == 20
    assert stats.downstream.forwarded == 20
    assert stats.upstream.bytes_forwarded == sum(len(f"hb{i}") for i in range(20))


async def test_drop_with_probability_one_loses_everything_and_counts_it(
    udp: tuple[DatagramEcho, DatagramRelay, DatagramClient],
) -> None:
    echo, relay, client = udp
    relay.set_path(Direction.UPSTREAM, DatagramPath(drop_probability=1.0))
    for _ in range(10):
        client.send(b"lost", relay.address)
    await wait_for_condition(lambda: relay.stats().upstream.received == 10)
    assert await silence(client)
    assert echo.received == []
    assert relay.stats().upstream.dropped == 10


async def test_a_partial_drop_loses_some_and_passes_others(
    udp: tuple[DatagramEcho, DatagramRelay, DatagramClient],
) -> None:
    echo, relay, client = udp
    relay.set_path(Direction.UPSTREAM, DatagramPath(drop_probability=0.5))
    for i in range(200):
        client.send(str(i).encode(), relay.address)
    await wait_for_condition(lambda: relay.stats().upstream.received == 200)
    stats = relay.stats().upstream
    await wait_for_condition(lambda: len(echo.received) == stats.forwarded)
    assert 40 < stats.dropped < 160  # seeded: a fair coin, far from all or nothing
    assert stats.dropped + stats.forwarded == 200


async def test_a_blackholed_ack_path_delivers_telemetry_but_no_ack(
    udp: tuple[DatagramEcho, DatagramRelay, DatagramClient],
) -> None:
    echo, relay, client = udp
    relay.blackhole(Direction.DOWNSTREAM)
    client.send(b"heartbeat", relay.address)
    await wait_for_condition(lambda: echo.received == [b"heartbeat"])
    assert await silence(client)
    relay.heal()
    client.send(b"again", relay.address)
    assert await client.receive(DEADLINE_S) == b"echo:again"


async def test_delay_holds_each_datagram_at_least_its_base(
    udp: tuple[DatagramEcho, DatagramRelay, DatagramClient],
) -> None:
    _, relay, client = udp
    relay.set_path(Direction.DOWNSTREAM, DatagramPath(delay=Latency(base_s=0.3, jitter_s=0.05)))
    started = time.monotonic()
    client.send(b"slow", relay.address)
    assert await client.receive(DEADLINE_S) == b"echo:slow"
    assert 0.3 <= time.monotonic() - started < DEADLINE_S
    assert relay.stats().downstream.delayed == 1


async def test_duplicate_sends_each_datagram_twice(
    udp: tuple[DatagramEcho, DatagramRelay, DatagramClient],
) -> None:
    echo, relay, _client = udp
    relay.set_path(Direction.UPSTREAM, DatagramPath(duplicate_probability=1.0))
    _client.send(b"a", relay.address)
    _client.send(b"b", relay.address)
    await wait_for_condition(lambda: len(echo.received) == 4)
    assert echo.received == [b"a", b"a", b"b", b"b"]
    assert relay.stats().upstream.duplicated == 2


async def test_reorder_lets_the_next_datagram_overtake_the_held_one(
    udp: tuple[DatagramEcho, DatagramRelay, DatagramClient],
) -> None:
    echo, relay, client = udp
    relay.set_path(Direction.UPSTREAM, DatagramPath(reorder_probability=1.0, reorder_hold_s=5.0))
    for name in (b"1", b"2", b"3", b"4"):
        client.send(name, relay.address)
    await wait_for_condition(lambda: len(echo.received) == 4)
    assert echo.received == [b"2", b"1", b"4", b"3"]
    assert relay.stats().upstream.reordered == 2


async def test_a_held_datagram_leaves_alone_when_nothing_follows(
    udp: tuple[DatagramEcho, DatagramRelay, DatagramClient],
) -> None:
    echo, relay, client = udp
    relay.set_path(Direction.UPSTREAM, DatagramPath(reorder_probability=1.0, reorder_hold_s=0.2))
    client.send(b"lonely", relay.address)
    await wait_for_condition(lambda: echo.received == [b"lonely"])
    assert relay.stats().upstream.reordered == 0


async def test_heal_brings_every_path_back(
    udp: tuple[DatagramEcho, DatagramRelay, DatagramClient],
) -> None:
    _, relay, client = udp
    relay.blackhole()
    client.send(b"void", relay.address)
    assert await silence(client)
    relay.heal()
    assert relay.faults == DatagramFaults()
    client.send(b"back", relay.address)
    assert await client.receive(DEADLINE_S) == b"echo:back"


async def test_the_same_seed_loses_the_same_datagrams() -> None:
    async def survivors(seed: int) -> list[bytes]:
        async with (
            udp_echo_server() as (echo, address),
            DatagramRelay(address, rng=random.Random(seed)) as relay,
            datagram_client() as client,
        ):
            relay.set_path(Direction.UPSTREAM, DatagramPath(drop_probability=0.3))
            for i in range(40):
                client.send(str(i).encode(), relay.address)
            await wait_for_condition(lambda: relay.stats().upstream.received == 40)
            forwarded = relay.stats().upstream.forwarded
            await wait_for_condition(lambda: len(echo.received) == forwarded)
            return sorted(echo.received)

    assert await survivors(5) == await survivors(5)
    assert await survivors(5) != await survivors(6)


async def test_unix_relay_keeps_a_return_path_for_each_bound_client(tmp_path: Path) -> None:
    async with (
        unix_echo_server(str(tmp_path / "watchdog.sock")) as echo,
        DatagramRelay(str(tmp_path / "watchdog.sock")) as relay,
        datagram_client(str(tmp_path / "trader-a.sock"), unix=True) as a,
        datagram_client(str(tmp_path / "trader-b.sock"), unix=True) as b,
    ):
        a.send(b"from-a", relay.address)
        b.send(b"from-b", relay.address)
        assert await a.receive(DEADLINE_S) == b"echo:from-a"
        assert await b.receive(DEADLINE_S) == b"echo:from-b"
        senders = set(echo.senders)
        assert len(senders) == 2  # one relay socket per client: replies know where to go
        assert str(tmp_path) not in "".join(senders)  # the relay's names, not the clients'
        assert relay.stats().clients == 2


async def test_unix_replies_come_back_from_the_relay_address(tmp_path: Path) -> None:
    async with (
        unix_echo_server(str(tmp_path / "up.sock")),
        DatagramRelay(str(tmp_path / "up.sock"), listen=str(tmp_path / "relay.sock")) as relay,
        datagram_client(str(tmp_path / "client.sock"), unix=True) as client,
    ):
        assert relay.address == str(tmp_path / "relay.sock")
        client.send(b"hb", relay.address)
        data, sender = await asyncio.wait_for(client.inbox.get(), DEADLINE_S)
        assert (data, sender) == (b"echo:hb", str(tmp_path / "relay.sock"))


async def test_an_unnamed_unix_client_is_relayed_but_its_replies_are_unroutable(
    tmp_path: Path,
) -> None:
    async with (
        unix_echo_server(str(tmp_path / "up.sock")) as echo,
        DatagramRelay(str(tmp_path / "up.sock")) as relay,
        datagram_client(None, unix=True) as client,
    ):
        client.send(b"anonymous", relay.address)
        await wait_for_condition(lambda: echo.received == [b"anonymous"])
        await wait_for_condition(lambda: relay.stats().unroutable == 1)


async def test_a_missing_upstream_counts_errors_and_recovers_when_it_binds(tmp_path: Path) -> None:
    upstream = str(tmp_path / "restarting-watchdog.sock")
    async with (
        DatagramRelay(upstream) as relay,
        datagram_client(str(tmp_path / "c.sock"), unix=True) as client,
    ):
        client.send(b"nobody", relay.address)
        await wait_for_condition(lambda: relay.stats().upstream.send_errors == 1)
        async with unix_echo_server(upstream) as echo:
            client.send(b"somebody", relay.address)
            assert await client.receive(DEADLINE_S) == b"echo:somebody"
            assert echo.received == [b"somebody"]


async def test_udp_latency_spike_and_drop_on_the_ack_path_only(
    udp: tuple[DatagramEcho, DatagramRelay, DatagramClient],
) -> None:
    echo, relay, client = udp
    relay.set_faults(
        DatagramFaults(downstream=DatagramPath(delay=Latency(spike_s=0.3, spike_every=2)))
    )
    started = [time.monotonic()]
    client.send(b"1", relay.address)
    await client.receive(DEADLINE_S)
    fast = time.monotonic() - started[0]
    started.append(time.monotonic())
    client.send(b"2", relay.address)
    await client.receive(DEADLINE_S)
    slow = time.monotonic() - started[1]
    assert slow >= 0.3
    assert fast < 0.3
    assert echo.received == [b"1", b"2"]


async def test_closing_the_relay_cancels_pending_timers_and_removes_its_names(
    tmp_path: Path,
) -> None:
    async with unix_echo_server(str(tmp_path / "up.sock")) as echo:
        relay = DatagramRelay(str(tmp_path / "up.sock"))
        async with relay, datagram_client(str(tmp_path / "c.sock"), unix=True) as client:
            relay.set_path(Direction.UPSTREAM, DatagramPath(delay=Latency(base_s=30.0)))
            client.send(b"late", relay.address)
            await wait_for_condition(lambda: relay.stats().upstream.delayed == 1)
            assert relay.stats().in_flight == 1
            private = Path(str(relay.address)).parent
        assert not private.exists()
        assert relay.stats().in_flight == 0
        assert echo.received == []


async def test_the_pending_bound_drops_instead_of_growing(
    udp: tuple[DatagramEcho, DatagramRelay, DatagramClient],
) -> None:
    echo, _, client = udp
    async with DatagramRelay(echo_address(echo), max_pending=5) as relay:
        relay.set_path(Direction.UPSTREAM, DatagramPath(delay=Latency(base_s=30.0)))
        for _ in range(8):
            client.send(b"x", relay.address)
        await wait_for_condition(lambda: relay.stats().upstream.received == 8)
        assert relay.stats().upstream.delayed == 5
        assert relay.stats().upstream.overflow == 3


def echo_address(echo: DatagramEcho) -> tuple[str, int]:
    assert echo.transport is not None
    host, port = echo.transport.get_extra_info("sockname")[:2]
    return host, port


async def test_a_tap_sees_each_datagram_both_ways_even_the_dropped_ones() -> None:
    seen: list[tuple[Direction, bytes]] = []
    async with (
        udp_echo_server() as (_, address),
        DatagramRelay(address, tap=lambda way, data: seen.append((way, data))) as relay,
        datagram_client() as client,
    ):
        client.send(b"hb1", relay.address)
        assert await client.receive(DEADLINE_S) == b"echo:hb1"
        relay.blackhole(Direction.UPSTREAM)
        client.send(b"hb2", relay.address)
        await wait_for_condition(lambda: relay.stats().upstream.dropped == 1)
    assert seen == [
        (Direction.UPSTREAM, b"hb1"),
        (Direction.DOWNSTREAM, b"echo:hb1"),
        (Direction.UPSTREAM, b"hb2"),
    ]
