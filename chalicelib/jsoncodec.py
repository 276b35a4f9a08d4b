"""Fast JSON with a standard-library fallback, so no input is ever lost to a fast parser's strictness.

orjson rejects some text the standard library accepts (lone surrogates, integers
beyond 64 bits, NaN): those fall back to ``json``.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(data: bytes | str) -> Any:
    """Parse JSON; raise ValueError when neither orjson nor the standard library accepts it."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as e:
        raise ValueError(str(e)) from None


def dumps(obj: Any) -> bytes:
    """Serialise to compact UTF-8 JSON; lone surrogates and big integers go through ``json``."""
    try:
        return orjson.dumps(obj)
    except (TypeError, orjson.JSONEncodeError):
        # ensure_ascii escapes lone surrogates as \udXXX, which every parser accepts.
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=True, default=str).encode()
