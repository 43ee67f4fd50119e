"""The venue's side: the sim's admin API (its truth) and signed requests with the trader's key.

The proof uses these, not the suite's adapters: what the venue itself says is the evidence.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from demo.errors import DemoError


class SimAdmin:
    """``/admin`` on the sim's loopback admin port; JSON in, JSON out."""

    def __init__(self, admin_url: str, timeout_s: float = 10.0) -> None:
        self._url = admin_url.rstrip("/")
        self._timeout_s = timeout_s

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - a loopback http URL the demo built
            self._url + path, data=data, method=method
        )
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310 - as above
                return json.loads(response.read())
        except (OSError, ValueError) as exc:
            raise DemoError(f"sim admin {method} {path} failed: {exc}") from None

    def open_orders(self, account: str, symbol: str | None = None) -> list[dict[str, Any]]:
        query = {"account": account} | ({"symbol": symbol} if symbol else {})
        answer = self.call("GET", "/admin/open-orders?" + urllib.parse.urlencode(query))
        return list(answer["orders"])

    def journal(self, since: int = 0, limit: int = 100_000) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"since": since, "limit": limit})
        return list(self.call("GET", f"/admin/journal?{query}")["entries"])

    def last_seq(self) -> int:
        return int(self.call("GET", "/admin/health")["journal_seq"])

    def key_status(self, api_key: str) -> str:
        return str(self.call("GET", f"/admin/keys/{api_key}")["status"])

    def positions(self, account: str) -> list[dict[str, Any]]:
        return list(self.call("GET", "/admin/positions?account=" + account)["positions"])

    def quotes(self) -> Any:
        return self.call("GET", "/admin/quotes")

    def faults(self, **faults: Any) -> None:
        self.call("POST", "/admin/faults", faults)

    def streams(self, action: str, kind: str) -> None:
        self.call("POST", "/admin/streams", {"action": action, "kind": kind})

    def price_jump(self, symbol: str, pct: float) -> None:
        self.call("POST", "/admin/price-jump", {"symbol": symbol, "pct": pct})


@dataclass(frozen=True)
class Answer:
    status: int
    code: int | None  # the venue's error code, None on success
    msg: str
    key_refused: bool = False  # the venue says the key is unknown or deleted


class SignedClient:
    """Signed REST with one key over one keep-alive connection, in one venue's words (used by
    the order flood and the proof's key probe)."""

    def __init__(self, base_url: str, api_key: str, secret: str, timeout_s: float = 5.0) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.hostname is None or parsed.port is None:
            raise DemoError(f"venue URL {base_url!r} has no host:port")
        self._conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout_s)
        self._api_key = api_key
        self._secret = secret.encode()

    def _sign(self, payload: str) -> str:
        return hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()

    def _send(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None = None
    ) -> tuple[int, bytes]:
        try:
            self._conn.request(method, url, body=body, headers=headers)
            response = self._conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._conn.close()
            raise DemoError(f"venue {method} {url.split('?')[0]} failed: {exc}") from None

    def close(self) -> None:
        self._conn.close()


class BinanceClient(SignedClient):
    """Binance USDⓈ-M: HMAC-SHA256 of exactly the query sent, the key in ``X-MBX-APIKEY``."""

    KEY_REFUSED_CODES = (-2015, -2014)

    def request(self, method: str, path: str, params: dict[str, str]) -> Answer:
        query = urllib.parse.urlencode(params | {"timestamp": str(int(time.time() * 1000))})
        url = f"{path}?{query}&signature={self._sign(query)}"
        status, body = self._send(method, url, {"X-MBX-APIKEY": self._api_key})
        try:
            payload = json.loads(body)
        except ValueError:
            return Answer(status, None, body[:200].decode(errors="replace"))
        if isinstance(payload, dict) and isinstance(payload.get("code"), int) and status >= 400:
            code = payload["code"]
            return Answer(status, code, str(payload.get("msg", "")), code in self.KEY_REFUSED_CODES)
        return Answer(status, None, "ok")

    def place_limit_buy(self, symbol: str, price: str, qty: str, client_id: str) -> Answer:
        return self.request("POST", "/fapi/v1/order", {
            "symbol": symbol, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
            "quantity": qty, "price": price, "newClientOrderId": client_id,
        })  # fmt: skip

    def balance(self) -> Answer:
        """A harmless signed read: does the venue still accept this key?"""
        return self.request("GET", "/fapi/v2/balance", {})


class BybitClient(SignedClient):
    """Bybit v5: ``X-BAPI-*`` headers, HMAC-SHA256 of timestamp + key + window + the query
    string or the JSON body; every answer an envelope whose ``retCode`` 0 is success."""

    KEY_REFUSED_CODES = (10003, 33004)
    RECV_WINDOW = "5000"

    def request(
        self, method: str, path: str, query: str = "", body: dict[str, str] | None = None
    ) -> Answer:
        text = "" if body is None else json.dumps(body)
        stamp = str(int(time.time() * 1000))
        headers = {
            "X-BAPI-API-KEY": self._api_key,
            "X-BAPI-TIMESTAMP": stamp,
            "X-BAPI-RECV-WINDOW": self.RECV_WINDOW,
            "X-BAPI-SIGN": self._sign(f"{stamp}{self._api_key}{self.RECV_WINDOW}{text or query}"),
            "Content-Type": "application/json",
        }
        url = f"{path}?{query}" if query else path
        status, raw = self._send(method, url, headers, text.encode() if body is not None else None)
        try:
            payload = json.loads(raw)
        except ValueError:
            return Answer(status, None, raw[:200].decode(errors="replace"))
        code = payload.get("retCode") if isinstance(payload, dict) else None
        if not isinstance(code, int):
            return Answer(status, None, raw[:200].decode(errors="replace"))
        if code == 0:
            return Answer(status, None, "ok")
        return Answer(status, code, str(payload.get("retMsg", "")), code in self.KEY_REFUSED_CODES)

    def place_limit_buy(self, symbol: str, price: str, qty: str, client_id: str) -> Answer:
        return self.request("POST", "/v5/order/create", body={
            "category": "linear", "symbol": symbol, "side": "Buy", "orderType": "Limit",
            "timeInForce": "GTC", "qty": qty, "price": price, "orderLinkId": client_id,
        })  # fmt: skip

    def balance(self) -> Answer:
        """A harmless signed read: does the venue still accept this key?"""
        return self.request("GET", "/v5/account/wallet-balance", "accountType=UNIFIED")


class OkxClient(SignedClient):
    """OKX v5: ``OK-ACCESS-*`` headers, base64 HMAC-SHA256 of timestamp + method + path with its
    query + body, the key's passphrase; every answer an envelope whose ``code`` "0" is success
    (a single order's failure is its item's ``sCode``). Sizes are contracts: a quantity in the
    base coin is converted with the instrument's contract value, read from the venue."""

    KEY_REFUSED_CODES = (50111, 50119)  # invalid OK-ACCESS-KEY; the key does not exist

    def __init__(self, base_url: str, api_key: str, secret: str, passphrase: str) -> None:
        super().__init__(base_url, api_key, secret)
        self._passphrase = passphrase
        self._contract_values: dict[str, Decimal] = {}  # read once per instrument

    def request(self, method: str, path: str, body: dict[str, str] | None = None) -> Answer:
        text = "" if body is None else json.dumps(body)
        now = datetime.now(tz=UTC)
        stamp = f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z"
        digest = hmac.new(self._secret, f"{stamp}{method}{path}{text}".encode(), hashlib.sha256)
        headers = {
            "OK-ACCESS-KEY": self._api_key,
            "OK-ACCESS-SIGN": base64.b64encode(digest.digest()).decode(),
            "OK-ACCESS-TIMESTAMP": stamp,
            "OK-ACCESS-PASSPHRASE": self._passphrase,
            "Content-Type": "application/json",
        }
        status, raw = self._send(method, path, headers, text.encode() if body is not None else None)
        try:
            payload = json.loads(raw)
        except ValueError:
            return Answer(status, None, raw[:200].decode(errors="replace"))
        code = _okx_code(payload)
        if code is None:
            return Answer(status, None, raw[:200].decode(errors="replace"))
        if code == 0:
            return Answer(status, None, "ok")
        return Answer(status, code, _okx_msg(payload), code in self.KEY_REFUSED_CODES)

    def place_limit_buy(self, symbol: str, price: str, qty: str, client_id: str) -> Answer:
        """``clOrdId`` takes letters and digits only: the client id's others are dropped."""
        instrument = f"{symbol.removesuffix('USDT')}-USDT-SWAP"
        return self.request("POST", "/api/v5/trade/order", body={
            "instId": instrument, "tdMode": "cross", "side": "buy", "ordType": "limit",
            "px": price, "sz": self._contracts(instrument, qty),
            "clOrdId": "".join(c for c in client_id if c.isalnum()),
        })  # fmt: skip

    def balance(self) -> Answer:
        """A harmless signed read: does the venue still accept this key?"""
        return self.request("GET", "/api/v5/account/balance")

    def _contracts(self, instrument: str, qty: str) -> str:
        value = self._contract_values.get(instrument)
        if value is None:
            value = self._contract_values[instrument] = self._contract_value(instrument)
        return f"{(Decimal(qty) / value).normalize():f}"

    def _contract_value(self, instrument: str) -> Decimal:
        path = f"/api/v5/public/instruments?instType=SWAP&instId={instrument}"
        status, raw = self._send("GET", path, {})
        try:
            [row] = json.loads(raw)["data"]
            return Decimal(row["ctVal"]) * Decimal(row["ctMult"])
        except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
            raise DemoError(f"venue GET {path}: no contract value (HTTP {status}): {exc}") from None


def _okx_code(payload: object) -> int | None:
    code = payload.get("code") if isinstance(payload, dict) else None
    if not isinstance(code, str) or not code.isdigit():
        return None
    data = payload.get("data") if isinstance(payload, dict) else None
    if code != "0" and isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict):
        item = data[0].get("sCode")  # a single order's refusal is its item's
        if isinstance(item, str) and item.isdigit() and item != "0":
            return int(item)
    return int(code)


def _okx_msg(payload: dict[str, Any]) -> str:
    data = payload.get("data")
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict):
        item = data[0].get("sMsg")
        if isinstance(item, str) and item:
            return item
    return str(payload.get("msg", ""))


def signed_client(
    venue: str, base_url: str, api_key: str, secret: str, passphrase: str | None = None
) -> BinanceClient | BybitClient | OkxClient:
    if venue == "okx":
        if passphrase is None:
            raise DemoError("an OKX key needs its passphrase")
        return OkxClient(base_url, api_key, secret, passphrase)
    kind = BybitClient if venue == "bybit" else BinanceClient
    return kind(base_url, api_key, secret)
