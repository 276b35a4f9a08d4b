"""Onboarding API input, page tokens, the loop guard and the API's settings (pure)."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib import errors
from chalicelib.errors import ConfigurationError
from chalicelib.settings import ApiAuth, OnboardingSettings
from chalicelib.validation import (
    MAX_PAGE_GROUPS,
    Cursor,
    ListSubscriptions,
    LoopGuard,
    SubscribeGroup,
    SubscribePrefix,
    decode_next_token,
    encode_next_token,
    parse_delete_query,
    parse_list_query,
    parse_subscribe_body,
    validate_log_group_name,
)
from tests.unit.test_purity import CHALICELIB, FORBIDDEN, imported_modules

NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/#"
names = st.text(alphabet=NAME_CHARS, min_size=1, max_size=512)
cursors = st.builds(
    Cursor,
    page_token=st.none() | st.text(min_size=1, max_size=300),
    index=st.integers(min_value=0, max_value=MAX_PAGE_GROUPS - 1),
)


def test_validation_is_pure() -> None:
    assert not imported_modules(CHALICELIB / "validation.py") & FORBIDDEN


def test_one_group_body() -> None:
    assert parse_subscribe_body(b'{"logGroupName": "/aws/lambda/orders"}') == SubscribeGroup(
        "/aws/lambda/orders", ""
    )
    assert parse_subscribe_body(
        b'{"logGroupName": "/a", "filterPattern": "ERROR", "filterPattern": "WARN"}'
    ) == SubscribeGroup("/a", "WARN")
    assert parse_subscribe_body(b'{"logGroupName": "/a", "filterPattern": null}') == SubscribeGroup("/a")


def test_prefix_body_with_every_field() -> None:
    token = encode_next_token(Cursor("cw-token", 3), "/aws/")
    request = parse_subscribe_body(
        json.dumps(
            {
                "logGroupNamePrefix": "/aws/",
                "filterPattern": "ERROR",
                "nextToken": token,
                "limit": 10,
                "dryRun": True,
            }
        )
    )
    assert request == SubscribePrefix("/aws/", "ERROR", Cursor("cw-token", 3), 10, True)


def test_prefix_fields_are_refused_on_a_one_group_body() -> None:
    with pytest.raises(errors.InvalidRequestError) as raised:
        parse_subscribe_body(b'{"logGroupName": "/a", "limit": 3}')
    assert raised.value.details == {"field": "limit"}


@pytest.mark.parametrize("name", ["/", "a", "/aws/lambda/orders", "x" * 512, "/ecs/svc#1", "A.b-c_d"])
def test_names_cloudwatch_accepts(name: str) -> None:
    assert validate_log_group_name(name) == name


@pytest.mark.parametrize("name", ["", "x" * 513, "a b", "a:b", "a*", "ünï", "a\n", "arn:aws:logs:x"])
def test_names_cloudwatch_refuses(name: str) -> None:
    with pytest.raises(errors.InvalidLogGroupNameError):
        validate_log_group_name(name)


@given(names)
def test_every_documented_name_is_accepted(name: str) -> None:
    if not name.startswith("arn:"):
        assert validate_log_group_name(name) == name


def test_list_and_delete_queries() -> None:
    assert parse_list_query(None) == ListSubscriptions()
    assert parse_list_query({"limit": "7", "logGroupNamePrefix": "/a"}) == ListSubscriptions("/a", None, 7)
    assert parse_delete_query({"logGroupName": "/a"}) == "/a"
    for bad in ({"limit": "-1"}, {"limit": "1e3"}, {"limit": "999"}, {"x": "1"}):
        with pytest.raises(errors.InvalidRequestError):
            parse_list_query(bad)
    with pytest.raises(errors.InvalidRequestError):
        parse_delete_query({})


@given(cursors, names)
def test_next_token_round_trips(cursor: Cursor, prefix: str) -> None:
    token = encode_next_token(cursor, prefix)
    assert token.isascii() and "/" not in token and "+" not in token  # safe in a query string
    assert decode_next_token(token, prefix) == cursor


@given(cursors, names, names)
def test_a_token_only_works_for_its_prefix(cursor: Cursor, prefix: str, other: str) -> None:
    if other != prefix:
        with pytest.raises(errors.InvalidNextTokenError):
            decode_next_token(encode_next_token(cursor, prefix), other)


@given(st.text(max_size=200))
def test_arbitrary_tokens_are_refused_or_decoded_never_crash(token: str) -> None:
    with contextlib.suppress(errors.InvalidNextTokenError):
        decode_next_token(token, "/aws/")


def test_loop_guard_protects_logstep_and_nothing_else() -> None:
    guard = LoopGuard.for_stage(extra=("/custom/exact", "/custom/prefix/*"), rest_api_id="abc123")
    protected = [
        "/aws/lambda/logstep-dev",
        "/aws/lambda/logstep-prod-put_batch",
        "/aws/vendedlogs/states/logstep-dev-pipeline",
        "/aws/kinesisfirehose/logstep-dev-delivery",
        "API-Gateway-Execution-Logs_abc123/api",
        "/custom/exact",
        "/custom/prefix/x",
    ]
    allowed = ["/aws/lambda/orders", "/aws/lambda/logstepper", "/custom/exact2", "/custom/prefix"]
    assert all(guard.reason(name) for name in protected)
    assert not any(guard.reason(name) for name in allowed)


# --- the API's settings ------------------------------------------------------------------------


def test_onboarding_settings_complete_arns_from_the_lambda_arn() -> None:
    settings = OnboardingSettings.from_env(
        {
            "LOGSTEP_STAGE": "prod",
            "LOGSTEP_SOURCE_STREAM": "logstep-prod-source",
            "LOGSTEP_LOGS_ROLE_NAME": "logstep-prod-cwl-to-kinesis",
        }
    )
    target = settings.resolve("arn:aws-cn:lambda:cn-north-1:111122223333:function:logstep-prod")
    assert target.filter_name == "logstep-prod"
    assert target.destination_arn == "arn:aws-cn:kinesis:cn-north-1:111122223333:stream/logstep-prod-source"
    assert target.role_arn == "arn:aws-cn:iam::111122223333:role/logstep-prod-cwl-to-kinesis"
    assert target.distribution == "Random"


def test_explicit_arns_win_and_need_no_function_arn() -> None:
    settings = OnboardingSettings.from_env(
        {"LOGSTEP_SOURCE_STREAM_ARN": "arn:s", "LOGSTEP_LOGS_ROLE_ARN": "arn:r"}
    )
    target = settings.resolve("")
    assert (target.destination_arn, target.role_arn) == ("arn:s", "arn:r")


@pytest.mark.parametrize(
    "env",
    [
        {},  # no stream, no role, no function ARN
        {"LOGSTEP_SOURCE_STREAM": "s"},
        {"LOGSTEP_LOGS_ROLE_NAME": "r"},
    ],
)
def test_missing_onboarding_settings_say_which(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        OnboardingSettings.from_env(env).resolve("arn:aws:lambda:us-east-1:1:function:logstep-dev")
    with pytest.raises(ConfigurationError):
        OnboardingSettings.from_env({**env, "LOGSTEP_SOURCE_STREAM_ARN": "arn:s"}).resolve("")


def test_distribution_is_checked() -> None:
    with pytest.raises(ConfigurationError):
        OnboardingSettings.from_env({"LOGSTEP_SUBSCRIPTION_DISTRIBUTION": "Sideways"})


def test_api_auth_defaults_to_iam_and_custom_needs_a_lambda_arn() -> None:
    assert ApiAuth.from_env({}).mode == "iam"
    with pytest.raises(ConfigurationError):
        ApiAuth.from_env({"LOGSTEP_API_AUTH": "custom"})
    with pytest.raises(ConfigurationError):
        ApiAuth.from_env({"LOGSTEP_API_AUTH": "none"})
    arn = "arn:aws:lambda:eu-west-1:111122223333:function:my-authorizer"
    auth = ApiAuth.from_env({"LOGSTEP_API_AUTH": "custom", "LOGSTEP_API_AUTHORIZER_ARN": arn})
    assert auth.authorizer_uri == (
        f"arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/{arn}/invocations"
    )


def test_api_errors_are_not_part_of_the_state_machine_taxonomy() -> None:
    api_errors = {c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.ApiError)}
    assert api_errors.isdisjoint(errors.RETRYABLE_ERRORS + errors.PERMANENT_ERRORS)
    codes = [c.code for c in api_errors if c is not errors.ApiError]
    assert len(codes) == len(set(codes)), "every API error has its own code"
