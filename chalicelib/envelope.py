"""Kinesis record bytes -> CloudWatch Logs envelope (pure).

CloudWatch Logs subscription filters deliver gzip'd JSON; account-level subscription
policies deliver zlib ("deflate") instead:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CloudWatchLogs-Subscriptions-Account-Level.html
"""

from __future__ import annotations

import binascii
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, cast

import msgspec

from chalicelib import jsoncodec

try:  # ISA-L inflates gzip/zlib about twice as fast as zlib (same formats; its own error class)
    from isal import isal_zlib as _fast_zlib

    _inflate = _fast_zlib.decompress
    _DECOMPRESS_ERRORS: tuple[type[Exception], ...] = (
        ValueError,
        zlib.error,
        cast("type[Exception]", _fast_zlib.error),  # the stubs call it an instance
    )
except ImportError:  # pragma: no cover - isal ships with requirements.txt; zlib is the fallback
    _inflate = zlib.decompress
    _DECOMPRESS_ERRORS = (ValueError, zlib.error)

_fast_b64decode: Callable[..., bytes] | None
try:  # SIMD base64, ~30x faster than binascii; what it accepts binascii accepts, same bytes (tested)
    from pybase64 import b64decode as _pybase64_decode

    _fast_b64decode = _pybase64_decode
except ImportError:  # pragma: no cover - pybase64 ships with requirements.txt
    _fast_b64decode = None

GZIP_MAGIC = b"\x1f\x8b"
# A zlib stream starts with CMF=0x78 for a 32 KiB window and a check (CMF*256+FLG) % 31 == 0.
ZLIB_CMF = 0x78

DATA_MESSAGE = "DATA_MESSAGE"
CONTROL_MESSAGE = "CONTROL_MESSAGE"


# Event times of years 1..9999, what an ISO-8601 date can say (transform.schema's
# MIN/MAX_EPOCH_SECONDS, in ms): well within the 64-bit integers orjson (the general path)
# reads as integers. decode_record reads envelopes with other times the slower way.
MIN_EVENT_TIME_MS = -62135596800 * 1000
MAX_EVENT_TIME_MS = 253402300799 * 1000 + 999


class LogEvent(msgspec.Struct, frozen=True, gc=False):
    """One CloudWatch Logs event as the subscription delivers it.

    A msgspec Struct: ``decode_record`` reads a DATA_MESSAGE's events straight into them
    (type-checked in C; a 6 MB batch holds ~200,000), immutable, compares by value, and
    untracked by the garbage collector (it holds only a string, an int and a string).
    The constraints are checked, in C, when ``decode_record`` reads them (an envelope that
    breaks them takes ``parse_envelope``'s path), not when one is constructed.
    """

    id: Annotated[str, msgspec.Meta(min_length=1)]
    timestamp: Annotated[int, msgspec.Meta(ge=MIN_EVENT_TIME_MS, le=MAX_EVENT_TIME_MS)]
    message: str


class DecodedEvents(tuple[LogEvent, ...]):
    """Events ``decode_record`` read in CloudWatch's own shape: every id a non-empty string,
    every timestamp an integer within MIN_EVENT_TIME_MS..MAX_EVENT_TIME_MS. A tuple; the
    serialiser need not check again."""

    __slots__ = ()


class _DataMessage(msgspec.Struct, rename="camel", gc=False):
    """A subscription message in the shape CloudWatch sends a DATA_MESSAGE (decoding only)."""

    message_type: str
    owner: str
    log_group: str
    log_stream: str
    log_events: list[LogEvent]
    subscription_filters: Any = None
    policy_level: Any = None


_DATA_MESSAGE_DECODER = msgspec.json.Decoder(_DataMessage)


@dataclass(frozen=True)
class Envelope:
    """A DATA_MESSAGE: events of one log stream, with where they came from."""

    owner: str
    log_group: str
    log_stream: str
    subscription_filters: tuple[str, ...]
    events: tuple[LogEvent, ...]
    policy_level: str | None = None


@dataclass(frozen=True)
class ControlMessage:
    """The message CloudWatch Logs sends when a subscription is created; carries no events."""


@dataclass(frozen=True)
class Malformed:
    """A record that is not a CloudWatch Logs envelope, and why."""

    reason: str


Decoded = Envelope | ControlMessage | Malformed


def decompress(payload: bytes) -> bytes:
    """Inflate a gzip or zlib payload; raise ValueError for anything else."""
    if payload[:2] == GZIP_MAGIC:
        # wbits 16+MAX_WBITS: gzip header and trailer, checked.
        return _inflate(payload, 16 + zlib.MAX_WBITS)
    if len(payload) >= 2 and payload[0] == ZLIB_CMF and (payload[0] * 256 + payload[1]) % 31 == 0:
        return _inflate(payload, zlib.MAX_WBITS)
    raise ValueError("payload is neither gzip nor zlib")


def decode_record(data: bytes) -> Decoded:
    """Decode one Kinesis record's data (already base64-decoded) into an envelope; never raises."""
    try:
        raw = decompress(data)
    except _DECOMPRESS_ERRORS as e:
        return Malformed(f"not gzip or zlib: {e}")
    envelope = _decode_data_message(raw)
    if envelope is not None:
        return envelope
    try:
        message = jsoncodec.loads(raw)
    except ValueError as e:
        return Malformed(f"not JSON: {e}")
    return parse_envelope(message)


def _decode_data_message(raw: bytes) -> Envelope | None:
    """A DATA_MESSAGE in exactly the shape CloudWatch sends, read in one pass; else None.

    The same envelope ``parse_envelope(jsoncodec.loads(raw))`` gives, at about half the
    cost: no dict per event, no per-event checks in Python. Anything else (control
    messages, integer ids, odd types, JSON only the standard library reads) returns None
    and takes that path, which also says what is wrong.
    """
    try:
        message = _DATA_MESSAGE_DECODER.decode(raw)
    except Exception:  # any shape or text it does not read (DecodeError, UnicodeDecodeError, ...)
        return None
    events = message.log_events
    if message.message_type != DATA_MESSAGE:
        return None
    filters = message.subscription_filters
    policy_level = message.policy_level
    return Envelope(
        owner=message.owner,
        log_group=message.log_group,
        log_stream=message.log_stream,
        subscription_filters=tuple(f for f in filters if isinstance(f, str))
        if isinstance(filters, list)
        else (),
        events=DecodedEvents(events),
        policy_level=policy_level if isinstance(policy_level, str) else None,
    )


def decode_base64_record(data: str | bytes) -> Decoded:
    """Decode the base64 ``kinesis.data`` of a Lambda Kinesis event record; never raises."""
    return decode_record(raw) if isinstance(raw := b64decode(data), bytes) else raw


def b64decode(data: str | bytes) -> bytes | Malformed:
    """``base64.b64decode(data, validate=True)``, or why not; never raises."""
    if _fast_b64decode is not None:
        try:
            return _fast_b64decode(data, validate=True)
        except (binascii.Error, ValueError, TypeError):
            pass  # binascii, which accepts a little more (excess padding), decides and says why
    try:
        # base64.b64decode without its copy of a str into bytes first
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError) as e:
        return Malformed(f"not base64: {e}")


def parse_envelope(message: Any) -> Decoded:
    """Check the shape of a decoded subscription message."""
    if not isinstance(message, dict):
        return Malformed(f"envelope is a JSON {type(message).__name__}, not an object")
    message_type = message.get("messageType")
    if message_type == CONTROL_MESSAGE:
        return ControlMessage()
    if message_type != DATA_MESSAGE:
        return Malformed(f"unknown messageType {message_type!r}")
    for field in ("owner", "logGroup", "logStream"):
        if not isinstance(message.get(field), str):
            return Malformed(f"{field} is missing or not a string")
    raw_events = message.get("logEvents")
    if not isinstance(raw_events, list):
        return Malformed("logEvents is missing or not a list")
    events: list[LogEvent] = []
    append = events.append
    for index, raw_event in enumerate(raw_events):
        # The shape CloudWatch sends, checked with exact types (this loop runs for every
        # event of every batch); anything else takes the thorough path below.
        if type(raw_event) is dict and len(raw_event) == 3:
            event_id = raw_event.get("id")
            timestamp = raw_event.get("timestamp")
            text = raw_event.get("message")
            if type(event_id) is str and event_id and type(timestamp) is int and type(text) is str:
                append(LogEvent(event_id, timestamp, text))
                continue
        event = _parse_event(raw_event)
        if isinstance(event, str):
            return Malformed(f"logEvents[{index}]: {event}")
        append(event)
    filters = message.get("subscriptionFilters")
    policy_level = message.get("policyLevel")
    return Envelope(
        owner=message["owner"],
        log_group=message["logGroup"],
        log_stream=message["logStream"],
        subscription_filters=tuple(f for f in filters if isinstance(f, str))
        if isinstance(filters, list)
        else (),
        events=tuple(events),
        policy_level=policy_level if isinstance(policy_level, str) else None,
    )


def _parse_event(raw: Any) -> LogEvent | str:
    if not isinstance(raw, dict):
        return "event is not an object"
    event_id, timestamp, message = raw.get("id"), raw.get("timestamp"), raw.get("message")
    # CloudWatch sends ids as digit strings; some emulators send integers.
    if isinstance(event_id, int) and not isinstance(event_id, bool):
        event_id = str(event_id)
    if not isinstance(event_id, str) or not event_id:
        return "id is missing or not a string"
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        return "timestamp is missing or not an integer"
    if not isinstance(message, str):
        return "message is missing or not a string"
    return LogEvent(id=event_id, timestamp=timestamp, message=message)


def envelope_to_json(envelope: Envelope) -> dict[str, Any]:
    """The envelope in CloudWatch's own JSON shape (what ``parse_envelope`` reads back)."""
    out: dict[str, Any] = {
        "messageType": DATA_MESSAGE,
        "owner": envelope.owner,
        "logGroup": envelope.log_group,
        "logStream": envelope.log_stream,
        "subscriptionFilters": list(envelope.subscription_filters),
        "logEvents": [{"id": e.id, "timestamp": e.timestamp, "message": e.message} for e in envelope.events],
    }
    if envelope.policy_level is not None:
        out["policyLevel"] = envelope.policy_level
    return out
