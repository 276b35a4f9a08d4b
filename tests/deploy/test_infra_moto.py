"""The rendered template deploys into moto's CloudFormation and creates its resources.

What moto ignores (encryption, public access block, lifecycle, logging configuration,
DefinitionSubstitutions) is asserted on the template in test_infra_template.py.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from logstep.deploy import infra
from logstep.deploy.deploy import OUTPUT_ENV, check_outputs_match_config, stack_name, stage_environment
from tests.deploy.conftest import REGION, STAGES

ACCOUNT = "123456789012"  # moto's default account

# moto's CloudFormation cannot create AWS::S3::BucketPolicy; its content is asserted on
# the template (test_infra_template.py).
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS..S3..BucketPolicy")


def _create(stage: str, overrides: dict[str, str] | None = None) -> dict[str, str]:
    cfn = boto3.client("cloudformation", region_name=REGION)
    settings = infra.stage_settings(stage, overrides)
    cfn.create_stack(
        StackName=stack_name(stage),
        TemplateBody=json.dumps(infra.render()),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in settings.parameters.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    stack = cfn.describe_stacks(StackName=stack_name(stage))["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


@pytest.mark.parametrize("stage", STAGES)
def test_stack_creates_every_resource(aws: None, stage: str) -> None:
    outputs = _create(stage)
    kinesis = boto3.client("kinesis", region_name=REGION)
    for name in (f"logstep-{stage}-source", f"logstep-{stage}-destination"):
        summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        assert summary["StreamStatus"] == "ACTIVE"
    bucket = f"logstep-{stage}-claimcheck-{ACCOUNT}-{REGION}"
    assert outputs["ClaimCheckBucketName"] == bucket
    boto3.client("s3", region_name=REGION).head_bucket(Bucket=bucket)
    role = boto3.client("iam").get_role(RoleName=f"logstep-{stage}-cwl-to-kinesis")["Role"]
    assert outputs["CloudWatchLogsRoleArn"] == role["Arn"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"Service": "logs.amazonaws.com"}
    groups = boto3.client("logs", region_name=REGION).describe_log_groups(
        logGroupNamePrefix=f"/aws/vendedlogs/states/logstep-{stage}-pipeline"
    )["logGroups"]
    assert len(groups) == 1
    table = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=f"logstep-{stage}-follows")
    assert {k["AttributeName"]: k["KeyType"] for k in table["Table"]["KeySchema"]} == {
        "pk": "HASH",
        "sk": "RANGE",
    }


@pytest.mark.parametrize("stage", STAGES)
def test_deployed_state_machine_is_the_definition_file(aws: None, stage: str) -> None:
    outputs = _create(stage)
    sfn = boto3.client("stepfunctions", region_name=REGION)
    described = sfn.describe_state_machine(stateMachineArn=outputs["StateMachineArn"])
    assert described["name"] == f"logstep-{stage}-pipeline"
    assert described["type"] == "STANDARD"
    # moto ignores DefinitionSubstitutions, so the stored definition is the file itself.
    assert described["definition"].encode() == infra.DEFINITION_PATH.read_bytes()


def test_provisioned_shard_count_parameter(aws: None) -> None:
    # moto's CloudFormation creates every stream PROVISIONED whatever StreamModeDetails
    # says; ON_DEMAND is asserted on the template (test_infra_template.py).
    _create("dev", {"StreamMode": "PROVISIONED", "SourceShardCount": "3"})
    kinesis = boto3.client("kinesis", region_name=REGION)
    summary = kinesis.describe_stream_summary(StreamName="logstep-dev-source")["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == 3
    destination = kinesis.describe_stream_summary(StreamName="logstep-dev-destination")
    assert destination["StreamDescriptionSummary"]["OpenShardCount"] == 1


@pytest.mark.parametrize("stage", STAGES)
def test_stack_outputs_are_what_the_stage_config_resolves_to(aws: None, stage: str) -> None:
    """The Lambdas find every resource by the names in .chalice/config.json."""
    outputs = _create(stage)
    env = stage_environment(stage)
    assert set(OUTPUT_ENV.values()) <= set(env)
    assert check_outputs_match_config(outputs, env, "aws", REGION, ACCOUNT) == []
    # The same through the code the Lambdas run.
    from chalicelib.settings import Settings

    lambda_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:logstep-{stage}-decode"
    settings = Settings.from_env(env).resolve(lambda_arn)
    assert settings.bucket == outputs["ClaimCheckBucketName"]
    assert settings.source_stream == outputs["SourceStreamName"]
    assert settings.destination_stream == outputs["DestinationStreamName"]
    assert settings.resolve_state_machine_arn(lambda_arn) == outputs["StateMachineArn"]


def test_a_mismatch_between_stack_and_config_is_reported() -> None:
    outputs: dict[str, Any] = {
        "SourceStreamName": "logstep-dev-source",
        "DestinationStreamName": "other",
        "ClaimCheckBucketName": "logstep-dev-claimcheck-1-r",
        "StateMachineName": "logstep-dev-pipeline",
    }
    env = stage_environment("dev")
    problems = check_outputs_match_config(outputs, env, "aws", "r", "1")
    assert len(problems) == 1 and "LOGSTEP_DESTINATION_STREAM" in problems[0]
