"""The Firehose stand-in's pure parts, and its loop against a fake stream, clock and cluster."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.aggregation import MAGIC, aggregate_records
from chalicelib.batching import Record
from logstep.sandbox.firehose import (
    FAILED_DOCUMENTS_FOLDER,
    Document,
    FirehoseSettings,
    FirehoseStandIn,
    ItemAnswer,
    backoff_seconds,
    backup_key,
    bulk_body,
    document_id,
    documents_of,
    failed_record,
    flush_reason,
    item_answers,
    take_batch,
)

# Arrival at 23:59:59 on 4 Dec 2026; the documents' own events are from the day before.
ARRIVAL = datetime(2026, 12, 4, 23, 59, 59, tzinfo=UTC)
EVENT_MS = int(datetime(2026, 12, 3, 10, 0, tzinfo=UTC).timestamp() * 1000)


def doc(i: int, extra: str = "") -> bytes:
    return json.dumps(
        {"message": f"event {i}{extra}", "cloudwatch": {"id": str(i), "timestamp": EVENT_MS}}
    ).encode()


def kinesis_record(sequence: int, data: bytes, arrival: datetime = ARRIVAL) -> dict[str, Any]:
    return {
        "SequenceNumber": str(sequence),
        "Data": data,
        "PartitionKey": "k",
        "ApproximateArrivalTimestamp": arrival,
    }


# ---- ids, documents, index names ----------------------------------------------------------


def test_ids_are_the_record_and_the_place_in_it() -> None:
    assert document_id("shardId-000000000001", "42", 3) == "shardId-000000000001.42.3"
    ids = {document_id(s, q, i) for s in ("shardId-0", "shardId-1") for q in ("1", "2") for i in (0, 1)}
    assert len(ids) == 8  # moto numbers each shard from 1: the shard keeps them apart


def test_a_plain_record_is_one_document_in_the_index_of_its_arrival_day() -> None:
    [document] = documents_of("shardId-0", kinesis_record(7, doc(1)), FirehoseSettings())
    assert document == Document(
        "shardId-0.7.0", "logstep-2026-12-04", doc(1), int(ARRIVAL.timestamp() * 1000)
    )
    # Not the event's own day (2026-12-03): Firehose rotates on arrival time.
    hourly = documents_of("shardId-0", kinesis_record(7, doc(1)), FirehoseSettings(rotation="OneHour"))
    assert hourly[0].index == "logstep-2026-12-04-23"


def test_an_aggregated_record_is_de_aggregated_into_its_documents_in_order() -> None:
    users = [Record(partition_key=str(i), data=doc(i)) for i in range(25)]
    [aggregated] = list(aggregate_records(users, 1_000_000))
    assert aggregated.data.startswith(MAGIC)
    documents = documents_of("shardId-1", kinesis_record(9, aggregated.data), FirehoseSettings())
    assert [d.data for d in documents] == [u.data for u in users]
    assert [d.doc_id for d in documents] == [f"shardId-1.9.{i}" for i in range(25)]


def test_a_broken_aggregated_record_goes_as_it_is() -> None:
    import hashlib

    message = b"\x1a\x03\x08\x05\x00"  # a record whose key index points nowhere
    data = MAGIC + message + hashlib.md5(message).digest()
    [document] = documents_of("shardId-0", kinesis_record(1, data), FirehoseSettings())
    assert document.data == data  # the cluster rejects it and it lands in the backup


# ---- buffering -------------------------------------------------------------------------------


def test_flush_when_either_hint_is_reached_with_the_interval_scaled() -> None:
    settings = FirehoseSettings(buffer_bytes=1000, buffer_interval_seconds=300, time_scale=0.01)
    assert settings.interval == pytest.approx(3.0)
    assert flush_reason(0, None, settings) == ""  # empty buffer
    assert flush_reason(999, 2.9, settings) == ""
    assert flush_reason(1000, 0.0, settings) == "size"
    assert flush_reason(10, 3.0, settings) == "interval"
    assert flush_reason(5000, 10.0, settings) == "size"  # size is named first when both are


@given(
    st.lists(st.integers(min_value=1, max_value=300), max_size=40), st.integers(min_value=1, max_value=1000)
)
def test_take_batch_keeps_order_takes_at_least_one_and_stays_within_the_size(
    sizes: list[int], limit: int
) -> None:
    buffer = [Document(str(i), "ix", b"x" * size, 0) for i, size in enumerate(sizes)]
    taken, rest = take_batch(buffer, limit)
    assert taken + rest == buffer
    if buffer:
        assert taken
        assert len(taken) == 1 or sum(d.size for d in taken) <= limit
        if rest:
            assert sum(d.size for d in taken) + rest[0].size > limit


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_seconds(a) for a in (1, 2, 3, 6, 7, 20)] == [1, 2, 4, 30, 30, 30]


# ---- bulk ------------------------------------------------------------------------------------


def test_bulk_body_indexes_with_the_ids() -> None:
    body = bulk_body([Document("s.1.0", "logstep-2026-12-04", b'{"a":1}', 0)])
    assert body == b'{"index":{"_index":"logstep-2026-12-04","_id":"s.1.0"}}\n{"a":1}\n'


def test_item_answers_read_items_and_spread_a_whole_request_failure() -> None:
    body = {
        "errors": True,
        "items": [
            {"index": {"status": 201}},
            {
                "index": {
                    "status": 429,
                    "error": {"type": "es_rejected_execution_exception", "reason": "busy"},
                }
            },
            {"index": {"status": 400, "error": {"type": "mapper_parsing_exception", "reason": "bad"}}},
        ],
    }
    answers = item_answers(200, body, 3)
    assert [(a.status, a.indexed, a.retryable) for a in answers] == [
        (201, True, False),
        (429, False, True),
        (400, False, False),
    ]
    assert answers[2].error == "mapper_parsing_exception: bad"
    refused = item_answers(429, {"error": {"type": "es_rejected_execution_exception", "reason": "x"}}, 2)
    assert [a.status for a in refused] == [429, 429] and all(a.retryable for a in refused)
    assert item_answers(0, "ConnectionRefusedError", 1) == [ItemAnswer(0, "ConnectionRefusedError")]
    assert item_answers(0, None, 1)[0].retryable  # no answer at all is retried
    assert item_answers(200, {"items": []}, 1)[0].status == 500  # not a bulk answer: retried


def test_failed_records_keep_the_document_and_why_under_the_failed_folder() -> None:
    document = Document("s.1.0", "logstep-2026-12-04", doc(1), 1000)
    record = failed_record(document, ItemAnswer(400, "mapper_parsing_exception: bad"), 1, 2000)
    assert record == {
        "attemptsMade": 1,
        "arrivalTimestamp": 1000,
        "errorCode": "400",
        "errorMessage": "mapper_parsing_exception: bad",
        "attemptEndingTimestamp": 2000,
        "rawData": base64.b64encode(doc(1)).decode(),
        "esDocumentId": "s.1.0",
        "esIndexName": "logstep-2026-12-04",
    }
    key = backup_key("fh/", int(ARRIVAL.timestamp() * 1000), 3)
    assert key.startswith(f"fh/{FAILED_DOCUMENTS_FOLDER}2026/12/04/23/")


# ---- the loop, against fakes -----------------------------------------------------------------


class FakeKinesis:
    """Shards of records; iterators are "<shard>:<position>"."""

    def __init__(self, shards: int = 2) -> None:
        self.shards: dict[str, list[dict[str, Any]]] = {f"shardId-{i}": [] for i in range(shards)}

    def put(self, shard: str, data: bytes) -> None:
        records = self.shards[shard]
        records.append(kinesis_record(len(records) + 1, data))

    def list_shards(self, StreamName: str) -> dict[str, Any]:
        return {"Shards": [{"ShardId": s} for s in self.shards]}

    def get_shard_iterator(self, StreamName: str, ShardId: str, ShardIteratorType: str) -> dict[str, Any]:
        return {"ShardIterator": f"{ShardId}:0"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        shard, position = ShardIterator.rsplit(":", 1)
        records = self.shards[shard][int(position) : int(position) + Limit]
        return {"Records": records, "NextShardIterator": f"{shard}:{int(position) + len(records)}"}


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_object(self, Bucket: str, Key: str, Body: bytes) -> None:
        self.objects[Key] = Body


class FakeCluster:
    """Answers bulk bodies with scripted per-attempt statuses (by _id), else 201; keeps what it indexed."""

    def __init__(self, script: dict[str, list[int]] | None = None, whole: list[int] | None = None) -> None:
        self.script = script or {}
        self.whole = whole or []
        self.index: dict[str, bytes] = {}
        self.bodies: list[list[str]] = []

    def __call__(self, body: bytes) -> tuple[int, Any]:
        lines = body.split(b"\n")
        pairs = [(json.loads(lines[i])["index"]["_id"], lines[i + 1]) for i in range(0, len(lines) - 1, 2)]
        self.bodies.append([doc_id for doc_id, _ in pairs])
        if self.whole:
            return self.whole.pop(0), {"error": {"type": "es_rejected_execution_exception", "reason": "busy"}}
        items = []
        for doc_id, data in pairs:
            statuses = self.script.get(doc_id, [])
            status = statuses.pop(0) if statuses else 201
            if status < 300:
                self.index[doc_id] = data
            items.append(
                {"index": {"_id": doc_id, "status": status, "error": {"type": f"e{status}", "reason": "r"}}}
            )
        return 200, {"errors": True, "items": items}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def stand_in(
    kinesis: FakeKinesis, cluster: FakeCluster, clock: Clock, **settings: Any
) -> tuple[FirehoseStandIn, FakeS3]:
    s3 = FakeS3()
    settings.setdefault("time_scale", 0.01)
    firehose = FirehoseStandIn(
        kinesis,
        s3,
        "destination",
        cluster,
        "backup",
        FirehoseSettings(**settings),
        clock=clock,
        sleep=clock.sleep,
        wall_clock_ms=lambda: int(ARRIVAL.timestamp() * 1000),
    )
    return firehose, s3


def test_the_buffer_waits_for_its_interval_then_goes_in_one_request() -> None:
    kinesis, cluster, clock = FakeKinesis(), FakeCluster(), Clock()
    firehose, _ = stand_in(kinesis, cluster, clock)
    for i in range(10):
        kinesis.put(f"shardId-{i % 2}", doc(i))
    assert firehose.poll() == 10
    assert (firehose.buffered, cluster.bodies) == (10, [])  # 3 s (300 s x 0.01) not yet up
    clock.now += 2.9
    firehose.poll()
    assert cluster.bodies == []
    clock.now += 0.1
    assert firehose.poll() == 0
    assert len(cluster.bodies) == 1 and firehose.buffered == 0
    assert firehose.counters.flushes == {"interval": 1}
    assert len(cluster.index) == 10


def test_the_size_hint_flushes_at_once_in_requests_of_at_most_that_size() -> None:
    kinesis, cluster, clock = FakeKinesis(shards=1), FakeCluster(), Clock()
    size = len(doc(0))
    firehose, _ = stand_in(kinesis, cluster, clock, buffer_bytes=4 * size)
    for i in range(10):
        kinesis.put("shardId-0", doc(i))
    firehose.poll()
    assert [len(b) for b in cluster.bodies] == [4, 4]  # two full buffers; 2 documents wait
    assert firehose.counters.flushes == {"size": 2} and firehose.buffered == 2
    clock.now += 3
    firehose.poll()
    assert [len(b) for b in cluster.bodies] == [4, 4, 2]


def test_retries_resend_only_the_failed_items_with_the_same_ids() -> None:
    kinesis, clock = FakeKinesis(shards=1), Clock()
    cluster = FakeCluster(script={"shardId-0.2.0": [429, 503], "shardId-0.3.0": [429]})
    firehose, s3 = stand_in(kinesis, cluster, clock, buffer_interval_seconds=0)
    for i in range(4):
        kinesis.put("shardId-0", doc(i))
    firehose.poll()
    assert cluster.bodies == [
        ["shardId-0.1.0", "shardId-0.2.0", "shardId-0.3.0", "shardId-0.4.0"],
        ["shardId-0.2.0", "shardId-0.3.0"],
        ["shardId-0.2.0"],
    ]
    assert clock.sleeps == pytest.approx([0.01, 0.02])  # 1 s, 2 s scaled by 0.01
    assert (firehose.counters.indexed, firehose.counters.item_retries, s3.objects) == (4, 3, {})


def test_a_whole_request_refused_is_retried_whole() -> None:
    kinesis, clock = FakeKinesis(shards=1), Clock()
    cluster = FakeCluster(whole=[429])
    firehose, _ = stand_in(kinesis, cluster, clock, buffer_interval_seconds=0)
    for i in range(3):
        kinesis.put("shardId-0", doc(i))
    firehose.poll()
    assert len(cluster.bodies) == 2 and cluster.bodies[0] == cluster.bodies[1]
    assert len(cluster.index) == 3


def test_what_still_fails_after_the_retry_duration_and_rejections_go_to_the_s3_backup() -> None:
    kinesis, clock = FakeKinesis(shards=1), Clock()
    cluster = FakeCluster(script={"shardId-0.1.0": [503] * 100, "shardId-0.2.0": [400]})
    firehose, s3 = stand_in(kinesis, cluster, clock, buffer_interval_seconds=0, retry_duration_seconds=10)
    for i in range(3):
        kinesis.put("shardId-0", doc(i))
    firehose.poll()
    # 10 s x 0.01 = 0.1 s of retries: waits of 0.01, 0.02, 0.04 fit, the next (0.08) does not.
    assert clock.sleeps == pytest.approx([0.01, 0.02, 0.04])
    assert cluster.bodies[1:] == [["shardId-0.1.0"]] * 3  # the 400 was not retried
    [(key, body)] = s3.objects.items()
    assert key.startswith(FAILED_DOCUMENTS_FOLDER)
    failed = {r["esDocumentId"]: r for r in map(json.loads, body.splitlines())}
    assert set(failed) == {"shardId-0.1.0", "shardId-0.2.0"}
    assert failed["shardId-0.1.0"]["errorCode"] == "503" and failed["shardId-0.1.0"]["attemptsMade"] == 4
    assert base64.b64decode(failed["shardId-0.2.0"]["rawData"]) == doc(1)
    counters = firehose.counters
    assert (counters.indexed, counters.backed_up, counters.backup_objects) == (1, 2, 1)
    assert counters.backup_errors == {"400": 1, "503": 1}


def test_no_retry_duration_means_no_retries() -> None:
    kinesis, clock = FakeKinesis(shards=1), Clock()
    cluster = FakeCluster(script={"shardId-0.1.0": [429]})
    firehose, _ = stand_in(kinesis, cluster, clock, buffer_interval_seconds=0, retry_duration_seconds=0)
    kinesis.put("shardId-0", doc(0))
    firehose.poll()
    assert (len(cluster.bodies), clock.sleeps, firehose.counters.backed_up) == (1, [], 1)


def test_a_resent_document_is_a_new_record_and_a_visible_duplicate() -> None:
    kinesis, cluster, clock = FakeKinesis(shards=1), FakeCluster(), Clock()
    firehose, _ = stand_in(kinesis, cluster, clock, buffer_interval_seconds=0)
    kinesis.put("shardId-0", doc(1))
    kinesis.put("shardId-0", doc(1))  # logstep's at-least-once resend of the same document
    firehose.poll()
    assert sorted(cluster.index) == ["shardId-0.1.0", "shardId-0.2.0"]


def test_an_aggregated_stream_is_indexed_one_document_per_event() -> None:
    kinesis, cluster, clock = FakeKinesis(shards=1), FakeCluster(), Clock()
    firehose, _ = stand_in(kinesis, cluster, clock, buffer_interval_seconds=0)
    users = [Record(partition_key=str(i), data=doc(i, "x" * (i % 7))) for i in range(100)]
    for record in aggregate_records(users, 2000):
        kinesis.put("shardId-0", record.data)
    firehose.poll()
    assert sorted(cluster.index.values()) == sorted(u.data for u in users)
    counters = firehose.counters
    assert counters.documents_read == 100 and counters.aggregated_records == counters.records_read > 1


def test_settle_waits_for_the_buffer_s_own_interval() -> None:
    kinesis, cluster, clock = FakeKinesis(shards=1), FakeCluster(), Clock()
    firehose, _ = stand_in(kinesis, cluster, clock)
    kinesis.put("shardId-0", doc(0))
    firehose.settle(poll_seconds=0.5)
    assert len(cluster.index) == 1
    assert sum(clock.sleeps) >= 3.0  # never flushed early
    kinesis.put("shardId-0", doc(1))
    with pytest.raises(TimeoutError):
        firehose.settle(timeout=1.0, poll_seconds=0.5)
