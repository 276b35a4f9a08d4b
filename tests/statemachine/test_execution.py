"""The real definition, executed by moto's interpreter with the Chalice handlers as its tasks.

Every delivery guarantee of the pipeline, checked end to end on the sandbox.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib import limits
from chalicelib.batching import decode_records
from logstep.history import count_execution, execution_history, payloads
from logstep.replay import replay_execution
from logstep.sandbox.faults import FaultPlan
from logstep.sandbox.pipeline import Sandbox, SandboxConfig
from tests.helpers import envelope

GROUP = "/aws/lambda/orders"


def write_events(sandbox: Any, messages: list[str], group: str = GROUP, stream: str = "s1") -> set[str]:
    """PutLogEvents through a real subscription filter; returns the events' ids."""
    sandbox.subscribe(group)
    logs = sandbox.client("logs")
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    for i in range(0, len(messages), 1000):
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[
                {"timestamp": now + i + j, "message": m} for j, m in enumerate(messages[i : i + 1000])
            ],
        )
    ids: set[str] = set()
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group, logStreamNames=[stream]):
        ids.update(e["eventId"] for e in page["events"])
    return ids


def run(sandbox: Any) -> dict[str, Any]:
    sandbox.drain()
    statuses = sandbox.wait_for_executions(timeout=120)
    return dict(statuses)


def delivered_ids(sandbox: Any) -> list[str]:
    return [d["cloudwatch"]["id"] for d in sandbox.read_destination()]


def describe_all(sandbox: Any) -> list[dict[str, Any]]:
    sfn = sandbox.client("stepfunctions")
    return [sfn.describe_execution(executionArn=e["executionArn"]) for e in sandbox.executions()]


def test_events_become_documents_on_the_destination(make_sandbox: Callable[..., Any]) -> None:
    sandbox = make_sandbox()
    ids = write_events(
        sandbox,
        [
            f"[INFO]\t2026-11-26T08:00:00.{i:03d}Z\t{'a' * 8}-1111-2222-3333-{'b' * 12}\tline {i}\n"
            for i in range(40)
        ],
    )
    assert run(sandbox) == {"SUCCEEDED": 1}
    documents = sandbox.read_destination()
    assert sorted(d["cloudwatch"]["id"] for d in documents) == sorted(ids)
    first = next(d for d in documents if d["message"] == "line 0")
    assert first["level"] == "INFO"
    assert first["timestamp"].endswith("Z")
    assert first["cloudwatch"]["logGroup"] == GROUP
    assert first["lambda"]["requestId"] == f"{'a' * 8}-1111-2222-3333-{'b' * 12}"


def test_throttling_and_internal_failures_resend_only_what_failed(
    make_sandbox: Callable[..., Any], sleeps: Any
) -> None:
    # 60+ calls at a 20% call-throttle rate: some call is refused, whatever the event ids.
    plan = FaultPlan(seed=3, throttle_rate=0.3, internal_failure_rate=0.05, call_throttle_rate=0.2)
    sandbox = make_sandbox(faults=plan, environment={"LOGSTEP_MAX_RECORDS_PER_REQUEST": "10"})
    ids = write_events(sandbox, [f"event {i}\n" for i in range(600)])
    assert run(sandbox) == {"SUCCEEDED": 1}
    assert sorted(delivered_ids(sandbox)) == sorted(ids)
    counters = sandbox.faults.counters
    # Exactly one copy of each record was written: retries resent only the failed ones.
    assert counters.records_written == len(ids)
    assert counters.record_errors["ProvisionedThroughputExceededException"] > 0
    assert counters.record_errors["InternalFailure"] > 0
    assert counters.throttled_calls > 0
    # Backoff happened, with full jitter under the 30 s cap.
    assert sleeps.calls
    assert all(0 <= s <= 30 for s in sleeps.calls)
    errors = sandbox.function_stats["put_batch"].error_types
    assert errors["RecordsThrottledError"] > 0


def test_a_failing_lambda_task_is_retried(make_sandbox: Callable[..., Any]) -> None:
    sandbox = make_sandbox(task_failures={"decode": 1, "put_batch": 2})
    ids = write_events(sandbox, [f"event {i}\n" for i in range(20)])
    assert run(sandbox) == {"SUCCEEDED": 1}
    assert sorted(delivered_ids(sandbox)) == sorted(ids)
    assert sandbox.function_stats["decode"].error_types == {"InjectedTaskFailure": 1}
    assert sandbox.function_stats["put_batch"].error_types == {"InjectedTaskFailure": 2}


def test_exhausted_retries_fail_the_execution_and_replay_sends_exactly_the_pending_records(
    make_sandbox: Callable[..., Any],
) -> None:
    sandbox = make_sandbox(
        faults=FaultPlan(seed=5, throttle_rate=0.97),
        environment={"LOGSTEP_MAX_RECORDS_PER_CHUNK": "25"},
    )
    ids = write_events(sandbox, [f"event {i}\n" for i in range(100)])
    assert run(sandbox) == {"FAILED": 1}
    (execution,) = describe_all(sandbox)
    assert execution["error"] == "RecordsPending"
    first_delivery = delivered_ids(sandbox)
    pending = len(ids) - len(first_delivery)
    assert pending > 0
    assert f"{pending} of 100 records were not delivered" in execution["cause"]
    assert f"s3://{sandbox.bucket}/runs/{execution['name']}/pending/" in execution["cause"]
    assert "logstep replay" in execution["cause"]
    # Nothing was deleted: the raw batch and every chunk are still there.
    s3 = sandbox.client("s3")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=sandbox.bucket)["Contents"]}
    assert f"runs/{execution['name']}/raw.json" in keys
    assert len([k for k in keys if "/chunks/" in k]) == 4

    sandbox.faults.plan = FaultPlan()  # the destination recovers
    clients = {s: sandbox.client(s) for s in ("stepfunctions", "s3", "kinesis")}
    arn = execution["executionArn"]
    first = replay_execution(
        arn, sfn=clients["stepfunctions"], s3=clients["s3"], kinesis=clients["kinesis"], sleep=lambda _: None
    )
    assert (first.sent, first.still_pending) == (pending, 0)
    after = delivered_ids(sandbox)
    assert sorted(set(after)) == sorted(ids)
    assert len(after) == len(ids)  # exactly the pending records were resent
    second = replay_execution(
        arn, sfn=clients["stepfunctions"], s3=clients["s3"], kinesis=clients["kinesis"], sleep=lambda _: None
    )
    assert (second.sent, second.chunks) == (0, 0)
    assert len(delivered_ids(sandbox)) == len(ids)


def put_source_records(sandbox: Any, payloads: list[bytes]) -> None:
    kinesis = sandbox.client("kinesis")
    for i, data in enumerate(payloads):
        kinesis.put_record(StreamName=sandbox.source_stream, Data=data, PartitionKey=f"k{i}")


def test_records_that_are_not_envelopes_are_quarantined_and_the_rest_goes_on(
    make_sandbox: Callable[..., Any],
) -> None:
    sandbox = make_sandbox(source_shards=1)
    good = envelope([{"id": "100", "timestamp": 1, "message": "kept\n"}])
    put_source_records(
        sandbox,
        [
            b"not gzip at all",
            gzip.compress(b"{broken json"),
            gzip.compress(json.dumps(good).encode()),
            gzip.compress(b'{"messageType": "CONTROL_MESSAGE", "logEvents": []}'),
            gzip.compress(b"[1, 2, 3]"),
        ],
    )
    assert run(sandbox) == {"SUCCEEDED": 1}
    assert delivered_ids(sandbox) == ["100"]
    (execution,) = describe_all(sandbox)
    output = json.loads(execution["output"])
    assert output["quarantined"] == 3
    assert output["controlMessages"] == 1
    quarantine = json.loads(
        sandbox.client("s3")
        .get_object(Bucket=sandbox.bucket, Key=f"{output['run']}quarantine.json")["Body"]
        .read()
    )
    reasons = [r["reason"] for r in quarantine["records"]]
    assert reasons[0].startswith("not gzip or zlib")
    assert reasons[1].startswith("not JSON")
    assert reasons[2].startswith("envelope is a JSON list")
    assert base64.b64decode(quarantine["records"][0]["data"]) == b"not gzip at all"


def test_an_oversize_document_is_truncated_with_a_marker_and_its_original_kept(
    make_sandbox: Callable[..., Any],
) -> None:
    sandbox = make_sandbox(environment={"LOGSTEP_MAX_RECORD_BYTES": "4096"})
    ids = write_events(sandbox, ["x" * 20_000 + "\n", "small\n"])
    assert run(sandbox) == {"SUCCEEDED": 1}
    documents = {d["cloudwatch"]["id"]: d for d in sandbox.read_destination()}
    assert set(documents) == ids
    big = next(d for d in documents.values() if d.get("logstep"))
    assert big["logstep"]["truncated"] is True
    assert big["message"].endswith("[truncated by logstep]")
    bucket, key = big["logstep"]["originalRef"].removeprefix("s3://").split("/", 1)
    original = json.loads(sandbox.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert original["message"] == "x" * 20_000
    (execution,) = describe_all(sandbox)
    assert json.loads(execution["output"])["oversize"] == 1


def test_a_redelivered_batch_does_not_start_a_second_execution(make_sandbox: Callable[..., Any]) -> None:
    sandbox = make_sandbox(source_shards=1)
    write_events(sandbox, ["once\n"])
    assert run(sandbox) == {"SUCCEEDED": 1}
    sandbox._iterators.clear()  # the event source mapping redelivers from the start
    assert sandbox.drain() == 1
    assert dict(sandbox.wait_for_executions()) == {"SUCCEEDED": 1}
    assert delivered_ids(sandbox) == delivered_ids(sandbox)[:1]


@pytest.mark.slow
def test_a_10000_record_6_mb_batch_keeps_every_state_payload_under_256_kib(
    make_sandbox: Callable[..., Any],
) -> None:
    sandbox = make_sandbox(source_shards=1, destination_shards=4)
    kinesis = sandbox.client("kinesis")
    rng = random.Random(0)
    event_id = 0
    total = 0
    batch: list[dict[str, Any]] = []
    for i in range(10_000):
        events = []
        for _ in range(4):
            events.append(
                {
                    "id": str(event_id),
                    "timestamp": 1795680000000 + event_id,
                    "message": f"{event_id:08d} {base64.b64encode(rng.randbytes(86)).decode()}\n",
                }
            )
            event_id += 1
        data = gzip.compress(json.dumps(envelope(events)).encode())
        total += len(data)
        batch.append({"Data": data, "PartitionKey": f"k{i}"})
        if len(batch) == 500:
            kinesis.put_records(StreamName=sandbox.source_stream, Records=batch)
            batch = []
    assert 6_000_000 < total <= 6 * 1024 * 1024  # the event source mapping's 6 MB payload limit
    assert sandbox.pump() == 10_000
    assert dict(sandbox.wait_for_executions(timeout=600)) == {"SUCCEEDED": 1}
    (execution,) = sandbox.executions()
    events = execution_history(sandbox.client("stepfunctions"), execution["executionArn"])
    largest = max(len(p.encode()) for p in payloads(events))
    assert largest < limits.MAX_STATE_PAYLOAD_BYTES
    counts = count_execution(events)
    assert counts.largest_payload_bytes == largest
    assert len(set(delivered_ids(sandbox))) == event_id


@settings(max_examples=6, deadline=None)
@given(
    throttle=st.floats(min_value=0, max_value=0.9),
    internal=st.floats(min_value=0, max_value=0.09),
    call=st.floats(min_value=0, max_value=0.5),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_every_event_is_delivered_or_reported_pending(
    throttle: float, internal: float, call: float, seed: int
) -> None:
    config = SandboxConfig(
        sleep=lambda _: None,
        faults=FaultPlan(
            seed=seed, throttle_rate=throttle, internal_failure_rate=internal, call_throttle_rate=call
        ),
        environment={"LOGSTEP_MAX_RECORDS_PER_CHUNK": "40", "LOGSTEP_MAX_RECORDS_PER_REQUEST": "20"},
    )
    with Sandbox(config) as sandbox:
        ids = write_events(sandbox, [f"event {i}\n" for i in range(120)])
        run(sandbox)
        delivered = set(delivered_ids(sandbox))
        pending: set[str] = set()
        s3 = sandbox.client("s3")
        for execution in describe_all(sandbox):
            if execution["status"] == "FAILED":
                assert execution["error"] == "RecordsPending"
                prefix = f"runs/{execution['name']}/pending/"
                for item in s3.list_objects_v2(Bucket=sandbox.bucket, Prefix=prefix).get("Contents", []):
                    blob = s3.get_object(Bucket=sandbox.bucket, Key=item["Key"])["Body"].read()
                    pending.update(json.loads(r.data)["cloudwatch"]["id"] for r in decode_records(blob))
        assert ids <= delivered | pending


def test_emitted_metrics_match_what_happened_in_a_run_with_faults(make_sandbox: Callable[..., Any]) -> None:
    from logstep.health import health_from_emf

    plan = FaultPlan(seed=9, throttle_rate=0.3, internal_failure_rate=0.05, call_throttle_rate=0.3)
    sandbox = make_sandbox(
        faults=plan, environment={"LOGSTEP_MAX_RECORDS_PER_REQUEST": "10"}, source_shards=1
    )
    messages = [f"event {i} \u00e9t\u00e9\n" for i in range(300)]  # 2 bytes per accented letter
    ids = write_events(sandbox, messages)
    put_source_records(sandbox, [b"junk", gzip.compress(b"[]")])
    assert run(sandbox) == {"SUCCEEDED": 1}
    health = health_from_emf(sandbox.metric_documents)
    counters = sandbox.faults.counters
    assert health.get("EventsIn") == len(ids)
    assert health.get("LogBytesIn") == sum(len(m) + 2 for m in messages)
    assert health.get("DocumentsOut") == len(ids)
    assert health.get("RecordsDelivered") == counters.records_written == len(ids)
    assert health.get("DocumentsDelivered") == len(ids)
    assert health.get("PutRecordsCalls") == counters.calls
    assert health.get("CallsThrottled") == counters.throttled_calls > 0
    assert health.get("RecordsThrottled") >= sum(counters.record_errors.values()) > 0
    assert health.get("RecordsPending") == 0
    assert dict(health.quarantined_by_reason) == {"NotCompressed": 1, "NotAnObject": 1}
    assert health.get("SourceRecords") == 3 and health.get("BatchesStarted") == 1
    assert health.lag_ms and all(lag >= 0 for lag in health.lag_ms)
    every_step = {d["step"] for d in sandbox.metric_documents}
    assert every_step == {"ingest", "decode", "transform", "put_batch", "summarize"}


def test_a_crash_between_putrecords_and_bookkeeping_duplicates_but_never_loses(
    make_sandbox: Callable[..., Any],
) -> None:
    from botocore.exceptions import ClientError

    sandbox = make_sandbox()
    failures = {"left": 1}

    def fail_pending_write(params: dict[str, Any], **_: Any) -> None:
        if "/pending/" in params.get("Key", "") and failures["left"]:
            failures["left"] -= 1
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "PutObject")

    # The handlers' S3 client: the write of the pending set fails once, after PutRecords.
    sandbox._app._client("s3").meta.events.register("before-parameter-build.s3.PutObject", fail_pending_write)
    ids = write_events(sandbox, [f"event {i}\n" for i in range(30)])
    assert run(sandbox) == {"SUCCEEDED": 1}
    delivered = delivered_ids(sandbox)
    assert set(delivered) == ids
    assert len(delivered) == 2 * len(ids)  # the chunk was resent: duplicates, dedup on cloudwatch.id
    assert sandbox.function_stats["put_batch"].error_types == {"StorageUnavailableError": 1}
