"""The static call graph misses nothing the handlers really do.

Runs every pipeline handler through chalice.test against moto, records each AWS API call
per function, and checks it is among the calls the AST walk attributes to that function
(test_iam_policies.py then checks the policy files cover those).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore import xform_name
from chalice.test import Client

import app as chalice_app
from tests.deploy.conftest import CONFIG
from tests.deploy.test_iam_policies import graph
from tests.helpers import gzip_json, load_event

ACCOUNT, REGION = "123456789012", "us-east-1"
CONFIG_ENV = CONFIG["stages"]["dev"]["environment_variables"]
BUCKET = CONFIG_ENV["LOGSTEP_BUCKET"].format(account=ACCOUNT, region=REGION)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """moto with the dev stage's resources, and a recorder of every call by function."""
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    calls: dict[str, set[tuple[str, str]]] = defaultdict(set)
    current = {"function": ""}
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        kinesis = boto3.client("kinesis", region_name=REGION)
        kinesis.create_stream(StreamName=CONFIG_ENV["LOGSTEP_DESTINATION_STREAM"], ShardCount=1)
        sfn = boto3.client("stepfunctions", region_name=REGION)
        sfn.create_state_machine(
            name=CONFIG_ENV["LOGSTEP_STATE_MACHINE_NAME"],
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/states",
        )
        chalice_app.reset()
        boto3.setup_default_session(region_name=REGION)

        def record(model: Any, **_: Any) -> None:
            if current["function"]:
                service = model.service_model.service_name
                calls[current["function"]].add((service, xform_name(model.name)))

        # Registered before the app creates its clients, so they inherit it.
        boto3.DEFAULT_SESSION.events.register("before-call.*.*", record)  # type: ignore[union-attr]
        yield {"calls": calls, "current": current, "sfn": sfn}
        chalice_app.reset()
        boto3.DEFAULT_SESSION = None


def test_every_call_a_handler_makes_is_in_the_static_call_graph(
    recorded: dict[str, Any], client: Client
) -> None:
    def invoke(function: str, payload: Any) -> Any:
        recorded["current"]["function"] = function
        try:
            return client.lambda_.invoke(function, payload).payload
        finally:
            recorded["current"]["function"] = ""

    envelope = load_event("kinesis_cwl_envelope.json")
    event = client.events.generate_kinesis_event([gzip_json(envelope), b"garbage"], stream_name="source")
    invoke("ingest", event)
    sfn = recorded["sfn"]
    (machine,) = sfn.list_state_machines()["stateMachines"]
    (execution,) = sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]
    state = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert state["bucket"] == BUCKET
    decoded = invoke("decode", state)
    transformed = invoke("transform", decoded)
    chunk = transformed["chunks"][0]
    invoke("put_batch", {"bucket": state["bucket"], "run": state["run"], "index": 0, "chunk": chunk})
    invoke("summarize", {**transformed, "deliveries": [{"index": 0, "failed": True, "error": "x"}]})

    observed = recorded["calls"]
    assert set(observed) == {"ingest", "decode", "transform", "put_batch", "summarize"}
    for function, calls in observed.items():
        static = {(c.service, c.operation) for c in graph().calls_of(function)}
        assert calls <= static, (function, calls - static)
    # put_batch looked for a pending set that did not exist yet: the 404 the policies'
    # s3:ListBucket is there for.
    assert ("s3", "get_object") in observed["put_batch"]
