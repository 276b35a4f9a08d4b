"""The infrastructure template: cfn-lint, and the properties moto's CloudFormation ignores.

moto creates the resources (test_infra_moto.py) but ignores bucket encryption, public
access block and lifecycle, stream encryption, DefinitionSubstitutions and the state
machine's logging configuration, and does not evaluate IAM conditions. Those guarantees
are asserted here, on the template itself.
"""

from __future__ import annotations

import json
from typing import Any

from cfnlint.api import lint
from cfnlint.config import ManualArgs

from logstep.deploy import infra

# Step Functions keeps a closed execution (its history, input and ARN) for 90 days;
# `logstep replay EXECUTION_ARN` needs it, and the execution's pending records.
# https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html
CLOSED_EXECUTION_RETENTION_DAYS = 90
# The actions Step Functions documents for execution logging; none takes a resource ARN.
# https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html
LOG_DELIVERY_ACTIONS = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}
# I4010 asks for an AI-context metadata block; it is informational and not about correctness.
IGNORED_INFORMATIONAL = ["I4010"]


def _sub(value: Any) -> str:
    """The string of a !Sub (or a plain string)."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        return str(value["Fn::Sub"])
    return str(value)


def test_cfn_lint_passes_with_informational_checks(template: dict[str, Any]) -> None:
    # What the template's own Metadata tells cfn-lint to ignore (the cfn-lint command reads
    # it; the API does not): see test_delivery_template.py for the lint with real values.
    own = template["Metadata"]["cfn-lint"]["config"]["ignore_checks"]
    config = ManualArgs(
        include_checks=["I"],
        ignore_checks=IGNORED_INFORMATIONAL + own,
        regions=["us-east-1", "eu-west-1", "ap-southeast-2"],
    )
    matches = lint(json.dumps(template), config=config)
    assert [str(m) for m in matches] == []


def test_every_resource_is_named_from_the_stage(resources: dict[str, Any]) -> None:
    named = {
        "SourceStream": ("Name", "logstep-${Stage}-source"),
        "DestinationStream": ("Name", "logstep-${Stage}-destination"),
        "ClaimCheckBucket": (
            "BucketName",
            "logstep-${Stage}-claimcheck-${AWS::AccountId}-${AWS::Region}",
        ),
        "CloudWatchLogsRole": ("RoleName", "logstep-${Stage}-cwl-to-kinesis"),
        "PipelineStateMachine": ("StateMachineName", "logstep-${Stage}-pipeline"),
        "ExecutionLogGroup": ("LogGroupName", "/aws/vendedlogs/states/logstep-${Stage}-pipeline"),
    }
    for logical_id, (prop, expected) in named.items():
        assert _sub(resources[logical_id]["Properties"][prop]) == expected, logical_id


def test_stream_mode_is_a_parameter_and_shards_apply_only_when_provisioned(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    assert template["Parameters"]["StreamMode"]["AllowedValues"] == ["ON_DEMAND", "PROVISIONED"]
    assert template["Conditions"]["Provisioned"] == {"Fn::Equals": [{"Ref": "StreamMode"}, "PROVISIONED"]}
    for logical_id, shards in (
        ("SourceStream", "SourceShardCount"),
        ("DestinationStream", "DestinationShardCount"),
    ):
        props = resources[logical_id]["Properties"]
        assert props["StreamModeDetails"] == {"StreamMode": {"Ref": "StreamMode"}}
        assert props["ShardCount"] == {"Fn::If": ["Provisioned", {"Ref": shards}, {"Ref": "AWS::NoValue"}]}
        assert props["RetentionPeriodHours"] == {"Ref": "StreamRetentionHours"}
        assert props["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}


def test_bucket_is_encrypted_private_and_owner_enforced(resources: dict[str, Any]) -> None:
    props = resources["ClaimCheckBucket"]["Properties"]
    rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rules == [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    policy = resources["ClaimCheckBucketPolicy"]["Properties"]["PolicyDocument"]
    (deny,) = policy["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_runs_expire_only_after_a_failed_execution_can_no_longer_be_replayed(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    rules = resources["ClaimCheckBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    expire = next(r for r in rules if r["Id"] == "expire-runs")
    assert expire["Status"] == "Enabled"
    assert expire["Prefix"] == "runs/"
    assert expire["ExpirationInDays"] == {"Ref": "ClaimCheckExpirationDays"}
    parameter = template["Parameters"]["ClaimCheckExpirationDays"]
    assert parameter["MinValue"] > CLOSED_EXECUTION_RETENTION_DAYS
    assert parameter["Default"] >= parameter["MinValue"]
    # Nothing else expires pipeline objects earlier.
    others = [r for r in rules if r is not expire]
    assert all("ExpirationInDays" not in r and "ExpirationDate" not in r for r in others)
    for stage_file in infra.STAGES_DIR.glob("*.json"):
        days = json.loads(stage_file.read_text())["parameters"].get("ClaimCheckExpirationDays")
        assert days is None or int(days) >= parameter["MinValue"], stage_file


def test_cloudwatch_logs_role_trusts_only_this_accounts_log_groups(
    resources: dict[str, Any],
) -> None:
    role = resources["CloudWatchLogsRole"]["Properties"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "logs.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    condition = statement["Condition"]
    assert _sub(condition["StringLike"]["aws:SourceArn"]) == (
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*"
    )
    assert condition["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    (policy,) = role["Policies"]
    (allow,) = policy["PolicyDocument"]["Statement"]
    assert allow["Action"] == "kinesis:PutRecord"
    assert allow["Resource"] == {"Fn::GetAtt": ["SourceStream", "Arn"]}


def test_state_machine_role_invokes_exactly_the_task_functions(
    resources: dict[str, Any],
) -> None:
    role = resources["StateMachineRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "states.amazonaws.com"}
    policies = {p["PolicyName"]: p["PolicyDocument"]["Statement"] for p in role["Policies"]}
    (invoke,) = policies["invoke-tasks"]
    assert invoke["Action"] == "lambda:InvokeFunction"
    substitutions = resources["PipelineStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert sorted(_sub(r) for r in invoke["Resource"]) == sorted(_sub(v) for v in substitutions.values())
    assert all("*" not in _sub(r) for r in invoke["Resource"])
    # Only the log-delivery actions, which take no resource-level permissions, use "*".
    (logging,) = policies["execution-logging"]
    assert logging["Resource"] == "*"
    assert set(logging["Action"]) == LOG_DELIVERY_ACTIONS


def test_state_machine_is_standard_logs_executions_and_substitutes_function_arns(
    resources: dict[str, Any],
) -> None:
    props = resources["PipelineStateMachine"]["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["RoleArn"] == {"Fn::GetAtt": ["StateMachineRole", "Arn"]}
    assert props["LoggingConfiguration"] == {
        "Level": {"Ref": "ExecutionLogLevel"},
        "IncludeExecutionData": {"Ref": "ExecutionLogIncludeData"},
        "Destinations": [
            {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": ["ExecutionLogGroup", "Arn"]}}}
        ],
    }
    for key, function in infra.TASK_FUNCTIONS.items():
        assert _sub(props["DefinitionSubstitutions"][key]) == (
            "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}"
            f":function:logstep-${{Stage}}-{function}"
        )


def test_outputs_name_what_the_stage_config_and_onboarding_need(template: dict[str, Any]) -> None:
    assert set(template["Outputs"]) >= {
        "SourceStreamName",
        "SourceStreamArn",
        "DestinationStreamName",
        "DestinationStreamArn",
        "ClaimCheckBucketName",
        "CloudWatchLogsRoleArn",
        "StateMachineArn",
        "StateMachineName",
        "ExecutionLogGroupName",
    }


def test_every_parameter_has_a_default_and_a_description(template: dict[str, Any]) -> None:
    for name, parameter in template["Parameters"].items():
        assert "Default" in parameter, name
        assert parameter.get("Description"), name


def test_source_template_has_no_definition_of_its_own(source_template: dict[str, Any]) -> None:
    props = source_template["Resources"]["PipelineStateMachine"]["Properties"]
    assert not {"Definition", "DefinitionString", "DefinitionS3Location"} & set(props)


def test_rendered_template_fits_an_inline_template_body(template: dict[str, Any]) -> None:
    from logstep.deploy.deploy import MAX_TEMPLATE_BODY_BYTES

    body = json.dumps(template, separators=(",", ":")).encode()
    assert len(body) < MAX_TEMPLATE_BODY_BYTES


def test_follows_table_is_the_one_the_stage_config_names(resources: dict[str, Any]) -> None:
    """Follow rules (issue 14): the store the sweep, the event handler and the API share."""
    from tests.deploy.conftest import CONFIG, STAGES

    props = resources["FollowsTable"]["Properties"]
    assert _sub(props["TableName"]) == "logstep-${Stage}-follows"
    for stage in STAGES:
        env = CONFIG["stages"][stage]["environment_variables"]
        assert env["LOGSTEP_FOLLOWS_TABLE"] == f"logstep-{stage}-follows"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert {k["AttributeName"]: k["KeyType"] for k in props["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
