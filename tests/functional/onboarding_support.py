"""Shared set-up for the /subscriptions route tests: moto, the stage's stream, the test client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from chalice.test import Client
from moto import mock_aws

import app

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
STREAM = "logstep-dev-source"
ROLE_ARN = "arn:aws:iam::123456789012:role/logstep-dev-cwl-to-kinesis"
FILTER_NAME = "logstep-dev"

# Chalice's local gateway admits IAM-protected routes unsigned and says so once per request.
IAM_LOCAL_WARNING = "ignore:IAMAuthorizer is not a supported in local mode:UserWarning"


@dataclass
class Api:
    """The test client plus the moto clients a test inspects or prepares state with."""

    client: Client
    logs: Any
    stream_arn: str

    def post(self, body: Any, raw: bytes | None = None, **headers: str) -> Any:
        """POST /subscriptions with a JSON body (or raw bytes)."""
        data = raw if raw is not None else json.dumps(body).encode()
        return self.client.http.post("/subscriptions", body=data, headers=headers or None)

    def get(self, query: str = "") -> Any:
        """GET /subscriptions[?query]."""
        return self.client.http.get("/subscriptions" + (f"?{query}" if query else ""))

    def delete(self, query: str) -> Any:
        """DELETE /subscriptions?query."""
        return self.client.http.delete(f"/subscriptions?{query}")

    def filters(self, group: str) -> list[dict[str, Any]]:
        """The group's subscription filters, straight from (moto's) CloudWatch Logs."""
        found: list[dict[str, Any]] = self.logs.describe_subscription_filters(logGroupName=group)[
            "subscriptionFilters"
        ]
        return found

    def create_groups(self, *names: str) -> None:
        """Create log groups."""
        for name in names:
            self.logs.create_log_group(logGroupName=name)

    def fail_next(self, operation: str, code: str, message: str = "", status: int = 400) -> None:
        """Make the app's next call of ``operation`` answer an AWS error (moto never throttles)."""
        fail_calls(operation, code, message, status, times=1)


def fail_calls(operation: str, code: str, message: str, status: int, times: int, after: int = 0) -> None:
    """Answer ``times`` calls of a CloudWatch Logs operation with an error, after ``after``
    calls that pass.

    A ``before-call`` handler that returns a response short-circuits the request (and
    botocore's retries), exactly where a real error response would be parsed.
    """
    calls = [0]

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        calls[0] += 1
        if not after < calls[0] <= after + times:
            return None
        parsed = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return AWSResponse("https://logs.invalid", status, {}, None), parsed

    app._client("logs").meta.events.register(f"before-call.cloudwatch-logs.{operation}", answer)


@contextmanager
def onboarding_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """moto with the stage's source stream, and a Chalice test client for stage dev."""
    for key, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "LOGSTEP_LOGS_ROLE_ARN": ROLE_ARN,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        kinesis = boto3.client("kinesis", region_name=REGION)
        kinesis.create_stream(StreamName=STREAM, ShardCount=1)
        summary = kinesis.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]
        monkeypatch.setenv("LOGSTEP_SOURCE_STREAM_ARN", summary["StreamARN"])
        app.reset()
        with Client(app.app, stage_name="dev", project_dir=str(ROOT)) as client:
            yield Api(client=client, logs=boto3.client("logs"), stream_arn=summary["StreamARN"])
        app.reset()
