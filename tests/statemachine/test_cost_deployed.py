"""logstep cost --deployed against the sandbox: real executions and histories on moto, plus
the metrics AWS itself would publish (moto cannot: EMF extraction, Lambda's and Kinesis'
own metrics), put with PutMetricData. The counters are checked against hand-computed
numbers and against what the sandbox measured itself.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from logstep.cost.deployed import (
    PIPELINE_FUNCTIONS,
    Clients,
    Pipeline,
    Window,
    executions_in_window,
    read_usage,
)
from logstep.cost.model import GIB, Assumptions, bill, load_prices
from logstep.sandbox.pipeline import DEFAULT_MEMORY_MB
from tests.statemachine.test_execution import run, write_events

PRICES = load_prices()


def pipeline_of(sandbox: Any) -> Pipeline:
    """The sandbox's resources, named as a deployed stage's are."""
    return Pipeline(
        stage=sandbox.config.stage,
        state_machine_arn=sandbox.state_machine_arn,
        source_stream=sandbox.source_stream,
        destination_stream=sandbox.destination_stream,
        bucket=sandbox.bucket,
        functions={name: f"logstep-{sandbox.config.stage}-{name}" for name in PIPELINE_FUNCTIONS},
    )


def clients_of(sandbox: Any) -> Clients:
    return Clients(*(sandbox.client(s) for s in ("stepfunctions", "cloudwatch", "lambda", "s3", "kinesis")))


def create_functions(sandbox: Any) -> None:
    """The Lambda functions as Chalice deploys them (the sandbox answers invocations itself)."""
    role = sandbox.client("iam").create_role(RoleName="logstep-lambda", AssumeRolePolicyDocument="{}")["Role"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "")
    lam = sandbox.client("lambda")
    for name, function in pipeline_of(sandbox).functions.items():
        lam.create_function(
            FunctionName=function,
            Runtime="python3.12",
            Role=role["Arn"],
            Handler=f"app.{name}",
            Code={"ZipFile": buffer.getvalue()},
            MemorySize=DEFAULT_MEMORY_MB[name],
            Environment={"Variables": sandbox.environment()},
        )


class CloudWatchStandIn:
    """Publishes what AWS would have since the last call and moto does not: the EMF documents
    the handlers printed (CloudWatch Logs extracts them), Lambda's Invocations and Duration,
    and the source stream's IncomingRecords and IncomingBytes (moto publishes those for
    PutRecords, as on the destination, but not for CloudWatch Logs' deliveries)."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.cloudwatch = sandbox.client("cloudwatch")
        self.emf_published = 0
        self.lambda_published: dict[str, tuple[int, float]] = {}
        self.streams_published: dict[str, tuple[int, int]] = {}

    def publish(self) -> None:
        now = datetime.now(UTC)
        for document in self.sandbox.metric_documents[self.emf_published :]:
            directive = document["_aws"]["CloudWatchMetrics"][0]
            dimensions = [{"Name": k, "Value": document[k]} for k in directive["Dimensions"][0]]
            at = datetime.fromtimestamp(document["_aws"]["Timestamp"] / 1000, UTC)
            data = []
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                values = value if isinstance(value, list) else [value]
                data.append(
                    {
                        "MetricName": metric["Name"],
                        "Dimensions": dimensions,
                        "Timestamp": at,
                        "Values": [float(v) for v in values],
                        "Unit": metric["Unit"],
                    }
                )
            self.cloudwatch.put_metric_data(Namespace=directive["Namespace"], MetricData=data)
        self.emf_published = len(self.sandbox.metric_documents)
        for name, stats in self.sandbox.function_stats.items():
            invocations, duration = self.lambda_published.get(name, (0, 0.0))
            dimensions = [{"Name": "FunctionName", "Value": f"logstep-{self.sandbox.config.stage}-{name}"}]
            self.cloudwatch.put_metric_data(
                Namespace="AWS/Lambda",
                MetricData=[
                    datum("Invocations", dimensions, now, stats.invocations - invocations, "Count"),
                    datum("Duration", dimensions, now, stats.duration_ms - duration, "Milliseconds"),
                ],
            )
            self.lambda_published[name] = (stats.invocations, stats.duration_ms)
        for stream in (self.sandbox.source_stream,):
            records = list(self.sandbox.read_stream(stream))
            count, size = len(records), sum(len(r["Data"]) for r in records)
            published_count, published_size = self.streams_published.get(stream, (0, 0))
            dimensions = [{"Name": "StreamName", "Value": stream}]
            self.cloudwatch.put_metric_data(
                Namespace="AWS/Kinesis",
                MetricData=[
                    datum("IncomingRecords", dimensions, now, count - published_count, "Count"),
                    datum("IncomingBytes", dimensions, now, size - published_size, "Bytes"),
                ],
            )
            self.streams_published[stream] = (count, size)


def datum(
    name: str, dimensions: list[dict[str, str]], at: datetime, value: float, unit: str
) -> dict[str, Any]:
    """One PutMetricData datum, as AWS's own services publish them."""
    return {"MetricName": name, "Dimensions": dimensions, "Timestamp": at, "Value": value, "Unit": unit}


def run_prefix_bytes(sandbox: Any, execution_name: str) -> int:
    s3 = sandbox.client("s3")
    listed = s3.list_objects_v2(Bucket=sandbox.bucket, Prefix=f"runs/{execution_name}/")
    return sum(int(item["Size"]) for item in listed.get("Contents", []))


@pytest.mark.slow
def test_a_windows_counters_and_bill_match_the_hand_computed_run(make_sandbox: Callable[..., Any]) -> None:
    # Two batches on one source shard, chunks of at most 10 records:
    #   A: 15 events of 9 bytes ("first 00\n"), 2 chunks, its first put_batch fails once (a retry);
    #   B: 25 events of 10 bytes ("second 00\n"), 3 chunks, no retry.
    sandbox = make_sandbox(
        source_shards=1,
        environment={"LOGSTEP_MAX_RECORDS_PER_CHUNK": "10"},
        task_failures={"put_batch": 1},
    )
    create_functions(sandbox)
    cloudwatch = CloudWatchStandIn(sandbox)
    started = datetime.now(UTC)
    write_events(sandbox, [f"first {i:02d}\n" for i in range(15)], stream="a")
    assert run(sandbox) == {"SUCCEEDED": 1}
    cloudwatch.publish()
    # CloudWatch (and moto) truncate a window's start: keep A's data points a second clear of B's.
    time.sleep(1.1)
    between = datetime.now(UTC)
    requests_before_b = dict(sandbox.s3_requests)
    durations_before_b = {n: s.duration_ms for n, s in sandbox.function_stats.items()}
    written_before_b = sandbox.faults.counters.bytes_written
    written_s3_before_b = sandbox.s3_bytes_written
    write_events(sandbox, [f"second {i:02d}\n" for i in range(25)], stream="b")
    assert run(sandbox) == {"SUCCEEDED": 2}
    cloudwatch.publish()
    until = datetime.now(UTC) + timedelta(minutes=1)
    clients, pipeline = clients_of(sandbox), pipeline_of(sandbox)

    b = read_usage(clients, pipeline, Window(between, until)).usage
    assert (b.executions, b.chunks, b.transitions, b.retries) == (1, 3, 6 + 3, 0)
    assert (b.events, b.log_bytes) == (25, 25 * 10)
    # The S3 estimate is exactly what the sandbox counted for B.
    measured = {op: n - requests_before_b.get(op, 0) for op, n in sandbox.s3_requests.items()}
    assert (b.s3_put, b.s3_get) == (4 + 2 * 3, 2 + 2 * 3) == (measured["PutObject"], measured["GetObject"])
    functions = {f.name: f for f in b.functions}
    assert {n: f.invocations for n, f in functions.items()} == {
        "ingest": 1,
        "decode": 1,
        "transform": 1,
        "put_batch": 3,
        "summarize": 1,
    }
    assert {n: f.memory_mb for n, f in functions.items()} == DEFAULT_MEMORY_MB
    put_batch_ms = sandbox.function_stats["put_batch"].duration_ms - durations_before_b["put_batch"]
    assert functions["put_batch"].billed_ms == pytest.approx(put_batch_ms + 3 * 0.5)
    assert b.destination.records == 25
    assert b.destination.bytes == sandbox.faults.counters.bytes_written - written_before_b  # data + key
    assert all(len(r.data) < 1024 for r in sandbox.read_destination_records())
    assert b.destination.units == {"kb1": 25, "kb5": 25, "kb25": 25}  # every document under 1 KB
    assert b.documents == b.destination and b.output_records == "single"
    execution_b = max(sandbox.executions(), key=lambda e: e["startDate"])
    assert b.claimcheck_bytes == run_prefix_bytes(sandbox, execution_b["name"]) > 0
    assert b.source.records >= 1
    # Summarize deleted B's raw batch, envelopes and chunks: estimated from the streams.
    assert b.claimcheck_transient_bytes == pytest.approx(
        4 / 3 * b.source.bytes + 25 * 10 + 25 * 105 + b.destination.bytes
    )
    deleted = sandbox.s3_bytes_written - written_s3_before_b - b.claimcheck_bytes
    assert b.claimcheck_transient_bytes == pytest.approx(deleted, rel=0.15)  # moto's ids are short

    lines = {line.item: line for line in bill(b, PRICES, Assumptions())}
    assert lines["state transitions"].cost == pytest.approx(9 * 0.000025)
    assert lines["requests"].quantity == 7
    assert lines["PUT/LIST requests"].cost == pytest.approx(10 * 0.005 / 1000)
    assert lines["destination: PUT payload units"].cost == pytest.approx(25 * 0.014 / 1e6)
    assert lines["ingestion (5 KB steps)"].cost == pytest.approx(25 * 5 * 1024 / GIB * 0.029)
    gb_s = functions["put_batch"].billed_ms / 1000 * 1024 / 1024
    assert lines["put_batch duration (1024 MB)"].quantity == pytest.approx(gb_s)

    both = read_usage(clients, pipeline, Window(started - timedelta(seconds=1), until)).usage
    assert (both.executions, both.chunks, both.transitions, both.retries) == (2, 5, 9 + 9, 1)
    assert (both.events, both.log_bytes) == (40, 15 * 9 + 25 * 10)
    # The retry counts one more read and write of the pending set (a throttled attempt makes
    # them; the injected failure here fails before the handler runs, so S3 saw 16 and 14).
    assert (both.s3_put, both.s3_get) == (4 * 2 + 2 * 5 + 1, 2 * 2 + 2 * 5 + 1)
    assert {f.name: f.invocations for f in both.functions}["put_batch"] == 2 + 1 + 3
    assert both.destination.records == 40
    assert both.destination.bytes == sandbox.faults.counters.bytes_written

    # A sample of one reads the earlier execution (A) and scales it to both.
    sampled = read_usage(clients, pipeline, Window(started - timedelta(seconds=1), until), sample=1)
    assert (sampled.usage.chunks, sampled.usage.transitions, sampled.usage.retries) == (2 * 2, 9 * 2, 1 * 2)
    assert sampled.usage.events == 40  # metrics are not sampled
    assert any("1 of 2 executions (--sample)" in e for e in sampled.estimates)


@pytest.mark.slow
def test_executions_are_read_page_by_page_and_paging_stops_before_the_window(
    make_sandbox: Callable[..., Any],
) -> None:
    sandbox = make_sandbox(source_shards=1)
    for stream in ("a", "b", "c"):
        write_events(sandbox, [f"{stream} event\n"], stream=stream)
        run(sandbox)
        time.sleep(0.01)
    assert len(sandbox.executions()) == 3
    sfn = sandbox.client("stepfunctions")
    calls: list[str] = []
    sfn.meta.events.register("after-call.sfn.ListExecutions", lambda **_: calls.append("list"))
    arn = sandbox.state_machine_arn
    everything = Window(datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1))

    assert len(executions_in_window(sfn, arn, everything, page_size=2)) == 3
    assert len(calls) == 2  # a page of 2, then a page of 1
    calls.clear()
    assert len(executions_in_window(sfn, arn, everything, page_size=1)) == 3
    assert len(calls) == 3

    newest = max(e["startDate"] for e in sandbox.executions())
    calls.clear()
    only_newest = Window(newest, newest + timedelta(seconds=1))
    found = executions_in_window(sfn, arn, only_newest, page_size=1)
    assert [e["startDate"] for e in found] == [newest]
    assert len(calls) == 2  # the second page reached back before the window: no third


def test_more_executions_than_moto_s_default_page(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        import boto3

        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        role = "arn:aws:iam::123456789012:role/states"
        definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
        arn = sfn.create_state_machine(name="m", definition=definition, roleArn=role)["stateMachineArn"]
        for i in range(130):
            sfn.start_execution(stateMachineArn=arn, name=f"e{i:03d}")
        window = Window(datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1))
        found = executions_in_window(sfn, arn, window)
    assert len({e["name"] for e in found}) == 130  # moto pages by 100
