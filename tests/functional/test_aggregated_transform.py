"""transform_batch in aggregated mode: the same documents as single mode, fewer records, same limits."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.aggregation import deaggregate_all, is_aggregated
from chalicelib.batching import Record, decode_records
from chalicelib.claimcheck import ClaimCheck
from chalicelib.metrics import MetricsRecorder
from chalicelib.settings import DeliveryLimits, RecordPacking
from chalicelib.steps import transform_batch
from chalicelib.transform import TransformOptions
from tests.helpers import envelope, library_deaggregate

pytest.importorskip("aws_kinesis_agg.deaggregator")

BUCKET = "claimcheck"
RUN = "runs/test-execution/"
STATE = {"bucket": BUCKET, "run": RUN}


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[ClaimCheck]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield ClaimCheck(s3, BUCKET)


def metrics() -> MetricsRecorder:
    return MetricsRecorder("test", "transform", lambda _: None)


def write_decoded(store: ClaimCheck, envelopes: list[dict[str, Any]]) -> None:
    store.put(f"{RUN}decoded.jsonl", b"\n".join(json.dumps(e).encode() for e in envelopes))


def small_events(count: int, seed: int = 1, start: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "id": f"{start + i:056d}",
            "timestamp": 1795680000000 + i,
            "message": f"[INFO] request {i} took {rng.randint(1, 900)} ms {'x' * rng.randint(0, 200)}\n",
        }
        for i in range(count)
    ]


def delivered(store: ClaimCheck, output: dict[str, Any]) -> list[Record]:
    """Every Kinesis record of every chunk, in chunk order."""
    return [r for chunk in output["chunks"] for r in decode_records(store.get(chunk["key"]))]


def test_aggregated_records_deaggregate_to_exactly_the_single_mode_documents(store: ClaimCheck) -> None:
    envelopes = [
        envelope(small_events(700, seed=1, start=0), log_stream="a"),
        envelope(small_events(900, seed=2, start=700), log_stream="b"),
    ]
    limits = DeliveryLimits()
    options = TransformOptions()
    write_decoded(store, envelopes)
    single = transform_batch(STATE, store, limits, options, metrics(), RecordPacking("single"))
    single_records = delivered(store, single)
    aggregated = transform_batch(STATE, store, limits, options, metrics(), RecordPacking("aggregated"))
    aggregated_records = delivered(store, aggregated)

    assert single["documents"] == aggregated["documents"] == 1600
    assert len(single_records) == 1600
    consumed = library_deaggregate(aggregated_records)
    assert [r.data for r in consumed] == [r.data for r in single_records]  # same bytes, same order
    assert deaggregate_all(aggregated_records) == consumed
    assert len(aggregated_records) <= 1600 / 40
    for record in aggregated_records:
        assert record.size <= RecordPacking().aggregated_record_bytes
        assert record.partition_key == deaggregate_all([record])[0].partition_key


def test_oversize_documents_keep_their_handling_and_every_record_its_limit(store: ClaimCheck) -> None:
    events = small_events(30)
    events.insert(10, {"id": "9" * 56, "timestamp": 1795680000000, "message": "y" * 20_000 + "\n"})
    write_decoded(store, [envelope(events)])
    limits = DeliveryLimits(record_bytes=4096, records_per_chunk=7, chunk_bytes=30_000)
    packing = RecordPacking("aggregated", aggregated_record_bytes=3000)
    output = transform_batch(STATE, store, limits, TransformOptions(), metrics(), packing)
    records = delivered(store, output)
    assert output["oversize"] == 1
    assert all(r.size <= limits.record_bytes for r in records)
    assert all(r.size <= packing.aggregated_record_bytes for r in records if is_aggregated(r.data))
    documents = [json.loads(r.data) for r in deaggregate_all(records)]
    assert [d["cloudwatch"]["id"] for d in documents] == [e["id"] for e in events]
    big = documents[10]
    assert big["logstep"]["truncated"] is True
    assert store.get_optional(f"{RUN}oversize/{'9' * 56}.json") is not None
    # The truncated document is sent alone, as a plain record (as the KPL sends a lone record).
    plain = [json.loads(r.data) for r in records if not is_aggregated(r.data)]
    assert big in plain
    for chunk in output["chunks"]:
        assert chunk["records"] <= limits.records_per_chunk
