"""Malformed input never yields a 500 on the OKX front: every refusal is a named OKX code, and
every request is journaled."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect as ws_connect

from harness.sim import SimConfig, SimProcess, okx_headers
from tests.support.sim import running_sim

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# Not the sub-account key calls: the fuzzing key must live on.
ROUTES = [
    ("POST", "/api/v5/trade/order"),
    ("POST", "/api/v5/trade/batch-orders"),
    ("POST", "/api/v5/trade/amend-order"),
    ("POST", "/api/v5/trade/cancel-order"),
    ("POST", "/api/v5/trade/cancel-batch-orders"),
    ("POST", "/api/v5/trade/cancel-all-after"),
    ("GET", "/api/v5/trade/order"),
    ("GET", "/api/v5/trade/orders-pending"),
    ("GET", "/api/v5/trade/orders-history"),
    ("GET", "/api/v5/account/positions"),
]
routes = st.sampled_from(ROUTES)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=40),
    st.sampled_from(["BTC-USDT-SWAP", "SWAP", "cross", "buy", "limit", "market", "1", "0.1",
                     "50000", "10", "0", "-1", "1e3", "NaN", "\u00b2", "\u0663"]),
)  # fmt: skip
fields = st.sampled_from(
    ["instId", "instType", "tdMode", "side", "ordType", "sz", "px", "ordId", "clOrdId",
     "reduceOnly", "posSide", "newSz", "newPx", "timeOut", "tag", "limit", "after", "before",
     "state"]
)  # fmt: skip
objects = st.dictionaries(fields, scalars | st.lists(scalars, max_size=2), max_size=8)
bodies = objects | st.lists(objects, max_size=22)
# What an HTTP header value can carry (control characters are refused by the HTTP parser itself).
CONTROL = "".join(map(chr, [*range(32), *range(127, 160)]))
header_text = st.text(st.characters(codec="latin-1", exclude_characters=CONTROL), max_size=80)
AUTH_CODES = {
    "50102", "50103", "50104", "50105", "50106", "50107", "50111", "50112", "50113",
}  # fmt: skip


@pytest.fixture(scope="module")
def fuzz_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    tmp: Path = tmp_path_factory.mktemp("okx-fuzz")
    with running_sim(tmp, SimConfig(book_ticker_hz=0, okx_orders_per_2s=10**6), venue="okx") as sim:
        yield sim


def _send(
    sim: SimProcess, method: str, path_qs: str, body: str, headers: dict[str, str]
) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=20)
    try:
        if method == "GET":
            conn.request(method, path_qs, headers=headers)
        else:
            headers = {**headers, "Content-Type": "application/json"}
            conn.request(method, path_qs, body=body.encode("utf-8", "surrogatepass"),
                         headers=headers)  # fmt: skip
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    answer = json.loads(raw)
    assert isinstance(answer, dict)
    return resp.status, answer


def _journaled(sim: SimProcess, since: int, method: str, path: str, status: int, code: str) -> None:
    entries = [e for e in sim.admin.journal(since=since) if e["kind"] == "request"]
    assert [(e["endpoint"], e["status"], e["code"]) for e in entries] == [
        (f"{method} {path}", status, int(code) or None)
    ]


def _request(method: str, path: str, params: object) -> tuple[str, str]:
    """The path with its query (GET) and the body (POST), as a client sends and signs them."""
    if method == "GET":
        flat = params if isinstance(params, dict) else {}
        query = urllib.parse.urlencode({k: v for k, v in flat.items() if isinstance(v, str)})
        return (f"{path}?{query}" if query else path), ""
    return path, json.dumps(params)


@FUZZ
@given(route=routes, params=bodies)
def test_signed_garbage_parameters_get_okx_errors(
    fuzz_sim: SimProcess, route: tuple[str, str], params: object
) -> None:
    method, path = route
    path_qs, body = _request(method, path, params)
    since = fuzz_sim.admin.last_seq()
    headers = okx_headers(fuzz_sim.watchdog_key, method, path_qs, body)
    status, answer = _send(fuzz_sim, method, path_qs, body, headers)
    assert status < 500, answer
    assert set(answer) == {"code", "msg", "data"}
    assert isinstance(answer["code"], str), answer
    assert answer["code"].isdigit(), answer
    data = answer["data"]
    assert isinstance(data, list), answer
    failed = [item["sCode"] for item in data if item.get("sCode", "0") != "0"]
    assert all(code.isdigit() for code in failed), answer
    assert bool(failed) == (answer["code"] in ("1", "2")), answer
    _journaled(fuzz_sim, since, method, path, status, answer["code"])


@FUZZ
@given(
    route=routes,
    signature=header_text,
    stamp=header_text | st.just(""),
    passphrase=header_text | st.just(""),
)
def test_wrong_signatures_stamps_and_passphrases_of_every_shape_are_refused(
    fuzz_sim: SimProcess, route: tuple[str, str], signature: str, stamp: str, passphrase: str
) -> None:
    method, path = route
    path_qs, body = _request(method, path, {"instId": "BTC-USDT-SWAP"})
    headers = okx_headers(fuzz_sim.watchdog_key, method, path_qs, body)
    headers["OK-ACCESS-SIGN"] = signature
    if stamp:
        headers["OK-ACCESS-TIMESTAMP"] = stamp
    if passphrase:
        headers["OK-ACCESS-PASSPHRASE"] = passphrase
    since = fuzz_sim.admin.last_seq()
    status, answer = _send(fuzz_sim, method, path_qs, body, headers)
    assert (status, answer["code"] in AUTH_CODES) == (401, True), (signature, stamp, answer)
    # HTTP trims spaces and tabs around a header value: nothing left is a missing header.
    if not signature.strip(" \t"):
        assert answer["code"] == "50106"
    _journaled(fuzz_sim, since, method, path, status, str(answer["code"]))


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
ws_args = st.lists(
    st.dictionaries(
        st.sampled_from(
            ["channel", "instId", "instType", "apiKey", "passphrase", "timestamp", "sign", "extra"]
        ),
        json_scalars | st.sampled_from(["tickers", "bbo-tbt", "orders", "BTC-USDT-SWAP", "ANY"]),
    )
    | json_scalars,
    max_size=3,
)
ws_requests = st.one_of(
    st.text(max_size=60),  # not JSON, or not an object
    st.fixed_dictionaries(
        {"op": st.sampled_from(["login", "subscribe", "unsubscribe", "nope"]) | json_scalars},
        optional={"args": ws_args | json_scalars, "id": json_scalars},
    ).map(json.dumps),
)


@FUZZ
@given(path=st.sampled_from(["/ws/v5/private", "/ws/v5/public"]), request=ws_requests)
def test_websocket_garbage_gets_an_answer_and_never_breaks_the_server(
    fuzz_sim: SimProcess, path: str, request: str
) -> None:
    with ws_connect(f"{fuzz_sim.ws_url}{path}", open_timeout=10) as ws:
        ws.send(request)
        raw = ws.recv(timeout=10)
    if request == "ping":
        assert raw == "pong"
        return
    reply = json.loads(raw)
    assert isinstance(reply, dict)
    assert reply.get("event") in ("error", "subscribe", "unsubscribe", "login"), reply


def test_the_fuzzed_sim_is_still_healthy(fuzz_sim: SimProcess) -> None:
    assert fuzz_sim.child.alive()
    assert "Traceback" not in fuzz_sim.child.log_tail(10_000)
