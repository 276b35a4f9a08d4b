"""Documents -> Kinesis records -> delivery chunks and PutRecords calls within limits (pure).

Limits: https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html
("up to 500 records", "each record ... as large as 1 MiB, including partition keys",
"the entire request ... 5 MiB, including partition keys").
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib import jsoncodec
from chalicelib.settings import DeliveryLimits

FRAME_MAGIC = b"LSR1"
_LENGTH = struct.Struct(">I")
TRUNCATION_MARKER = " …[truncated by logstep]"


@dataclass(frozen=True)
class Record:
    """One Kinesis record to write: its partition key and data."""

    partition_key: str
    data: bytes

    @property
    def size(self) -> int:
        """Bytes counted against Kinesis limits: data plus the UTF-8 partition key."""
        return len(self.data) + len(self.partition_key.encode())


def partition_key_for(event_id: str) -> str:
    """The partition key of a document: its CloudWatch event id.

    Kinesis maps the MD5 of the key onto the shards' hash ranges, and event ids are
    unique per event, so documents spread evenly over every shard: one busy log stream
    cannot pin one shard the way keying by log stream (or by a constant) would. The key
    is deterministic, so a resent record lands on the same shard as the first attempt.
    """
    return event_id[-256:]


def plan_requests(records: Sequence[Record], limits: DeliveryLimits) -> list[list[Record]]:
    """Split records, in order, into PutRecords calls within the record and byte limits.

    Raises ValueError for a record over the per-record limit: callers fit documents first.
    """
    requests: list[list[Record]] = []
    current: list[Record] = []
    current_bytes = 0
    for record in records:
        size = record.size
        if size > limits.record_bytes:
            raise ValueError(f"record of {size} bytes exceeds the {limits.record_bytes} limit")
        if current and (
            len(current) >= limits.records_per_request or current_bytes + size > limits.request_bytes
        ):
            requests.append(current)
            current, current_bytes = [], 0
        current.append(record)
        current_bytes += size
    if current:
        requests.append(current)
    return requests


def pack_chunks(records: Iterable[Record], limits: DeliveryLimits) -> Iterator[list[Record]]:
    """Group records, in order, into delivery chunks of at most records_per_chunk / chunk_bytes."""
    current: list[Record] = []
    current_bytes = 0
    for record in records:
        size = record.size
        if current and (
            len(current) >= limits.records_per_chunk or current_bytes + size > limits.chunk_bytes
        ):
            yield current
            current, current_bytes = [], 0
        current.append(record)
        current_bytes += size
    if current:
        yield current


def encode_records(records: Sequence[Record]) -> bytes:
    """Frame records for a claim-check object: magic, then (key length, key, data length, data)*."""
    parts = [FRAME_MAGIC]
    for record in records:
        key = record.partition_key.encode()
        parts += [_LENGTH.pack(len(key)), key, _LENGTH.pack(len(record.data)), record.data]
    return b"".join(parts)


def decode_records(blob: bytes) -> list[Record]:
    """Inverse of ``encode_records``; raises ValueError on a corrupt object."""
    if blob[:4] != FRAME_MAGIC:
        raise ValueError("not a logstep record frame")
    records: list[Record] = []
    offset, end = 4, len(blob)
    view = memoryview(blob)
    while offset < end:
        parts: list[bytes] = []
        for _ in range(2):
            if offset + 4 > end:
                raise ValueError("truncated record frame")
            (length,) = _LENGTH.unpack_from(blob, offset)
            offset += 4
            if offset + length > end:
                raise ValueError("truncated record frame")
            parts.append(bytes(view[offset : offset + length]))
            offset += length
        records.append(Record(partition_key=parts[0].decode(), data=parts[1]))
    return records


def fit_document(
    document: dict[str, Any], data: bytes, partition_key: str, record_bytes: int, original_ref: str
) -> bytes:
    """Shrink an oversize document to fit one record, marking it and pointing at the original.

    The original is kept by the caller at ``original_ref`` (an S3 URI); the record keeps
    timestamp, level, cloudwatch and lambda fields, and the head of the message with
    ``logstep.truncated`` = true, ``logstep.originalBytes`` and ``logstep.originalRef``.
    Returns ``data`` unchanged when it already fits.
    """
    budget = record_bytes - len(partition_key.encode())
    if len(data) <= budget:
        return data
    slim: dict[str, Any] = {
        key: document[key] for key in ("timestamp", "level", "cloudwatch", "lambda") if key in document
    }
    slim["logstep"] = {"truncated": True, "originalBytes": len(data), "originalRef": original_ref}
    message = document.get("message")
    text = message if isinstance(message, str) else ""
    slim["message"] = ""
    overhead = len(jsoncodec.dumps(slim)) + len(TRUNCATION_MARKER.encode()) + 64
    # JSON escaping can grow a character to 6 bytes (\uXXXX); shrink until it fits.
    keep = max(0, (budget - overhead))
    while True:
        slim["message"] = text[:keep] + TRUNCATION_MARKER
        encoded = jsoncodec.dumps(slim)
        if len(encoded) <= budget or keep == 0:
            return encoded
        keep = keep * budget // (len(encoded) + 1)
