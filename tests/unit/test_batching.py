"""Records, PutRecords calls and delivery chunks within the Kinesis limits."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib import limits
from chalicelib.batching import (
    TRUNCATION_MARKER,
    Record,
    decode_records,
    encode_records,
    fit_document,
    pack_chunks,
    partition_key_for,
    plan_requests,
)
from chalicelib.settings import DeliveryLimits

SMALL = DeliveryLimits(
    records_per_request=5, request_bytes=200, record_bytes=100, records_per_chunk=12, chunk_bytes=600
)

records_strategy = st.lists(
    st.builds(
        Record,
        partition_key=st.text(alphabet="0123456789", min_size=1, max_size=10),
        data=st.binary(min_size=0, max_size=80),
    ),
    max_size=60,
)


@given(records_strategy)
def test_every_request_is_within_limits_and_concatenation_is_the_input(records: list[Record]) -> None:
    requests = plan_requests(records, SMALL)
    assert [r for request in requests for r in request] == records
    for request in requests:
        assert 1 <= len(request) <= SMALL.records_per_request
        assert sum(r.size for r in request) <= SMALL.request_bytes


@given(records_strategy)
def test_every_chunk_is_within_limits_and_concatenation_is_the_input(records: list[Record]) -> None:
    chunks = list(pack_chunks(records, SMALL))
    assert [r for chunk in chunks for r in chunk] == records
    for chunk in chunks:
        assert 1 <= len(chunk) <= SMALL.records_per_chunk
        assert sum(r.size for r in chunk) <= SMALL.chunk_bytes or len(chunk) == 1


@given(records_strategy)
def test_frame_round_trip(records: list[Record]) -> None:
    assert decode_records(encode_records(records)) == records


def test_default_limits_are_the_documented_kinesis_limits() -> None:
    default = DeliveryLimits()
    assert default.records_per_request == limits.MAX_RECORDS_PER_REQUEST == 500
    assert default.request_bytes == 5 * 1024 * 1024
    assert default.record_bytes == 1024 * 1024


def test_500_small_records_fill_one_call_and_the_501st_starts_another() -> None:
    records = [Record(str(i), b"x") for i in range(501)]
    assert [len(r) for r in plan_requests(records, DeliveryLimits())] == [500, 1]


def test_request_bytes_count_partition_keys() -> None:
    big = Record("k" * 100, b"d" * (1024 * 1024 - 100))  # exactly 1 MiB with its key
    requests = plan_requests([big] * 6, DeliveryLimits())
    assert [len(r) for r in requests] == [5, 1]


def test_a_record_over_the_limit_is_refused_not_sent() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        plan_requests([Record("k", b"x" * 101)], SMALL)


def test_corrupt_frames_are_refused() -> None:
    blob = encode_records([Record("k", b"data")])
    with pytest.raises(ValueError):
        decode_records(blob[:-2])
    with pytest.raises(ValueError):
        decode_records(b"nope")


def test_partition_key_is_the_event_id_so_streams_spread_over_shards() -> None:
    assert partition_key_for("3719971756290717428835512580704011470483764099463361331") == (
        "3719971756290717428835512580704011470483764099463361331"
    )
    assert len(partition_key_for("9" * 300)) == 256


def test_fit_document_leaves_small_documents_alone() -> None:
    data = b'{"message":"hi"}'
    assert fit_document({"message": "hi"}, data, "k", 1000, "s3://b/k") is data


@pytest.mark.parametrize("message", ["x" * 5000, "é" * 3000, "\u2028\x00" * 2000])
def test_fit_document_truncates_with_a_marker_and_a_pointer_to_the_original(message: str) -> None:
    document = {
        "timestamp": "2026-11-26T00:00:00.000Z",
        "message": message,
        "level": "INFO",
        "cloudwatch": {"id": "1", "logGroup": "g", "logStream": "s", "owner": "o", "timestamp": 0},
        "noise": ["y" * 100] * 10,
    }
    data = json.dumps(document).encode()
    fitted = fit_document(document, data, "key", 2048, "s3://bucket/runs/x/oversize/1.json")
    assert len(fitted) + len("key") <= 2048
    slim = json.loads(fitted)
    assert slim["message"].endswith(TRUNCATION_MARKER)
    assert message.startswith(slim["message"][: -len(TRUNCATION_MARKER)])
    assert slim["logstep"] == {
        "truncated": True,
        "originalBytes": len(data),
        "originalRef": "s3://bucket/runs/x/oversize/1.json",
    }
    assert slim["cloudwatch"]["id"] == "1"
    assert slim["level"] == "INFO"


@settings(max_examples=50)
@given(st.text(min_size=0, max_size=3000), st.integers(min_value=700, max_value=3000))
def test_fit_document_always_fits(message: str, limit: int) -> None:
    document = {"message": message, "cloudwatch": {"id": "1"}}
    data = json.dumps(document).encode()
    fitted = fit_document(document, data, "k", limit, "s3://b/o")
    assert len(fitted) + 1 <= limit
    json.loads(fitted)
