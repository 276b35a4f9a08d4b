"""`logstep cost --deployed --stage dev` against the real template deployed into moto.

The stack gives the streams, bucket and state machine; the functions are created as
Chalice would (memory sizes from .chalice/config.json, arm64); the metrics AWS would
publish are put with PutMetricData. moto does not run the executions here (its canned
history: one transition each); test_cost_deployed.py in tests/statemachine runs real ones.
"""

from __future__ import annotations

import argparse
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from logstep.cost import command
from logstep.cost import model as cost
from logstep.cost.deployed import DeployedReadError, resolve_pipeline
from logstep.cost.model import GIB, load_prices
from logstep.deploy.deploy import stage_environment
from tests.deploy.conftest import CONFIG, REGION
from tests.deploy.test_infra_moto import ACCOUNT, _create

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS..S3..BucketPolicy")
BUCKET = f"logstep-dev-claimcheck-{ACCOUNT}-{REGION}"
MEMORY = {
    name: int(f.get("lambda_memory_size", 128))
    for name, f in CONFIG["stages"]["dev"]["lambda_functions"].items()
    if name != "api_handler"
}
# Per function: invocations and the Duration sum (ms) CloudWatch would have.
LAMBDA = {
    "ingest": (2, 300.0),
    "decode": (2, 4000.0),
    "transform": (2, 9000.0),
    "put_batch": (6, 12_000.0),
    "summarize": (2, 20.0),
}


def deploy_dev(output_records: str = "aggregated", metrics: bool = True) -> dict[str, str]:
    """The stack, the five pipeline functions, two executions and their claim-check objects."""
    outputs = _create("dev")
    role = boto3.client("iam").create_role(RoleName="logstep-dev-fn", AssumeRolePolicyDocument="{}")["Role"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "")
    lam = boto3.client("lambda", region_name=REGION)
    env = {**stage_environment("dev"), "LOGSTEP_OUTPUT_RECORDS": output_records}
    for name, memory in MEMORY.items():
        lam.create_function(
            FunctionName=f"logstep-dev-{name}",
            Runtime="python3.12",
            Role=role["Arn"],
            Handler=f"app.{name}",
            Code={"ZipFile": buffer.getvalue()},
            MemorySize=memory,
            Architectures=["arm64"],
            Environment={"Variables": env},
        )
    sfn = boto3.client("stepfunctions", region_name=REGION)
    for name in ("shard0-1-2-aaa", "shard0-3-4-bbb", "shard0-5-6-ccc"):
        started = sfn.start_execution(stateMachineArn=outputs["StateMachineArn"], name=name, input="{}")
        if not name.endswith("ccc"):  # two ended, one still running
            sfn.stop_execution(executionArn=started["executionArn"])
    s3 = boto3.client("s3", region_name=REGION)
    # Of the ended runs only the first's objects are left: the reader scales the bytes up.
    s3.put_object(Bucket=BUCKET, Key="runs/shard0-1-2-aaa/raw.json", Body=b"x" * 3000)
    s3.put_object(Bucket=BUCKET, Key="runs/shard0-1-2-aaa/chunks/00000.bin", Body=b"x" * 1000)
    # The running one's batch is in flight, not kept: it must not count.
    s3.put_object(Bucket=BUCKET, Key="runs/shard0-5-6-ccc/raw.json", Body=b"x" * 50_000)
    # moto's CloudFormation skips LifecycleConfiguration: put the template's rule, 30 days.
    s3.put_bucket_lifecycle_configuration(
        Bucket=BUCKET,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "expire-runs",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "runs/"},
                    "Expiration": {"Days": 30},
                }
            ]
        },
    )
    if metrics:
        publish_metrics()
    return outputs


def publish_metrics() -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    now = datetime.now(UTC)

    def put(namespace: str, name: str, dimensions: dict[str, str], value: float, unit: str) -> None:
        cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                    "Timestamp": now,
                    "Value": value,
                    "Unit": unit,
                }
            ],
        )

    for name, (invocations, duration) in LAMBDA.items():
        put("AWS/Lambda", "Invocations", {"FunctionName": f"logstep-dev-{name}"}, invocations, "Count")
        put("AWS/Lambda", "Duration", {"FunctionName": f"logstep-dev-{name}"}, duration, "Milliseconds")
    put("AWS/Kinesis", "IncomingRecords", {"StreamName": "logstep-dev-source"}, 50, "Count")
    put("AWS/Kinesis", "IncomingBytes", {"StreamName": "logstep-dev-source"}, 50 * 2000, "Bytes")
    put("logstep", "EventsIn", {"stage": "dev", "step": "decode"}, 1000, "Count")
    put("logstep", "DocumentsOut", {"stage": "dev", "step": "transform"}, 1000, "Count")
    # No LogBytesIn: a stage deployed before decode emitted it.
    # The destination's IncomingRecords/IncomingBytes: moto publishes them for PutRecords.
    kinesis = boto3.client("kinesis", region_name=REGION)
    kinesis.put_records(
        StreamName="logstep-dev-destination",
        Records=[{"Data": b"d" * 24_990, "PartitionKey": f"key{i:02d}"} for i in range(40)],
    )


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args(list(argv))


def soon() -> str:
    """A window end just ahead: CloudWatch (and moto) drop the end's fraction of a second."""
    return (datetime.now(UTC) + timedelta(minutes=1)).isoformat()


def test_resolve_pipeline_names_the_stage_s_resources(aws: None) -> None:
    outputs = _create("dev")
    pipeline = resolve_pipeline(
        "dev", boto3.client("stepfunctions", region_name=REGION), boto3.client("sts"), REGION
    )
    assert pipeline.state_machine_arn == outputs["StateMachineArn"]
    assert (pipeline.source_stream, pipeline.destination_stream) == (
        outputs["SourceStreamName"],
        outputs["DestinationStreamName"],
    )
    assert pipeline.bucket == outputs["ClaimCheckBucketName"] == BUCKET
    assert pipeline.functions["put_batch"] == "logstep-dev-put_batch"
    assert pipeline.stage == "dev"
    with pytest.raises(DeployedReadError):
        resolve_pipeline("nosuchstage", None, boto3.client("sts"), REGION)


def test_the_command_prices_a_deployed_stage(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    deploy_dev()
    assert (
        command.run(
            parse("--deployed", "--stage", "dev", "--region", REGION, "--until", soon(), "--format", "json")
        )
        == 0
    )
    result, assumptions = json.loads(capsys.readouterr().out)
    lines = {line["item"]: line for line in result["lines"]}
    prices = load_prices(region=REGION)
    # Three executions of one (canned) transition each; eu-west-1's price.
    assert lines["state transitions"]["quantity"] == 3
    assert lines["state transitions"]["unit_price"] == prices["stepfunctions.transition"]
    assert lines["requests"]["quantity"] == sum(n for n, _ in LAMBDA.values())
    put_batch = lines["put_batch duration (1024 MB)"]
    assert put_batch["quantity"] == pytest.approx((12_000 + 6 * 0.5) / 1000 * 1024 / 1024)
    assert put_batch["unit_price"] == prices["lambda.gb_second.arm64"]  # the functions' architecture
    assert put_batch["note"] == "Duration metric + rounding" and put_batch["low"] == put_batch["high"]
    # S3 estimated from 3 executions, 0 chunks, 0 retries (the canned histories have no Map).
    assert lines["PUT/LIST requests"]["quantity"] == 12 and lines["GET requests"]["quantity"] == 6
    # 4,000 bytes for one ended run, none left for the other: scaled to 8,000; kept 30 days.
    # The running one's 50,000 bytes are in flight, not kept.
    storage = lines["claim-check storage (30 days)"]
    assert storage["quantity"] == pytest.approx(8000 / GIB * 30 / cost.DAYS_PER_MONTH)
    # 40 destination records of 24,995 bytes: one 25 KB unit, five 5 KB steps each.
    assert lines["destination: PUT payload units"]["quantity"] == 40
    assert lines["ingestion (5 KB steps)"]["quantity"] == pytest.approx(40 * 5 * 5 * 1024 / GIB)
    # Aggregated: the high end rounds each of the 1,000 documents (~1 KB) to 5 KB.
    assert lines["ingestion (5 KB steps)"]["high"] == pytest.approx(
        1000 * 5 * 1024 / GIB * prices["firehose.ingestion_gb"]
    )
    assert lines["source: PUT payload units"]["quantity"] == 50
    # No LogBytesIn: messages = destination bytes less 370 bytes per document.
    log_bytes = 40 * 24_995 - 370 * 1000
    assert result["totals"]["per_gb"] == pytest.approx(result["totals"]["total"] / (log_bytes / GIB))
    text = "\n".join(assumptions["assumptions"])
    assert "no LogBytesIn" in text and "S3 requests" in text and "billed duration" in text
    assert "1 of 2 ended runs have no objects left" in text
    assert "30 days (the bucket's lifecycle rule)" in text
    assert any("1 executions still running" in n for n in result["notes"])


def test_the_text_bill_lists_its_assumptions_and_a_projection_works(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy_dev(output_records="single")
    args = parse(
        "--deployed", "--region", REGION, "--hours", "2", "--until", soon(), "--claimcheck-days", "1"
    )
    assert command.run(args) == 0
    out = capsys.readouterr().out
    assert "logstep cost: stage dev (deployed)" in out
    assert "claim-check storage (1 days)" in out and "kept 1 days (--claimcheck-days)" in out
    assert "estimated: per-record billing units" in out and "price table:" in out
    args = parse(
        "--deployed",
        "--region",
        REGION,
        "--until",
        soon(),
        "--events-per-day",
        "1e8",
        "--avg-event-bytes",
        "300",
    )
    assert command.run(args) == 0
    assert "shard-hours" in capsys.readouterr().out


def test_a_window_without_executions_or_events_is_refused(aws: None) -> None:
    deploy_dev()
    later, latest = (datetime.now(UTC) + timedelta(hours=h) for h in (1, 2))
    with pytest.raises(SystemExit, match="nothing to price"):
        command.run(
            parse(
                "--deployed", "--region", REGION, "--since", later.isoformat(), "--until", latest.isoformat()
            )
        )


def test_executions_without_logstep_s_metrics_are_refused(aws: None) -> None:
    deploy_dev(metrics=False)
    with pytest.raises(SystemExit, match="no EventsIn metric"):
        command.run(parse("--deployed", "--region", REGION, "--until", soon()))


def test_summaries_and_deployed_do_not_mix(tmp_path: Any) -> None:
    with pytest.raises(SystemExit, match="give no summary files"):
        command.run(parse("--deployed", str(tmp_path / "s.json")))
    with pytest.raises(SystemExit, match="--deployed"):
        command.run(parse())
