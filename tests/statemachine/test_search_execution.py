"""The search delivery on the real definition: moto's interpreter, the Chalice handlers, and
osmem-server (behind the sandbox's fault proxy) as the cluster.

Each bulk outcome docs/destinations/search.md promises, end to end: throttled and failing items retried
until the index holds exactly one copy of every event; a crash between _bulk and the
pending-set write; a mapping rejection that fails the execution with its reason and is
replayed once the mapping is fixed; a type conflict between two services' JSON fields;
and runs that keep their delivery when the stage switches.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.delivery.search import HttpTransport, SearchDelivery, no_auth
from chalicelib.indices import index_name
from chalicelib.settings import SearchSettings
from logstep.replay import replay_execution
from logstep.sandbox.faults import FaultPlan

pytestmark = pytest.mark.slow

# A fixed hour (yesterday, 10:00 UTC): index names follow the events' own time.
BASE_MS = (int(time.time() // 86_400) - 1) * 86_400_000 + 10 * 3_600_000
INDEX = index_name("logstep", "OneDay", BASE_MS)


def write(sandbox: Any, group: str, messages: list[str], stream: str = "s1") -> set[str]:
    """PutLogEvents through a real subscription filter at BASE_MS; returns the event ids."""
    sandbox.subscribe(group)
    logs = sandbox.client("logs")
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": BASE_MS + i, "message": m} for i, m in enumerate(messages)],
    )
    pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group, logStreamNames=[stream])
    return {e["eventId"] for page in pages for e in page["events"]}


def run(sandbox: Any) -> dict[str, int]:
    sandbox.drain()
    return dict(sandbox.wait_for_executions(timeout=120))


def indexed(search: Any) -> list[dict[str, Any]]:
    search.refresh()
    return [hit["_source"] for hit in search.documents("logstep-*")]


def metric_total(sandbox: Any, name: str) -> float:
    return sum(d.get(name, 0) for d in sandbox.metric_documents if isinstance(d.get(name, 0), int | float))


def describe_all(sandbox: Any) -> list[dict[str, Any]]:
    sfn = sandbox.client("stepfunctions")
    return [sfn.describe_execution(executionArn=e["executionArn"]) for e in sandbox.executions()]


def replay(sandbox: Any, arn: str) -> Any:
    def search(target: str) -> SearchDelivery:
        return SearchDelivery(
            HttpTransport(target, no_auth, 30), SearchSettings(endpoint=target, auth="none")
        )

    clients = {s: sandbox.client(s) for s in ("stepfunctions", "s3", "kinesis")}
    return replay_execution(
        arn,
        sfn=clients["stepfunctions"],
        s3=clients["s3"],
        kinesis=clients["kinesis"],
        sleep=lambda _: None,
        search=search,
    )


def test_throttled_and_failing_items_end_up_in_the_index_exactly_once(
    make_sandbox: Callable[..., Any], make_search: Callable[..., Any]
) -> None:
    search = make_search(seed=3, throttle_rate=0.3, error_rate=0.05, request_throttle_rate=0.1)
    sandbox = make_sandbox(
        environment={
            **search.environment(),
            "LOGSTEP_MAX_RECORDS_PER_CHUNK": "40",
            "LOGSTEP_MAX_BULK_DOCUMENTS": "15",
        }
    )
    ids = write(sandbox, "/aws/lambda/orders", [f"order {i} placed\n" for i in range(120)])
    assert run(sandbox) == {"SUCCEEDED": 1}
    documents = indexed(search)
    assert sorted(d["cloudwatch"]["id"] for d in documents) == sorted(ids)  # each once
    assert search.count("logstep-*") == len(ids)
    counters = search.faults.counters
    assert counters.injected["429"] > 0 and counters.injected["503"] > 0
    assert counters.throttled_requests > 0
    # Every injected failure was resent, and nothing was written twice.
    assert metric_total(sandbox, "BulkItemsThrottled") >= counters.injected["429"] + counters.injected["503"]
    assert {d["cloudwatch"]["logGroup"] for d in documents} == {"/aws/lambda/orders"}
    assert set(search.request("GET", "/_cat/indices/logstep-*?format=json")[0].values()) >= {INDEX}


def test_a_crash_between_bulk_and_the_pending_write_leaves_one_copy(
    make_sandbox: Callable[..., Any], make_search: Callable[..., Any]
) -> None:
    search = make_search()
    sandbox = make_sandbox(environment=search.environment())
    crashes: list[str] = []

    def crash_once(params: dict[str, Any], **_: Any) -> None:
        if "/pending/" in params.get("Key", "") and not crashes:
            crashes.append(params["Key"])
            raise RuntimeError("put_batch died after _bulk, before writing its pending set")

    events = sandbox._app._client("s3").meta.events  # the handlers' own S3 client
    events.register("before-parameter-build.s3.PutObject", crash_once)
    try:
        ids = write(sandbox, "/aws/lambda/orders", [f"line {i}\n" for i in range(30)])
        assert run(sandbox) == {"SUCCEEDED": 1}
    finally:
        events.unregister("before-parameter-build.s3.PutObject", crash_once)
    assert crashes  # the crash happened, after the documents were written
    documents = indexed(search)
    assert len(documents) == len(ids) == 30
    # The retry resent the whole chunk; the index answered 409 for each and kept one copy.
    assert metric_total(sandbox, "DuplicatesSuppressed") == 30
    assert search.faults.counters.item_errors["409"] == 30


def test_a_mapping_rejection_fails_the_run_with_its_reason_and_replays_once_fixed(
    make_sandbox: Callable[..., Any], make_search: Callable[..., Any]
) -> None:
    search = make_search()
    # A wrong mapping, as a stale template would leave: timestamp as a number.
    search.request("PUT", f"/{INDEX}", {"mappings": {"properties": {"timestamp": {"type": "long"}}}})
    sandbox = make_sandbox(environment=search.environment())
    ids = write(sandbox, "/aws/lambda/orders", [f"line {i}\n" for i in range(12)])
    assert run(sandbox) == {"FAILED": 1}
    (execution,) = describe_all(sandbox)
    cause = execution["cause"]
    assert execution["error"] == "RecordsPending"
    assert "12 of 12 records were not delivered" in cause and "DeliveryRejectedError" in cause
    assert "The cluster refused 12 of them for good (12 x mapper_parsing_exception" in cause
    run_prefix = f"runs/{execution['name']}/"
    assert f"s3://{sandbox.bucket}/{run_prefix}rejected/" in cause
    reasons = json.loads(
        sandbox.client("s3")
        .get_object(Bucket=sandbox.bucket, Key=f"{run_prefix}rejected/00000.json")["Body"]
        .read()
    )["documents"]
    assert {r["status"] for r in reasons} == {400} and len(reasons) == 12
    assert "failed to parse field [timestamp]" in reasons[0]["error"]
    assert metric_total(sandbox, "DocumentsRejected") == 12
    assert metric_total(sandbox, "RecordsPending") == 12
    assert indexed(search) == []

    # Fix the mapping (drop the index; the template makes it right), then replay.
    search.request("DELETE", f"/{INDEX}")
    first = replay(sandbox, execution["executionArn"])
    assert (first.sent, first.still_pending) == (12, 0)
    assert sorted(d["cloudwatch"]["id"] for d in indexed(search)) == sorted(ids)
    second = replay(sandbox, execution["executionArn"])
    assert (second.sent, second.chunks) == (0, 0)
    assert search.count("logstep-*") == 12


def two_services(sandbox: Any) -> tuple[set[str], set[str]]:
    """Two services that log the same JSON field name with different types."""
    numbers = write(sandbox, "/aws/lambda/orders", [json.dumps({"msg": "placed", "id": n}) for n in range(5)])
    objects = write(
        sandbox,
        "/aws/lambda/tenants",
        [json.dumps({"msg": "created", "id": {"tenant": f"t{n}", "region": "eu"}}) for n in range(5)],
    )
    return numbers, objects


def test_two_services_with_conflicting_json_field_types_share_the_index(
    make_sandbox: Callable[..., Any], make_search: Callable[..., Any]
) -> None:
    search = make_search()
    sandbox = make_sandbox(environment=search.environment(), source_shards=1)
    numbers, objects = two_services(sandbox)
    assert run(sandbox) == {"SUCCEEDED": 1}
    documents = {d["cloudwatch"]["id"]: d for d in indexed(search)}
    assert set(documents) == numbers | objects
    assert {documents[i]["fields"]["id"] for i in numbers} == set(range(5))
    assert {documents[i]["fields"]["id"]["tenant"] for i in objects} == {f"t{n}" for n in range(5)}
    hits = search.request("GET", "/logstep-*/_search?q=fields.id.tenant:t3")["hits"]["hits"]
    assert [h["_source"]["cloudwatch"]["logGroup"] for h in hits] == ["/aws/lambda/tenants"]


def test_the_same_conflict_with_fields_at_the_top_level_is_rejected_not_lost(
    make_sandbox: Callable[..., Any], make_search: Callable[..., Any]
) -> None:
    search = make_search()
    sandbox = make_sandbox(
        environment={**search.environment(), "LOGSTEP_JSON_FIELDS_KEY": "none"}, source_shards=1
    )
    numbers, objects = two_services(sandbox)
    assert run(sandbox) == {"FAILED": 1}
    (execution,) = describe_all(sandbox)
    assert "mapper_parsing_exception" in execution["cause"]
    kept = {d["cloudwatch"]["id"] for d in indexed(search)}
    # One service's documents went in; the other's wait in the pending set, with reasons.
    assert kept in (numbers, objects)
    assert "5 of 10 records were not delivered" in execution["cause"]


def test_runs_keep_the_delivery_they_started_with_when_the_stage_switches(
    make_sandbox: Callable[..., Any], make_search: Callable[..., Any]
) -> None:
    search = make_search()
    sandbox = make_sandbox(faults=FaultPlan(seed=1, throttle_rate=0.95))
    ids = write(sandbox, "/aws/lambda/orders", [f"line {i}\n" for i in range(20)])
    assert run(sandbox) == {"FAILED": 1}  # a kinesis run left records pending
    (kinesis_run,) = describe_all(sandbox)
    on_stream = len(sandbox.read_destination())

    # The stage switches to search; the destination stream's variable goes away.
    switched = {**search.environment(), "LOGSTEP_DESTINATION_STREAM": ""}
    saved = {k: os.environ.get(k) for k in switched}
    os.environ.update(switched)
    sandbox._app.reset()
    sandbox.faults.plan = FaultPlan()
    try:
        result = replay(sandbox, kinesis_run["executionArn"])
        assert result.still_pending == 0 and result.sent == len(ids) - on_stream
        # ... its records went to the stream it was made for, not to the index.
        assert sorted(d["cloudwatch"]["id"] for d in sandbox.read_destination()) == sorted(ids)
        assert search.count("logstep-*") == 0
        # New batches go to the index.
        more = write(sandbox, "/aws/lambda/orders", [f"later {i}\n" for i in range(5)], stream="s2")
        assert run(sandbox) == {"FAILED": 1, "SUCCEEDED": 1}
        assert {d["cloudwatch"]["id"] for d in indexed(search)} == more
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        sandbox._app.reset()
