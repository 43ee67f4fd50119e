"""The OKX v5 front (instType SWAP, USDT-margined perpetual swaps): REST under /api/v5,
streams under /ws/v5/public and /ws/v5/private."""
