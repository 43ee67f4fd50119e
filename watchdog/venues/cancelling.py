"""Cancel everything, verified by listing: the one loop both adapters run, each with its own
cancel-all scopes (Binance: per symbol; Bybit: per settle coin).

The first cancels go out while the first list is fetched (one round trip to an empty book in the
usual case); the list then finds what those cancels did not cover. After that, list and cancel
what is listed until a list comes back empty: the last request of a success is always a list.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

from watchdog.venues.base import CancelReport, OpenOrder
from watchdog.venues.errors import OrdersRemain, RateLimited

Cancel = Callable[[], Awaitable[str]]


async def cancel_until_none(
    first: Sequence[tuple[str, Cancel]],
    list_all: Callable[[], Awaitable[tuple[OpenOrder, ...]]],
    cancel_symbol: Callable[[str], Awaitable[str]],
    *,
    covered: Callable[[str], bool],
    max_rounds: int,
) -> CancelReport:
    """``first``: (label, cancel) run at once; ``covered(symbol)``: whether they reach it."""
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be >= 1, got {max_rounds}")
    cancels = asyncio.gather(*(cancel() for _, cancel in first), return_exceptions=True)
    listed = asyncio.gather(list_all(), return_exceptions=True)
    answers, (listing,) = await asyncio.gather(cancels, listed)
    # Every call has finished (none was abandoned): one failure speaks for all.
    failures = [a for a in (*answers, listing) if isinstance(a, BaseException)]
    if failures:
        raise strictest(failures)
    notes = [f"{label}: {answer}" for (label, _), answer in zip(first, answers, strict=True)]
    assert not isinstance(listing, BaseException)
    notes += await _cancel_symbols(
        cancel_symbol, {o.symbol for o in listing if not covered(o.symbol)}
    )
    for round_no in range(1, max_rounds + 1):
        still = await list_all()
        if not still:
            return CancelReport(round_no, tuple(notes))
        notes += await _cancel_symbols(cancel_symbol, {o.symbol for o in still})
    raise OrdersRemain(
        f"the venue still lists {len(still)} open order(s) after {max_rounds} rounds of "
        f"cancel-all ({', '.join(sorted({o.symbol for o in still}))}): {'; '.join(notes)}",
        remaining=len(still),
    )


async def cancel_per_symbol(
    symbols: Sequence[str],
    list_all: Callable[[], Awaitable[tuple[OpenOrder, ...]]],
    cancel_symbol: Callable[[str], Awaitable[str]],
    *,
    max_rounds: int,
) -> CancelReport:
    """For a venue whose cancel-all is per symbol: ``symbols`` (the ones known to trade) are
    cancelled first, every other symbol once a list shows it."""
    known = tuple(dict.fromkeys(symbols))
    return await cancel_until_none(
        [(s, partial(cancel_symbol, s)) for s in known],
        list_all,
        cancel_symbol,
        covered=known.__contains__,
        max_rounds=max_rounds,
    )


def strictest(failures: list[BaseException]) -> BaseException:
    """The failure a retry must honour: a rate limit (the longest pause asked) before the rest,
    so that a concurrent 5xx never hides the venue's request to back off."""
    limited = [f for f in failures if isinstance(f, RateLimited)]
    if limited:
        return max(limited, key=lambda f: f.retry_after or 0.0)
    return failures[0]


async def _cancel_symbols(
    cancel_symbol: Callable[[str], Awaitable[str]], symbols: set[str]
) -> list[str]:
    ordered = sorted(symbols)
    answers = await asyncio.gather(*(cancel_symbol(s) for s in ordered))
    return [f"{s}: {a}" for s, a in zip(ordered, answers, strict=True)]
