"""A plain ccxt bot under the kill-switch watchdog: the two supervision lines are marked.

It rests a small bid well under the market on one symbol, reads its orders back, and cancels
the oldest when it has more than two. With `--flood` it places orders as fast as the venue
takes them (a runaway loop). With `--async` it does the same through `ccxt.async_support`.

    python examples/ccxt_bot.py --client client.toml --credentials venue.toml \
        --base-url http://127.0.0.1:8000 --status bot.json

`client.toml` holds `trader_id`, `address` (the watchdog's socket) and `key_file`;
`venue.toml` the bot's own `api_key` and `secret` (and, for OKX, the key's `passphrase`).
`--venue` picks ccxt's exchange: `binance` (`binanceusdm`, USDⓈ-M futures), `bybit` (`bybit`,
v5 linear perpetuals) or `okx` (`okx`, v5 USDT swaps, sized in contracts). `--base-url`
points its endpoints at exchange_sim (omit it for the real venue). Needs only
`pip install 'killswitch-client[ccxt]'`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import tomllib
from pathlib import Path
from typing import Any

import ccxt
import ccxt.async_support
from killswitch_client import AsyncClient, Client, TradingHalted
from killswitch_client.ccxt import supervise

HOSTS = ("https://fapi.binance.com", "https://api.binance.com")
EXCHANGES = {"binance": "binanceusdm", "bybit": "bybit", "okx": "okx"}  # --venue: ccxt's class


def exchange(args: argparse.Namespace, module: Any) -> Any:
    creds = tomllib.loads(Path(args.credentials).read_text())
    passphrase = creds.get("passphrase", "")
    if args.venue == "okx" and not passphrase:
        raise SystemExit(f"{args.credentials}: passphrase: an OKX key needs its passphrase")
    return make_exchange(
        module, args.venue, creds["api_key"], creds["secret"], args.base_url, passphrase
    )


def make_exchange(
    module: Any, venue: str, api_key: str, secret: str, base_url: str = "", passphrase: str = ""
) -> Any:
    """ccxt's exchange for `venue` from `module` (`ccxt` or `ccxt.async_support`), at
    `base_url` (exchange_sim) when given. `passphrase`: an OKX key's (ccxt's `password`)."""
    config = {"apiKey": api_key, "secret": secret, "enableRateLimit": False}
    built = getattr(module, EXCHANGES[venue])(
        config | ({"password": passphrase} if passphrase else {})
    )
    if base_url:
        AT_SIM[venue](built, base_url)
    return built


def at_sim_binance(venue: Any, base_url: str) -> None:
    """ccxt's Binance USD-M endpoints on exchange_sim, a futures venue only."""
    for name, url in list(venue.urls["api"].items()):
        for host in HOSTS:
            if isinstance(url, str) and url.startswith(host):
                venue.urls["api"][name] = base_url + url.removeprefix(host)
    venue.options["fetchCurrencies"] = False
    venue.options["fetchMarkets"] = {"types": ["linear"]}


def at_sim_bybit(venue: Any, base_url: str) -> None:
    """ccxt's Bybit endpoints on exchange_sim: linear perpetuals of a unified account only."""
    for name in venue.urls["api"]:
        venue.urls["api"][name] = base_url
    venue.has["fetchCurrencies"] = False  # no asset (coin) endpoints there
    venue.options["fetchMarkets"] = {"types": ["linear"]}
    venue.options["defaultType"] = "swap"
    # What ccxt would otherwise ask the account endpoints before the first order: the sim's
    # accounts are unified trading accounts.
    venue.options["enableUnifiedAccount"] = True
    venue.options["enableUnifiedMargin"] = False


def at_sim_okx(venue: Any, base_url: str) -> None:
    """ccxt's OKX endpoints on exchange_sim: USDT swaps only."""
    venue.urls["api"]["rest"] = base_url
    venue.options["fetchMarkets"] = {"types": ["swap"]}
    venue.options["defaultType"] = "swap"


AT_SIM = {"binance": at_sim_binance, "bybit": at_sim_bybit, "okx": at_sim_okx}


class Bot:
    """The strategy, written against ccxt alone: it knows nothing of the watchdog but the
    exception a refused order raises."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stats: dict[str, Any] = {"placed": 0, "refused": 0, "errors": 0, "last_error": ""}

    def quotes(self, venue: Any) -> Any:
        """The symbol's best bid and ask (what ccxt returns, awaitable or not): OKX has no
        bids-and-asks call, its tickers carry them."""
        if venue.has.get("fetchBidsAsks"):
            return venue.fetch_bids_asks([self.args.symbol])
        return venue.fetch_tickers([self.args.symbol])

    def bid(self, book: dict[str, Any], venue: Any) -> tuple[float, float]:
        """A bid 15% under the market for about 120 USDT (at least 0.002 of the base asset),
        in ccxt's amount: contracts of the market's `contractSize` on a contract market."""
        bid = float(book[self.args.symbol]["bid"])
        price = round(bid * 0.85, 1)
        market = venue.market(self.args.symbol)
        size = float(market["contractSize"]) if market.get("contract") else 1.0
        return price, round(max(0.002, 120 / price) / size, 3)

    def saw_refusal(self, exc: TradingHalted) -> None:
        self.stats["refused"] += 1
        self.stats["last_error"] = str(exc)

    def saw_error(self, exc: ccxt.BaseError) -> None:
        self.stats["errors"] += 1
        self.stats["last_error"] = f"{type(exc).__name__}: {exc}"[:200]

    def write(self, state: str) -> None:
        self.stats["state"] = state
        path = Path(self.args.status)
        path.with_suffix(".tmp").write_text(json.dumps(self.stats))
        path.with_suffix(".tmp").replace(path)

    def tidy(self, orders: list[dict[str, Any]], cancel: Any) -> Any:
        """Cancel the oldest order beyond two (what `cancel` returns, awaitable or not)."""
        return cancel(orders[0]["id"], self.args.symbol) if len(orders) > 2 else None

    def pause(self) -> float:
        return 0.0 if self.args.flood else 0.5

    def run(self) -> None:
        client = Client.from_file(self.args.client)  # supervision, line 1
        venue = supervise(exchange(self.args, ccxt), client)  # supervision, line 2
        venue.load_markets()
        price, qty = self.bid(self.quotes(venue), venue)
        while True:
            try:
                if not self.args.flood:  # a flood does not look: it only places
                    price, qty = self.bid(self.quotes(venue), venue)
                venue.create_order(self.args.symbol, "limit", "buy", qty, price)
                self.stats["placed"] += 1
                if not self.args.flood:
                    self.tidy(venue.fetch_open_orders(self.args.symbol), venue.cancel_order)
            except TradingHalted as exc:
                self.saw_refusal(exc)
            except ccxt.BaseError as exc:
                self.saw_error(exc)
            self.write(client.state.name)
            time.sleep(self.pause())

    async def run_async(self) -> None:
        async with AsyncClient.from_file(self.args.client) as client:  # supervision, line 1
            venue = supervise(exchange(self.args, ccxt.async_support), client)  # line 2
            try:
                await venue.load_markets()
                while True:
                    await self.step_async(venue)
                    self.write(client.state.name)
                    await asyncio.sleep(self.pause())
            finally:
                await venue.close()

    async def step_async(self, venue: Any) -> None:
        try:
            price, qty = self.bid(await self.quotes(venue), venue)
            await venue.create_order(self.args.symbol, "limit", "buy", qty, price)
            self.stats["placed"] += 1
            cancelling = self.tidy(
                await venue.fetch_open_orders(self.args.symbol), venue.cancel_order
            )
            if cancelling is not None:
                await cancelling
        except TradingHalted as exc:
            self.saw_refusal(exc)
        except ccxt.BaseError as exc:
            self.saw_error(exc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", required=True, help="the watchdog client's TOML file")
    parser.add_argument(
        "--credentials", required=True, help="TOML: api_key, secret (OKX: passphrase)"
    )
    parser.add_argument("--venue", choices=sorted(EXCHANGES), default="binance")
    parser.add_argument("--base-url", default="", help="point ccxt at this venue (exchange_sim)")
    parser.add_argument("--symbol", default="BTC/USDT:USDT")
    parser.add_argument("--status", required=True, help="JSON file the bot rewrites each turn")
    parser.add_argument("--flood", action="store_true", help="place orders without pause")
    parser.add_argument("--async", dest="use_async", action="store_true")
    args = parser.parse_args()
    bot = Bot(args)
    if args.use_async:
        asyncio.run(bot.run_async())
    else:
        bot.run()


if __name__ == "__main__":
    main()
