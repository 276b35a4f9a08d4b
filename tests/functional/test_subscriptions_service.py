"""SubscriptionService with a stubbed CloudWatch Logs client (what moto cannot answer) and
against moto for paging and the time budget.

moto ignores filter patterns, so CloudWatch's rejection of a pattern is played back with
botocore's Stubber: the service must turn it into a 400 about the pattern, and a failed
test delivery into a 502 about logstep's destination.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from chalicelib import errors
from chalicelib.settings import SubscriptionTarget
from chalicelib.subscriptions import SubscriptionService
from chalicelib.validation import Cursor, ListSubscriptions, LoopGuard, SubscribePrefix, decode_next_token

TARGET = SubscriptionTarget(
    filter_name="logstep-dev",
    destination_arn="arn:aws:kinesis:us-east-1:123456789012:stream/logstep-dev-source",
    role_arn="arn:aws:iam::123456789012:role/logstep-dev-cwl-to-kinesis",
    distribution="Random",
)
GUARD = LoopGuard.for_stage()
GROUP = "/aws/lambda/orders"


@pytest.fixture
def stubbed() -> Iterator[tuple[SubscriptionService, Stubber]]:
    logs = boto3.client("logs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(logs) as stubber:
        yield SubscriptionService(logs, TARGET, GUARD), stubber
        stubber.assert_no_pending_responses()


def expect_put(stubber: Stubber, pattern: str) -> dict[str, Any]:
    stubber.add_response(
        "describe_subscription_filters", {"subscriptionFilters": []}, {"logGroupName": GROUP}
    )
    return {
        "logGroupName": GROUP,
        "filterName": TARGET.filter_name,
        "filterPattern": pattern,
        "destinationArn": TARGET.destination_arn,
        "roleArn": TARGET.role_arn,
        "distribution": "Random",
    }


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("{ $.level = ", "Invalid filter pattern"),
        ("[ip, user, ]", "Invalid character(s) in term '[ip'"),
        ('{ $.latency > "x" }', "Invalid metric filter pattern: comparison of a string"),
    ],
)
def test_a_pattern_cloudwatch_rejects_is_an_invalid_filter_pattern(
    stubbed: tuple[SubscriptionService, Stubber], pattern: str, message: str
) -> None:
    service, stubber = stubbed
    params = expect_put(stubber, pattern)
    stubber.add_client_error(
        "put_subscription_filter", "InvalidParameterException", message, 400, expected_params=params
    )
    with pytest.raises(errors.InvalidFilterPatternError) as raised:
        service.subscribe(GROUP, pattern)
    assert raised.value.status == 400
    assert message in raised.value.message
    assert raised.value.details == {"field": "filterPattern"}


@pytest.mark.parametrize("pattern", ["", "ERROR"])
def test_a_failed_test_delivery_is_logsteps_problem_not_the_callers(
    stubbed: tuple[SubscriptionService, Stubber], pattern: str
) -> None:
    service, stubber = stubbed
    params = expect_put(stubber, pattern)
    stubber.add_client_error(
        "put_subscription_filter",
        "InvalidParameterException",
        "Could not deliver test message to specified Kinesis stream. Check if the given kinesis "
        "stream is in ACTIVE state.",
        400,
        expected_params=params,
    )
    with pytest.raises(errors.DestinationUnreachableError) as raised:
        service.subscribe(GROUP, pattern)
    assert raised.value.status == 502
    assert TARGET.destination_arn in raised.value.message


def test_the_put_carries_only_the_stage_destination(stubbed: tuple[SubscriptionService, Stubber]) -> None:
    service, stubber = stubbed
    params = expect_put(stubber, "ERROR")
    stubber.add_response("put_subscription_filter", {}, expected_params=params)
    subscription, created = service.subscribe(GROUP, "ERROR")
    assert created
    assert subscription.to_json() == params


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 400, errors.LogsThrottledError),
        ("ServiceUnavailableException", 500, errors.LogsUnavailableError),
        ("AccessDeniedException", 400, errors.LogsAccessDeniedError),
        ("ResourceNotFoundException", 400, errors.LogGroupNotFoundError),
        ("OperationAbortedException", 400, errors.ConcurrentUpdateError),
        ("InternalFailure", 500, errors.LogsUnavailableError),
        ("ValidationException", 400, errors.UpstreamError),
    ],
)
def test_sdk_errors_are_translated_at_the_boundary(
    stubbed: tuple[SubscriptionService, Stubber], code: str, status: int, expected: type[errors.ApiError]
) -> None:
    service, stubber = stubbed
    stubber.add_client_error("describe_subscription_filters", code, "m", status)
    with pytest.raises(expected):
        service.subscribe(GROUP)


# --- paging and the time budget, against moto --------------------------------------------------


@pytest.fixture
def moto_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        kinesis = boto3.client("kinesis", region_name="us-east-1")
        kinesis.create_stream(StreamName="logstep-dev-source", ShardCount=1)
        yield boto3.client("logs", region_name="us-east-1")


@pytest.mark.parametrize("groups", [0, 1, 50, 51, 101])
@pytest.mark.parametrize("limit", [1, 7, 50])
def test_paging_sees_every_group_once_in_order(moto_logs: Any, groups: int, limit: int) -> None:
    names = [f"/svc/{i:03d}" for i in range(groups)]
    for name in names:
        moto_logs.create_log_group(logGroupName=name)
    service = SubscriptionService(moto_logs, TARGET, GUARD)
    onboarded: list[str] = []
    request = SubscribePrefix(prefix="/svc/", limit=limit)
    while True:
        report = service.subscribe_prefix(request)
        assert len(report.groups) <= limit
        onboarded += [g.log_group_name for g in report.groups]
        if report.next_token is None:
            break
        request = SubscribePrefix(
            prefix="/svc/", limit=limit, cursor=decode_next_token(report.next_token, "/svc/")
        )
    assert onboarded == names
    listed: list[str] = []
    query = ListSubscriptions(limit=limit)
    while True:
        page = service.list_subscriptions(query)
        listed += [s.log_group_name for s in page.subscriptions]
        if page.next_token is None:
            break
        query = ListSubscriptions(limit=limit, cursor=decode_next_token(page.next_token, ""))
    assert listed == names


class StepClock:
    """A clock that advances ``step`` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_a_page_stops_at_the_time_budget_and_resumes(moto_logs: Any) -> None:
    names = [f"/svc/{i}" for i in range(5)]
    for name in names:
        moto_logs.create_log_group(logGroupName=name)
    # Each read of the clock is 8 s later: the 20 s budget allows two groups per page.
    service = SubscriptionService(moto_logs, TARGET, GUARD, clock=StepClock(8.0), budget_seconds=20.0)
    first = service.subscribe_prefix(SubscribePrefix(prefix="/svc/", limit=50))
    assert [g.log_group_name for g in first.groups] == names[:2]
    assert first.next_token is not None
    rest = service.subscribe_prefix(
        SubscribePrefix(prefix="/svc/", limit=50, cursor=decode_next_token(first.next_token, "/svc/"))
    )
    assert [g.log_group_name for g in rest.groups] == names[2:4]


def test_an_expired_cloudwatch_token_is_invalid_next_token(
    stubbed: tuple[SubscriptionService, Stubber],
) -> None:
    service, stubber = stubbed
    stubber.add_client_error(
        "describe_log_groups", "InvalidParameterException", "The specified nextToken is invalid.", 400
    )
    with pytest.raises(errors.InvalidNextTokenError):
        service.list_subscriptions(ListSubscriptions(cursor=Cursor("expired", 0)))
