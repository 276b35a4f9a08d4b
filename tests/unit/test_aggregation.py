"""KPL aggregated records: written by hand, read back by AWS's aws-kinesis-agg as a consumer would."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib import limits
from chalicelib.aggregation import (
    MAGIC,
    aggregate_records,
    count_documents,
    deaggregate,
    deaggregate_all,
    is_aggregated,
)
from chalicelib.batching import Record
from tests.helpers import library_deaggregate

pytest.importorskip("aws_kinesis_agg.deaggregator")

documents_strategy = st.lists(
    st.builds(
        Record,
        partition_key=st.text(alphabet="0123456789", min_size=1, max_size=56),
        data=st.binary(min_size=0, max_size=3000),
    ),
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(documents_strategy, st.integers(min_value=200, max_value=30_000))
def test_library_deaggregates_to_exactly_the_single_mode_documents(docs: list[Record], target: int) -> None:
    packed = list(aggregate_records(docs, target))
    users = library_deaggregate(packed)
    assert [u.data for u in users] == [d.data for d in docs]
    assert deaggregate_all(packed) == users
    assert count_documents(packed) == len(docs)
    # Each user record is keyed like the Kinesis record that carried it: its first document's key.
    for record in packed:
        assert {u.partition_key for u in deaggregate(record)} == {record.partition_key}


@settings(max_examples=200, deadline=None)
@given(documents_strategy, st.integers(min_value=200, max_value=30_000))
def test_every_aggregated_record_is_within_the_target(docs: list[Record], target: int) -> None:
    for record in aggregate_records(docs, target):
        if is_aggregated(record.data):
            assert record.size <= target
        else:
            assert record in docs  # a lone document goes as it is


@given(documents_strategy)
def test_partition_key_is_the_first_documents(docs: list[Record]) -> None:
    for record in aggregate_records(docs, 10_000):
        assert record.partition_key == deaggregate(record)[0].partition_key


def test_small_documents_pack_about_25kb_per_record() -> None:
    docs = [Record(partition_key=f"{i:056d}", data=b"x" * 300) for i in range(10_000)]
    packed = list(aggregate_records(docs, limits.AGGREGATED_RECORD_BYTES))
    assert 75 <= len(docs) / len(packed) <= 80  # 300-byte documents, 6 bytes of framing each
    assert all(r.size <= limits.AGGREGATED_RECORD_BYTES for r in packed)
    assert all(r.size > limits.AGGREGATED_RECORD_BYTES - 310 for r in packed[:-1])


def test_format_matches_the_library_byte_for_byte() -> None:
    aggregator = pytest.importorskip("aws_kinesis_agg.aggregator")
    docs = [Record(partition_key=f"k{i % 3}", data=f"doc {i}".encode()) for i in range(7)]
    theirs = aggregator.RecordAggregator()
    for doc in docs:
        theirs.add_user_record(docs[0].partition_key, doc.data)  # one key: the first document's
    key, _, data = theirs.clear_and_get().get_contents()
    (ours,) = aggregate_records(docs, 10_000)
    assert ours == Record(partition_key=key, data=data)


def test_single_document_is_sent_plain() -> None:
    doc = Record(partition_key="1", data=b'{"a":1}')
    assert list(aggregate_records([doc], 25_000)) == [doc]
    assert not is_aggregated(doc.data)
    assert deaggregate(doc) == [doc]


def test_document_larger_than_the_target_goes_alone() -> None:
    small = [Record(partition_key=str(i), data=b"s" * 10) for i in range(3)]
    big = Record(partition_key="big", data=b"b" * 5000)
    packed = list(aggregate_records([small[0], big, small[1], small[2]], 1000))
    assert packed[0] == small[0]
    assert packed[1] == big
    assert is_aggregated(packed[2].data)
    assert [u.data for u in deaggregate_all(packed)] == [d.data for d in (small[0], big, small[1], small[2])]


def test_magic_without_a_valid_checksum_is_plain_data() -> None:
    data = MAGIC + b"not a protobuf" + b"\0" * 16
    assert not is_aggregated(data)
    record = Record(partition_key="k", data=data)
    assert deaggregate(record) == [record]


def test_corrupt_aggregated_record_raises() -> None:
    message = b"\x1a\x05\x08\x07\x1a\x01x"  # a record whose key index 7 has no table entry
    record = Record(partition_key="k", data=MAGIC + message + hashlib.md5(message).digest())
    with pytest.raises(ValueError):
        deaggregate(record)
    truncated = b"\x0a\x09abc"
    with pytest.raises(ValueError):
        deaggregate(Record(partition_key="k", data=MAGIC + truncated + hashlib.md5(truncated).digest()))


def _aggregated(message: bytes) -> Record:
    return Record(partition_key="k", data=MAGIC + message + hashlib.md5(message).digest())


def test_fields_a_reader_does_not_know_are_skipped() -> None:
    # key table "k"; an explicit hash key table entry (field 2); a record with key index 0,
    # a fixed64 (field 5, wire 1), a fixed32 (field 6, wire 5) and data "x".
    inner = b"\x08\x00" + b"\x29" + b"\0" * 8 + b"\x35" + b"\0" * 4 + b"\x1a\x01x"
    message = b"\x0a\x01k" + b"\x12\x01h" + b"\x1a" + bytes([len(inner)]) + inner
    assert deaggregate(_aggregated(message)) == [Record(partition_key="k", data=b"x")]


def test_an_unknown_wire_type_is_an_error() -> None:
    with pytest.raises(ValueError, match="wire type"):
        deaggregate(_aggregated(b"\x0a\x01k\x1b"))  # field 3, wire type 3 (group start)
