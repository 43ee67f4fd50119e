"""JSON for the wire: orjson when the bot's environment has it, the standard library if not.

Either side may use either: each reads what the other writes for what the protocol sends
(finite floats, ints, strings, lists).
"""

from __future__ import annotations

import json
from collections.abc import Callable


def _dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode()


dumps: Callable[[object], bytes] = _dumps
loads: Callable[[bytes], object] = json.loads
DecodeError: type[ValueError] = ValueError

try:
    import orjson
except ImportError:  # the client is standard library only; orjson is a speed-up
    pass
else:
    dumps = orjson.dumps
    loads = orjson.loads
    DecodeError = orjson.JSONDecodeError
