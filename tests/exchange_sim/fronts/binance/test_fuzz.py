"""Malformed input never yields a 500 or a traceback: fuzz the venue with hypothesis."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.sim import SimConfig, SimProcess, sign

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

junk = st.text(st.characters(codec="utf-8"), max_size=40)
maybe_valid = {
    "symbol": st.sampled_from(["BTCUSDT", "ETHUSDT", "btcusdt", "", "BTC"]) | junk,
    "side": st.sampled_from(["BUY", "SELL", "buy"]) | junk,
    "type": st.sampled_from(["LIMIT", "MARKET", "STOP"]) | junk,
    "timeInForce": st.sampled_from(["GTC", "IOC", "FOK", "GTX"]) | junk,
    "quantity": st.sampled_from(["0.01", "1e3", "-1", "0", "NaN", "Infinity", "1" * 30]) | junk,
    "price": st.sampled_from(["50000", "0.1", "1e-9", "-5", "5" * 25, ".5"]) | junk,
    "reduceOnly": st.sampled_from(["true", "false", "TRUE"]) | junk,
    "newClientOrderId": st.sampled_from(["a", "x" * 37]) | junk,
    "orderId": st.sampled_from(["1", "-1", "9" * 30, "1.5"]) | junk,
    "recvWindow": st.sampled_from(["1", "60001", "-1", "abc"]) | junk,
    "countdownTime": st.sampled_from(["0", "-1", "9" * 25]) | junk,
}
param_sets = st.dictionaries(st.sampled_from(sorted(maybe_valid)), st.just(""), max_size=8).flatmap(
    lambda keys: st.fixed_dictionaries({k: maybe_valid[k] for k in keys})
)
signed_paths = st.sampled_from(
    [
        ("POST", "/fapi/v1/order"),
        ("DELETE", "/fapi/v1/order"),
        ("GET", "/fapi/v1/order"),
        ("GET", "/fapi/v1/openOrders"),
        ("DELETE", "/fapi/v1/allOpenOrders"),
        ("POST", "/fapi/v1/countdownCancelAll"),
        ("GET", "/fapi/v2/positionRisk"),
    ]
)


@pytest.fixture(scope="module")
def fuzz_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    sim = SimProcess.start(
        tmp,
        SimConfig(
            book_ticker_hz=0, weight_per_minute=10**9, orders_per_10s=10**9, orders_per_minute=10**9
        ),
    )
    yield sim
    sim.stop()


def _request(
    sim: SimProcess, method: str, target: str, body: bytes | None, key: str
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=20)
    try:
        headers = {"X-MBX-APIKEY": key, "Content-Type": "application/x-www-form-urlencoded"}
        conn.request(method, target, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _check(status: int, raw: bytes) -> None:
    assert status < 500, raw
    body = json.loads(raw)
    if status >= 400:
        assert isinstance(body, dict)
        assert isinstance(body["code"], int)
        assert body["msg"]


@FUZZ
@given(route=signed_paths, params=param_sets, in_body=st.booleans())
def test_signed_garbage_parameters_get_venue_errors(
    fuzz_sim: SimProcess, route: tuple[str, str], params: dict[str, str], in_body: bool
) -> None:
    key = fuzz_sim.trader_key
    payload = urllib.parse.urlencode({**params, "timestamp": int(time.time() * 1000)})
    signed = f"{payload}&signature={sign(key.secret, payload)}"
    method, path = route
    if in_body:
        status, raw = _request(fuzz_sim, method, path, signed.encode(), key.api_key)
    else:
        status, raw = _request(fuzz_sim, method, f"{path}?{signed}", None, key.api_key)
    _check(status, raw)


@FUZZ
@given(
    route=signed_paths,
    query=st.text(st.characters(codec="ascii", exclude_characters=" #\r\n\t"), max_size=120),
    body=st.binary(max_size=200),
    key=st.sampled_from(["", "short", "Z" * 64, "SimTraderKey".ljust(64, "0")]),
)
def test_raw_garbage_never_breaks_the_server(
    fuzz_sim: SimProcess, route: tuple[str, str], query: str, body: bytes, key: str
) -> None:
    method, path = route
    target = f"{path}?{urllib.parse.quote(query, safe='=&%+')}"
    status, raw = _request(fuzz_sim, method, target, body, key)
    _check(status, raw)


def test_the_fuzzed_sim_is_still_healthy(fuzz_sim: SimProcess) -> None:
    assert fuzz_sim.child.alive()
    assert "Traceback" not in fuzz_sim.child.log_tail(10_000)


hexish = st.text(alphabet="0123456789abcdefABCDEF", min_size=1, max_size=130)
wrong_signatures = (
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=80).map(urllib.parse.quote_plus)
    | st.binary(min_size=1, max_size=80).map(urllib.parse.quote_from_bytes)
    | hexish
    | st.sampled_from(["%C3%A9", "%FF", "%00", "%", "%G1", "+", "0" * 64, "Z" * 64])
)


def _expected_code(raw_signature: str) -> int:
    """-1022 for a wrong signature; -1100 when the value cannot be a parameter at all."""
    try:
        value = urllib.parse.unquote_plus(raw_signature, errors="strict")
    except UnicodeDecodeError:
        return -1100
    if not value:
        return -1102
    if len(value) > 1024 or not value.isprintable():
        return -1100
    return -1022


@FUZZ
@given(route=signed_paths, signature=wrong_signatures, in_body=st.booleans())
def test_wrong_signatures_of_every_shape_get_1022_and_are_journaled(
    fuzz_sim: SimProcess, route: tuple[str, str], signature: str, in_body: bool
) -> None:
    key = fuzz_sim.trader_key
    # Every endpoint's mandatory parameters are present: the signature is what is judged.
    mandatory = "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01&countdownTime=0&orderId=1"
    signed = f"{mandatory}&timestamp={int(time.time() * 1000)}&signature={signature}"
    method, path = route
    since = fuzz_sim.admin.last_seq()
    if in_body:
        status, raw = _request(fuzz_sim, method, path, signed.encode(), key.api_key)
    else:
        status, raw = _request(fuzz_sim, method, f"{path}?{signed}", None, key.api_key)
    body = json.loads(raw)
    expected = _expected_code(signature)
    if expected == -1102:  # an empty signature is a missing mandatory parameter
        assert body["code"] in (-1102, -1022)
    else:
        assert (status, body["code"]) == (400, expected), (signature, body)
    entries = [e for e in fuzz_sim.admin.journal(since=since) if e["kind"] == "request"]
    assert [(e["endpoint"], e["status"], e["code"]) for e in entries] == [
        (f"{method} {path}", status, body["code"])
    ]
