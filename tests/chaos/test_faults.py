"""Fault specifications: validated once, sampled reproducibly, (de)serialised strictly."""

from __future__ import annotations

import random

import pytest

from tests.support.faultproxy import (
    AcceptMode,
    DatagramFaults,
    DatagramPath,
    FaultSpecError,
    Latency,
    TcpFaults,
)
from tests.support.faultproxy.faults import (
    datagram_faults_from_json,
    tcp_faults_from_json,
    to_json,
)


def test_a_zero_latency_adds_nothing_and_draws_no_randomness() -> None:
    rng = random.Random(1)
    state = rng.getstate()
    assert Latency().sample(1, rng) == 0.0
    assert rng.getstate() == state


def test_jitter_stays_within_base_and_base_plus_jitter() -> None:
    rng = random.Random(3)
    samples = [Latency(base_s=0.01, jitter_s=0.02).sample(i, rng) for i in range(1, 500)]
    assert all(0.01 <= s <= 0.03 for s in samples)
    assert max(samples) - min(samples) > 0.015  # it does vary


def test_a_periodic_spike_lands_on_every_nth_ordinal() -> None:
    latency = Latency(spike_s=1.0, spike_every=4)
    delays = [latency.sample(i, random.Random(0)) for i in range(1, 13)]
    assert [i + 1 for i, d in enumerate(delays) if d] == [4, 8, 12]


def test_a_probable_spike_is_reproducible_from_the_seed() -> None:
    latency = Latency(spike_s=0.5, spike_probability=0.25)

    def run(seed: int) -> list[float]:
        rng = random.Random(seed)
        return [latency.sample(i, rng) for i in range(1, 200)]

    assert run(9) == run(9)
    assert 20 < sum(1 for d in run(9) if d) < 80


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_s": -1}, "base_s"),
        ({"jitter_s": float("nan")}, "jitter_s"),
        ({"spike_probability": 1.5}, "spike_probability"),
        ({"spike_every": -2}, "spike_every"),
        ({"base_s": "fast"}, "base_s"),
    ],
)
def test_an_invalid_latency_names_the_field(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        Latency(**kwargs)  # type: ignore[arg-type]


def test_an_invalid_datagram_path_names_the_field() -> None:
    with pytest.raises(FaultSpecError, match="drop_probability"):
        DatagramPath(drop_probability=2)


def test_tcp_faults_round_trip_through_json() -> None:
    faults = TcpFaults(
        upstream=Latency(base_s=0.1, spike_every=3, spike_s=0.5),
        stall_downstream=True,
        accept=AcceptMode.HANG,
    )
    assert tcp_faults_from_json(to_json(faults)) == faults


def test_datagram_faults_round_trip_through_json() -> None:
    faults = DatagramFaults(
        upstream=DatagramPath(drop_probability=0.1, delay=Latency(jitter_s=0.2)),
        downstream=DatagramPath(blackhole=True),
    )
    assert datagram_faults_from_json(to_json(faults)) == faults


def test_omitted_keys_take_the_healthy_defaults() -> None:
    assert tcp_faults_from_json({}) == TcpFaults()
    assert datagram_faults_from_json({"upstream": {}}) == DatagramFaults()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"stall": True}, r"faults: unknown key\(s\) stall"),
        ({"upstream": {"base": 1}}, r"faults.upstream: unknown key\(s\) base"),
        ({"upstream": {"base_s": -1}}, r"faults.upstream.base_s"),
        ({"accept": "maybe"}, r"faults.accept: must be one of forward, reset, hang, closed"),
        ({"stall_upstream": "yes"}, r"faults.stall_upstream: must be true or false"),
        ([], r"faults: must be an object"),
    ],
)
def test_bad_tcp_json_is_refused_with_the_path_of_the_key(data: object, message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        tcp_faults_from_json(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"sideways": {}}, r"faults: unknown key\(s\) sideways"),
        ({"downstream": {"drop_probability": 7}}, r"faults.downstream.drop_probability"),
        ({"upstream": {"delay": {"spike_every": 1.5}}}, r"faults.upstream.delay.spike_every"),
        ({"upstream": {"blackhole": 1}}, r"faults.upstream.blackhole: must be true or false"),
    ],
)
def test_bad_datagram_json_is_refused_with_the_path_of_the_key(data: object, message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        datagram_faults_from_json(data)
