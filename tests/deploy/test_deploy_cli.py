"""`logstep deploy` / `logstep destroy` against moto.

The fast tests run the sequence in-process with a stand-in for `chalice deploy`; the slow
one runs the real `chalice deploy` and `chalice delete` against a moto server.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

import boto3
import pytest

from logstep.deploy import infra
from logstep.deploy.deploy import (
    PARAMETER_ENV,
    Deployer,
    DeployError,
    check_stage_environment,
    delivery_environment,
    delivery_problems,
    put_batch_memory,
    stack_name,
    stage_environment,
    with_delivery_environment,
)
from tests.deploy.conftest import CONFIG, REGION, copy_project, drop_novalue_in_lists

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS..S3..BucketPolicy")
ACCOUNT = "123456789012"
SOURCE_ARN = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/logstep-dev-source"


class FakeChalice:
    """Stands in for `chalice deploy/delete`: creates the ingest function and its mapping."""

    def __init__(self, project: Path) -> None:
        self.project = project
        self.calls: list[list[str]] = []

    def __call__(self, args: Sequence[str]) -> int:
        self.calls.append(list(args))
        lam = boto3.client("lambda", region_name=REGION)
        deployed = self.project / ".chalice" / "deployed" / "dev.json"
        if args[0] == "deploy":
            if not deployed.exists():
                role = boto3.client("iam").create_role(
                    RoleName="logstep-dev-ingest", AssumeRolePolicyDocument="{}"
                )["Role"]["Arn"]
                # Chalice's role for put_batch (<app>-<stage>-<function>): deploy attaches
                # the stack's delivery policy to it.
                boto3.client("iam").create_role(
                    RoleName="logstep-dev-put_batch", AssumeRolePolicyDocument="{}"
                )
                lam.create_function(
                    FunctionName="logstep-dev-ingest",
                    Runtime="python3.11",
                    Role=role,
                    Handler="app.ingest",
                    Code={"ZipFile": _zip()},
                )
                lam.create_event_source_mapping(
                    FunctionName="logstep-dev-ingest",
                    EventSourceArn=SOURCE_ARN,
                    StartingPosition="TRIM_HORIZON",
                    BatchSize=10_000,
                )
                deployed.parent.mkdir(parents=True, exist_ok=True)
                deployed.write_text(
                    json.dumps(
                        {
                            "resources": [
                                {
                                    "resource_type": "rest_api",
                                    "name": "rest_api",
                                    "rest_api_url": "https://abc.execute-api.eu-west-1.amazonaws.com/api/",
                                }
                            ]
                        }
                    )
                )
        elif args[0] == "delete":
            for mapping in lam.list_event_source_mappings()["EventSourceMappings"]:
                lam.delete_event_source_mapping(UUID=mapping["UUID"])
            lam.delete_function(FunctionName="logstep-dev-ingest")
            iam = boto3.client("iam")
            iam.delete_role(RoleName="logstep-dev-ingest")
            # As Chalice does: inline policies, then the role (fails while a policy is attached).
            if iam.list_attached_role_policies(RoleName="logstep-dev-put_batch")["AttachedPolicies"]:
                return 255
            iam.delete_role(RoleName="logstep-dev-put_batch")
            deployed.unlink()
        return 0


def _zip() -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def ingest(event, context):\n    return None\n")
    return buffer.getvalue()


def _deployer(project: Path, chalice: Any, overrides: dict[str, str] | None = None) -> Deployer:
    session = boto3.Session(region_name=REGION)
    lines: list[str] = []
    deployer = Deployer(
        session, "dev", infra.stage_settings("dev", overrides), chalice, project, lines.append
    )
    deployer.lines = lines  # type: ignore[attr-defined]
    return deployer


def test_deploy_creates_the_stack_runs_chalice_and_is_safe_to_repeat(aws: None, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    chalice = FakeChalice(project)
    first = _deployer(project, chalice).deploy()
    assert first.stack_action == "created"
    assert first.outputs["ClaimCheckBucketName"] == f"logstep-dev-claimcheck-{ACCOUNT}-{REGION}"
    assert first.api_url == "https://abc.execute-api.eu-west-1.amazonaws.com/api/"
    assert (project / "build" / "infra" / "logstep-dev.json").exists()
    again = _deployer(project, chalice)
    second = again.deploy()
    assert second.stack_action == "unchanged"
    assert second.mapping_updates == []
    assert chalice.calls == [["deploy", "--stage", "dev"], ["deploy", "--stage", "dev"]]
    printed = "\n".join(again.lines)  # type: ignore[attr-defined]
    assert "awscurl" in printed and "subscriptions" in printed


def test_a_changed_parameter_updates_the_stack(aws: None, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    chalice = FakeChalice(project)
    _deployer(project, chalice).deploy()
    result = _deployer(project, chalice, {"ExecutionLogRetentionDays": "7"}).deploy()
    assert result.stack_action == "updated"


def test_mapping_settings_chalice_cannot_set_are_applied_once(aws: None, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    chalice = FakeChalice(project)
    result = _deployer(project, chalice, {"ParallelizationFactor": "3"}).deploy()
    assert [u["ParallelizationFactor"] for u in result.mapping_updates] == [3]
    (mapping,) = boto3.client("lambda", region_name=REGION).list_event_source_mappings()[
        "EventSourceMappings"
    ]
    assert mapping["ParallelizationFactor"] == 3
    assert _deployer(project, chalice, {"ParallelizationFactor": "3"}).deploy().mapping_updates == []


def test_a_failed_chalice_deploy_stops_the_sequence(aws: None, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    with pytest.raises(DeployError, match="chalice deploy --stage dev exited with 2"):
        _deployer(project, lambda args: 2).deploy()


def test_a_stage_config_that_disagrees_with_the_stack_is_refused(aws: None, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    config["stages"]["dev"]["environment_variables"]["LOGSTEP_BUCKET"] = "someone-elses-bucket"
    config_path.write_text(json.dumps(config))
    chalice = FakeChalice(project)
    with pytest.raises(DeployError, match="LOGSTEP_BUCKET"):
        _deployer(project, chalice).deploy()
    assert chalice.calls == []


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown setting 'ShardCount'"):
        infra.stage_settings("dev", {"ShardCount": "2"})


def test_destroy_removes_only_logsteps_filters_then_chalice_bucket_and_stack(
    aws: None, tmp_path: Path
) -> None:
    project = copy_project(tmp_path)
    chalice = FakeChalice(project)
    outputs = _deployer(project, chalice).deploy().outputs
    logs = boto3.client("logs", region_name=REGION)
    kinesis = boto3.client("kinesis", region_name=REGION)
    kinesis.create_stream(StreamName="someone-else", ShardCount=1)
    other_arn = kinesis.describe_stream_summary(StreamName="someone-else")["StreamDescriptionSummary"][
        "StreamARN"
    ]
    role = outputs["CloudWatchLogsRoleArn"]
    for group in ("/aws/lambda/orders", "/aws/lambda/payments", "/app/untouched"):
        logs.create_log_group(logGroupName=group)
    for group in ("/aws/lambda/orders", "/aws/lambda/payments"):
        logs.put_subscription_filter(
            logGroupName=group,
            filterName="logstep-dev",
            filterPattern="",
            destinationArn=SOURCE_ARN,
            roleArn=role,
        )
    logs.put_subscription_filter(
        logGroupName="/app/untouched",
        filterName="other",
        filterPattern="",
        destinationArn=other_arn,
        roleArn=role,
    )
    s3 = boto3.client("s3", region_name=REGION)
    bucket = outputs["ClaimCheckBucketName"]
    for index in range(1005):  # more than one DeleteObjects request
        s3.put_object(Bucket=bucket, Key=f"runs/x/chunks/{index:05d}.bin", Body=b"r")

    deployer = _deployer(project, chalice)
    plan = deployer.plan_destroy()
    assert sorted(plan["subscription_filters"]) == [
        ("/aws/lambda/orders", "logstep-dev"),
        ("/aws/lambda/payments", "logstep-dev"),
    ]
    deployer.destroy(plan)

    assert chalice.calls[-1] == ["delete", "--stage", "dev"]
    for group in ("/aws/lambda/orders", "/aws/lambda/payments"):
        assert logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"] == []
    kept = logs.describe_subscription_filters(logGroupName="/app/untouched")["subscriptionFilters"]
    assert [f["filterName"] for f in kept] == ["other"]
    stacks = boto3.client("cloudformation", region_name=REGION).list_stacks()["StackSummaries"]
    assert {s["StackName"]: s["StackStatus"] for s in stacks}[stack_name("dev")] == "DELETE_COMPLETE"
    names = kinesis.list_streams()["StreamNames"]
    assert "logstep-dev-source" not in names and "someone-else" in names
    # put_batch's role was free of attached policies when Chalice deleted it.
    assert chalice.calls[-1] == ["delete", "--stage", "dev"]
    # moto's stack deletion leaves AWS::IAM::ManagedPolicy behind (no delete handler in
    # moto 5.2); CloudFormation deletes it. Remove it as CloudFormation would.
    boto3.client("iam").delete_policy(PolicyArn=outputs["PutBatchDeliveryPolicyArn"])
    # The stage can be deployed again from scratch.
    assert _deployer(project, chalice).deploy().stack_action == "created"


def test_destroy_of_a_stage_never_deployed_does_nothing_harmful(aws: None, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    chalice = FakeChalice(project)
    deployer = _deployer(project, chalice)
    plan = deployer.plan_destroy()
    assert plan == {
        "stack": None,
        "subscription_filters": [],
        "bucket": None,
        "running_executions": 0,
        "chalice_deployed": False,
    }
    deployer.destroy(plan)
    assert chalice.calls == []


def test_deploy_attaches_the_delivery_policy_to_put_batchs_role(aws: None, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    outputs = _deployer(project, FakeChalice(project)).deploy().outputs
    iam = boto3.client("iam")
    attached = iam.list_attached_role_policies(RoleName="logstep-dev-put_batch")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [outputs["PutBatchDeliveryPolicyArn"]]
    assert attached[0]["PolicyName"] == "logstep-dev-put_batch-delivery"
    # The kinesis delivery's grant: PutRecords on this stage's destination stream only.
    version = iam.get_policy(PolicyArn=outputs["PutBatchDeliveryPolicyArn"])["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=outputs["PutBatchDeliveryPolicyArn"], VersionId=version)
    statements = document["PolicyVersion"]["Document"]
    statements = json.loads(statements) if isinstance(statements, str) else statements
    assert [(s["Action"], s["Resource"]) for s in statements["Statement"]] == [
        ("kinesis:PutRecords", outputs["DestinationStreamArn"])
    ]


def test_search_delivery_reaches_the_stage_environment_and_drops_the_stream(
    aws: None, tmp_path: Path
) -> None:
    project = copy_project(tmp_path)
    domain = f"arn:aws:es:{REGION}:{ACCOUNT}:domain/logs"
    search = {
        "Delivery": "search",
        "SearchEndpoint": f"https://search-logs-abc.{REGION}.es.amazonaws.com",
        "SearchAuth": "aws-es",
        "SearchResourceArn": domain,
        "IndexRotation": "OneHour",
    }
    deployer = _deployer(project, FakeChalice(project), search)
    outputs = deployer.deploy().outputs
    config = json.loads((project / ".chalice" / "config.json").read_text())
    env = config["stages"]["dev"]["environment_variables"]
    assert {k: v for k, v in env.items() if k in PARAMETER_ENV.values()} == {
        "LOGSTEP_DELIVERY": "search",
        "LOGSTEP_SEARCH_ENDPOINT": search["SearchEndpoint"],
        "LOGSTEP_SEARCH_AUTH": "aws-es",
        "LOGSTEP_INDEX_PREFIX": "logstep",
        "LOGSTEP_INDEX_ROTATION": "OneHour",
    }
    assert "LOGSTEP_DELIVERY" not in config["stages"]["prod"]["environment_variables"]
    # put_batch mostly waits on the cluster in search mode: half the memory, half the cost.
    assert config["stages"]["dev"]["lambda_functions"]["put_batch"]["lambda_memory_size"] == 512
    assert config["stages"]["prod"]["lambda_functions"]["put_batch"]["lambda_memory_size"] == 1024
    assert any("put_batch memory" in line and "1024 -> 512" in line for line in deployer.lines)  # type: ignore[attr-defined]
    assert "DestinationStreamArn" not in outputs
    assert (
        "logstep-dev-destination"
        not in boto3.client("kinesis", region_name=REGION).list_streams()["StreamNames"]
    )
    assert any("LOGSTEP_DELIVERY=search" in line for line in deployer.lines)  # type: ignore[attr-defined]
    # The Lambdas read exactly these settings.
    from chalicelib.settings import Settings

    settings = Settings.from_env({**stage_environment("dev", project), "AWS_REGION": REGION})
    assert settings.delivery_mode == "search" and settings.search is not None
    assert settings.search.endpoint == search["SearchEndpoint"]
    # Back to kinesis: the search variables go, the stream comes back.
    _deployer(project, FakeChalice(project), {"Delivery": "kinesis"}).deploy()
    dev = json.loads((project / ".chalice" / "config.json").read_text())["stages"]["dev"]
    assert not set(PARAMETER_ENV.values()) & set(dev["environment_variables"])
    assert dev["lambda_functions"]["put_batch"]["lambda_memory_size"] == 1024


def test_a_put_batch_memory_the_stage_chose_is_kept() -> None:
    def stage(memory: int, delivery: str = "") -> dict[str, Any]:
        env = {"LOGSTEP_DELIVERY": delivery} if delivery else {}
        functions = {"put_batch": {"lambda_memory_size": memory}}
        return {"stages": {"dev": {"environment_variables": env, "lambda_functions": functions}}}

    def memory(config: dict[str, Any]) -> int:
        return int(config["stages"]["dev"]["lambda_functions"]["put_batch"]["lambda_memory_size"])

    search = {"LOGSTEP_DELIVERY": "search"}
    # A size of its own survives a switch of delivery.
    assert memory(with_delivery_environment(stage(2048), "dev", search)) == 2048
    # A search stage that chose 1,024 MB keeps it on every later deploy of the same delivery.
    assert memory(with_delivery_environment(stage(1024, "search"), "dev", search)) == 1024
    # And a kinesis stage that chose 512 MB keeps it too.
    assert memory(with_delivery_environment(stage(512), "dev", {})) == 512
    # The default sizes follow a switch, both ways.
    assert memory(with_delivery_environment(stage(1024), "dev", search)) == 512
    assert memory(with_delivery_environment(stage(512, "search"), "dev", {})) == 1024


def test_put_batch_memory_resolves_as_chalice_does() -> None:
    assert put_batch_memory({"stages": {"dev": {}}}, "dev") == 128
    assert put_batch_memory({"lambda_memory_size": 256, "stages": {"dev": {}}}, "dev") == 256
    config = {"stages": {"dev": {"lambda_memory_size": 300, "lambda_functions": {"put_batch": {}}}}}
    assert put_batch_memory(config, "dev") == 300
    assert put_batch_memory(CONFIG, "dev") == 1024


def test_a_search_stage_with_too_little_put_batch_memory_is_warned(aws: None, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    del config["stages"]["dev"]["lambda_functions"]["put_batch"]["lambda_memory_size"]  # Chalice's 128
    config_path.write_text(json.dumps(config))
    search = {
        "Delivery": "search",
        "SearchEndpoint": f"https://search-logs-abc.{REGION}.es.amazonaws.com",
        "SearchAuth": "aws-es",
        "SearchResourceArn": f"arn:aws:es:{REGION}:{ACCOUNT}:domain/logs",
    }
    deployer = _deployer(project, FakeChalice(project), search)
    deployer._write_delivery_environment()
    lines = deployer.lines  # type: ignore[attr-defined]
    assert any("warning: put_batch has 128 MB" in line for line in lines)


def test_switching_a_stage_to_search_removes_the_stream_only_when_told(aws: None, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    _deployer(project, FakeChalice(project)).deploy()
    search = {
        "Delivery": "search",
        "SearchEndpoint": f"https://search-logs-abc.{REGION}.es.amazonaws.com",
        "SearchAuth": "aws-es",
        "SearchResourceArn": f"arn:aws:es:{REGION}:{ACCOUNT}:domain/logs",
    }
    with pytest.raises(DeployError, match="KeepDestinationStream"):
        _deployer(project, FakeChalice(project), search).deploy()
    kinesis = boto3.client("kinesis", region_name=REGION)
    assert "logstep-dev-destination" in kinesis.list_streams()["StreamNames"]
    # Told either way, the deploy goes on. (The stack update itself is not run here: moto
    # 5.2 tries to update FirehoseRole, whose condition is false, and fails; the stream's
    # condition is checked on the template in test_delivery_template.py.)
    for keep in ("true", "false"):
        told = _deployer(project, FakeChalice(project), {**search, "KeepDestinationStream": keep})
        told._refuse_to_drop_the_destination_stream_silently()


def test_incomplete_delivery_parameters_are_refused_before_anything_changes(
    aws: None, tmp_path: Path
) -> None:
    project = copy_project(tmp_path)
    before = (project / ".chalice" / "config.json").read_text()
    chalice = FakeChalice(project)
    with pytest.raises(DeployError, match="SearchResourceArn"):
        _deployer(
            project, chalice, {"Delivery": "search", "SearchEndpoint": "https://x.example.com"}
        ).deploy()
    assert (project / ".chalice" / "config.json").read_text() == before
    assert chalice.calls == []


@pytest.mark.parametrize(
    ("parameters", "problem"),
    [
        ({"Delivery": "search"}, "needs SearchEndpoint"),
        ({"Delivery": "search", "SearchEndpoint": "https://x", "SearchAuth": "aws-aoss"}, "collection/ID"),
        ({"Delivery": "search", "SearchEndpoint": "https://x", "SearchAuth": "api-key"}, "SearchSecretArn"),
        ({"FirehoseTarget": "opensearch"}, "domain/NAME"),
        (
            {"FirehoseTarget": "serverless", "SearchResourceArn": "arn:aws:es:r:111122223333:domain/abc"},
            "collection",
        ),
        ({"FirehoseTarget": "http", "SearchEndpoint": "https://x"}, "api_key"),
    ],
)
def test_delivery_problems_name_what_is_missing(parameters: dict[str, str], problem: str) -> None:
    problems = delivery_problems(parameters)
    assert problems and problem in problems[0]


def test_the_default_parameters_and_each_complete_target_are_deployable() -> None:
    from tests.deploy.firehose_targets import FIREHOSE_TARGETS
    from tests.deploy.test_iam_policies import SCENARIOS

    for scenario in SCENARIOS.values():
        assert delivery_problems(scenario) == [], scenario
    for target, parameters in FIREHOSE_TARGETS.items():
        assert delivery_problems({"FirehoseTarget": target, **parameters}) == [], target
    assert delivery_environment({}) == {}


# -- the real chalice, against a moto server --------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_real_chalice_deploy_and_delete_against_a_moto_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.apigateway.models import APIGatewayBackend
    from moto.server import ThreadedMotoServer

    # The onboarding API's routes make Chalice import its REST API as Swagger 2.0; moto
    # imports only OpenAPI 3.x (and requires info.description). The paths and their
    # x-amazon-apigateway-integration are the same in both, so relabel the document.
    original_import, original_put = APIGatewayBackend.import_rest_api, APIGatewayBackend.put_rest_api

    def as_openapi3(api_doc: dict[str, Any]) -> dict[str, Any]:
        doc = {k: v for k, v in api_doc.items() if k != "swagger"}
        return {**doc, "openapi": "3.0.1", "info": {"description": "", **doc.get("info", {})}}

    def import_rest_api(self: Any, api_doc: dict[str, Any], fail_on_warnings: bool) -> Any:
        return original_import(self, as_openapi3(api_doc), fail_on_warnings)

    def put_rest_api(self: Any, function_id: str, api_doc: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        return original_put(self, function_id, as_openapi3(api_doc), *args, **kwargs)

    monkeypatch.setattr(APIGatewayBackend, "import_rest_api", import_rest_api)
    monkeypatch.setattr(APIGatewayBackend, "put_rest_api", put_rest_api)
    drop_novalue_in_lists(monkeypatch)

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        project = copy_project(tmp_path)
        chalice = Path(sys.executable).parent / "chalice"

        def run(args: Sequence[str]) -> int:
            done = subprocess.run(
                [str(chalice), *args],
                cwd=project,
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            return done.returncode

        session = boto3.Session(region_name=REGION)
        settings = infra.stage_settings("dev", {"ParallelizationFactor": "2"})
        deployer = Deployer(session, "dev", settings, run, project, lambda line: None)
        result = deployer.deploy()
        assert result.mapping_updates and result.mapping_updates[0]["ParallelizationFactor"] == 2

        lam = session.client("lambda")
        iam = session.client("iam")
        names = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
        assert {f"logstep-dev-{n}" for n in infra.TASK_FUNCTIONS.values()} | {"logstep-dev-ingest"} <= names
        # Chalice gave each function a role with exactly its policy file.
        config = json.loads((project / ".chalice" / "config.json").read_text())
        for function, settings_ in config["stages"]["dev"]["lambda_functions"].items():
            if f"logstep-dev-{function}" not in names:
                continue
            role = f"logstep-dev-{function}"
            (policy_name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
            document = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
            document = json.loads(document) if isinstance(document, str) else document
            expected = json.loads((project / ".chalice" / settings_["iam_policy_file"]).read_text())
            assert document == expected, function
        (mapping,) = lam.list_event_source_mappings()["EventSourceMappings"]
        assert mapping["EventSourceArn"] == result.outputs["SourceStreamArn"]
        assert mapping["BatchSize"] == 10_000

        # A second run: the stack is a no-op, Chalice redeploys the code.
        assert deployer.deploy().stack_action == "unchanged"

        deployer.destroy()
        assert not (project / ".chalice" / "deployed" / "dev.json").exists() or not json.loads(
            (project / ".chalice" / "deployed" / "dev.json").read_text()
        ).get("resources")
        remaining = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
        assert not {n for n in remaining if n.startswith("logstep-dev")}
    finally:
        server.stop()


def test_a_bad_sweep_interval_is_refused_before_anything_changes(aws: None, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    config = json.loads((project / ".chalice" / "config.json").read_text())
    config["stages"]["dev"].setdefault("environment_variables", {})["LOGSTEP_FOLLOW_SWEEP_MINUTES"] = "0"
    (project / ".chalice" / "config.json").write_text(json.dumps(config))
    chalice = FakeChalice(project)
    with pytest.raises(DeployError, match="LOGSTEP_FOLLOW_SWEEP_MINUTES='0' must be positive"):
        _deployer(project, chalice).deploy()
    assert chalice.calls == []
    assert boto3.client("cloudformation", region_name=REGION).list_stacks()["StackSummaries"] == []


@pytest.mark.parametrize(
    ("stage_env", "shell_env", "refused"),
    [
        ({}, {}, False),
        (
            {"LOGSTEP_FOLLOW_SWEEP_MINUTES": "5"},
            {"LOGSTEP_FOLLOW_SWEEP_MINUTES": "soon"},
            False,
        ),  # the stage wins
        ({}, {"LOGSTEP_FOLLOW_SWEEP_MINUTES": "1.5"}, True),  # chalice deploy would read the shell's
        ({"LOGSTEP_FOLLOW_SWEEP_MINUTES": "-1"}, {}, True),
    ],
)
def test_the_sweep_interval_is_checked_as_chalice_deploy_loads_it(
    stage_env: dict[str, str], shell_env: dict[str, str], refused: bool
) -> None:
    if refused:
        with pytest.raises(DeployError, match="LOGSTEP_FOLLOW_SWEEP_MINUTES"):
            check_stage_environment(stage_env, shell_env)
    else:
        check_stage_environment(stage_env, shell_env)
