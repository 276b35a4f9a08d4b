"""Follow rules, pure parts: ownership, exclusions, the CloudTrail event, /follows input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.errors import InvalidNextTokenError, InvalidRequestError
from chalicelib.follow_rules import (
    CREATE_LOG_GROUP_PATTERN,
    FollowRule,
    GroupRecord,
    created_log_group,
    owner,
)
from chalicelib.validation import (
    MAX_FOLLOW_EXCLUSIONS,
    decode_unfollow_token,
    encode_unfollow_token,
    parse_follow_body,
    parse_unfollow_query,
)

NAMES = st.text(alphabet="abc/-_.#0123456789", min_size=1, max_size=40)


def cloudtrail_event(**detail: Any) -> dict[str, Any]:
    return {
        "source": "aws.logs",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {
            "eventSource": "logs.amazonaws.com",
            "eventName": "CreateLogGroup",
            "requestParameters": {"logGroupName": "/aws/lambda/orders"},
            **detail,
        },
    }


def test_the_event_names_the_created_group() -> None:
    assert created_log_group(cloudtrail_event()) == "/aws/lambda/orders"


@pytest.mark.parametrize(
    "event",
    [
        cloudtrail_event(errorCode="ResourceAlreadyExistsException"),
        cloudtrail_event(eventName="DeleteLogGroup"),
        cloudtrail_event(requestParameters=None),
        cloudtrail_event(requestParameters={"logGroupName": ""}),
        {**cloudtrail_event(), "source": "aws.ec2"},
        {"source": "aws.logs", "detail": "nope"},
        {},
    ],
)
def test_anything_else_names_no_group(event: dict[str, Any]) -> None:
    assert created_log_group(event) is None


def test_the_eventbridge_pattern_matches_what_the_parser_reads() -> None:
    event = cloudtrail_event()
    assert event["source"] in CREATE_LOG_GROUP_PATTERN["source"]
    assert event["detail-type"] in CREATE_LOG_GROUP_PATTERN["detail-type"]
    for key, allowed in CREATE_LOG_GROUP_PATTERN["detail"].items():
        assert event["detail"][key] in allowed


def test_the_longest_covering_prefix_owns_a_group() -> None:
    broad, narrow = FollowRule("/aws/"), FollowRule("/aws/lambda/")
    assert owner([broad, narrow], "/aws/lambda/orders") == narrow
    assert owner([broad, narrow], "/aws/ecs/web") == broad
    assert owner([broad, narrow], "/ecs/web") is None


def test_an_exclusion_hands_the_group_to_the_next_rule() -> None:
    broad = FollowRule("/aws/")
    narrow = FollowRule(
        "/aws/lambda/", exclude_names=("/aws/lambda/noisy",), exclude_prefixes=("/aws/lambda/t",)
    )
    assert owner([broad, narrow], "/aws/lambda/noisy") == broad
    assert owner([broad, narrow], "/aws/lambda/test") == broad
    assert narrow.exclusion("/aws/lambda/noisy") is not None
    assert narrow.exclusion("/aws/lambda/orders") is None


@given(st.lists(NAMES, min_size=1, max_size=6, unique=True), NAMES)
def test_at_most_one_rule_owns_a_group_and_it_covers_it(prefixes: list[str], name: str) -> None:
    rules = [FollowRule(p) for p in prefixes]
    chosen = owner(rules, name)
    covering = [r for r in rules if name.startswith(r.prefix)]
    assert (chosen is None) == (not covering)
    if chosen is not None:
        assert name.startswith(chosen.prefix)
        assert all(len(r.prefix) <= len(chosen.prefix) for r in covering)


def test_a_changed_pattern_is_pending_until_applied() -> None:
    rule = FollowRule("/a/", filter_pattern="ERROR", applied_pattern="")
    assert rule.pattern_pending and rule.to_json()["patternPending"] is True
    assert not FollowRule("/a/", filter_pattern="ERROR", applied_pattern="ERROR").pattern_pending


# --- /follows input -------------------------------------------------------------------------


def test_follow_body_parses_every_field() -> None:
    request = parse_follow_body(
        json.dumps(
            {
                "logGroupNamePrefix": "/aws/lambda/",
                "filterPattern": "ERROR",
                "excludeLogGroupNames": ["/aws/lambda/b", "/aws/lambda/a", "/aws/lambda/a"],
                "excludePrefixes": ["/aws/lambda/test-"],
                "dryRun": True,
                "limit": 10,
            }
        )
    )
    assert request.prefix == "/aws/lambda/"
    assert request.exclude_names == ("/aws/lambda/a", "/aws/lambda/b")
    assert request.exclude_prefixes == ("/aws/lambda/test-",)
    assert (request.dry_run, request.limit, request.filter_pattern) == (True, 10, "ERROR")


def test_follow_body_limits_exclusions() -> None:
    names = [f"/g/{i}" for i in range(MAX_FOLLOW_EXCLUSIONS + 1)]
    with pytest.raises(InvalidRequestError):
        parse_follow_body(json.dumps({"logGroupNamePrefix": "/g/", "excludeLogGroupNames": names}))


def test_unfollow_query() -> None:
    assert parse_unfollow_query({"logGroupNamePrefix": "/a/"}).unsubscribe is False
    request = parse_unfollow_query({"logGroupNamePrefix": "/a/", "unsubscribe": "TRUE"})
    assert (request.unsubscribe, request.after) == (True, None)
    token = encode_unfollow_token("/a/x", "/a/")
    assert parse_unfollow_query(
        {"logGroupNamePrefix": "/a/", "unsubscribe": "true", "nextToken": token}
    ).after == ("/a/x")


@given(NAMES, NAMES)
def test_unfollow_tokens_round_trip_and_are_bound_to_their_prefix(after: str, prefix: str) -> None:
    token = encode_unfollow_token(after, prefix)
    assert decode_unfollow_token(token, prefix) == after
    with pytest.raises(InvalidNextTokenError):
        decode_unfollow_token(token, prefix + "x")


# 2026-12-04T10:00:00.000Z in ms since the epoch
_RECORDED_MS = 1796378400000


@pytest.mark.parametrize(
    ("recorded_at", "creation_ms", "predates"),
    [
        ("2026-12-04T10:00:00.000Z", _RECORDED_MS - 5_000, False),  # the group the record is about
        ("2026-12-04T10:00:00.000Z", _RECORDED_MS, True),  # same millisecond: check the filters
        ("2026-12-04T10:00:00.000Z", _RECORDED_MS + 60_000, True),  # re-created after the record
        ("", _RECORDED_MS + 60_000, False),  # no date stored: cannot tell
        ("2026-12-04T10:00:00.000Z", None, False),  # no creationTime reported
        ("not a date", _RECORDED_MS + 60_000, False),
    ],
)
def test_a_record_predates_a_group_created_at_or_after_it(
    recorded_at: str, creation_ms: int | None, predates: bool
) -> None:
    record = GroupRecord("/aws/lambda/orders", "subscribed", recorded_at=recorded_at)
    assert record.predates(creation_ms) is predates
