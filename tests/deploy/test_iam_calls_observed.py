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
from tests.deploy.conftest import CONFIG, ROOT
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


class _BulkStub:
    """A cluster that accepts every ``create`` of a ``_bulk`` request (and notes the auth)."""

    def __init__(self) -> None:
        import http.server
        import threading

        stub = self
        self.authorizations: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stub.authorizations.append(self.headers.get("Authorization", ""))
                actions = [json.loads(line) for line in body.splitlines()[::2] if line.strip()]
                items = [{"create": {"_index": a["create"].get("_index"), "status": 201}} for a in actions]
                answer = json.dumps({"errors": False, "items": items}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_search_delivery_makes_only_calls_in_the_static_call_graph(
    recorded: dict[str, Any], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """put_batch with api-key auth: reads its one secret, then talks HTTP to the cluster.

    A stdlib HTTP stub stands in for the cluster (plain http is allowed for this host);
    the chalice.test.Client runs on a copy of the dev stage's config with the search
    variables `logstep deploy` would write.
    """
    import shutil

    import chalice.test

    secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="logstep/elastic", SecretString=json.dumps({"apiKey": "k3y"})
    )["ARN"]
    stub = _BulkStub()
    project = tmp_path / "project"
    shutil.copytree(ROOT / ".chalice", project / ".chalice", ignore=shutil.ignore_patterns("deployed"))
    config = json.loads((project / ".chalice" / "config.json").read_text())
    config["stages"]["dev"]["environment_variables"].update(
        {
            "LOGSTEP_DELIVERY": "search",
            "LOGSTEP_SEARCH_ENDPOINT": stub.url,
            "LOGSTEP_SEARCH_AUTH": "api-key",
            "LOGSTEP_SEARCH_SECRET_ARN": secret,
            # chalice.test's context has 3 s to live; put_batch starts no request that
            # could outlast it, and the stub answers at once.
            "LOGSTEP_BULK_TIMEOUT_SECONDS": "1",
        }
    )
    (project / ".chalice" / "config.json").write_text(json.dumps(config))

    class ContextWithArn(chalice.test.LambdaContext):  # type: ignore[misc]
        # put_batch starts no request that could outlast its invocation (the request
        # timeout plus a margin): give it put_batch's real 110 s, not chalice.test's 3 s.
        def __init__(self, function_name: str, memory_size: int, *args: Any, **kwargs: Any) -> None:
            super().__init__(function_name, memory_size, max_runtime_ms=110_000)
            self.invoked_function_arn = (
                f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:logstep-dev-{function_name}"
            )

    monkeypatch.setattr(chalice.test, "LambdaContext", ContextWithArn)
    try:
        with Client(chalice_app.app, stage_name="dev", project_dir=str(project)) as client:

            def invoke(function: str, payload: Any) -> Any:
                recorded["current"]["function"] = function
                try:
                    return client.lambda_.invoke(function, payload).payload
                finally:
                    recorded["current"]["function"] = ""

            envelope = load_event("kinesis_cwl_envelope.json")
            event = client.events.generate_kinesis_event([gzip_json(envelope)], stream_name="source")
            invoke("ingest", event)
            sfn = recorded["sfn"]
            (machine,) = sfn.list_state_machines()["stateMachines"]
            (execution,) = sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]
            state = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
            transformed = invoke("transform", invoke("decode", state))
            chunk = transformed["chunks"][0]
            assert chunk["delivery"] == "search"
            result = invoke(
                "put_batch", {"bucket": state["bucket"], "run": state["run"], "index": 0, "chunk": chunk}
            )
    finally:
        stub.close()
    assert result["delivered"] > 0, result
    assert stub.authorizations and set(stub.authorizations) == {"ApiKey k3y"}
    observed = recorded["calls"]["put_batch"]
    assert ("secretsmanager", "get_secret_value") in observed
    assert ("kinesis", "put_records") not in observed
    static = {(c.service, c.operation) for c in graph().calls_of("put_batch")}
    assert observed <= static, observed - static
