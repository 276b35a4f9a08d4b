"""What `chalice package` deploys for the onboarding API: IAM auth on every route, and the
API handler's own least-privilege policy file, per stage."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHALICE = Path(sys.executable).with_name("chalice")
STAGES_WITH_POLICY = ("dev", "prod")
ONBOARDING_ACTIONS = {
    "logs:PutSubscriptionFilter",
    "logs:DeleteSubscriptionFilter",
    "logs:DescribeSubscriptionFilters",
    "logs:DescribeLogGroups",
    "iam:PassRole",
}
# /follows (issue 14): the follow rule store, on its table only.
FOLLOW_STORE_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
}
OWN_LOG_ACTIONS = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}


def package(tmp_path: Path, **env: str) -> dict[str, Any]:
    """`chalice package --stage dev` on a copy of the project; the SAM template."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "app.py", project)
    shutil.copytree(ROOT / "chalicelib", project / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / ".chalice", project / ".chalice", ignore=shutil.ignore_patterns("deployments"))
    # The template is what this test reads; an empty requirements file keeps the packager
    # from downloading wheels (and the test offline).
    (project / "requirements.txt").write_text("")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOGSTEP_"))}
    environ.update({"AWS_DEFAULT_REGION": "us-east-1", **env})
    result = subprocess.run(
        [str(CHALICE), "package", "--stage", "dev", str(tmp_path / "out")],
        cwd=project,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    template: dict[str, Any] = json.loads((tmp_path / "out" / "sam.json").read_text())
    return template


def swagger(template: dict[str, Any]) -> dict[str, Any]:
    apis = [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Api"]
    [api] = apis
    definition: dict[str, Any] = api["Properties"]["DefinitionBody"]
    return definition


def operations(definition: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): operation
        for path, methods in definition["paths"].items()
        for method, operation in methods.items()
    }


@pytest.mark.slow
def test_the_packaged_api_requires_iam_auth_on_every_route(tmp_path: Path) -> None:
    template = package(tmp_path)
    definition = swagger(template)
    routes = operations(definition)
    assert set(routes) == {
        ("/subscriptions", "post"),
        ("/subscriptions", "get"),
        ("/subscriptions", "delete"),
        ("/follows", "post"),
        ("/follows", "get"),
        ("/follows", "delete"),
    }
    for route, operation in routes.items():
        assert operation.get("security") == [{"sigv4": []}], route
    assert definition["securityDefinitions"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"

    # The API handler runs with its own policy file, not Chalice's generated policy.
    roles = {name: r for name, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    handler = template["Resources"]["APIHandler"]["Properties"]
    role = roles[handler["Role"]["Fn::GetAtt"][0]]
    [policy] = role["Properties"]["Policies"]
    assert policy["PolicyDocument"] == json.loads((ROOT / ".chalice/policy-dev-api_handler.json").read_text())
    assert handler["Timeout"] <= 30  # API Gateway answers 504 after 29 s anyway


@pytest.mark.slow
def test_a_stage_can_switch_to_a_custom_authorizer(tmp_path: Path) -> None:
    authorizer = "arn:aws:lambda:us-east-1:111122223333:function:corp-token-authorizer"
    definition = swagger(package(tmp_path, LOGSTEP_API_AUTH="custom", LOGSTEP_API_AUTHORIZER_ARN=authorizer))
    for route, operation in operations(definition).items():
        assert operation.get("security") == [{"logstep_authorizer": []}], route
    scheme = definition["securityDefinitions"]["logstep_authorizer"]
    assert scheme["x-amazon-apigateway-authtype"] == "custom"
    assert authorizer in scheme["x-amazon-apigateway-authorizer"]["authorizerUri"]


# --- the policy files ------------------------------------------------------------------------


def policy(stage: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / ".chalice" / f"policy-{stage}-api_handler.json").read_text())
    return loaded


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


@pytest.mark.parametrize("stage", STAGES_WITH_POLICY)
def test_the_api_handler_policy_grants_exactly_what_onboarding_needs(stage: str) -> None:
    statements = policy(stage)["Statement"]
    assert all(s["Effect"] == "Allow" for s in statements)
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert actions == ONBOARDING_ACTIONS | FOLLOW_STORE_ACTIONS | OWN_LOG_ACTIONS
    assert not any("*" in a for a in actions)
    [store] = [s for s in statements if set(as_list(s["Action"])) & FOLLOW_STORE_ACTIONS]
    assert as_list(store["Resource"]) == [f"arn:*:dynamodb:*:*:table/logstep-{stage}-follows"]

    [pass_role] = [s for s in statements if "iam:PassRole" in as_list(s["Action"])]
    assert as_list(pass_role["Action"]) == ["iam:PassRole"]
    assert as_list(pass_role["Resource"]) == [f"arn:*:iam::*:role/logstep-{stage}-cwl-to-kinesis"]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "logs.amazonaws.com"}}

    own = [s for s in statements if set(as_list(s["Action"])) & OWN_LOG_ACTIONS]
    assert all(set(as_list(s["Action"])) <= OWN_LOG_ACTIONS for s in own)
    own_group = f"arn:*:logs:*:*:log-group:/aws/lambda/logstep-{stage}"
    assert {r for s in own for r in as_list(s["Resource"])} == {own_group, own_group + ":*"}


def test_every_configured_stage_uses_its_policy_file() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    for stage, settings in config["stages"].items():
        handler = settings.get("lambda_functions", {}).get("api_handler", {})
        assert (
            handler.get("autogen_policy", settings.get("autogen_policy", config.get("autogen_policy")))
            is False
        )
        assert handler.get("iam_policy_file") == f"policy-{stage}-api_handler.json", stage
        assert (ROOT / ".chalice" / handler["iam_policy_file"]).is_file(), stage
