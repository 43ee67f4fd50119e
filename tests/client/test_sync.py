"""The threaded client against a real ingress over real sockets, and its bad-input errors."""

from __future__ import annotations

import math
import socket
import threading
from pathlib import Path

import pytest
from killswitch_client import (
    AsyncClient,
    Client,
    ClientConfig,
    ConfigError,
    ReportError,
    TradingHalted,
    TradingState,
    parse_address,
)

from risk.events import FeedStatus, Heartbeat, OrderEvent
from risk.state import TradingState as RiskState
from tests.client.rig import Watchdog, config
from tests.watchdog.wire import KEY, TRADER, wait_until
from watchdog.clock import FakeClock


def key_file(tmp_path: Path, text: str = KEY.hex(), name: str = "trader.key") -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o600)
    return path


async def test_heartbeats_leave_from_the_clients_own_thread_and_an_ack_makes_it_active(
    watchdog: Watchdog, clock: FakeClock
) -> None:
    client = Client(config(str(watchdog.path)), clock=clock)
    try:
        assert client.state is TradingState.HALTED  # no ack yet: fail-closed
        await wait_until(lambda: client.state is TradingState.ACTIVE)
        await wait_until(lambda: len(watchdog.batches) >= 3)  # nobody called flush: the thread
    finally:
        client.close()
    assert not any(t.name == "killswitch-heartbeat" and t.is_alive() for t in threading.enumerate())


async def test_reports_from_many_threads_all_arrive_once(
    watchdog: Watchdog, clock: FakeClock
) -> None:
    with Client(config(str(watchdog.path)), clock=clock) as client:
        await wait_until(lambda: client.state is TradingState.ACTIVE)

        def bot(n: int) -> None:
            for i in range(50):
                client.report_order("SUBMIT", "BTCUSDT", "BUY", 1, 100, order_id=f"t{n}-{i}")

        threads = [threading.Thread(target=bot, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        await wait_until(lambda: len(watchdog.of(OrderEvent)) >= 200)
    ids = [e.order_id for e in watchdog.of(OrderEvent) if isinstance(e, OrderEvent)]
    assert sorted(ids) == sorted(f"t{n}-{i}" for n in range(4) for i in range(50))
    assert watchdog.ingress is not None
    assert watchdog.ingress.rejects == {}  # no sequence was used twice across threads


async def test_a_question_in_an_ack_is_answered_at_once_from_the_clients_thread(
    watchdog: Watchdog,
) -> None:
    slow = config(str(watchdog.path), heartbeat_interval=10.0, ack_timeout=20.0)
    with Client(slow, clock=watchdog.clock) as client:
        await wait_until(lambda: len(watchdog.batches) == 1)
        client.report_feed("BTCUSDT", 1.0)  # waits for the next heartbeat, 10 s away...
        assert watchdog.ingress is not None
        watchdog.ingress.send_ack(TRADER, RiskState.ACTIVE, limits_version="v1", ask=3)
        await wait_until(lambda: len(watchdog.batches) == 2, within=5.0)  # ...but goes now
    events = watchdog.batches[1][1]
    assert [type(e) for e in events] == [FeedStatus, Heartbeat]
    assert [e.answers for e in events if isinstance(e, Heartbeat)] == [3]


async def test_killed_latches_and_orders_are_refused_as_each_state_defines(
    watchdog: Watchdog, clock: FakeClock
) -> None:
    with Client(config(str(watchdog.path)), clock=clock) as client:
        await wait_until(lambda: client.state is TradingState.ACTIVE)
        client.check_order()  # ACTIVE: anything goes
        watchdog.state = TradingState.HALTED
        await wait_until(lambda: client.state is TradingState.HALTED)
        client.check_order(reduce_only=True)  # HALTED: reduce-only exits pass
        with pytest.raises(TradingHalted, match="HALTED") as caught:
            client.check_order()
        assert caught.value.state is TradingState.HALTED
        watchdog.state = TradingState.KILLED
        await wait_until(lambda: client.state is TradingState.KILLED)
        watchdog.state = TradingState.ACTIVE  # too late: KILLED latches
        count = len(watchdog.batches)
        await wait_until(lambda: len(watchdog.batches) > count + 3)
        assert client.state is TradingState.KILLED
        with pytest.raises(TradingHalted, match="reduce-only"):
            client.check_order(reduce_only=True)


async def test_without_fresh_acks_the_client_falls_back_to_halted(
    watchdog: Watchdog, clock: FakeClock
) -> None:
    with Client(config(str(watchdog.path), ack_timeout=0.2), clock=clock) as client:
        await wait_until(lambda: client.state is TradingState.ACTIVE)
        watchdog.state = None  # the watchdog stops answering
        clock.advance(1.0)
        assert client.state is TradingState.HALTED


def test_a_report_never_waits_for_a_watchdog_that_does_not_read(tmp_path: Path) -> None:
    path = tmp_path / "deaf.sock"
    deaf = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    deaf.bind(str(path))  # never read: its queue fills and the sender gets EAGAIN
    with deaf, Client(config(str(path))) as client:
        done = threading.Event()

        def flood() -> None:
            for i in range(5_000):
                client.report_order("SUBMIT", "BTCUSDT", "BUY", 1, 100, order_id=f"o{i}")
            done.set()

        threading.Thread(target=flood, daemon=True).start()
        assert done.wait(30), "a report blocked on a full socket"
    assert client.counters.dropped > 0


def test_bad_input_is_a_clear_error_at_construction_or_at_the_call(tmp_path: Path) -> None:
    good = key_file(tmp_path)
    with pytest.raises(ConfigError, match="cannot read key file"):
        Client(trader_id=TRADER, address="/run/x.sock", key_file=tmp_path / "missing.key")
    with pytest.raises(ConfigError, match="not hex"):
        Client(
            trader_id=TRADER,
            address="/run/x.sock",
            key_file=key_file(tmp_path, "zz" * 32, "bad.key"),
        )
    for bad in ("", "localhost", "host:", "host:0", "host:99999", ":9000"):
        with pytest.raises(ConfigError, match="address"):
            AsyncClient(trader_id=TRADER, address=bad, key_file=good)
    with pytest.raises(TypeError, match="not both"):
        Client(ClientConfig(TRADER, KEY), trader_id=TRADER)
    client = Client(trader_id=TRADER, address=str(tmp_path / "none.sock"), key_file=good)
    with client, pytest.raises(ReportError, match=r"report_account: equity nan"):
        client.report_account(math.nan, 0.0, 0.0)


def test_an_address_is_a_socket_path_or_host_and_port() -> None:
    assert parse_address("/run/killswitch-watchdog/telemetry.sock") == (
        "/run/killswitch-watchdog/telemetry.sock"
    )
    assert parse_address("./wd.sock") == "./wd.sock"
    assert parse_address("10.0.0.5:7070") == ("10.0.0.5", 7070)
    assert parse_address("[::1]:7070") == ("::1", 7070)


def test_from_file_reads_three_keys_and_names_the_file_and_key_on_error(tmp_path: Path) -> None:
    key_file(tmp_path)
    path = tmp_path / "client.toml"
    path.write_text(
        f'trader_id = "{TRADER}"\naddress = "127.0.0.1:7070"\nkey_file = "trader.key"\n'
    )
    settings = ClientConfig.from_file(path)
    assert (settings.trader_id, settings.address, settings.key) == (
        TRADER,
        ("127.0.0.1", 7070),
        KEY,
    )
    path.write_text(f'trader_id = "{TRADER}"\naddress = "127.0.0.1:7070"\nkey_fil = "x"\n')
    with pytest.raises(ConfigError, match=r"client.toml: key_fil: unknown key"):
        Client.from_file(path)
    path.write_text(f'trader_id = "{TRADER}"\naddress = "nowhere"\nkey_file = "trader.key"\n')
    with pytest.raises(ConfigError, match=r"client.toml: address: 'nowhere'"):
        Client.from_file(path)
    path.write_text('trader_id = "bot"\n')
    with pytest.raises(ConfigError, match=r"client.toml: address: required"):
        Client.from_file(path)
