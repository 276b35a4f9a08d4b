"""/subscriptions through chalice.test.Client against moto: every route and status code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

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

ORDERS = "/aws/lambda/orders"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    with onboarding_api(monkeypatch) as ready:
        yield ready


def other_stream_arn(name: str = "someone-elses-stream") -> str:
    kinesis = boto3.client("kinesis", region_name=REGION)
    kinesis.create_stream(StreamName=name, ShardCount=1)
    return str(kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"])


def add_foreign_filter(api: Api, group: str, name: str, destination: str) -> None:
    api.logs.put_subscription_filter(
        logGroupName=group,
        filterName=name,
        filterPattern="",
        destinationArn=destination,
        roleArn=ROLE_ARN,
    )


def body(response: Any) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(response.body)
    return parsed


# --- POST one group ------------------------------------------------------------------------


def test_post_creates_the_filter_with_the_stage_destination_and_answers_201(api: Api) -> None:
    api.create_groups(ORDERS)
    response = api.post({"logGroupName": ORDERS})
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    assert body(response) == {
        "logGroupName": ORDERS,
        "filterName": FILTER_NAME,
        "filterPattern": "",
        "destinationArn": api.stream_arn,
        "roleArn": ROLE_ARN,
        "distribution": "Random",
    }
    [created] = api.filters(ORDERS)
    assert (created["filterName"], created["destinationArn"], created["roleArn"]) == (
        FILTER_NAME,
        api.stream_arn,
        ROLE_ARN,
    )


def test_post_again_is_idempotent_200_with_the_same_body(api: Api) -> None:
    api.create_groups(ORDERS)
    first = api.post({"logGroupName": ORDERS, "filterPattern": "ERROR"})
    second = api.post({"logGroupName": ORDERS, "filterPattern": "ERROR"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.body == first.body
    assert len(api.filters(ORDERS)) == 1


def test_post_with_a_changed_pattern_updates_the_filter(api: Api) -> None:
    api.create_groups(ORDERS)
    api.post({"logGroupName": ORDERS, "filterPattern": "ERROR"})
    response = api.post({"logGroupName": ORDERS, "filterPattern": '{ $.level = "error" }'})
    assert response.status_code == 200
    assert body(response)["filterPattern"] == '{ $.level = "error" }'
    [updated] = api.filters(ORDERS)
    assert updated["filterPattern"] == '{ $.level = "error" }'


def test_post_repairs_a_filter_whose_destination_drifted(api: Api) -> None:
    api.create_groups(ORDERS)
    add_foreign_filter(api, ORDERS, FILTER_NAME, other_stream_arn())
    response = api.post({"logGroupName": ORDERS})
    assert response.status_code == 200
    assert api.filters(ORDERS)[0]["destinationArn"] == api.stream_arn


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "application/x-www-form-urlencoded"]
)
def test_post_reads_json_whatever_the_content_type(api: Api, content_type: str) -> None:
    api.create_groups(ORDERS)
    raw = json.dumps({"logGroupName": ORDERS}).encode()
    response = api.post(None, raw=raw, **{"Content-Type": content_type})
    assert response.status_code == 201


def test_unknown_group_is_404(api: Api) -> None:
    response = api.post({"logGroupName": "/aws/lambda/does-not-exist"})
    assert response.status_code == 404
    assert body(response)["error"] == "LOG_GROUP_NOT_FOUND"


def test_group_with_two_foreign_filters_is_409_naming_them(api: Api) -> None:
    api.create_groups(ORDERS)
    other = other_stream_arn()
    add_foreign_filter(api, ORDERS, "datadog-forwarder", other)
    add_foreign_filter(api, ORDERS, "splunk", other)
    response = api.post({"logGroupName": ORDERS})
    assert response.status_code == 409
    answer = body(response)
    assert answer["error"] == "FILTER_LIMIT_REACHED"
    assert answer["filters"] == ["datadog-forwarder", "splunk"]
    assert "datadog-forwarder" in answer["message"] and "splunk" in answer["message"]


def test_a_put_that_loses_the_race_for_the_last_slot_is_409(api: Api) -> None:
    api.create_groups(ORDERS)
    api.fail_next("PutSubscriptionFilter", "LimitExceededException", "Resource limit exceeded.")
    response = api.post({"logGroupName": ORDERS})
    assert response.status_code == 409
    assert body(response)["error"] == "FILTER_LIMIT_REACHED"


def test_another_filter_already_sending_to_our_stream_is_409_not_a_duplicate(api: Api) -> None:
    api.create_groups(ORDERS)
    add_foreign_filter(api, ORDERS, "hand-made-in-cloudformation", api.stream_arn)
    response = api.post({"logGroupName": ORDERS})
    assert response.status_code == 409
    assert body(response)["error"] == "ALREADY_SUBSCRIBED_BY_OTHER_FILTER"
    assert [f["filterName"] for f in api.filters(ORDERS)] == ["hand-made-in-cloudformation"]


@pytest.mark.parametrize(
    "group",
    [
        "/aws/lambda/logstep-dev-ingest",
        "/aws/lambda/logstep-dev",  # the API handler itself
        "/aws/lambda/logstep-prod-put_batch",  # another stage: a loop across stages
        "/aws/vendedlogs/states/logstep-dev-pipeline",
    ],
)
def test_logsteps_own_groups_are_refused(api: Api, group: str) -> None:
    api.create_groups(group)
    response = api.post({"logGroupName": group})
    assert response.status_code == 400
    assert body(response)["error"] == "PROTECTED_LOG_GROUP"
    assert api.filters(group) == []


def test_the_stage_can_protect_more_groups(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGSTEP_PROTECTED_LOG_GROUPS", "/logstep/custom-lambda-logs/*, /exact")
    import app

    app.reset()
    api.create_groups("/logstep/custom-lambda-logs/dev", "/exact", "/exactly-not")
    assert body(api.post({"logGroupName": "/exact"}))["error"] == "PROTECTED_LOG_GROUP"
    assert api.post({"logGroupName": "/logstep/custom-lambda-logs/dev"}).status_code == 400
    assert api.post({"logGroupName": "/exactly-not"}).status_code == 201


# --- 400s: the body ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "MALFORMED_JSON"),
        (b"{", "MALFORMED_JSON"),
        (b"\xff\xfe\x00", "MALFORMED_JSON"),
        (b"[1, 2]", "INVALID_REQUEST"),
        (b'"/aws/lambda/orders"', "INVALID_REQUEST"),
        (b"null", "INVALID_REQUEST"),
        (b"{}", "INVALID_REQUEST"),
        (b'{"logGroupName": 7}', "INVALID_REQUEST"),
        (b'{"logGroupName": ["/a"]}', "INVALID_REQUEST"),
        (b'{"logGroupName": "/a", "filterPattern": 3}', "INVALID_REQUEST"),
        (b'{"logGroupName": "/a", "colour": "blue"}', "INVALID_REQUEST"),
        (b'{"logGroupName": "/a", "logGroupNamePrefix": "/a"}', "INVALID_REQUEST"),
        (b'{"logGroupNamePrefix": "/a", "limit": 0}', "INVALID_REQUEST"),
        (b'{"logGroupNamePrefix": "/a", "limit": 51}', "INVALID_REQUEST"),
        (b'{"logGroupNamePrefix": "/a", "limit": true}', "INVALID_REQUEST"),
        (b'{"logGroupNamePrefix": "/a", "limit": 2.5}', "INVALID_REQUEST"),
        (b'{"logGroupNamePrefix": "/a", "dryRun": "yes"}', "INVALID_REQUEST"),
        (b'{"logGroupName": ""}', "INVALID_LOG_GROUP_NAME"),
        (b'{"logGroupName": "/aws/lambda/orders service"}', "INVALID_LOG_GROUP_NAME"),
        (b'{"logGroupName": "/aws/lambda/\\u00e9t\\u00e9"}', "INVALID_LOG_GROUP_NAME"),
        (b'{"logGroupName": "arn:aws:logs:us-east-1:1:log-group:/a:*"}', "INVALID_LOG_GROUP_NAME"),
        (b'{"logGroupNamePrefix": "/aws/*"}', "INVALID_LOG_GROUP_NAME"),
        (b'{"logGroupName": "/a", "filterPattern": "\\ud800"}', "INVALID_FILTER_PATTERN"),
        (b'{"logGroupNamePrefix": "/a", "nextToken": "garbage"}', "INVALID_NEXT_TOKEN"),
    ],
)
def test_bad_bodies_are_400_with_a_code(api: Api, raw: bytes, code: str) -> None:
    response = api.post(None, raw=raw)
    assert response.status_code == 400, response.body
    assert body(response)["error"] == code
    assert body(response)["message"]


def test_names_and_patterns_over_cloudwatch_limits_are_400(api: Api) -> None:
    too_long = api.post({"logGroupName": "/" + "a" * 512})
    assert (too_long.status_code, body(too_long)["error"]) == (400, "INVALID_LOG_GROUP_NAME")
    api.create_groups(ORDERS)
    assert api.post({"logGroupName": "/" + "a" * 511}).status_code == 404  # 512 is allowed
    pattern = api.post({"logGroupName": ORDERS, "filterPattern": "x" * 1025})
    assert (pattern.status_code, body(pattern)["error"]) == (400, "INVALID_FILTER_PATTERN")
    assert api.post({"logGroupName": ORDERS, "filterPattern": "x" * 1024}).status_code == 201


def test_a_pattern_cloudwatch_rejects_is_400(api: Api) -> None:
    # moto accepts any pattern; CloudWatch's answer is played back at the SDK boundary.
    api.create_groups(ORDERS)
    api.fail_next("PutSubscriptionFilter", "InvalidParameterException", "Invalid filter pattern")
    response = api.post({"logGroupName": ORDERS, "filterPattern": "{ $.level = "})
    assert response.status_code == 400
    assert body(response) | {"message": ""} == {
        "error": "INVALID_FILTER_PATTERN",
        "message": "",
        "field": "filterPattern",
    }
    assert api.filters(ORDERS) == []


def test_bodies_over_64_kib_are_400(api: Api) -> None:
    raw = json.dumps({"logGroupName": ORDERS, "filterPattern": " " * (64 * 1024)}).encode()
    response = api.post(None, raw=raw)
    assert (response.status_code, body(response)["error"]) == (400, "BODY_TOO_LARGE")


@pytest.mark.parametrize("field", ["destinationArn", "roleArn", "filterName", "distribution"])
def test_callers_cannot_choose_the_destination(api: Api, field: str) -> None:
    api.create_groups(ORDERS)
    response = api.post({"logGroupName": ORDERS, field: "arn:aws:kinesis:us-east-1:1:stream/x"})
    assert response.status_code == 400
    assert body(response) | {"message": ""} == {
        "error": "INVALID_REQUEST",
        "message": "",
        "field": field,
    }
    assert api.filters(ORDERS) == []


# --- AWS errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("ThrottlingException", 400, "THROTTLED"),
        ("ServiceUnavailableException", 500, "SERVICE_UNAVAILABLE"),
    ],
)
def test_throttling_and_outages_are_503_with_retry_after(
    api: Api, code: str, status: int, error: str
) -> None:
    api.create_groups(ORDERS)
    api.fail_next("DescribeSubscriptionFilters", code, "Rate exceeded", status)
    response = api.post({"logGroupName": ORDERS})
    assert response.status_code == 503
    assert body(response)["error"] == error
    assert int(response.headers["Retry-After"]) >= 1


def test_access_denied_is_502_naming_the_missing_permission(api: Api) -> None:
    api.create_groups(ORDERS)
    api.fail_next(
        "PutSubscriptionFilter",
        "AccessDeniedException",
        "User: arn:aws:sts::123456789012:assumed-role/logstep-dev-api_handler/logstep-dev is not "
        "authorized to perform: iam:PassRole on resource: " + ROLE_ARN,
    )
    response = api.post({"logGroupName": ORDERS})
    assert response.status_code == 502
    assert body(response)["error"] == "ACCESS_DENIED"
    assert body(response)["permission"] == "iam:PassRole"
    assert "iam:PassRole" in body(response)["message"]


def test_access_denied_without_details_names_the_operation(api: Api) -> None:
    api.fail_next("DescribeLogGroups", "AccessDeniedException", "")
    response = api.get()
    assert response.status_code == 502
    assert body(response)["permission"] == "logs:DescribeLogGroups"


def test_a_destination_cloudwatch_cannot_write_to_is_502(api: Api) -> None:
    api.create_groups(ORDERS)
    boto3.client("kinesis", region_name=REGION).delete_stream(StreamName="logstep-dev-source")
    response = api.post({"logGroupName": ORDERS})
    assert response.status_code == 502
    assert body(response)["error"] == "DESTINATION_UNREACHABLE"


def test_a_concurrent_update_is_409(api: Api) -> None:
    api.create_groups(ORDERS)
    api.fail_next("PutSubscriptionFilter", "OperationAbortedException", "conflict")
    response = api.post({"logGroupName": ORDERS})
    assert (response.status_code, body(response)["error"]) == (409, "CONCURRENT_UPDATE")


def test_an_unexpected_aws_answer_is_502_not_500(api: Api) -> None:
    api.create_groups(ORDERS)
    api.fail_next("DescribeSubscriptionFilters", "SomethingNewException", "surprise")
    response = api.post({"logGroupName": ORDERS})
    assert (response.status_code, body(response)["error"]) == (502, "UPSTREAM_ERROR")


def test_a_misconfigured_stage_is_a_json_500(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # No function ARN locally and no explicit stream ARN: the destination cannot be known.
    monkeypatch.delenv("LOGSTEP_SOURCE_STREAM_ARN")
    import app

    app.reset()
    api.create_groups(ORDERS)
    response = api.post({"logGroupName": ORDERS})
    assert response.status_code == 500
    assert body(response)["error"] == "CONFIGURATION_ERROR"
    assert api.filters(ORDERS) == []


# --- POST a prefix -----------------------------------------------------------------------------


def test_prefix_onboarding_reports_every_group(api: Api) -> None:
    other = other_stream_arn()
    api.create_groups(
        "/aws/lambda/orders",
        "/aws/lambda/payments",
        "/aws/lambda/full",
        "/aws/lambda/logstep-dev-transform",
        "/aws/lambda/known",
        "/aws/ecs/not-under-the-prefix",
    )
    add_foreign_filter(api, "/aws/lambda/full", "a", other)
    add_foreign_filter(api, "/aws/lambda/full", "b", other)
    api.post({"logGroupName": "/aws/lambda/known"})

    response = api.post({"logGroupNamePrefix": "/aws/lambda/"})

    assert response.status_code == 200
    report = body(response)
    outcomes = {g["logGroupName"]: g["outcome"] for g in report["groups"]}
    assert outcomes == {
        "/aws/lambda/full": "failed",
        "/aws/lambda/known": "alreadySubscribed",
        "/aws/lambda/logstep-dev-transform": "skipped",
        "/aws/lambda/orders": "subscribed",
        "/aws/lambda/payments": "subscribed",
    }
    assert report["counts"] == {
        "subscribed": 2,
        "updated": 0,
        "alreadySubscribed": 1,
        "skipped": 1,
        "failed": 1,
    }
    by_name = {g["logGroupName"]: g for g in report["groups"]}
    assert by_name["/aws/lambda/full"]["error"] == "FILTER_LIMIT_REACHED"
    assert "loop" not in by_name["/aws/lambda/full"]["reason"]
    assert "logstep" in by_name["/aws/lambda/logstep-dev-transform"]["reason"]
    assert "nextToken" not in report
    assert api.filters("/aws/lambda/logstep-dev-transform") == []
    assert api.filters("/aws/ecs/not-under-the-prefix") == []


def test_prefix_onboarding_pages_with_next_token(api: Api) -> None:
    names = [f"/aws/lambda/svc-{i:02d}" for i in range(7)]
    api.create_groups(*names)
    seen: list[str] = []
    request: dict[str, Any] = {"logGroupNamePrefix": "/aws/lambda/", "limit": 3}
    pages = 0
    while True:
        report = body(api.post(request))
        pages += 1
        assert len(report["groups"]) <= 3
        seen += [g["logGroupName"] for g in report["groups"]]
        if "nextToken" not in report:
            break
        request["nextToken"] = report["nextToken"]
    assert (pages, seen) == (3, names)
    assert all(api.filters(name) for name in names)


def test_prefix_dry_run_changes_nothing(api: Api) -> None:
    api.create_groups(ORDERS)
    report = body(api.post({"logGroupNamePrefix": "/aws/", "dryRun": True}))
    assert report["dryRun"] is True
    assert report["groups"] == [{"logGroupName": ORDERS, "outcome": "subscribed"}]
    assert api.filters(ORDERS) == []


def test_prefix_next_token_is_bound_to_its_prefix(api: Api) -> None:
    api.create_groups("/aws/lambda/a", "/aws/lambda/b")
    token = body(api.post({"logGroupNamePrefix": "/aws/lambda/", "limit": 1}))["nextToken"]
    response = api.post({"logGroupNamePrefix": "/aws/", "nextToken": token})
    assert (response.status_code, body(response)["error"]) == (400, "INVALID_NEXT_TOKEN")


def test_prefix_throttled_midway_answers_what_is_done_and_where_to_resume(api: Api) -> None:
    names = ["/aws/lambda/a", "/aws/lambda/b", "/aws/lambda/c"]
    api.create_groups(*names)
    fail_calls("PutSubscriptionFilter", "ThrottlingException", "Rate exceeded", 400, 1, after=1)
    report = body(api.post({"logGroupNamePrefix": "/aws/lambda/"}))
    assert report["groups"] == [{"logGroupName": "/aws/lambda/a", "outcome": "subscribed"}]
    assert report["retryAfterSeconds"] >= 1
    resumed = body(api.post({"logGroupNamePrefix": "/aws/lambda/", "nextToken": report["nextToken"]}))
    assert [g["logGroupName"] for g in resumed["groups"]] == ["/aws/lambda/b", "/aws/lambda/c"]
    assert "nextToken" not in resumed
    assert all(api.filters(name) for name in names)


def test_prefix_throttled_before_any_progress_is_503(api: Api) -> None:
    api.create_groups(ORDERS)
    api.fail_next("DescribeLogGroups", "ThrottlingException", "Rate exceeded")
    response = api.post({"logGroupNamePrefix": "/aws/"})
    assert (response.status_code, body(response)["error"]) == (503, "THROTTLED")
    assert "Retry-After" in response.headers


# --- GET ---------------------------------------------------------------------------------------


def test_get_lists_only_groups_logstep_is_subscribed_to(api: Api) -> None:
    api.create_groups("/aws/lambda/a", "/aws/lambda/b", "/aws/lambda/c", "/other/d")
    add_foreign_filter(api, "/aws/lambda/c", "not-ours", other_stream_arn())
    api.post({"logGroupName": "/aws/lambda/a", "filterPattern": "ERROR"})
    api.post({"logGroupName": "/other/d"})
    response = api.get()
    assert response.status_code == 200
    listed = body(response)["subscriptions"]
    assert [(s["logGroupName"], s["filterPattern"]) for s in listed] == [
        ("/aws/lambda/a", "ERROR"),
        ("/other/d", ""),
    ]
    assert all(s["destinationArn"] == api.stream_arn for s in listed)
    assert body(api.get("logGroupNamePrefix=/aws/"))["subscriptions"][0]["logGroupName"] == ("/aws/lambda/a")


def test_get_pages_across_cloudwatch_pages(api: Api) -> None:
    names = [f"/g/{i:03d}" for i in range(61)]
    api.create_groups(*names)
    for name in names[::2]:
        api.post({"logGroupName": name})
    listed: list[str] = []
    query = "limit=20"
    while True:
        page = body(api.get(query))
        assert page["groupsExamined"] <= 20
        listed += [s["logGroupName"] for s in page["subscriptions"]]
        if "nextToken" not in page:
            break
        query = f"limit=20&nextToken={page['nextToken']}"
    assert listed == names[::2]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("limit=0", "INVALID_REQUEST"),
        ("limit=51", "INVALID_REQUEST"),
        ("limit=ten", "INVALID_REQUEST"),
        ("colour=blue", "INVALID_REQUEST"),
        ("logGroupNamePrefix=bad%20prefix", "INVALID_LOG_GROUP_NAME"),
        ("nextToken=not-a-token", "INVALID_NEXT_TOKEN"),
    ],
)
def test_get_bad_queries_are_400(api: Api, query: str, code: str) -> None:
    response = api.get(query)
    assert (response.status_code, body(response)["error"]) == (400, code)


def test_get_throttled_is_503(api: Api) -> None:
    api.fail_next("DescribeLogGroups", "ThrottlingException", "Rate exceeded")
    response = api.get()
    assert response.status_code == 503
    assert response.headers["Retry-After"]


# --- DELETE ------------------------------------------------------------------------------------


def test_delete_removes_only_logsteps_filter(api: Api) -> None:
    api.create_groups(ORDERS)
    add_foreign_filter(api, ORDERS, "keep-me", other_stream_arn())
    api.post({"logGroupName": ORDERS})
    response = api.delete(f"logGroupName={ORDERS}")
    assert response.status_code == 200
    assert body(response)["filterName"] == FILTER_NAME
    assert [f["filterName"] for f in api.filters(ORDERS)] == ["keep-me"]


def test_delete_takes_a_percent_encoded_name(api: Api) -> None:
    api.create_groups(ORDERS)
    api.post({"logGroupName": ORDERS})
    assert api.delete("logGroupName=%2Faws%2Flambda%2Forders").status_code == 200
    assert api.filters(ORDERS) == []


def test_delete_of_a_group_that_is_not_subscribed_is_404(api: Api) -> None:
    api.create_groups(ORDERS)
    response = api.delete(f"logGroupName={ORDERS}")
    assert (response.status_code, body(response)["error"]) == (404, "NOT_SUBSCRIBED")
    missing = api.delete("logGroupName=/aws/lambda/nope")
    assert (missing.status_code, body(missing)["error"]) == (404, "LOG_GROUP_NOT_FOUND")


def test_delete_can_unsubscribe_a_protected_group(api: Api) -> None:
    # Removing logstep's filter from its own group breaks a loop; it must stay possible.
    group = "/aws/lambda/logstep-dev-decode"
    api.create_groups(group)
    add_foreign_filter(api, group, FILTER_NAME, api.stream_arn)
    assert api.delete(f"logGroupName={group}").status_code == 200


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "INVALID_REQUEST"),
        ("logGroupName=", "INVALID_LOG_GROUP_NAME"),
        ("logGroupName=a%20b", "INVALID_LOG_GROUP_NAME"),
        ("logGroupName=/a&filterName=other", "INVALID_REQUEST"),
    ],
)
def test_delete_bad_queries_are_400(api: Api, query: str, code: str) -> None:
    response = api.client.http.delete("/subscriptions" + (f"?{query}" if query else ""))
    assert (response.status_code, body(response)["error"]) == (400, code)
