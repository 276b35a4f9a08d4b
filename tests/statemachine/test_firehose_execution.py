"""The Kinesis delivery's last hop in the sandbox: the real definition writes the destination
stream, the Firehose stand-in delivers it to osmem-server (behind the sandbox's fault proxy).

Also checks what the stand-in relies on osmem-server for (``index`` with an ``_id``
overwrites, ``_id``s with dots page with ``search_after``), rather than trusting it.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from logstep.sandbox.firehose import FirehoseSettings, backup_bucket_name, http_post, stand_in_for
from tests.statemachine.test_execution import run, write_events

pytestmark = pytest.mark.slow

AGGREGATED = {"LOGSTEP_OUTPUT_RECORDS": "aggregated", "LOGSTEP_AGGREGATED_RECORD_BYTES": "2000"}
# A 0.5 s buffer (50 s x 0.01): the tests wait for the stand-in's own interval, never flush it early.
FAST = {"buffer_interval_seconds": 50, "time_scale": 0.01}


class FakeClock:
    """Time that passes only in sleep()."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def indexed(search: Any) -> list[dict[str, Any]]:
    search.refresh()
    return list(search.documents("logstep-*"))


def event_ids(hits: list[dict[str, Any]]) -> Counter[str]:
    return Counter(str(h["_source"]["cloudwatch"]["id"]) for h in hits)


def test_osmem_index_action_overwrites_the_same_id_and_keeps_two_ids_apart(
    make_search: Callable[..., Any],
) -> None:
    search = make_search()
    document = b'{"message":"m","cloudwatch":{"id":"1"}}'

    def bulk(*ids: str) -> list[int]:
        body = b"".join(
            json.dumps({"index": {"_index": "logstep-2026-12-04", "_id": i}}).encode()
            + b"\n"
            + document
            + b"\n"
            for i in ids
        )
        status, answer = http_post(search.url + "/_bulk")(body)
        assert status == 200, answer
        return [next(iter(item.values()))["status"] for item in answer["items"]]

    assert bulk("shardId-000000000000.1.0") == [201]
    assert bulk("shardId-000000000000.1.0") == [200]  # a retry overwrites itself ("updated")
    search.refresh()
    assert search.count("logstep-*") == 1
    bulk("shardId-000000000000.2.0", "shardId-000000000001.1.0")  # a resend is a new record
    hits = indexed(search)
    assert sorted(h["_id"] for h in hits) == [
        "shardId-000000000000.1.0",
        "shardId-000000000000.2.0",
        "shardId-000000000001.1.0",
    ]


def test_aggregated_mode_ends_fully_indexed_one_document_per_event(
    make_sandbox: Callable[..., Any], make_search: Callable[..., Any]
) -> None:
    search = make_search()
    sandbox = make_sandbox(environment=AGGREGATED)
    firehose = stand_in_for(sandbox, search, FirehoseSettings(**FAST))
    ids = write_events(sandbox, [f"event {i} {'z' * (i % 50)}\n" for i in range(600)])
    assert run(sandbox) == {"SUCCEEDED": 1}
    firehose.settle(timeout=60)
    hits = indexed(search)
    assert event_ids(hits) == Counter(ids)  # each exactly once
    counters = firehose.counters
    assert counters.aggregated_records > 0 and counters.records_read < len(ids) / 5
    assert counters.documents_read == counters.indexed == len(ids)
    assert counters.flushes["interval"] >= 1 and counters.backed_up == 0
    # Firehose-like ids: the Kinesis record and the place in it.
    assert all(h["_id"].startswith("shardId-") and h["_id"].count(".") == 2 for h in hits)
    assert {h["_index"] for h in hits} == {f"logstep-{hits[0]['_index'][-10:]}"}


def test_a_resend_after_a_crash_is_a_duplicate_in_the_index(
    make_sandbox: Callable[..., Any], make_search: Callable[..., Any]
) -> None:
    search = make_search()
    sandbox = make_sandbox(crash_after_write=1)
    firehose = stand_in_for(sandbox, search, FirehoseSettings(**FAST))
    ids = write_events(sandbox, [f"line {i}\n" for i in range(30)])
    assert run(sandbox) == {"SUCCEEDED": 1}
    assert sandbox.function_stats["put_batch"].error_types == {"StorageUnavailableError": 1}
    firehose.settle(timeout=60)
    # The chunk went to the stream twice: Firehose's ids cover its own retries only, so the
    # index holds both copies (dedup at query time on cloudwatch.id).
    assert event_ids(indexed(search)) == Counter({i: 2 for i in ids})


def test_search_faults_are_retried_and_what_outlasts_the_retry_duration_is_backed_up(
    make_sandbox: Callable[..., Any], make_search: Callable[..., Any]
) -> None:
    search = make_search(seed=5, throttle_rate=0.3, error_rate=0.3)
    sandbox = make_sandbox()
    # A clock that moves only when the stand-in sleeps: two attempts fit in 2 s x 0.01
    # (a wait of 10 ms; the next, 20 ms, would pass the deadline), however slow the machine.
    clock = FakeClock()
    settings = FirehoseSettings(retry_duration_seconds=2, **FAST)
    firehose = stand_in_for(sandbox, search, settings, clock=clock, sleep=clock.sleep)
    ids = write_events(sandbox, [f"line {i}\n" for i in range(200)])
    assert run(sandbox) == {"SUCCEEDED": 1}
    firehose.settle(timeout=60)
    counters = firehose.counters
    assert counters.bulk_requests == 2 and counters.item_retries > 0 and counters.backed_up > 0
    assert counters.indexed + counters.backed_up == len(ids)
    backup = firehose.backed_up_documents()
    assert len(backup) == counters.backed_up
    assert {r["errorCode"] for r in backup} <= {"429", "503"}
    s3 = sandbox.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=backup_bucket_name("sandbox"))["Contents"]]
    assert all(k.startswith("AmazonOpenSearchService-failed/") for k in keys)
    # Every event is in the index or in the backup, never both, never neither.
    in_backup = Counter(str(json.loads(base64.b64decode(r["rawData"]))["cloudwatch"]["id"]) for r in backup)
    in_index = event_ids(indexed(search))
    assert in_backup + in_index == Counter(ids)


@pytest.mark.parametrize("fields_key", ["", "fields"])
def test_a_json_type_conflict_behind_firehose_lands_in_the_backup_unless_fields_share_a_key(
    make_sandbox: Callable[..., Any], make_search: Callable[..., Any], fields_key: str
) -> None:
    from tests.statemachine.test_search_execution import two_services

    search = make_search()
    environment = {"LOGSTEP_JSON_FIELDS_KEY": fields_key} if fields_key else {}
    sandbox = make_sandbox(environment=environment, source_shards=1)
    firehose = stand_in_for(sandbox, search, FirehoseSettings(**FAST))
    numbers, objects = two_services(sandbox)
    assert run(sandbox) == {"SUCCEEDED": 1}  # the stream took everything
    firehose.settle(timeout=60)
    in_index = set(event_ids(indexed(search)))
    backup = firehose.backed_up_documents()
    if fields_key:
        assert (in_index, backup) == (numbers | objects, [])
        return
    # The Kinesis delivery keeps JSON fields at the top level: one service's type wins.
    assert in_index in (numbers, objects)
    assert {r["errorCode"] for r in backup} == {"400"}
    assert all("mapper_parsing_exception" in r["errorMessage"] for r in backup)
    in_backup = {str(json.loads(base64.b64decode(r["rawData"]))["cloudwatch"]["id"]) for r in backup}
    assert in_backup | in_index == numbers | objects and not in_backup & in_index
