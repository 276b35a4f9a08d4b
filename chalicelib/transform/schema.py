"""The document schema: field names, timestamps and levels (pure).

Every document has ``timestamp`` (ISO-8601 UTC, milliseconds, ``Z``), ``message`` (str)
and ``cloudwatch``; ``level`` and ``lambda`` when the line states them. docs/schema.md
is the reference; infra/index-template.json maps the same names.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime
from typing import Any, Final

Document = dict[str, Any]
# What a line parser returns: False when the line is not in its format; True when it
# filled the document; or, for a JSON body, the user's values that the schema shadowed.
Outcome = dict[str, Any] | bool

TIMESTAMP: Final = "timestamp"
MESSAGE: Final = "message"
LEVEL: Final = "level"
LAMBDA: Final = "lambda"
CLOUDWATCH: Final = "cloudwatch"
# The pipeline owns these top-level names; a JSON message's own value for one of them,
# when it differs from the document's, is kept unchanged under cloudwatch.shadowed.
RESERVED_FIELDS: Final = frozenset((TIMESTAMP, MESSAGE, LEVEL, LAMBDA, CLOUDWATCH))
SHADOWED: Final = "shadowed"

# 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z: what an ISO-8601 year of 4 digits can say.
MIN_EPOCH_SECONDS: Final = -62135596800
MAX_EPOCH_SECONDS: Final = 253402300799
# An event time outside that range (only a broken producer sends one: CloudWatch Logs
# rejects events more than 14 days old or 2 hours ahead) keeps its raw value in
# cloudwatch.timestamp and gets this one, so the document still maps as a date.
OUT_OF_RANGE_TIMESTAMP: Final = "1970-01-01T00:00:00.000Z"

_MILLIS: Final = tuple(f".{ms:03d}Z" for ms in range(1000))
# Memo of "YYYY-MM-DDTHH:MM:SS" per epoch second: events of one envelope share a few seconds.
_SECOND_PREFIXES: Final[dict[int, str]] = {}
_MAX_MEMO: Final = 8192


def format_timestamp(epoch_ms: int) -> str:
    """Epoch milliseconds -> ``2026-03-04T05:06:07.089Z``; never raises."""
    seconds, millis = divmod(epoch_ms, 1000)
    prefix = _SECOND_PREFIXES.get(seconds)
    if prefix is None:
        if not MIN_EPOCH_SECONDS <= seconds <= MAX_EPOCH_SECONDS:
            return OUT_OF_RANGE_TIMESTAMP
        prefix = second_prefix(seconds)
    return prefix + _MILLIS[millis]


def second_prefix(seconds: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` of an epoch second within MIN/MAX_EPOCH_SECONDS (memo).

    The templates inline ``format_timestamp`` for envelopes whose times are all in range:
    ``(_SECOND_PREFIXES.get(s) or second_prefix(s)) + _MILLIS[ms]``.
    """
    days, rest = divmod(seconds, 86400)
    date = datetime.fromordinal(719163 + days)  # 719163 = ordinal of 1970-01-01
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    day = f"{date.year:04d}-{date.month:02d}-{date.day:02d}"
    prefix = f"{day}T{hours:02d}:{minutes:02d}:{secs:02d}"
    if len(_SECOND_PREFIXES) >= _MAX_MEMO:
        _SECOND_PREFIXES.clear()
    _SECOND_PREFIXES[seconds] = prefix
    return prefix


# Already in the schema's form (what the Node.js, Python and .NET runtimes write).
_CANONICAL: Final = re.compile(
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z"
)
# ISO-8601 and its log-library cousins: "T" or a space, "." or "," before the fraction,
# then Z, an offset (+0000, +00:00, +00) or " UTC"; no zone means UTC (Lambda's clock).
_ISO_LIKE: Final = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?"
    r"(?:(Z)|\s?([+-])(\d\d)(?::?(\d\d))?|\s?(UTC))?"
)
# Go's log package and several Lambda extensions: 2024/06/26 02:34:50[.123456]
_SLASHED: Final = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?")
_VALID_DAYS: Final[dict[str, bool]] = {}


def _day_is_valid(text: str) -> bool:
    """Feb 30 passes the regex; an index would reject the whole document for it."""
    known = _VALID_DAYS.get(text)
    if known is None:
        year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
        known = year >= 1 and day <= calendar.monthrange(year, month)[1]
        if len(_VALID_DAYS) < _MAX_MEMO:
            _VALID_DAYS[text] = known
    return known


_VALID_HOURS: Final[dict[str, bool]] = {}


def checked_canonical_time(text: str) -> str | None:
    """A time already shaped ``dddd-dd-ddTdd:dd:dd.dddZ`` by a caller's regex -> itself, if real.

    The runtimes write this form on every line; its date and hour are checked once per
    distinct hour (memo), its minute and second by their first digit.
    """
    valid = _VALID_HOURS.get(text[:13])
    if valid is None:
        valid = _CANONICAL.fullmatch(text[:13] + ":00:00.000Z") is not None and (
            text[8:10] <= "28" or _day_is_valid(text[:10])
        )
        if len(_VALID_HOURS) >= _MAX_MEMO:
            _VALID_HOURS.clear()
        _VALID_HOURS[text[:13]] = valid
    if valid and text[14] < "6" and text[17] < "6":
        return text
    return None


# Memo of normalise_time: lines of one stream repeat their time to the second (Go, log4j2).
_NORMALISED: Final[dict[str, str | None]] = {}


# Everything after the second of a canonical time: ".dddZ" with ASCII digits.
_MILLIS_Z: Final = frozenset(f"{ms:03d}Z" for ms in range(1000))
# The runtimes' time pattern as their line regexes read it (any decimal digits).
_CANONICAL_SHAPE: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
# Memo of is_canonical_time per "YYYY-MM-DDTHH:MM:SS." (ASCII only).
_CANONICAL_SECONDS: Final[dict[str, bool]] = {}


def is_canonical_time(text: str) -> bool:
    """``text`` is a real time already in the schema's form, as the runtimes write it.

    True exactly when ``checked_canonical_time`` and ``normalise_time`` both return
    ``text`` unchanged and it is ASCII: the document's timestamp is then ``text`` itself.
    Checked per second (memo), its milliseconds by one set lookup.
    """
    if text[20:] not in _MILLIS_Z:
        return False
    head = text[:20]
    valid = _CANONICAL_SECONDS.get(head)
    if valid is None:
        whole = head + "000Z"
        valid = (
            whole.isascii()
            and _CANONICAL_SHAPE.fullmatch(whole) is not None
            and checked_canonical_time(whole) == whole
            and normalise_time(whole) == whole
        )
        if len(_CANONICAL_SECONDS) >= _MAX_MEMO:
            _CANONICAL_SECONDS.clear()
        _CANONICAL_SECONDS[head] = valid
    return valid


def normalise_time(text: str) -> str | None:
    """A time as written in a line -> the schema's form, or None when it is not one we read."""
    if text in _NORMALISED:
        return _NORMALISED[text]
    stamp = _normalise_time(text)
    if len(_NORMALISED) >= _MAX_MEMO:
        _NORMALISED.clear()
    _NORMALISED[text] = stamp
    return stamp


def _normalise_time(text: str) -> str | None:
    if len(text) == 24 and _CANONICAL.fullmatch(text):
        return text if (text[8] < "2" or text[8:10] <= "28" or _day_is_valid(text[:10])) else None
    match = _ISO_LIKE.fullmatch(text)
    if match is not None:
        year, month, day, hour, minute, second, fraction, _z, sign, off_h, off_m, _utc = match.groups()
        offset = 0
        if sign is not None:
            offset = int(off_h) * 60 + int(off_m or 0)
            if sign == "+":
                offset = -offset
        return _from_parts(year, month, day, hour, minute, second, fraction, offset_minutes=offset)
    match = _SLASHED.fullmatch(text)
    if match is not None:
        year, month, day, hour, minute, second, fraction = match.groups()
        return _from_parts(year, month, day, hour, minute, second, fraction, offset_minutes=0)
    return None


def _from_parts(
    year: str,
    month: str,
    day: str,
    hour: str,
    minute: str,
    second: str,
    fraction: str | None,
    *,
    offset_minutes: int,
) -> str | None:
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError:
        return None
    millis = int((fraction or "0")[:3].ljust(3, "0"))
    epoch = calendar.timegm(moment.timetuple()) + offset_minutes * 60
    return format_timestamp(epoch * 1000 + millis)


# Epoch numbers are read by magnitude, within 2001..2100, so a small counter that happens
# to be called "timestamp" is not taken for a date.
_EPOCH_RANGES: Final = (
    (1e9, 4.1e9, 1000, 1),  # seconds
    (1e12, 4.1e12, 1, 1),  # milliseconds
    (1e15, 4.1e15, 1, 1000),  # microseconds
    (1e18, 4.1e18, 1, 1_000_000),  # nanoseconds
)


def epoch_to_timestamp(value: object) -> str | None:
    """Epoch seconds, milliseconds, micro- or nanoseconds -> the schema's form, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    for low, high, multiply, divide in _EPOCH_RANGES:
        if low <= value < high:
            if isinstance(value, int):
                return format_timestamp(value * multiply // divide)
            # round away float noise (1583425836.114 * 1000 = 1583425836113.9998) before flooring
            return format_timestamp(int(round(value * multiply / divide, 3) // 1))
    return None


def value_to_timestamp(value: object) -> str | None:
    """A JSON ``timestamp``/``time`` value (ISO-8601 text or epoch number) -> schema form."""
    if isinstance(value, str):
        if is_canonical_time(value):  # what the runtimes and Lambda's JSON records write
            return value
        return normalise_time(value) if 10 <= len(value) <= 40 else None
    return epoch_to_timestamp(value)
