"""Malformed input never yields a 500 on the Bybit front, and every request is journaled."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect as ws_connect

from harness.sim import SimConfig, SimProcess, bybit_headers
from tests.support.sim import running_sim

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# Not /v5/user/delete-sub-api: a sub key may delete itself, and the fuzzing key must live on.
ROUTES = [
    ("POST", "/v5/order/create"),
    ("POST", "/v5/order/amend"),
    ("POST", "/v5/order/cancel"),
    ("POST", "/v5/order/cancel-all"),
    ("POST", "/v5/order/disconnected-cancel-all"),
    ("GET", "/v5/order/realtime"),
    ("GET", "/v5/position/list"),
    ("GET", "/v5/account/wallet-balance"),
]
routes = st.sampled_from(ROUTES)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=40),
    st.sampled_from(["linear", "BTCUSDT", "Buy", "Limit", "0.01", "50000", "USDT", "UNIFIED"]),
)  # fmt: skip
fields = st.sampled_from(
    ["category", "symbol", "side", "orderType", "qty", "price", "orderId", "orderLinkId",
     "timeInForce", "reduceOnly", "settleCoin", "accountType", "timeWindow", "apikey", "limit"]
)  # fmt: skip
bodies = st.dictionaries(fields, scalars | st.lists(scalars, max_size=2), max_size=8)
# What an HTTP header value can carry (control characters are refused by the HTTP parser itself).
CONTROL = "".join(map(chr, [*range(32), *range(127, 160)]))
header_text = st.text(st.characters(codec="latin-1", exclude_characters=CONTROL), max_size=80)


@pytest.fixture(scope="module")
def fuzz_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    tmp: Path = tmp_path_factory.mktemp("bybit-fuzz")
    with running_sim(
        tmp, SimConfig(book_ticker_hz=0, bybit_orders_per_s=10**6), venue="bybit"
    ) as sim:
        yield sim


def _send(
    sim: SimProcess, method: str, path: str, payload: str, headers: dict[str, str]
) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=20)
    try:
        if method == "GET":
            conn.request(method, f"{path}?{payload}", headers=headers)
        else:
            headers = {**headers, "Content-Type": "application/json"}
            conn.request(
                method, path, body=payload.encode("utf-8", "surrogatepass"), headers=headers
            )
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    body = json.loads(raw)
    assert isinstance(body, dict)
    return resp.status, body


def _journaled(
    sim: SimProcess, since: int, method: str, path: str, status: int, code: object
) -> None:
    entries = [e for e in sim.admin.journal(since=since) if e["kind"] == "request"]
    assert [(e["endpoint"], e["status"], e["code"]) for e in entries] == [
        (f"{method} {path}", status, code if code != 0 else None)
    ]


@FUZZ
@given(route=routes, params=bodies)
def test_signed_garbage_parameters_get_bybit_errors(
    fuzz_sim: SimProcess, route: tuple[str, str], params: dict[str, object]
) -> None:
    method, path = route
    if method == "GET":
        flat = {k: v for k, v in params.items() if isinstance(v, str)}
        payload = urllib.parse.urlencode(flat)
    else:
        payload = json.dumps(params)
    since = fuzz_sim.admin.last_seq()
    status, body = _send(
        fuzz_sim, method, path, payload, bybit_headers(fuzz_sim.trader_key, payload)
    )
    assert status < 500, body
    assert set(body) == {"retCode", "retMsg", "result", "retExtInfo", "time"}
    assert isinstance(body["retCode"], int)
    _journaled(fuzz_sim, since, method, path, status, body["retCode"])


@FUZZ
@given(route=routes, signature=header_text, stamp=header_text | st.just(""))
@example(route=("POST", "/v5/order/create"), signature="0", stamp=" ")  # a stamp of blanks
def test_wrong_signatures_and_stamps_of_every_shape_are_refused(
    fuzz_sim: SimProcess, route: tuple[str, str], signature: str, stamp: str
) -> None:
    method, path = route
    payload = json.dumps({"category": "linear", "settleCoin": "USDT"}) if method == "POST" else ""
    headers = bybit_headers(fuzz_sim.trader_key, payload)
    headers["X-BAPI-SIGN"] = signature
    if stamp:
        headers["X-BAPI-TIMESTAMP"] = stamp
    since = fuzz_sim.admin.last_seq()
    status, body = _send(fuzz_sim, method, path, payload, headers)
    assert status < 500, body
    # HTTP trims spaces and tabs around a header value: nothing left is a missing header (a
    # signature, or a stamp sent in place of the good one), which is a missing key (10003).
    missing = not signature.strip(" \t") or (stamp != "" and not stamp.strip(" \t"))
    expected = {10003} if missing else {10001, 10002, 10004}
    assert body["retCode"] in expected, (signature, stamp, body)
    _journaled(fuzz_sim, since, method, path, status, body["retCode"])


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
ws_requests = st.one_of(
    st.text(max_size=60),  # not JSON, or not an object
    st.fixed_dictionaries(
        {
            "op": st.sampled_from(["auth", "subscribe", "unsubscribe", "ping", "nope"])
            | json_scalars
        },
        optional={
            "args": st.lists(
                json_scalars | st.sampled_from(["order", "dcp", "orderbook.1.BTCUSDT"]), max_size=4
            )
            | json_scalars,
            "req_id": json_scalars,
        },
    ).map(json.dumps),
)


@FUZZ
@given(path=st.sampled_from(["/v5/private", "/v5/public/linear"]), request=ws_requests)
def test_websocket_garbage_gets_an_answer_and_never_breaks_the_server(
    fuzz_sim: SimProcess, path: str, request: str
) -> None:
    with ws_connect(f"{fuzz_sim.ws_url}{path}", open_timeout=10) as ws:
        ws.send(request)
        reply = json.loads(ws.recv(timeout=10))
    assert isinstance(reply, dict)
    assert reply.get("success") is not None or reply.get("op") == "pong", reply


def test_the_fuzzed_sim_is_still_healthy(fuzz_sim: SimProcess) -> None:
    assert fuzz_sim.child.alive()
    assert "Traceback" not in fuzz_sim.child.log_tail(10_000)
