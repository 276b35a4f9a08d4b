"""Fast JSON with a standard-library fallback, so no input is ever lost to a fast parser's strictness.

orjson rejects some text the standard library accepts (lone surrogates, integers
beyond 64 bits, NaN): those fall back to ``json``.
"""

from __future__ import annotations

import json
import math
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


# A run of 19+ digits may be an integer beyond 64 bits, which orjson reads as a float.
# Found by mapping every digit to "0" (bytes.translate runs in C; a regex is ~5x slower).
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_NINETEEN_DIGITS = b"0" * 19


def loads_lossless(data: str) -> Any:
    """Like ``loads``, but integers beyond 64 bits keep every digit (re-read by ``json`` then).

    For text whose values are kept as they are (a log line's own JSON fields);
    envelopes, whose event ids are long digit strings, use ``loads``.
    """
    value = loads(data)
    if _NINETEEN_DIGITS in data.encode("utf-8", "surrogatepass").translate(_DIGITS_TO_ZERO):
        try:
            return json.loads(data)
        except (ValueError, RecursionError):
            return value
    return value


def dumps(obj: Any) -> bytes:
    """Serialise to compact UTF-8 JSON; lone surrogates and big integers go through ``json``."""
    try:
        return orjson.dumps(obj)
    except (TypeError, orjson.JSONEncodeError):
        # ensure_ascii escapes lone surrogates as \udXXX, which every parser accepts.
        try:
            return json.dumps(
                obj, separators=(",", ":"), ensure_ascii=True, allow_nan=False, default=str
            ).encode()
        except ValueError:  # NaN or Infinity: orjson writes null for them, so does this path
            return json.dumps(_finite(obj), separators=(",", ":"), ensure_ascii=True, default=str).encode()


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(value) for value in obj]
    return obj
