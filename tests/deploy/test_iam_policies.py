"""Every function's policy file grants exactly what its code calls, on its own resources.

The boto3 calls come from the code (tests/deploy/callgraph.py walks app.py and
chalicelib/); what each call needs in IAM, and on which resource, is declared below with
the AWS page that says so. The checks:

- every boto3 call site in chalicelib/ is reached by some Lambda function, or declared as
  used outside Lambda (so a call the walk cannot attribute fails instead of passing);
- each function's policy allows every action its calls need, on the stage's resource;
- no policy grants an action its function does not need;
- no policy uses a wildcard action, NotAction/NotResource, or Resource "*" for an action
  that accepts a narrower resource;
- a stage's policies name only that stage's resources.

put_batch's delivery grants depend on the stage's delivery parameters, so they live in the
stack (PutBatchDeliveryPolicy, attached by `logstep deploy`): its effective policy is its
policy file plus that managed policy evaluated for each delivery scenario below. Its calls
to the cluster are HTTP, not boto3; what they need is declared in SEARCH_HTTP_ACTIONS.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import pytest

from logstep.deploy import infra
from tests.deploy.callgraph import BotoCall, CallGraph
from tests.deploy.cfn_eval import Evaluated
from tests.deploy.conftest import CONFIG, ROOT, STAGES

ACCOUNT = "111122223333"
REGION = "eu-west-1"

# Boto3 calls in chalicelib/ that no Lambda makes, and who does.
OUTSIDE_LAMBDA = {
    "chalicelib.claimcheck.ClaimCheck.list_keys": "logstep replay, with the operator's credentials",
}

# (service, operation) -> [(IAM action, resource kind)]. Resource kinds are built per
# stage by _resource(). Service authorization reference:
# https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html
OPERATION_ACTIONS: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("s3", "put_object"): [("s3:PutObject", "object")],
    # Without s3:ListBucket, GetObject on a missing key answers 403 AccessDenied instead of
    # 404 NoSuchKey; ClaimCheck.get relies on NoSuchKey (put_batch's pending set is absent
    # on a chunk's first attempt).
    # https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html#API_GetObject_Permissions
    ("s3", "get_object"): [("s3:GetObject", "object"), ("s3:ListBucket", "bucket")],
    ("s3", "head_object"): [("s3:GetObject", "object"), ("s3:ListBucket", "bucket")],
    ("s3", "list_objects_v2"): [("s3:ListBucket", "bucket")],
    ("s3", "delete_object"): [("s3:DeleteObject", "object")],
    # DeleteObjects is authorised key by key with s3:DeleteObject:
    # https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html
    ("s3", "delete_objects"): [("s3:DeleteObject", "object")],
    ("kinesis", "put_records"): [("kinesis:PutRecords", "destination_stream")],
    ("kinesis", "put_record"): [("kinesis:PutRecord", "destination_stream")],
    # The secret of the api-key / basic search auth (chalicelib.delivery.search.read_secret).
    # https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
    ("secretsmanager", "get_secret_value"): [("secretsmanager:GetSecretValue", "search_secret")],
    ("stepfunctions", "start_execution"): [("states:StartExecution", "state_machine")],
    ("stepfunctions", "describe_execution"): [("states:DescribeExecution", "execution")],
    # The onboarding API (api_handler). PutSubscriptionFilter also needs iam:PassRole on
    # the role it hands to CloudWatch Logs:
    # https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutSubscriptionFilter.html
    ("logs", "put_subscription_filter"): [
        ("logs:PutSubscriptionFilter", "log_group"),
        ("iam:PassRole", "cloudwatch_logs_role"),
    ],
    ("logs", "delete_subscription_filter"): [("logs:DeleteSubscriptionFilter", "log_group")],
    ("logs", "describe_subscription_filters"): [("logs:DescribeSubscriptionFilters", "log_group")],
    ("logs", "describe_log_groups"): [("logs:DescribeLogGroups", "any_log_group")],
    # Follow rules (issue 14): the rule store. A TransactWriteItems is authorised by the
    # actions inside it (PutItem, UpdateItem, DeleteItem), not by an action of its own:
    # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html
    ("dynamodb", "get_item"): [("dynamodb:GetItem", "follows_table")],
    ("dynamodb", "put_item"): [("dynamodb:PutItem", "follows_table")],
    ("dynamodb", "update_item"): [("dynamodb:UpdateItem", "follows_table")],
    ("dynamodb", "delete_item"): [("dynamodb:DeleteItem", "follows_table")],
    ("dynamodb", "query"): [("dynamodb:Query", "follows_table")],
    ("dynamodb", "transact_write_items"): [
        ("dynamodb:PutItem", "follows_table"),
        ("dynamodb:UpdateItem", "follows_table"),
        ("dynamodb:DeleteItem", "follows_table"),
    ],
}

DOMAIN_ARN = f"arn:aws:es:{REGION}:{ACCOUNT}:domain/logs"
COLLECTION_ARN = f"arn:aws:aoss:{REGION}:{ACCOUNT}:collection/abc123def456"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:logstep/elastic-AbCdEf"
# Delivery scenarios: the stack parameters of a stage (docs/deploy.md).
SCENARIOS: dict[str, dict[str, str]] = {
    "kinesis": {},
    "search-aws-es": {
        "Delivery": "search",
        "SearchEndpoint": f"https://search-logs-abc.{REGION}.es.amazonaws.com",
        "SearchAuth": "aws-es",
        "SearchResourceArn": DOMAIN_ARN,
    },
    "search-aws-aoss": {
        "Delivery": "search",
        "SearchEndpoint": f"https://abc123def456.{REGION}.aoss.amazonaws.com",
        "SearchAuth": "aws-aoss",
        "SearchResourceArn": COLLECTION_ARN,
    },
    "search-api-key": {
        "Delivery": "search",
        "SearchEndpoint": "https://logs.es.eu-west-1.aws.elastic-cloud.com",
        "SearchAuth": "api-key",
        "SearchSecretArn": SECRET_ARN,
    },
    "search-basic": {
        "Delivery": "search",
        "SearchEndpoint": "https://logs.example.com:9200",
        "SearchAuth": "basic",
        "SearchSecretArn": SECRET_ARN,
    },
    "search-none": {"Delivery": "search", "SearchEndpoint": "https://logs.internal", "SearchAuth": "none"},
    "search-keeping-the-stream": {
        "Delivery": "search",
        "SearchEndpoint": f"https://search-logs-abc.{REGION}.es.amazonaws.com",
        "SearchAuth": "aws-es",
        "SearchResourceArn": DOMAIN_ARN,
        "KeepDestinationStream": "true",
    },
}
# put_batch's requests to the cluster (chalicelib.delivery.search: POST /_bulk), by auth.
# SigV4 requests are authorised as es:ESHttp<Method> on the domain's path, or as
# aoss:APIAccessAll on the collection:
# https://docs.aws.amazon.com/opensearch-service/latest/developerguide/ac.html
# https://docs.aws.amazon.com/opensearch-service/latest/developerguide/security-iam-serverless.html
SEARCH_HTTP_ACTIONS = {
    "aws-es": [("es:ESHttpPost", f"{DOMAIN_ARN}/_bulk")],
    "aws-aoss": [("aoss:APIAccessAll", COLLECTION_ARN)],
}
# Granted without being called today: _bulk takes PUT as well as POST (issue 12 asks for
# both, so a client that sends PUT /_bulk is not refused).
SEARCH_HTTP_PERMITTED = {"aws-es": [("es:ESHttpPut", f"{DOMAIN_ARN}/_bulk")]}


@cache
def evaluated(stage: str, scenario: str) -> Evaluated:
    return Evaluated(infra.render(), {"Stage": stage, **SCENARIOS[scenario]})


def _needed_in(call: BotoCall, stage: str, scenario: str) -> bool:
    """put_batch reaches both deliveries' code; a scenario needs only its own calls."""
    ev = evaluated(stage, scenario)
    if (call.service, call.operation) == ("kinesis", "put_records"):
        return "DestinationStream" in ev.resources
    if call.service == "secretsmanager":
        return ev.parameters["Delivery"] == "search" and ev.parameters["SearchAuth"] in ("api-key", "basic")
    return True


# What Lambda's event source mapping needs from the function's role to read a stream:
# https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-create.html
KINESIS_TRIGGER_ACTIONS = [
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
]
# Every function writes its own log group; Chalice creates the group (log_retention_in_days),
# so logs:CreateLogGroup is not needed.
OWN_LOG_ACTIONS = ["logs:CreateLogStream", "logs:PutLogEvents"]
# Actions that take no resource ARN, where Resource "*" is the narrowest AWS accepts.
ACTIONS_WITHOUT_RESOURCE_LEVEL = {
    "cloudwatch:PutMetricData",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
}


@cache
def graph() -> CallGraph:
    return CallGraph(ROOT)


def _env(stage: str) -> dict[str, str]:
    env = {
        **CONFIG.get("environment_variables", {}),
        **CONFIG["stages"][stage]["environment_variables"],
    }
    return {
        k: v.replace("{account}", ACCOUNT).replace("{region}", REGION).replace("{partition}", "aws")
        for k, v in env.items()
    }


def _resource(stage: str, kind: str, function: str) -> str:
    env = _env(stage)
    base = f"{REGION}:{ACCOUNT}"
    return {
        "search_secret": SECRET_ARN,
        "object": f"arn:aws:s3:::{env['LOGSTEP_BUCKET']}/runs/shard0-000000000001-3-abc/raw.json",
        "bucket": f"arn:aws:s3:::{env['LOGSTEP_BUCKET']}",
        "destination_stream": f"arn:aws:kinesis:{base}:stream/{env['LOGSTEP_DESTINATION_STREAM']}",
        "source_stream": f"arn:aws:kinesis:{base}:stream/{env['LOGSTEP_SOURCE_STREAM']}",
        "state_machine": f"arn:aws:states:{base}:stateMachine:{env['LOGSTEP_STATE_MACHINE_NAME']}",
        "execution": f"arn:aws:states:{base}:execution:{env['LOGSTEP_STATE_MACHINE_NAME']}:run1",
        "log_group": f"arn:aws:logs:{base}:log-group:/aws/lambda/orders:*",
        "any_log_group": f"arn:aws:logs:{base}:log-group:*",
        "follows_table": f"arn:aws:dynamodb:{base}:table/{env['LOGSTEP_FOLLOWS_TABLE']}",
        "cloudwatch_logs_role": f"arn:aws:iam::{ACCOUNT}:role/logstep-{stage}-cwl-to-kinesis",
        "own_log_stream": (
            f"arn:aws:logs:{base}:log-group:/aws/lambda/{_function_name(stage, function)}"
            ":log-stream:2026/01/01/[$LATEST]0123456789abcdef"
        ),
        "own_log_group": f"arn:aws:logs:{base}:log-group:/aws/lambda/{_function_name(stage, function)}",
    }[kind]


def _function_name(stage: str, function: str) -> str:
    """Chalice names the REST API's function <app>-<stage>, every other <app>-<stage>-<name>."""
    return f"logstep-{stage}" if function == "api_handler" else f"logstep-{stage}-{function}"


def _permitted(stage: str, function: str, scenario: str = "kinesis") -> list[tuple[str, str]]:
    """(action, resource) pairs a function may have without calling them itself."""
    # Lambda creates the function's log group if it is missing (Chalice creates it when
    # log_retention_in_days is set, so this is optional).
    permitted = [("logs:CreateLogGroup", _resource(stage, "own_log_group", function))]
    if function == "put_batch" and SCENARIOS[scenario].get("SearchEndpoint"):
        permitted += SEARCH_HTTP_PERMITTED.get(SCENARIOS[scenario]["SearchAuth"], [])
    return permitted


def _required(stage: str, function: str, scenario: str = "kinesis") -> list[tuple[str, str]]:
    """(action, resource ARN) pairs the function needs."""
    needed = [(a, _resource(stage, "own_log_stream", function)) for a in OWN_LOG_ACTIONS]
    if graph().triggers()[function] == "on_kinesis_record":
        needed += [(a, _resource(stage, "source_stream", function)) for a in KINESIS_TRIGGER_ACTIONS]
    if function == "put_batch" and SCENARIOS[scenario].get("SearchEndpoint"):
        needed += SEARCH_HTTP_ACTIONS.get(SCENARIOS[scenario]["SearchAuth"], [])
    for call in graph().calls_of(function):
        if function == "put_batch" and not _needed_in(call, stage, scenario):
            continue
        key = (call.service, call.operation)
        assert key in OPERATION_ACTIONS, (
            f"{call.function}:{call.line} calls {call.service}.{call.operation}: declare its "
            "IAM actions and resource in OPERATION_ACTIONS"
        )
        needed += [(a, _resource(stage, kind, function)) for a, kind in OPERATION_ACTIONS[key]]
    return needed


def _policy_file(stage: str, function: str) -> dict[str, Any]:
    path = CONFIG["stages"][stage]["lambda_functions"][function]["iam_policy_file"]
    loaded: dict[str, Any] = json.loads((ROOT / ".chalice" / path).read_text())
    return loaded


def _policy(stage: str, function: str, scenario: str = "kinesis") -> dict[str, Any]:
    """The function's effective policy: its file, plus the stack's delivery policy for put_batch."""
    policy = _policy_file(stage, function)
    if function != "put_batch":
        return policy
    delivery = evaluated(stage, scenario).resources["PutBatchDeliveryPolicy"]
    extra = delivery["Properties"]["PolicyDocument"]["Statement"]
    return {**policy, "Statement": policy["Statement"] + extra}


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's wildcard match: * is any run of characters, ? is one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _allows(policy: dict[str, Any], action: str, resource: str) -> bool:
    return any(
        statement["Effect"] == "Allow"
        and any(_glob(a, action, ignore_case=True) for a in _as_list(statement["Action"]))
        and any(_glob(r, resource) for r in _as_list(statement["Resource"]))
        # A Condition only narrows a grant (iam:PassedToService, say); it is still the grant.
        for statement in policy["Statement"]
    )


def _functions(stage: str) -> list[str]:
    return sorted(set(graph().entry_points()) & set(CONFIG["stages"][stage]["lambda_functions"]))


def test_every_boto3_call_in_chalicelib_is_attributed_to_a_function() -> None:
    g = graph()
    assert g.ambiguous == [], "declare the service of these calls (SERVICE_HINTS)"
    reached = g.reachable(h for handlers in g.entry_points().values() for h in handlers)
    unattributed = [
        f"{c.function}:{c.line} {c.service}.{c.operation}"
        for c in g.boto_calls
        if c.function not in reached and c.function not in OUTSIDE_LAMBDA
    ]
    assert unattributed == []
    assert set(OUTSIDE_LAMBDA) <= {c.function for c in g.boto_calls}


def test_the_walk_finds_the_calls_the_pipeline_is_known_to_make() -> None:
    """A guard on the walker itself: these calls exist today (extend, never shrink)."""
    calls = {
        f: {(c.service, c.operation) for c in graph().calls_of(f)}
        for f in ("ingest", "decode", "transform", "put_batch", "summarize")
    }
    assert calls["ingest"] >= {("s3", "put_object"), ("stepfunctions", "start_execution")}
    assert calls["decode"] >= {("s3", "get_object"), ("s3", "put_object")}
    assert calls["transform"] >= {("s3", "get_object"), ("s3", "put_object")}
    assert calls["put_batch"] >= {
        ("s3", "get_object"),
        ("s3", "put_object"),
        ("kinesis", "put_records"),
    }
    assert calls["summarize"] >= {("s3", "get_object"), ("s3", "put_object")}


@pytest.mark.parametrize("stage", STAGES)
def test_every_app_function_has_a_policy_file_in_the_stage(stage: str) -> None:
    configured = CONFIG["stages"][stage]["lambda_functions"]
    for function in graph().entry_points():
        assert configured.get(function, {}).get("iam_policy_file"), (stage, function)


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("stage", STAGES)
def test_policies_cover_every_call(stage: str, scenario: str) -> None:
    missing = [
        f"{function}: {action} on {resource}"
        for function in _functions(stage)
        for action, resource in _required(stage, function, scenario)
        if not _allows(_policy(stage, function, scenario), action, resource)
    ]
    assert missing == []


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("stage", STAGES)
def test_policies_grant_nothing_the_function_does_not_call(stage: str, scenario: str) -> None:
    extra = []
    for function in _functions(stage):
        pairs = _required(stage, function, scenario) + _permitted(stage, function, scenario)
        needed = {action.lower() for action, _ in pairs}
        for statement in _policy(stage, function, scenario)["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            for action in _as_list(statement["Action"]):
                if action.lower() not in needed:
                    extra.append(f"{function}: {action}")
    assert extra == []


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("stage", STAGES)
def test_no_wildcard_where_a_narrower_grant_exists(stage: str, scenario: str) -> None:
    problems = []
    for function in _functions(stage):
        for statement in _policy(stage, function, scenario)["Statement"]:
            where = f"{function} {statement.get('Sid', '')}"
            if {"NotAction", "NotResource", "NotPrincipal"} & set(statement):
                problems.append(f"{where}: Not* element")
            actions = _as_list(statement.get("Action", []))
            for action in actions:
                if "*" in action or "?" in action:
                    problems.append(f"{where}: wildcard action {action}")
            for resource in _as_list(statement.get("Resource", [])):
                if resource == "*" and not set(actions) <= ACTIONS_WITHOUT_RESOURCE_LEVEL:
                    problems.append(f"{where}: Resource * for {actions}")
                # Account and region may be wildcards in static files; names may not be.
                name = resource.split(":", 5)[-1]
                if resource != "*" and name.strip("*/") == "":
                    problems.append(f"{where}: resource {resource} names nothing")
    assert problems == []


@pytest.mark.parametrize("stage", STAGES)
def test_a_stages_policies_name_only_its_own_resources(stage: str) -> None:
    others = [s for s in STAGES if s != stage]
    for function in _functions(stage):
        text = json.dumps(_policy_file(stage, function))
        assert f"logstep-{stage}-" in text
        for other in others:
            assert f"logstep-{other}-" not in text, (stage, function, other)


def test_the_walk_finds_the_follow_functions_calls() -> None:
    """The follow rule functions reach the store and the filters (issue 14)."""
    event = {(c.service, c.operation) for c in graph().calls_of("follow_new_log_group")}
    sweep = {(c.service, c.operation) for c in graph().calls_of("sweep_follows")}
    api = {(c.service, c.operation) for c in graph().calls_of("api_handler")}
    store = {("dynamodb", "query"), ("dynamodb", "get_item"), ("dynamodb", "transact_write_items")}
    filters = {("logs", "describe_subscription_filters"), ("logs", "put_subscription_filter")}
    assert event >= store | filters
    assert sweep >= store | filters | {("logs", "describe_log_groups"), ("dynamodb", "update_item")}
    assert ("logs", "describe_log_groups") not in event
    assert api >= store | filters | {("dynamodb", "put_item"), ("dynamodb", "delete_item")}
    assert graph().triggers()["follow_new_log_group"] == "on_cw_event"
    assert graph().triggers()["sweep_follows"] == "schedule"


def test_policies_would_not_allow_another_stages_resources() -> None:
    """The resource patterns really are scoped: dev's put_batch cannot write prod's stream."""
    if not {"dev", "prod"} <= set(STAGES):
        pytest.skip("needs dev and prod")
    prod_stream = _resource("prod", "destination_stream", "put_batch")
    prod_object = _resource("prod", "object", "put_batch")
    assert not _allows(_policy("dev", "put_batch"), "kinesis:PutRecords", prod_stream)
    assert not _allows(_policy("dev", "put_batch"), "s3:PutObject", prod_object)


def test_search_grants_reach_only_the_chosen_target() -> None:
    """A domain's grant opens no other domain; a secret's, no other secret; kinesis, no cluster."""
    other_domain = DOMAIN_ARN.replace("domain/logs", "domain/other") + "/_bulk"
    es = _policy("dev", "put_batch", "search-aws-es")
    assert _allows(es, "es:ESHttpPost", f"{DOMAIN_ARN}/_bulk")
    assert not _allows(es, "es:ESHttpPost", other_domain)
    assert not _allows(es, "es:ESHttpDelete", f"{DOMAIN_ARN}/logstep-2026-12-04")
    assert not _allows(es, "secretsmanager:GetSecretValue", SECRET_ARN)
    assert not _allows(es, "kinesis:PutRecords", _resource("dev", "destination_stream", "put_batch"))
    aoss = _policy("dev", "put_batch", "search-aws-aoss")
    assert _allows(aoss, "aoss:APIAccessAll", COLLECTION_ARN)
    assert not _allows(aoss, "aoss:APIAccessAll", COLLECTION_ARN.replace("abc123def456", "zzz"))
    key = _policy("dev", "put_batch", "search-api-key")
    assert _allows(key, "secretsmanager:GetSecretValue", SECRET_ARN)
    assert not _allows(key, "secretsmanager:GetSecretValue", SECRET_ARN.replace("elastic", "other"))
    kinesis = _policy("dev", "put_batch", "kinesis")
    assert not any(
        _allows(kinesis, a, r)
        for a, r in [("es:ESHttpPost", f"{DOMAIN_ARN}/_bulk"), ("aoss:APIAccessAll", COLLECTION_ARN)]
    )
    kept = _policy("dev", "put_batch", "search-keeping-the-stream")
    assert _allows(kept, "kinesis:PutRecords", _resource("dev", "destination_stream", "put_batch"))
