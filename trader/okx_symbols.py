"""The trader's symbols (``BTCUSDT``) and OKX's instrument ids (``BTC-USDT-SWAP``), both ways.

The trader names an instrument the same way on every venue: its config, its telemetry to the
watchdog and the limits files all say ``BTCUSDT``. OKX names a USDT- or USDC-margined perpetual
swap ``BASE-QUOTE-SWAP``. The two are the same words once the quote (settle) currency is known,
and the margined swaps the trader quotes on OKX settle in USDT or USDC, so a symbol ending in
neither is refused when the config is read, never guessed at.
"""

from __future__ import annotations

SETTLE_CURRENCIES = ("USDT", "USDC")
SWAP_SUFFIX = "-SWAP"


def settle_currency(symbol: str) -> str | None:
    """The quote currency ``symbol`` ends with, None when it is not an OKX margined swap's."""
    for quote in SETTLE_CURRENCIES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return quote
    return None


def inst_id(symbol: str) -> str:
    """``BTCUSDT`` -> ``BTC-USDT-SWAP``. Raises ValueError for a symbol no OKX swap has."""
    quote = settle_currency(symbol)
    if quote is None:
        raise ValueError(f"{symbol}: an OKX swap symbol ends with {' or '.join(SETTLE_CURRENCIES)}")
    return f"{symbol[: -len(quote)]}-{quote}{SWAP_SUFFIX}"


def symbol_of(instrument: str) -> str:
    """``BTC-USDT-SWAP`` -> ``BTCUSDT``; any other id comes back unchanged, so it matches none
    of the trader's symbols (a spot or futures id is never taken for the swap)."""
    if not instrument.endswith(SWAP_SUFFIX):
        return instrument
    base, _, quote = instrument[: -len(SWAP_SUFFIX)].partition("-")
    if not base or quote not in SETTLE_CURRENCIES:
        return instrument
    return f"{base}{quote}"
