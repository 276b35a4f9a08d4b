"""Aggregated output on the sandbox: every guarantee of single mode, with KPL records on the stream."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalicelib.aggregation import deaggregate, is_aggregated
from chalicelib.batching import Record
from logstep.health import health_from_emf
from logstep.replay import replay_execution
from logstep.sandbox.faults import FaultPlan
from tests.statemachine.test_execution import delivered_ids, describe_all, run, write_events

AGGREGATED = {"LOGSTEP_OUTPUT_RECORDS": "aggregated", "LOGSTEP_AGGREGATED_RECORD_BYTES": "2000"}


def destination_records(sandbox: Any) -> list[Record]:
    return [
        Record(partition_key=r["PartitionKey"], data=r["Data"])
        for r in sandbox.read_stream(sandbox.destination_stream)
    ]


def test_aggregated_mode_delivers_every_event_once_through_faults(
    make_sandbox: Callable[..., Any], sleeps: Any
) -> None:
    plan = FaultPlan(
        seed=11, throttle_rate=0.3, internal_failure_rate=0.05, call_throttle_rate=0.3
    )  # ~30 calls: some is refused
    sandbox = make_sandbox(faults=plan, environment={**AGGREGATED, "LOGSTEP_MAX_RECORDS_PER_REQUEST": "2"})
    ids = write_events(sandbox, [f"event {i} {'z' * (i % 50)}\n" for i in range(600)])
    assert run(sandbox) == {"SUCCEEDED": 1}
    delivered = delivered_ids(sandbox)
    assert sorted(delivered) == sorted(ids)  # each exactly once
    records = destination_records(sandbox)
    assert sum(not is_aggregated(r.data) for r in records) <= 1  # only a lone last document
    assert all(r.size <= 2000 for r in records)
    assert len(records) < len(ids) / 5
    # Retries resent only the aggregated records that failed: one copy of each was written.
    counters = sandbox.faults.counters
    assert counters.records_written == len(records)
    assert counters.record_errors["ProvisionedThroughputExceededException"] > 0
    assert counters.throttled_calls > 0
    assert sleeps.calls
    # The metrics count both: Kinesis records written, and the documents in them.
    health = health_from_emf(sandbox.metric_documents)
    assert health.get("RecordsDelivered") == len(records)
    assert health.get("DocumentsDelivered") == health.get("DocumentsOut") == len(ids)
    # Each aggregated record is keyed by its first document's event id.
    for record in records:
        first = json.loads(deaggregate(record)[0].data)
        assert record.partition_key == first["cloudwatch"]["id"]


def test_aggregated_pending_records_are_counted_as_documents_and_replayed(
    make_sandbox: Callable[..., Any],
) -> None:
    sandbox = make_sandbox(
        faults=FaultPlan(seed=5, throttle_rate=0.97),  # fault decisions hash the (timestamped) data
        environment={**AGGREGATED, "LOGSTEP_MAX_RECORDS_PER_CHUNK": "4"},
    )
    ids = write_events(sandbox, [f"event {i}\n" for i in range(300)])
    assert run(sandbox) == {"FAILED": 1}
    (execution,) = describe_all(sandbox)
    assert execution["error"] == "RecordsPending"
    pending = len(ids) - len(delivered_ids(sandbox))
    assert pending > 0
    assert f"{pending} of 300 records were not delivered after retries (in " in execution["cause"]
    assert "aggregated Kinesis records" in execution["cause"]

    sandbox.faults.plan = FaultPlan()
    clients = {s: sandbox.client(s) for s in ("stepfunctions", "s3", "kinesis")}
    arn = execution["executionArn"]
    first = replay_execution(
        arn, sfn=clients["stepfunctions"], s3=clients["s3"], kinesis=clients["kinesis"], sleep=lambda _: None
    )
    assert first.still_pending == 0
    after = delivered_ids(sandbox)
    assert sorted(after) == sorted(ids)  # exactly the pending documents were resent, once
    second = replay_execution(
        arn, sfn=clients["stepfunctions"], s3=clients["s3"], kinesis=clients["kinesis"], sleep=lambda _: None
    )
    assert second.sent == 0
