"""Kinesis record bytes -> CloudWatch Logs envelope (pure).

CloudWatch Logs subscription filters deliver gzip'd JSON; account-level subscription
policies deliver zlib ("deflate") instead:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CloudWatchLogs-Subscriptions-Account-Level.html
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple, cast, overload

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

GZIP_MAGIC = b"\x1f\x8b"
# A zlib stream starts with CMF=0x78 for a 32 KiB window and a check (CMF*256+FLG) % 31 == 0.
ZLIB_CMF = 0x78

DATA_MESSAGE = "DATA_MESSAGE"
CONTROL_MESSAGE = "CONTROL_MESSAGE"


class LogEvent(NamedTuple):
    """One CloudWatch Logs event as the subscription delivers it.

    A NamedTuple rather than a frozen dataclass: a 6 MB batch holds ~200,000 of them and a
    tuple is built about 4x faster (same attribute names, immutable, compares by value).
    """

    id: str
    timestamp: int
    message: str


class LogEvents(Sequence[LogEvent]):
    """An envelope's events as three columns (ids, times, messages), read as LogEvents.

    ``parse_envelope`` checks the events of a DATA_MESSAGE in bulk and keeps them as
    columns rather than building ~200,000 LogEvents per 6 MB batch (which costs about as
    much as transforming them); ``serialise_envelope`` reads the columns directly. Reading
    it as a sequence gives LogEvents, made on access. Equal to the tuple of those LogEvents.
    """

    __slots__ = ("ids", "messages", "timestamps")

    def __init__(self, ids: list[str], timestamps: list[int], messages: list[str]) -> None:
        self.ids = ids
        self.timestamps = timestamps
        self.messages = messages

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> LogEvent: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[LogEvent, ...]: ...

    def __getitem__(self, index: int | slice) -> LogEvent | tuple[LogEvent, ...]:
        if isinstance(index, slice):
            return tuple(self)[index]
        return LogEvent(self.ids[index], self.timestamps[index], self.messages[index])

    def __iter__(self) -> Iterator[LogEvent]:
        return map(LogEvent, self.ids, self.timestamps, self.messages)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LogEvents):
            return (self.ids, self.timestamps, self.messages) == (other.ids, other.timestamps, other.messages)
        if isinstance(other, tuple):
            return tuple(self) == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))


@dataclass(frozen=True)
class Envelope:
    """A DATA_MESSAGE: events of one log stream, with where they came from."""

    owner: str
    log_group: str
    log_stream: str
    subscription_filters: tuple[str, ...]
    events: Sequence[LogEvent]  # a tuple, or LogEvents from parse_envelope
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
    try:
        message = jsoncodec.loads(raw)
    except ValueError as e:
        return Malformed(f"not JSON: {e}")
    return parse_envelope(message)


def decode_base64_record(data: str | bytes) -> Decoded:
    """Decode the base64 ``kinesis.data`` of a Lambda Kinesis event record; never raises."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as e:
        return Malformed(f"not base64: {e}")
    return decode_record(raw)


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
    events: Sequence[LogEvent] | None = _columns(raw_events)
    if events is None:
        parsed: list[LogEvent] = []
        for index, raw_event in enumerate(raw_events):
            event = _parse_event(raw_event)
            if isinstance(event, str):
                return Malformed(f"logEvents[{index}]: {event}")
            parsed.append(event)
        events = tuple(parsed)
    filters = message.get("subscriptionFilters")
    policy_level = message.get("policyLevel")
    return Envelope(
        owner=message["owner"],
        log_group=message["logGroup"],
        log_stream=message["logStream"],
        subscription_filters=tuple(f for f in filters if isinstance(f, str))
        if isinstance(filters, list)
        else (),
        events=events,
        policy_level=policy_level if isinstance(policy_level, str) else None,
    )


_EVENT_ID, _EVENT_TIMESTAMP, _EVENT_MESSAGE = itemgetter("id"), itemgetter("timestamp"), itemgetter("message")


def _columns(raw_events: list[Any]) -> LogEvents | None:
    """The events in the shape CloudWatch sends, checked in bulk (C loops, no LogEvent built).

    None when any event is not exactly that shape (an object with a non-empty string id,
    an integer timestamp and a string message): the per-event path then converts integer
    ids and says what is wrong.
    """
    if not raw_events or set(map(type, raw_events)) != {dict}:
        return None
    try:
        ids = list(map(_EVENT_ID, raw_events))
        timestamps = list(map(_EVENT_TIMESTAMP, raw_events))
        messages = list(map(_EVENT_MESSAGE, raw_events))
    except KeyError:
        return None
    if (
        set(map(type, ids)) != {str}
        or not all(ids)
        or set(map(type, timestamps)) != {int}
        or set(map(type, messages)) != {str}
    ):
        return None
    return LogEvents(ids, timestamps, messages)


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
        "logEvents": [
            {"id": event_id, "timestamp": timestamp, "message": message}
            for event_id, timestamp, message in _rows(envelope.events)
        ],
    }
    if envelope.policy_level is not None:
        out["policyLevel"] = envelope.policy_level
    return out


def _rows(events: Sequence[LogEvent]) -> Iterator[tuple[str, int, str]]:
    """(id, timestamp, message) of each event, without making LogEvents of LogEvents' columns."""
    if isinstance(events, LogEvents):
        return zip(events.ids, events.timestamps, events.messages, strict=True)
    return iter(events)
