"""summarize deletes a delivered run's delivery objects, and only a delivered run's (moto S3)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.batching import Record, encode_records
from chalicelib.claimcheck import MAX_KEYS_PER_DELETE, ClaimCheck, chunk_key, pending_key
from chalicelib.metrics import MetricsRecorder
from chalicelib.steps import summarize

BUCKET = "claimcheck"
RUN = "runs/shard-0-1-2-abc/"
KEPT = ["oversize/0001.json", "quarantine.json", "summary.json"]
DELIVERY = ["chunks/00000.bin", "chunks/00001.bin", "decoded.jsonl", "pending/00000.bin", "raw.json"]


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def a_run(store: ClaimCheck, pending: list[Record]) -> dict[str, Any]:
    """A run after its Map: two chunks, the first with a pending set (chunk 1 never wrote one)."""
    for name in ("raw.json", "decoded.jsonl", "quarantine.json", "oversize/0001.json"):
        store.put(f"{RUN}{name}", b"{}")
    record = Record(partition_key="k", data=b'{"cloudwatch":{"id":"1"}}')
    for index in range(2):
        store.put(chunk_key(RUN, index), encode_records([record]))
    store.put(pending_key(RUN, 0), encode_records(pending))
    chunks = [{"key": chunk_key(RUN, i), "records": 1, "bytes": 30} for i in range(2)]
    return {"bucket": BUCKET, "run": RUN, "documents": 2, "quarantined": 1, "chunks": chunks}


def keys(s3: Any) -> list[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=RUN).get("Contents", [])
    return sorted(item["Key"].removeprefix(RUN) for item in listed)


def recorder(sink: list[dict[str, Any]]) -> MetricsRecorder:
    return MetricsRecorder("test", "summarize", sink.append)


def test_a_delivered_run_keeps_only_what_explains_it(s3: Any) -> None:
    store = ClaimCheck(s3, BUCKET)
    state = a_run(store, pending=[])
    out = summarize({**state, "deliveries": [{"index": 0}, {"index": 1}]}, store, recorder([]))
    assert (out["delivered"], out["pending"], out["deliveryChunks"]) == (2, 0, 2)
    # raw, decoded, the chunk list, two chunks, two pending keys (chunk 1's was never
    # written: S3 counts it deleted)
    assert out["objectsDeleted"] == 7
    assert keys(s3) == KEPT


def test_a_run_with_pending_records_keeps_everything_for_replay(s3: Any) -> None:
    store = ClaimCheck(s3, BUCKET)
    left = Record(partition_key="k", data=b'{"cloudwatch":{"id":"1"}}')
    state = a_run(store, pending=[left])
    deliveries = [{"index": 0, "failed": True, "error": "RecordsThrottledError"}, {"index": 1}]
    out = summarize({**state, "deliveries": deliveries}, store, recorder([]))
    assert (out["pending"], out["objectsDeleted"]) == (1, 0)
    assert keys(s3) == sorted([*KEPT, *DELIVERY])


def test_a_chunk_without_a_delivery_keeps_the_run(s3: Any) -> None:
    store = ClaimCheck(s3, BUCKET)
    state = a_run(store, pending=[])
    for deliveries in ([], [{"index": 0}], None):
        out = summarize({**state, "deliveries": deliveries}, store, recorder([]))
        assert out["objectsDeleted"] == 0
    assert keys(s3) == sorted([*KEPT, *DELIVERY])


def test_keep_delivered_keeps_a_delivered_runs_objects(s3: Any) -> None:
    store = ClaimCheck(s3, BUCKET)
    state = a_run(store, pending=[])
    deliveries = [{"index": 0}, {"index": 1}]
    out = summarize({**state, "deliveries": deliveries}, store, recorder([]), keep_delivered=True)
    assert (out["pending"], out["objectsDeleted"]) == (0, 0)
    assert keys(s3) == sorted([*KEPT, *DELIVERY])


def test_a_refused_delete_is_counted_and_the_run_still_succeeds(s3: Any) -> None:
    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DeleteObjects")

    s3.meta.events.register("before-call.s3.DeleteObjects", refuse)
    store = ClaimCheck(s3, BUCKET)
    state = a_run(store, pending=[])
    emitted: list[dict[str, Any]] = []
    metrics = recorder(emitted)
    out = summarize({**state, "deliveries": [{"index": 0}, {"index": 1}]}, store, metrics)
    metrics.flush(0)
    assert (out["pending"], out["cause"], out["objectsDeleted"]) == (0, "", 0)
    assert sum(doc.get("ClaimCheckDeleteFailed", 0) for doc in emitted) == 7
    assert keys(s3) == sorted([*KEPT, *DELIVERY])  # the lifecycle rule removes them later


def test_delete_sends_at_most_a_thousand_keys_per_request(s3: Any) -> None:
    store = ClaimCheck(s3, BUCKET)
    names = [f"{RUN}chunks/{i:05d}.bin" for i in range(MAX_KEYS_PER_DELETE + 5)]
    for name in names[:3] + names[-3:]:
        store.put(name, b"x")
    sizes: list[int] = []
    s3.meta.events.register(
        "before-parameter-build.s3.DeleteObjects",
        lambda params, **_: sizes.append(len(params["Delete"]["Objects"])),
    )
    assert store.delete(names) == []
    assert sizes == [MAX_KEYS_PER_DELETE, 5]
    assert keys(s3) == []
