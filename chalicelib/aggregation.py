"""Many documents per Kinesis record, in the KPL aggregation format (pure).

Kinesis and Firehose bill per record rounded up (a PUT payload unit per 25 KB on a
provisioned stream, 1 KB steps on an on-demand one, 5 KB steps of Firehose ingestion)
and a shard takes 1,000 records/s, so one 300-byte document per record pays for
mostly air. The Kinesis Producer Library's aggregation format packs many user records
into one Kinesis record, and its consumers take them apart again: Firehose
de-aggregates records read from a stream before delivery, and so do the KCL and AWS's
``aws-kinesis-agg`` libraries.

The format (https://github.com/awslabs/amazon-kinesis-producer/blob/master/aggregation-format.md):
the magic bytes ``F3 89 9A C2``, then a protobuf ``AggregatedRecord``, then the MD5 of
that protobuf::

    message AggregatedRecord {
      repeated string partition_key_table     = 1;
      repeated string explicit_hash_key_table = 2;
      repeated Record records                 = 3;
    }
    message Record {
      required uint64 partition_key_index     = 1;
      optional uint64 explicit_hash_key_index = 2;
      required bytes  data                    = 3;
      repeated Tag    tags                    = 4;
    }

The protobuf is written here by hand (three field types, no dependency to ship to
Lambda) and checked against the ``aws-kinesis-agg`` package in the tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence

from chalicelib.batching import Record

MAGIC = b"\xf3\x89\x9a\xc2"
DIGEST_BYTES = 16  # MD5
# protobuf wire types: 0 varint, 2 length-delimited; key = field number << 3 | wire type.
_PARTITION_KEY_TABLE = 0x0A  # field 1, length-delimited
_RECORDS = 0x1A  # field 3, length-delimited
_PARTITION_KEY_INDEX = 0x08  # Record field 1, varint
_DATA = 0x1A  # Record field 3, length-delimited


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _varint_size(value: int) -> int:
    size = 1
    while value >= 0x80:
        value >>= 7
        size += 1
    return size


def _field_size(length: int) -> int:
    """Bytes of one length-delimited field holding ``length`` bytes (key, length, value)."""
    return 1 + _varint_size(length) + length


def _inner_size(key_index: int, data_length: int) -> int:
    return 1 + _varint_size(key_index) + _field_size(data_length)


class _Aggregate:
    """One aggregated record being filled; knows its exact encoded size at every step.

    Its key table holds one key, the first document's: every user record points at it.
    Per-document keys would cost ~58 bytes a document (a 56-digit event id), ~12% of a
    small document, on every byte Kinesis and Firehose bill; no consumer needs them
    (Firehose ignores keys, and each document carries its ``cloudwatch.id``).
    """

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.protobuf_bytes = 0

    def size_with(self, record: Record) -> int:
        """Encoded size (data plus the outer partition key) if ``record`` were added."""
        key = (self.records[0] if self.records else record).partition_key.encode()
        added = _field_size(_inner_size(0, len(record.data)))
        if not self.records:
            added += _field_size(len(key))
        return len(MAGIC) + self.protobuf_bytes + added + DIGEST_BYTES + len(key)

    def add(self, record: Record) -> None:
        if not self.records:
            self.protobuf_bytes += _field_size(len(record.partition_key.encode()))
        self.protobuf_bytes += _field_size(_inner_size(0, len(record.data)))
        self.records.append(record)

    def to_record(self) -> Record:
        """The Kinesis record: a lone document goes as it is, as the KPL sends it."""
        first = self.records[0]
        if len(self.records) == 1:
            return first
        key = first.partition_key.encode()
        parts: list[bytes] = [bytes([_PARTITION_KEY_TABLE]), _varint(len(key)), key]
        index = bytes([_PARTITION_KEY_INDEX, 0])
        for record in self.records:
            head = index + bytes([_DATA]) + _varint(len(record.data))
            parts += [bytes([_RECORDS]), _varint(len(head) + len(record.data)), head, record.data]
        message = b"".join(parts)
        data = MAGIC + message + hashlib.md5(message).digest()
        return Record(partition_key=first.partition_key, data=data)


def aggregate_records(records: Iterable[Record], target_bytes: int) -> Iterator[Record]:
    """Pack records, in order, into KPL-aggregated records of at most ``target_bytes``.

    Size counts data plus the partition key, as the Kinesis record limit does. Each
    aggregated record takes the partition key of its first document (the CloudWatch
    event id, so aggregated records still spread over the shards), and so do the user
    records inside it: a consumer that de-aggregates sees exactly the documents of
    single-record mode, in order, each keyed by its record's first event id. A document that
    does not fit ``target_bytes`` together with another goes alone, as a plain record,
    the way the KPL sends a lone user record: callers fit documents to the per-record
    limit first, so every record that comes out is within it.
    """
    current = _Aggregate()
    for record in records:
        if current.records and current.size_with(record) > target_bytes:
            yield current.to_record()
            current = _Aggregate()
        current.add(record)
    if current.records:
        yield current.to_record()


def is_aggregated(data: bytes) -> bool:
    """Whether a record's data is in the KPL aggregation format (magic and checksum)."""
    if len(data) < len(MAGIC) + DIGEST_BYTES or not data.startswith(MAGIC):
        return False
    message = data[len(MAGIC) : -DIGEST_BYTES]
    return hashlib.md5(message).digest() == data[-DIGEST_BYTES:]


def _read_varint(data: bytes, offset: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if offset >= end or shift > 63:
            raise ValueError("truncated varint in aggregated record")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7


def _fields(data: bytes, offset: int, end: int) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of a protobuf message; skips nothing it cannot read."""
    while offset < end:
        key, offset = _read_varint(data, offset, end)
        number, wire = key >> 3, key & 0x07
        if wire == 0:
            value, offset = _read_varint(data, offset, end)
            yield number, wire, value
        elif wire == 2:
            length, offset = _read_varint(data, offset, end)
            if offset + length > end:
                raise ValueError("truncated field in aggregated record")
            yield number, wire, data[offset : offset + length]
            offset += length
        elif wire == 1:
            offset += 8
        elif wire == 5:
            offset += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
    if offset != end:
        raise ValueError("truncated aggregated record")


def deaggregate(record: Record) -> list[Record]:
    """The user records of one Kinesis record: its documents, or itself if not aggregated.

    Raises ValueError for data that carries the magic and a valid checksum but is not a
    well-formed AggregatedRecord.
    """
    data = record.data
    if not is_aggregated(data):
        return [record]
    end = len(data) - DIGEST_BYTES
    keys: list[str] = []
    inner: list[bytes] = []
    for number, wire, value in _fields(data, len(MAGIC), end):
        if wire == 2 and isinstance(value, bytes):
            if number == 1:
                keys.append(value.decode())
            elif number == 3:
                inner.append(value)
    out: list[Record] = []
    for message in inner:
        index: int | None = None
        payload: bytes | None = None
        for number, wire, value in _fields(message, 0, len(message)):
            if number == 1 and wire == 0 and isinstance(value, int):
                index = value
            elif number == 3 and wire == 2 and isinstance(value, bytes):
                payload = value
        if index is None or payload is None or index >= len(keys):
            raise ValueError("aggregated record holds a record without key index or data")
        out.append(Record(partition_key=keys[index], data=payload))
    return out


def deaggregate_all(records: Sequence[Record]) -> list[Record]:
    """The user records of many Kinesis records, in order."""
    return [user for record in records for user in deaggregate(record)]


def count_documents(records: Sequence[Record]) -> int:
    """How many documents (user records) some Kinesis records carry.

    Counts the AggregatedRecord's top-level ``records`` fields without decoding them
    (``deaggregate`` checks each one): put_batch counts every chunk it sends.
    """
    total = 0
    for record in records:
        data = record.data
        if not is_aggregated(data):
            total += 1
            continue
        end = len(data) - DIGEST_BYTES
        total += sum(1 for number, wire, _ in _fields(data, len(MAGIC), end) if number == 3 and wire == 2)
    return total
