"""/follows, the CreateLogGroup handler and the scheduled sweep: chalice.test.Client against moto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

import app
from chalicelib.follows import FollowStore
from logstep.sandbox.pipeline import create_follows_table
from tests.functional.onboarding_support import (
    FILTER_NAME,
    IAM_LOCAL_WARNING,
    REGION,
    ROLE_ARN,
    Api,
    fail_calls,
    onboarding_api,
)

pytestmark = pytest.mark.filterwarnings(IAM_LOCAL_WARNING)

TABLE = "logstep-dev-follows"
LAMBDA = "/aws/lambda/"


class Follows:
    """The onboarding Api plus /follows, the two event handlers and the store."""

    def __init__(self, api: Api, metrics: list[dict[str, Any]]) -> None:
        self.api = api
        self.logs = api.logs
        self.metrics = metrics
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)

    def post(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = self.api.client.http.post("/follows", body=json.dumps(body).encode())
        return response.status_code, json.loads(response.body)

    def get(self, query: str = "") -> tuple[int, dict[str, Any]]:
        response = self.api.client.http.get("/follows" + (f"?{query}" if query else ""))
        return response.status_code, json.loads(response.body)

    def delete(self, query: str) -> tuple[int, dict[str, Any]]:
        response = self.api.client.http.delete(f"/follows?{query}")
        return response.status_code, json.loads(response.body)

    def sweep(self) -> dict[str, Any]:
        event = self.api.client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[], region=REGION
        )
        payload: dict[str, Any] = self.api.client.lambda_.invoke("sweep_follows", event).payload
        return payload

    def created(self, name: str, **detail: Any) -> dict[str, Any]:
        """Invoke the EventBridge handler with CloudTrail's record of CreateLogGroup."""
        event = create_log_group_event(name, **detail)
        payload: dict[str, Any] = self.api.client.lambda_.invoke("follow_new_log_group", event).payload
        return payload

    def ours(self, group: str) -> dict[str, Any] | None:
        found = [f for f in self.api.filters(group) if f["filterName"] == FILTER_NAME]
        return found[0] if found else None

    def rule(self, prefix: str = LAMBDA) -> dict[str, Any]:
        status, listed = self.get()
        assert status == 200
        [rule] = [r for r in listed["follows"] if r["logGroupNamePrefix"] == prefix]
        return rule

    def metric(self, name: str) -> float:
        return sum(float(d[name]) for d in self.metrics if name in d)


def create_log_group_event(name: str, **detail: Any) -> dict[str, Any]:
    """An EventBridge event as CloudTrail delivers a CreateLogGroup call (trimmed real shape)."""
    return {
        "version": "0",
        "id": "6f5a3bb0-2f9e-4c8f-9d1e-0c1d2e3f4a5b",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.logs",
        "account": "123456789012",
        "time": "2026-12-04T10:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {"type": "AssumedRole", "accountId": "123456789012"},
            "eventTime": "2026-12-04T10:00:00Z",
            "eventSource": "logs.amazonaws.com",
            "eventName": "CreateLogGroup",
            "awsRegion": REGION,
            "sourceIPAddress": "lambda.amazonaws.com",
            "userAgent": "lambda.amazonaws.com",
            "requestParameters": {"logGroupName": name},
            "responseElements": None,
            "requestID": "0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e",
            "eventID": "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": "123456789012",
            "eventCategory": "Management",
            **detail,
        },
    }


@pytest.fixture
def follows(monkeypatch: pytest.MonkeyPatch) -> Iterator[Follows]:
    metrics: list[dict[str, Any]] = []
    monkeypatch.setattr(app, "metrics_sink", metrics.append)
    with onboarding_api(monkeypatch) as api:
        create_follows_table(boto3.client("dynamodb", region_name=REGION), TABLE)
        yield Follows(api, metrics)


def add_filter(f: Follows, group: str, name: str, destination: str | None = None) -> None:
    f.logs.put_subscription_filter(
        logGroupName=group,
        filterName=name,
        filterPattern="",
        destinationArn=destination or other_stream(name),
        roleArn=ROLE_ARN,
    )


def other_stream(name: str) -> str:
    kinesis = boto3.client("kinesis", region_name=REGION)
    stream = f"elsewhere-{name}"
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    return str(kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"])


# --- POST /follows ----------------------------------------------------------------------------


def test_post_records_the_rule_and_subscribes_existing_groups_but_not_logsteps_own(follows: Follows) -> None:
    follows.api.create_groups(LAMBDA + "orders", LAMBDA + "logstep-dev-ingest", "/ecs/web")
    status, report = follows.post({"logGroupNamePrefix": LAMBDA})
    assert status == 201
    assert report["change"] == "created"
    assert report["rule"]["logGroupNamePrefix"] == LAMBDA
    outcomes = {g["logGroupName"]: g["outcome"] for g in report["groups"]}
    assert outcomes == {LAMBDA + "logstep-dev-ingest": "skipped", LAMBDA + "orders": "subscribed"}
    assert follows.ours(LAMBDA + "orders") is not None
    assert follows.api.filters(LAMBDA + "logstep-dev-ingest") == []
    assert follows.api.filters("/ecs/web") == []
    rule = follows.rule()
    assert (rule["groupsSubscribed"], rule["groupsFailed"], rule["patternPending"]) == (1, 0, False)
    assert follows.metric("FollowGroupsSubscribed") == 1


def test_post_again_is_unchanged_200(follows: Follows) -> None:
    follows.api.create_groups(LAMBDA + "orders")
    assert follows.post({"logGroupNamePrefix": LAMBDA})[0] == 201
    status, report = follows.post({"logGroupNamePrefix": LAMBDA})
    assert (status, report["change"]) == (200, "unchanged")
    assert report["groups"] == [{"logGroupName": LAMBDA + "orders", "outcome": "alreadySubscribed"}]
    assert follows.rule()["groupsSubscribed"] == 1


def test_exclusions_are_honoured(follows: Follows) -> None:
    follows.api.create_groups(LAMBDA + "orders", LAMBDA + "noisy", LAMBDA + "test-a", LAMBDA + "test-b")
    status, report = follows.post(
        {
            "logGroupNamePrefix": LAMBDA,
            "excludeLogGroupNames": [LAMBDA + "noisy"],
            "excludePrefixes": [LAMBDA + "test-"],
        }
    )
    assert status == 201
    assert report["counts"]["subscribed"] == 1
    assert report["counts"]["skipped"] == 3
    assert [g for g in (LAMBDA + "noisy", LAMBDA + "test-a", LAMBDA + "test-b") if follows.ours(g)] == []


def test_dry_run_changes_nothing(follows: Follows) -> None:
    follows.api.create_groups(LAMBDA + "orders")
    status, report = follows.post({"logGroupNamePrefix": LAMBDA, "dryRun": True})
    assert (status, report["change"], report["dryRun"]) == (200, "dryRun", True)
    assert report["groups"] == [{"logGroupName": LAMBDA + "orders", "outcome": "subscribed"}]
    assert follows.ours(LAMBDA + "orders") is None
    assert follows.get() == (200, {"follows": []})


def test_post_pages_with_next_token(follows: Follows) -> None:
    names = [f"{LAMBDA}fn-{i:02d}" for i in range(5)]
    follows.api.create_groups(*names)
    status, first = follows.post({"logGroupNamePrefix": LAMBDA, "limit": 3})
    assert status == 201 and len(first["groups"]) == 3 and first["nextToken"]
    status, second = follows.post({"logGroupNamePrefix": LAMBDA, "limit": 3, "nextToken": first["nextToken"]})
    assert status == 200 and "nextToken" not in second
    assert [g["logGroupName"] for g in first["groups"] + second["groups"]] == names
    assert follows.rule()["groupsSubscribed"] == 5


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "INVALID_REQUEST", "logGroupNamePrefix"),
        ({"logGroupNamePrefix": "/aws/lambda/", "destinationArn": "x"}, "INVALID_REQUEST", "destinationArn"),
        ({"logGroupNamePrefix": "/aws/lambda/", "surprise": 1}, "INVALID_REQUEST", "surprise"),
        ({"logGroupNamePrefix": "/aws/lam bda/"}, "INVALID_LOG_GROUP_NAME", "logGroupNamePrefix"),
        ({"logGroupNamePrefix": "/a", "excludePrefixes": "/a/b"}, "INVALID_REQUEST", "excludePrefixes"),
        ({"logGroupNamePrefix": "/a", "excludeLogGroupNames": ["bad name"]}, "INVALID_LOG_GROUP_NAME", None),
        (
            {"logGroupNamePrefix": "/a", "filterPattern": "x" * 1025},
            "INVALID_FILTER_PATTERN",
            "filterPattern",
        ),
        ({"logGroupNamePrefix": "/a", "nextToken": "garbage"}, "INVALID_NEXT_TOKEN", "nextToken"),
    ],
)
def test_post_validates_like_subscriptions(
    follows: Follows, body: dict[str, Any], code: str, field: str | None
) -> None:
    status, answer = follows.post(body)
    assert (status, answer["error"]) == (400, code)
    if field is not None:
        assert answer["field"] == field
    assert follows.get() == (200, {"follows": []})


def test_get_takes_no_query(follows: Follows) -> None:
    status, answer = follows.get("limit=5")
    assert (status, answer["error"]) == (400, "INVALID_REQUEST")


# --- the two-filter limit ----------------------------------------------------------------------


def test_a_group_with_two_filters_is_failed_recorded_counted_and_not_retried_by_the_sweep(
    follows: Follows,
) -> None:
    full = LAMBDA + "full"
    follows.api.create_groups(full)
    add_filter(follows, full, "a")
    add_filter(follows, full, "b")
    status, report = follows.post({"logGroupNamePrefix": LAMBDA})
    assert status == 201
    [group] = report["groups"]
    assert (group["outcome"], group["error"]) == ("failed", "FILTER_LIMIT_REACHED")
    assert "'a', 'b'" in group["reason"]
    assert follows.rule()["groupsFailed"] == 1
    assert follows.metric("FollowGroupsFailed") == 1
    swept = follows.sweep()
    assert swept["counts"]["failed"] == 1
    # Reported from the store: counted once, not retried (no new metric, no new record).
    assert follows.metric("FollowGroupsFailed") == 1
    assert follows.rule()["groupsFailed"] == 1


def test_posting_the_rule_again_retries_failed_groups(follows: Follows) -> None:
    full = LAMBDA + "full"
    follows.api.create_groups(full)
    add_filter(follows, full, "a")
    add_filter(follows, full, "b")
    follows.post({"logGroupNamePrefix": LAMBDA})
    follows.logs.delete_subscription_filter(logGroupName=full, filterName="b")
    status, report = follows.post({"logGroupNamePrefix": LAMBDA})
    assert status == 200
    assert report["groups"] == [{"logGroupName": full, "outcome": "subscribed"}]
    assert follows.ours(full) is not None
    rule = follows.rule()
    assert (rule["groupsSubscribed"], rule["groupsFailed"]) == (1, 0)


def test_losing_the_last_filter_slot_to_a_race_is_failed_and_leaves_no_claim(follows: Follows) -> None:
    group = LAMBDA + "contended"
    follows.api.create_groups(group)
    follows.post({"logGroupNamePrefix": "/nothing/"})  # creates app's clients before the hook
    fail_calls("PutSubscriptionFilter", "LimitExceededException", "Resource limit exceeded.", 400, times=1)
    status, report = follows.post({"logGroupNamePrefix": LAMBDA})
    assert status == 201
    [outcome] = report["groups"]
    assert (outcome["outcome"], outcome["error"]) == ("failed", "FILTER_LIMIT_REACHED")
    rule = follows.rule()
    assert (rule["groupsSubscribed"], rule["groupsFailed"]) == (0, 1)
    assert follows.metric("FollowGroupsFailed") == 1


def test_a_group_already_sending_to_logstep_through_another_filter_is_failed(follows: Follows) -> None:
    group = LAMBDA + "handmade"
    follows.api.create_groups(group)
    add_filter(follows, group, "cfn-made", destination=follows.api.stream_arn)
    _, report = follows.post({"logGroupNamePrefix": LAMBDA})
    assert report["groups"][0]["error"] == "ALREADY_SUBSCRIBED_BY_OTHER_FILTER"
    assert [f["filterName"] for f in follows.api.filters(group)] == ["cfn-made"]


# --- the CreateLogGroup event ------------------------------------------------------------------


def test_create_log_group_event_subscribes_a_new_group_under_a_rule(follows: Follows) -> None:
    follows.post({"logGroupNamePrefix": LAMBDA, "filterPattern": "ERROR"})
    follows.api.create_groups(LAMBDA + "payments")
    answer = follows.created(LAMBDA + "payments")
    assert answer == {"logGroupName": LAMBDA + "payments", "outcome": "subscribed"}
    ours = follows.ours(LAMBDA + "payments")
    assert ours is not None and ours["filterPattern"] == "ERROR"
    assert follows.rule()["groupsSubscribed"] == 1
    # The same event again (EventBridge delivers at least once) changes nothing.
    assert follows.created(LAMBDA + "payments")["outcome"] == "alreadySubscribed"
    assert follows.rule()["groupsSubscribed"] == 1


def test_create_log_group_event_never_subscribes_logsteps_own_group(follows: Follows) -> None:
    follows.post({"logGroupNamePrefix": LAMBDA})
    own = LAMBDA + "logstep-dev-sweep_follows"
    follows.api.create_groups(own)
    answer = follows.created(own)
    assert answer["outcome"] == "skipped"
    assert "belongs to logstep" in answer["reason"]
    assert follows.api.filters(own) == []


def test_create_log_group_event_outside_every_rule_or_failed_is_ignored(follows: Follows) -> None:
    follows.post({"logGroupNamePrefix": LAMBDA})
    follows.api.create_groups("/ecs/web", LAMBDA + "exists")
    assert follows.created("/ecs/web") == {"logGroupName": "/ecs/web", "outcome": "noRule"}
    assert follows.api.filters("/ecs/web") == []
    refused = follows.created(LAMBDA + "exists", errorCode="ResourceAlreadyExistsException")
    assert refused == {"logGroupName": None, "outcome": "ignored"}
    assert follows.ours(LAMBDA + "exists") is None


def test_the_most_specific_rule_owns_a_group(follows: Follows) -> None:
    follows.post({"logGroupNamePrefix": "/aws/"})
    follows.post({"logGroupNamePrefix": LAMBDA, "filterPattern": "ERROR"})
    follows.api.create_groups(LAMBDA + "orders")
    assert follows.created(LAMBDA + "orders")["outcome"] == "subscribed"
    assert follows.rule(LAMBDA)["groupsSubscribed"] == 1
    assert follows.rule("/aws/")["groupsSubscribed"] == 0
    swept = follows.sweep()
    assert swept["counts"]["subscribed"] == 0
    assert follows.ours(LAMBDA + "orders")["filterPattern"] == "ERROR"  # type: ignore[index]


# --- the sweep ---------------------------------------------------------------------------------


def test_sweep_subscribes_groups_the_event_missed(follows: Follows) -> None:
    follows.post({"logGroupNamePrefix": LAMBDA})
    follows.api.create_groups(LAMBDA + "late", LAMBDA + "logstep-dev-decode")
    report = follows.sweep()
    assert report["counts"]["subscribed"] == 1
    assert report["rulesFinished"] == 1
    assert follows.ours(LAMBDA + "late") is not None
    assert follows.api.filters(LAMBDA + "logstep-dev-decode") == []
    rule = follows.rule()
    assert rule["lastSweptAt"] and rule["lastCompletedSweepAt"] and not rule["sweepInProgress"]


def test_sweep_is_bounded_by_pages_and_resumes_where_it_stopped(
    follows: Follows, monkeypatch: pytest.MonkeyPatch
) -> None:
    follows.post({"logGroupNamePrefix": LAMBDA})
    names = [f"{LAMBDA}fn-{i:03d}" for i in range(60)]
    follows.api.create_groups(*names)
    monkeypatch.setenv("LOGSTEP_FOLLOW_SWEEP_MAX_PAGES", "1")
    app.reset()
    first = follows.sweep()
    assert (first["counts"]["subscribed"], first["rulesResuming"]) == (50, [LAMBDA])
    assert follows.rule()["sweepInProgress"] is True
    assert [n for n in names if follows.ours(n)] == names[:50]
    second = follows.sweep()
    assert (second["counts"]["subscribed"], second["rulesFinished"]) == (10, 1)
    assert all(follows.ours(n) for n in names)
    assert follows.rule()["groupsSubscribed"] == 60


def test_sweep_is_bounded_by_time(follows: Follows, monkeypatch: pytest.MonkeyPatch) -> None:
    follows.post({"logGroupNamePrefix": "/a/"})
    follows.post({"logGroupNamePrefix": "/b/"})
    follows.api.create_groups("/a/one", "/b/one")
    monkeypatch.setenv("LOGSTEP_FOLLOW_SWEEP_BUDGET_SECONDS", "0.000001")
    app.reset()
    report = follows.sweep()
    assert report["counts"]["subscribed"] == 0
    assert sorted(report["rulesResuming"]) == ["/a/", "/b/"]
    monkeypatch.setenv("LOGSTEP_FOLLOW_SWEEP_BUDGET_SECONDS", "60")
    app.reset()
    assert follows.sweep()["counts"]["subscribed"] == 2


def test_a_changed_pattern_reaches_the_rules_groups_on_the_next_sweep_and_only_them(follows: Follows) -> None:
    follows.api.create_groups(LAMBDA + "orders", LAMBDA + "by-hand")
    follows.api.post({"logGroupName": LAMBDA + "by-hand", "filterPattern": "WARN"})
    follows.post({"logGroupNamePrefix": LAMBDA})
    status, report = follows.post({"logGroupNamePrefix": LAMBDA, "filterPattern": "ERROR"})
    assert (status, report["change"]) == (200, "updated")
    assert follows.rule()["patternPending"] is True
    swept = follows.sweep()
    assert swept["reapplied"] == 1
    assert follows.ours(LAMBDA + "orders")["filterPattern"] == "ERROR"  # type: ignore[index]
    assert follows.ours(LAMBDA + "by-hand")["filterPattern"] == "WARN"  # type: ignore[index]
    assert follows.rule()["patternPending"] is False


# --- DELETE /follows ---------------------------------------------------------------------------


def test_delete_without_unsubscribe_keeps_every_filter(follows: Follows) -> None:
    follows.api.create_groups(LAMBDA + "orders")
    follows.post({"logGroupNamePrefix": LAMBDA})
    status, answer = follows.delete(f"logGroupNamePrefix={LAMBDA}")
    assert (status, answer) == (
        200,
        {"logGroupNamePrefix": LAMBDA, "ruleDeleted": True, "unsubscribe": False},
    )
    assert follows.ours(LAMBDA + "orders") is not None
    assert follows.get() == (200, {"follows": []})
    assert follows.delete(f"logGroupNamePrefix={LAMBDA}")[1]["error"] == "FOLLOW_NOT_FOUND"
    # The records remain: a later unsubscribe still removes what the rule made.
    status, answer = follows.delete(f"logGroupNamePrefix={LAMBDA}&unsubscribe=true")
    assert (status, answer["ruleDeleted"], answer["counts"]["unsubscribed"]) == (200, False, 1)
    assert follows.ours(LAMBDA + "orders") is None


def test_delete_with_unsubscribe_removes_only_the_filters_the_rule_made(follows: Follows) -> None:
    follows.api.create_groups(LAMBDA + "orders", LAMBDA + "by-hand", LAMBDA + "later")
    assert follows.api.post({"logGroupName": LAMBDA + "by-hand"}).status_code == 201
    follows.post({"logGroupNamePrefix": LAMBDA})
    follows.created(LAMBDA + "later")
    status, answer = follows.delete(f"logGroupNamePrefix={LAMBDA}&unsubscribe=true")
    assert status == 200
    assert answer["ruleDeleted"] is True
    outcomes = {g["logGroupName"]: g["outcome"] for g in answer["groups"]}
    assert outcomes == {
        LAMBDA + "by-hand": "kept",
        LAMBDA + "later": "unsubscribed",
        LAMBDA + "orders": "unsubscribed",
    }
    assert follows.ours(LAMBDA + "orders") is None
    assert follows.ours(LAMBDA + "later") is None
    assert follows.ours(LAMBDA + "by-hand") is not None
    assert "nextToken" not in answer
    assert follows.delete(f"logGroupNamePrefix={LAMBDA}&unsubscribe=true")[0] == 404


def test_delete_with_unsubscribe_pages_with_next_token(follows: Follows) -> None:
    names = [f"{LAMBDA}fn-{i:02d}" for i in range(30)]
    follows.api.create_groups(*names)
    follows.post({"logGroupNamePrefix": LAMBDA, "limit": 50})
    query = f"logGroupNamePrefix={LAMBDA}&unsubscribe=true"
    removed: list[str] = []
    status, page = follows.delete(query)
    pages = 1
    while True:
        assert status == 200, page
        removed += [g["logGroupName"] for g in page["groups"] if g["outcome"] == "unsubscribed"]
        if "nextToken" not in page:
            break
        status, page = follows.delete(f"{query}&nextToken={page['nextToken']}")
        pages += 1
    assert pages == 2
    assert removed == names
    assert [n for n in names if follows.ours(n)] == []


def test_delete_query_is_validated(follows: Follows) -> None:
    assert follows.delete("unsubscribe=true")[1]["field"] == "logGroupNamePrefix"
    assert follows.delete(f"logGroupNamePrefix={LAMBDA}&unsubscribe=yes")[1]["field"] == "unsubscribe"
    assert follows.delete(f"logGroupNamePrefix={LAMBDA}&nextToken=x")[1]["field"] == "nextToken"
    assert follows.delete(f"logGroupNamePrefix={LAMBDA}&unsubscribe=true&nextToken=x")[1]["error"] == (
        "INVALID_NEXT_TOKEN"
    )
    assert follows.delete(f"logGroupNamePrefix={LAMBDA}")[0] == 404


# --- the store: conditional writes and failures ------------------------------------------------


def dynamodb_hook(operation: str, action: Any, times: int = 1) -> None:
    """Run ``action`` just before the app's next ``times`` calls of a DynamoDB operation."""
    calls = [0]

    def before(**_: Any) -> None:
        calls[0] += 1
        if calls[0] <= times:
            action(calls[0])

    app._client("dynamodb").meta.events.register(f"before-call.dynamodb.{operation}", before)


def competing_rule(pattern: str) -> Any:
    """Another writer putting the /aws/lambda/ rule (as a concurrent POST would)."""
    other = boto3.client("dynamodb", region_name=REGION)

    def write(call: int) -> None:
        other.put_item(
            TableName=TABLE,
            Item={
                "pk": {"S": "rules"},
                "sk": {"S": LAMBDA},
                "filterPattern": {"S": f"{pattern}-{call}"},
                "excludeLogGroupNames": {"L": []},
                "excludePrefixes": {"L": []},
                "version": {"N": str(10 + call)},
                "appliedPattern": {"S": ""},
                "groupsSubscribed": {"N": "0"},
                "groupsFailed": {"N": "0"},
            },
        )

    return write


def test_a_concurrent_create_is_not_lost_the_write_is_retried_on_top_of_it(follows: Follows) -> None:
    follows.get()  # creates the app's DynamoDB client
    dynamodb_hook("PutItem", competing_rule("OTHER"))
    status, report = follows.post({"logGroupNamePrefix": LAMBDA, "filterPattern": "MINE"})
    # Our create lost the race (the item appeared first): the retry updated at the version read.
    assert (status, report["change"]) == (200, "updated")
    rule = follows.rule()
    assert rule["filterPattern"] == "MINE"
    item = follows.dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "rules"}, "sk": {"S": LAMBDA}})["Item"]
    assert item["version"] == {"N": "12"}  # the competitor's 11, plus ours


def test_a_write_that_keeps_losing_answers_409_and_keeps_the_other_writers_rule(follows: Follows) -> None:
    follows.post({"logGroupNamePrefix": LAMBDA, "filterPattern": "FIRST"})
    dynamodb_hook("UpdateItem", competing_rule("OTHER"), times=2)
    status, answer = follows.post({"logGroupNamePrefix": LAMBDA, "filterPattern": "MINE"})
    assert (status, answer["error"]) == (409, "CONCURRENT_UPDATE")
    assert follows.rule()["filterPattern"] == "OTHER-2"


def test_a_rule_deleted_during_a_sweep_gets_no_new_groups(follows: Follows) -> None:
    follows.post({"logGroupNamePrefix": LAMBDA})
    follows.api.create_groups(LAMBDA + "late")
    other = boto3.client("dynamodb", region_name=REGION)

    def delete_rule(_: int) -> None:
        other.delete_item(TableName=TABLE, Key={"pk": {"S": "rules"}, "sk": {"S": LAMBDA}})

    dynamodb_hook("TransactWriteItems", delete_rule)
    report = follows.sweep()
    assert report["counts"]["skipped"] == 1
    assert follows.ours(LAMBDA + "late") is None
    records = other.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"rule#{LAMBDA}"}},
    )["Items"]
    assert records == []
    assert follows.get() == (200, {"follows": []})  # and the sweep did not resurrect it


def test_a_failed_filter_put_releases_the_claim_so_the_next_sweep_retries(follows: Follows) -> None:
    follows.post({"logGroupNamePrefix": LAMBDA})
    follows.api.create_groups(LAMBDA + "late")
    fail_calls("PutSubscriptionFilter", "ServiceUnavailableException", "try later", 503, times=1)
    first = follows.sweep()
    assert first["errors"] == [f"{LAMBDA}: SERVICE_UNAVAILABLE"]
    assert follows.ours(LAMBDA + "late") is None
    assert follows.rule()["groupsSubscribed"] == 0
    assert follows.sweep()["counts"]["subscribed"] == 1
    assert follows.ours(LAMBDA + "late") is not None


def test_a_throttled_store_answers_503_with_retry_after(follows: Follows) -> None:
    follows.get()

    def throttled(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        parsed = {
            "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return AWSResponse("https://dynamodb.invalid", 400, {}, None), parsed

    app._client("dynamodb").meta.events.register("before-call.dynamodb.Query", throttled)
    response = follows.api.client.http.get("/follows")
    assert response.status_code == 503
    assert json.loads(response.body)["error"] == "STORE_UNAVAILABLE"
    assert response.headers["Retry-After"] == "2"


def test_a_missing_table_is_a_configuration_error(follows: Follows) -> None:
    follows.dynamodb.delete_table(TableName=TABLE)
    status, answer = follows.get()
    assert (status, answer["error"]) == (500, "CONFIGURATION_ERROR")
    assert "follows table" in answer["message"]


def test_the_posted_rule_carries_the_counts_after_its_page(follows: Follows) -> None:
    follows.api.create_groups(LAMBDA + "a", LAMBDA + "b")
    _, report = follows.post({"logGroupNamePrefix": LAMBDA})
    assert report["rule"]["groupsSubscribed"] == 2


# --- found in review: re-created groups, failed and interrupted re-applies ------------------------


def test_a_recreated_group_is_subscribed_again_by_its_create_event(follows: Follows) -> None:
    follows.api.create_groups(LAMBDA + "orders")
    follows.post({"logGroupNamePrefix": LAMBDA})
    follows.logs.delete_log_group(logGroupName=LAMBDA + "orders")  # a stack replaced the function
    follows.api.create_groups(LAMBDA + "orders")
    assert follows.created(LAMBDA + "orders")["outcome"] == "subscribed"
    assert follows.ours(LAMBDA + "orders") is not None
    assert follows.rule()["groupsSubscribed"] == 1


def test_a_recreated_group_the_event_missed_is_subscribed_again_by_the_sweep(follows: Follows) -> None:
    follows.api.create_groups(LAMBDA + "orders", LAMBDA + "kept")
    follows.post({"logGroupNamePrefix": LAMBDA})
    follows.logs.delete_log_group(logGroupName=LAMBDA + "orders")
    follows.api.create_groups(LAMBDA + "orders")
    swept = follows.sweep()
    assert (swept["counts"]["subscribed"], swept["counts"]["alreadySubscribed"]) == (1, 1)
    assert follows.ours(LAMBDA + "orders") is not None
    assert follows.rule()["groupsSubscribed"] == 2


def test_a_recreated_group_that_had_a_filter_by_hand_is_subscribed_by_the_rule(follows: Follows) -> None:
    follows.api.create_groups(LAMBDA + "by-hand")
    follows.api.post({"logGroupName": LAMBDA + "by-hand"})
    follows.post({"logGroupNamePrefix": LAMBDA})
    follows.logs.delete_log_group(logGroupName=LAMBDA + "by-hand")
    follows.api.create_groups(LAMBDA + "by-hand")
    assert follows.sweep()["counts"]["subscribed"] == 1
    _, report = follows.delete(f"logGroupNamePrefix={LAMBDA}&unsubscribe=true")
    assert report["counts"]["unsubscribed"] == 1  # the rule made this filter: it removes it


def test_a_failed_reapply_is_retried_by_the_next_sweep(follows: Follows) -> None:
    follows.api.create_groups(LAMBDA + "a", LAMBDA + "b")
    follows.post({"logGroupNamePrefix": LAMBDA})
    follows.post({"logGroupNamePrefix": LAMBDA, "filterPattern": "ERROR"})
    fail_calls("PutSubscriptionFilter", "OperationAbortedException", "busy", 400, times=1)
    first = follows.sweep()
    assert first["reapplied"] == 1
    assert first["errors"] == [f"{LAMBDA}: CONCURRENT_UPDATE ({LAMBDA}a)"]
    assert follows.rule()["patternPending"] is True
    assert follows.sweep()["reapplied"] == 1
    assert {g: follows.ours(LAMBDA + g)["filterPattern"] for g in "ab"} == {"a": "ERROR", "b": "ERROR"}  # type: ignore[index]
    assert follows.rule()["patternPending"] is False


def test_a_pattern_changed_during_an_unfinished_reapply_reaches_every_group(follows: Follows) -> None:
    follows.api.create_groups(LAMBDA + "a", LAMBDA + "b", LAMBDA + "c")
    follows.post({"logGroupNamePrefix": LAMBDA})
    follows.post({"logGroupNamePrefix": LAMBDA, "filterPattern": "P1"})
    # A sweep re-applied P1 to a and b, then ran out of time (what _reapply records then).
    store = FollowStore(follows.dynamodb, TABLE)
    for g in "ab":
        follows.api.post({"logGroupName": LAMBDA + g, "filterPattern": "P1"})
        store.set_group_pattern(LAMBDA, LAMBDA + g, "P1")
    assert store.record_reapply(LAMBDA, "P1", after=LAMBDA + "b")
    follows.post({"logGroupNamePrefix": LAMBDA, "filterPattern": "P2"})
    assert follows.sweep()["reapplied"] == 3
    assert {g: follows.ours(LAMBDA + g)["filterPattern"] for g in "abc"} == {"a": "P2", "b": "P2", "c": "P2"}  # type: ignore[index]


def test_reapply_progress_for_a_pattern_that_changed_meanwhile_is_not_recorded(follows: Follows) -> None:
    follows.post({"logGroupNamePrefix": LAMBDA})
    follows.post({"logGroupNamePrefix": LAMBDA, "filterPattern": "P2"})
    store = FollowStore(follows.dynamodb, TABLE)
    assert not store.record_reapply(LAMBDA, "P1", after=LAMBDA + "b")  # a sweep still applying P1
    assert store.get_rule(LAMBDA).reapply_after is None  # type: ignore[union-attr]


def test_a_bad_sweep_interval_does_not_break_importing_the_app() -> None:
    # app.py reads it at import (Chalice fixes the schedule then): every function imports app.py.
    env = {**os.environ, "LOGSTEP_FOLLOW_SWEEP_MINUTES": "every hour"}
    probe = "import app; print(app.FOLLOW_SWEEP_SCHEDULE.value)"
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    *logged, printed = done.stdout.strip().splitlines()
    assert printed == "15"
    [warning] = [
        json.loads(line) for line in logged if line.startswith("{") and "sweep_minutes_invalid" in line
    ]
    assert (warning["level"], warning["minutes"]) == ("WARNING", 15)
    assert "LOGSTEP_FOLLOW_SWEEP_MINUTES='every hour'" in warning["problem"]
