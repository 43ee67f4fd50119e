"""Benchmark: stdlib json vs orjson vs the trader's msgspec decoder on bookTicker messages,
side by side in one run.

The messages are realistic combined-stream frames (``{"stream", "data"}``) with varying prices
and quantities, as bytes off the socket. Each decoder turns them into the trader's
``BookTicker``, so the figure is the whole decode the feed pays per message: json and orjson
load a dict and convert its fields in Python; ``trader.feed.parse_book_ticker`` (msgspec, typed
to the one message shape) builds the ticker in C.
Run: ``python -m bench.json_decode [--quick]``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from typing import Any

import orjson

from trader.feed import BookTicker, parse_book_ticker


def messages(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        mid = 60_000 + rng.uniform(-500, 500)
        data = {
            "e": "bookTicker",
            "u": 400_900_000_000 + i,
            "s": "BTCUSDT",
            "b": f"{mid - 0.05:.2f}",
            "B": f"{rng.uniform(0.001, 20):.3f}",
            "a": f"{mid + 0.05:.2f}",
            "A": f"{rng.uniform(0.001, 20):.3f}",
            "T": 1_700_000_000_000 + i,
            "E": 1_700_000_000_001 + i,
        }
        out.append(orjson.dumps({"stream": "btcusdt@bookTicker", "data": data}))
    return out


def parse_stdlib(raw: bytes) -> BookTicker:
    return _book_ticker(json.loads(raw))


def parse_orjson(raw: bytes) -> BookTicker:
    return _book_ticker(orjson.loads(raw))


def _book_ticker(msg: dict[str, Any]) -> BookTicker:
    """The same field reading after either decoder: only the decoding differs."""
    data = msg.get("data", msg)
    return BookTicker(
        data["s"],
        float(data["b"]),
        float(data["B"]),
        float(data["a"]),
        float(data["A"]),
        int(data["E"]),
        int(data["u"]),
    )


def ns_per_message(decode: Callable[[bytes], object], batch: list[bytes], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for raw in batch:
            decode(raw)
        best = min(best, (time.perf_counter_ns() - start) / len(batch))
    return round(best, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    args = parser.parse_args()
    count, repeat = (2_000, 3) if args.quick else (50_000, 7)
    batch = messages(count)
    assert parse_stdlib(batch[0]) == parse_orjson(batch[0]) == parse_book_ticker(batch[0])
    # Interleave them so that machine noise hits all alike; keep each one's best pass.
    json_ns = orjson_ns = msgspec_ns = json_loads_ns = orjson_loads_ns = float("inf")
    for _ in range(repeat):
        json_ns = min(json_ns, ns_per_message(parse_stdlib, batch, 1))
        orjson_ns = min(orjson_ns, ns_per_message(parse_orjson, batch, 1))
        msgspec_ns = min(msgspec_ns, ns_per_message(parse_book_ticker, batch, 1))
        json_loads_ns = min(json_loads_ns, ns_per_message(json.loads, batch, 1))
        orjson_loads_ns = min(orjson_loads_ns, ns_per_message(orjson.loads, batch, 1))
    print(
        json.dumps(
            {
                "bench": "json_decode",
                "messages": count,
                "json_ns_per_msg": json_ns,
                "orjson_ns_per_msg": orjson_ns,
                "ratio": round(json_ns / orjson_ns, 2),
                "msgspec_ns_per_msg": msgspec_ns,  # the trader's decoder
                "msgspec_over_orjson_ratio": round(orjson_ns / msgspec_ns, 2),
                # The decode call alone, without building the BookTicker:
                "json_loads_ns_per_msg": json_loads_ns,
                "orjson_loads_ns_per_msg": orjson_loads_ns,
                "loads_ratio": round(json_loads_ns / orjson_loads_ns, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
