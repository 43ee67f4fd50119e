"""Config texts more than one test reads."""

from __future__ import annotations

# A trader config with every key that has a default left out: one symbol, nothing tuned.
MINIMAL_TRADER = """
[venue]
base_url = "http://127.0.0.1:1"
ws_url = "ws://127.0.0.1:1"
credentials_file = "venue.key"
[symbols.BTCUSDT]
tick_size = "0.1"
lot_size = "0.001"
quote_qty = "0.001"
max_position = "0.005"
[risk]
limits_file = "limits.toml"
[watchdog]
socket = "ingress.sock"
key_file = "hmac.key"
trader_id = "alpha"
"""
