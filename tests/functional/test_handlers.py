"""The Lambda handlers through chalice.test.Client, against moto (the dev stage's config)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

import app as chalice_app
from chalicelib.batching import decode_records
from chalicelib.errors import MalformedStateError
from tests.helpers import REPO_ROOT, gzip_json, load_event

STAGE = json.loads((REPO_ROOT / ".chalice" / "config.json").read_text())["stages"]["dev"][
    "environment_variables"
]
ACCOUNT, REGION = "123456789012", "us-east-1"  # moto's account, the fixture's region
# The stage config names the bucket with {account}/{region}; a Lambda fills them in from its
# own ARN (Settings.resolve).
BUCKET = STAGE["LOGSTEP_BUCKET"].format(account=ACCOUNT, region=REGION)
DESTINATION = STAGE["LOGSTEP_DESTINATION_STREAM"]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """moto with the dev stage's bucket, destination stream and (not executing) state machine."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        chalice_app.reset()
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        kinesis = boto3.client("kinesis", region_name="us-east-1")
        kinesis.create_stream(StreamName=DESTINATION, ShardCount=1)
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name=STAGE["LOGSTEP_STATE_MACHINE_NAME"],
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn="arn:aws:iam::123456789012:role/states",
        )
        # chalice.test's Lambda context has no ARN to derive the state machine's from.
        monkeypatch.setenv("LOGSTEP_STATE_MACHINE_ARN", machine["stateMachineArn"])
        yield {"s3": s3, "kinesis": kinesis, "sfn": sfn, "machine": machine["stateMachineArn"]}
        chalice_app.reset()


def test_ingest_claim_checks_the_batch_and_starts_one_execution_even_when_redelivered(
    aws: dict[str, Any], client: Client
) -> None:
    envelope = load_event("kinesis_cwl_envelope.json")
    event = client.events.generate_kinesis_event([gzip_json(envelope), b"garbage"], stream_name="source")
    client.lambda_.invoke("ingest", event)
    client.lambda_.invoke("ingest", event)  # the event source mapping redelivers
    executions = aws["sfn"].list_executions(stateMachineArn=aws["machine"])["executions"]
    assert len(executions) == 1
    state = json.loads(aws["sfn"].describe_execution(executionArn=executions[0]["executionArn"])["input"])
    assert state["records"] == 2
    assert state["bucket"] == BUCKET
    raw = json.loads(aws["s3"].get_object(Bucket=BUCKET, Key=f"{state['run']}raw.json")["Body"].read())
    assert len(raw["records"]) == 2  # ingest stores everything; decode judges


def test_decode_transform_put_batch_summarize_chain_through_s3(aws: dict[str, Any], client: Client) -> None:
    envelope = load_event("kinesis_cwl_envelope.json")
    event = client.events.generate_kinesis_event([gzip_json(envelope), b"garbage"], stream_name="source")
    client.lambda_.invoke("ingest", event)
    (execution,) = aws["sfn"].list_executions(stateMachineArn=aws["machine"])["executions"]
    state = json.loads(aws["sfn"].describe_execution(executionArn=execution["executionArn"])["input"])

    decoded = client.lambda_.invoke("decode", state).payload
    assert (decoded["events"], decoded["quarantined"]) == (5, 1)
    transformed = client.lambda_.invoke("transform", decoded).payload
    assert transformed["documents"] == 5
    (chunk,) = transformed["chunks"]
    # references and counts only, plus the delivery the chunk was made for
    assert set(chunk) == {"key", "records", "bytes", "arrival", "delivery", "target"}
    assert (chunk["delivery"], chunk["target"]) == ("kinesis", DESTINATION)
    item = {"bucket": state["bucket"], "run": state["run"], "index": 0, "chunk": chunk}
    assert client.lambda_.invoke("put_batch", item).payload == {
        "index": 0,
        "delivered": 5,
        "calls": 1,
    }
    # A repeated invocation after success sends nothing (the pending set is empty).
    assert client.lambda_.invoke("put_batch", item).payload["delivered"] == 0
    pending = aws["s3"].get_object(Bucket=BUCKET, Key=f"{state['run']}pending/00000.bin")["Body"].read()
    assert decode_records(pending) == []
    summary = client.lambda_.invoke(
        "summarize", {**transformed, "deliveries": [{"index": 0, "delivered": 5}]}
    ).payload
    assert summary == {
        "documents": 5,
        "delivered": 5,
        "pending": 0,
        "pendingChunks": 0,
        "quarantined": 1,
        "cause": "",
        "deliveryChunks": 1,
        "objectsDeleted": 5,
    }
    # Everything was delivered: only what explains the run stays (its counts, its
    # quarantined records); the raw batch, envelopes, chunk and pending set are gone.
    left = aws["s3"].list_objects_v2(Bucket=BUCKET, Prefix=state["run"])["Contents"]
    assert sorted(item["Key"].removeprefix(state["run"]) for item in left) == [
        "quarantine.json",
        "summary.json",
    ]
    quarantined = json.loads(
        aws["s3"].get_object(Bucket=BUCKET, Key=f"{state['run']}quarantine.json")["Body"].read()
    )
    assert quarantined["records"][0]["data"]  # the bad record itself, not only its reason


def test_a_batch_redelivered_after_its_run_delivered_leaves_no_copy_behind(
    aws: dict[str, Any], client: Client
) -> None:
    envelope = load_event("kinesis_cwl_envelope.json")
    event = client.events.generate_kinesis_event([gzip_json(envelope)], stream_name="source")
    client.lambda_.invoke("ingest", event)
    (execution,) = aws["sfn"].list_executions(stateMachineArn=aws["machine"])["executions"]
    state = json.loads(aws["sfn"].describe_execution(executionArn=execution["executionArn"])["input"])
    raw = f"{state['run']}raw.json"

    def raw_exists() -> bool:
        return "Contents" in aws["s3"].list_objects_v2(Bucket=BUCKET, Prefix=raw)

    # While the run has no summary (running, or failed before Summarize) the copy stays.
    client.lambda_.invoke("ingest", event)
    assert raw_exists()
    decoded = client.lambda_.invoke("decode", state).payload
    transformed = client.lambda_.invoke("transform", decoded).payload
    item = {"bucket": BUCKET, "run": state["run"], "index": 0, "chunk": transformed["chunks"][0]}
    client.lambda_.invoke("put_batch", item)
    client.lambda_.invoke("summarize", {**transformed, "deliveries": [{"index": 0, "delivered": 5}]})
    assert not raw_exists()  # summarize deleted the delivered batch
    # The execution has ended (this fixture's machine never runs the steps): StartExecution
    # now answers ExecutionAlreadyExists, as it does on AWS once an execution is closed.
    aws["sfn"].stop_execution(executionArn=execution["executionArn"])
    client.lambda_.invoke("ingest", event)  # the event source mapping redelivers once more
    assert not raw_exists()
    assert len(aws["sfn"].list_executions(stateMachineArn=aws["machine"])["executions"]) == 1


def test_a_step_given_the_wrong_state_fails_with_a_named_permanent_error(
    aws: dict[str, Any], client: Client
) -> None:
    with pytest.raises(MalformedStateError, match="lacks bucket/run"):
        client.lambda_.invoke("decode", {"nothing": "here"})
