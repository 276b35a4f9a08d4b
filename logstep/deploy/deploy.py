"""``logstep deploy`` and ``logstep destroy``: one repeatable sequence per stage.

deploy:
  1. render infra/logstep.yaml with statemachines/pipeline.asl.json copied in
     (build/infra/logstep-<stage>.json) and create or update the stack logstep-<stage>;
     an unchanged template is a no-op;
  2. check the stack's names against the stage's .chalice/config.json (the Lambdas find
     every resource by those names);
     the delivery parameters (Delivery, SearchEndpoint, ...) are checked first and copied
     into the stage's environment in .chalice/config.json (LOGSTEP_DELIVERY, ...);
  3. ``chalice deploy --stage <stage>`` (Lambdas, roles from the policy files, the REST
     API, the Kinesis event source mapping; the source stream must already exist), with
     the stack's put_batch delivery policy attached to put_batch's role (before, when the
     role exists already, and after);
  4. apply the event source mapping settings Chalice cannot set (infra/stages/<stage>.json);
  5. print the API URL and a next step.

destroy:
  1. delete every subscription filter that sends a log group to this stage's source
     stream (an orphaned filter keeps one of the group's two slots and points nowhere);
  2. detach the delivery policy from put_batch's role, then ``chalice delete --stage
     <stage>`` (Chalice deletes a role's inline policies, not attached ones);
  3. empty the claim-check bucket (CloudFormation cannot delete a bucket with objects);
  4. delete the stack.

Deploy-time code: runs with the operator's credentials, never shipped to Lambda.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.errors import ConfigurationError
from chalicelib.settings import check_follow_sweep_minutes
from logstep.deploy import infra

# CloudFormation accepts a TemplateBody of at most 51,200 bytes; above that it must be
# uploaded to S3 first. https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html
MAX_TEMPLATE_BODY_BYTES = 51_200
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
# S3 DeleteObjects takes at most 1,000 keys per request.
MAX_KEYS_PER_DELETE = 1000

ChaliceRunner = Callable[[Sequence[str]], int]


class DeployError(Exception):
    """A deploy or destroy step failed; the message says which and what to do."""


def stack_name(stage: str) -> str:
    """The infrastructure stack of a stage."""
    return f"logstep-{stage}"


def chalice_config(project_dir: Path = infra.ROOT) -> dict[str, Any]:
    """The committed .chalice/config.json."""
    loaded: dict[str, Any] = json.loads((project_dir / ".chalice" / "config.json").read_text())
    return loaded


def stage_environment(stage: str, project_dir: Path = infra.ROOT) -> dict[str, str]:
    """The environment variables Chalice gives the stage's functions (global, then stage)."""
    config = chalice_config(project_dir)
    if stage not in config.get("stages", {}):
        known = ", ".join(sorted(config.get("stages", {})))
        raise DeployError(f"stage {stage!r} is not in .chalice/config.json (stages: {known})")
    env = dict(config.get("environment_variables", {}))
    env.update(config["stages"][stage].get("environment_variables", {}))
    return env


def check_stage_environment(stage_env: Mapping[str, str], environ: Mapping[str, str] = os.environ) -> None:
    """Refuse settings app.py reads at import: there a bad value only falls back to its
    default. `chalice deploy` loads app.py with the stage's environment over the shell's."""
    try:
        check_follow_sweep_minutes({**environ, **stage_env})
    except ConfigurationError as e:
        raise DeployError(f"the stage's environment: {e}") from e


def fill(value: str, partition: str, region: str, account: str) -> str:
    """Fill {partition}/{region}/{account} as chalicelib.settings.Settings.resolve does."""
    return value.replace("{partition}", partition).replace("{region}", region).replace("{account}", account)


# Stack parameter -> the stage environment variable `logstep deploy` copies it into
# (chalicelib/settings.py reads them). The search ones are written only when the stage has
# a SearchEndpoint, LOGSTEP_DELIVERY only when it is not the default.
PARAMETER_ENV = {
    "Delivery": "LOGSTEP_DELIVERY",
    "SearchEndpoint": "LOGSTEP_SEARCH_ENDPOINT",
    "SearchAuth": "LOGSTEP_SEARCH_AUTH",
    "SearchSecretArn": "LOGSTEP_SEARCH_SECRET_ARN",
    "IndexPrefix": "LOGSTEP_INDEX_PREFIX",
    "IndexRotation": "LOGSTEP_INDEX_ROTATION",
}
# The managed policy of the stack that holds put_batch's delivery grants, and the role
# Chalice creates for put_batch (<app>-<stage>-<function> when a function has its own
# iam_policy_file).
DELIVERY_POLICY_OUTPUT = "PutBatchDeliveryPolicyArn"
_DOMAIN_ARN = re.compile(r"^arn:aws[a-z-]*:es:[a-z0-9-]+:[0-9]{12}:domain/[a-z][a-z0-9-]{2,27}$")
DOMAIN_ARN_FORM = "arn:aws:es:REGION:ACCOUNT:domain/NAME"
COLLECTION_ARN_FORM = "arn:aws:aoss:REGION:ACCOUNT:collection/ID"
_COLLECTION_ARN = re.compile(r"^arn:aws[a-z-]*:aoss:[a-z0-9-]+:[0-9]{12}:collection/[a-z0-9]+$")


def delivery_parameters(parameters: Mapping[str, str]) -> dict[str, str]:
    """The delivery parameters of a stage: its own values over the template's defaults."""
    defaults = infra.load_template()["Parameters"]
    keys = [*PARAMETER_ENV, "SearchResourceArn", "FirehoseTarget", "KeepDestinationStream"]
    return {k: str(parameters.get(k, defaults[k].get("Default", ""))) for k in keys}


def delivery_problems(parameters: Mapping[str, str]) -> list[str]:
    """What is missing for the chosen delivery and Firehose target (empty: deployable)."""
    p = delivery_parameters(parameters)
    problems = []
    searches = put_batch_searches(p)
    endpoint, auth, resource, secret = (
        p["SearchEndpoint"],
        p["SearchAuth"],
        p["SearchResourceArn"],
        p["SearchSecretArn"],
    )
    if p["Delivery"] == "search" and not endpoint:
        problems.append("Delivery=search needs SearchEndpoint (the cluster's https URL)")
    if searches and auth == "aws-es" and not _DOMAIN_ARN.match(resource):
        problems.append(f"SearchAuth=aws-es needs SearchResourceArn={DOMAIN_ARN_FORM}")
    if searches and auth == "aws-aoss" and not _COLLECTION_ARN.match(resource):
        problems.append(f"SearchAuth=aws-aoss needs SearchResourceArn={COLLECTION_ARN_FORM}")
    if searches and auth in ("api-key", "basic") and not secret:
        problems.append(f"SearchAuth={auth} needs SearchSecretArn (the secret holding the credentials)")
    target = p["FirehoseTarget"]
    if target == "opensearch" and not _DOMAIN_ARN.match(resource):
        problems.append(f"FirehoseTarget=opensearch needs SearchResourceArn={DOMAIN_ARN_FORM}")
    if target == "serverless" and not (endpoint and _COLLECTION_ARN.match(resource)):
        problems.append(
            "FirehoseTarget=serverless needs SearchEndpoint (the collection endpoint) and "
            f"SearchResourceArn={COLLECTION_ARN_FORM}"
        )
    if target == "http" and not (endpoint and secret):
        problems.append(
            "FirehoseTarget=http needs SearchEndpoint (the https URL Firehose posts to) and "
            'SearchSecretArn (a secret holding {"api_key": ...})'
        )
    return problems


def has_destination_stream(parameters: Mapping[str, str]) -> bool:
    """Whether the stack keeps the destination stream (the template's HasDestinationStream)."""
    p = delivery_parameters(parameters)
    return p["Delivery"] == "kinesis" or p["KeepDestinationStream"] == "true" or p["FirehoseTarget"] != "none"


def put_batch_searches(p: Mapping[str, str]) -> bool:
    """Whether put_batch gets the search settings (the template's HasSearchEndpoint).

    With Delivery search; and with kinesis while SearchEndpoint stays set (runs made for
    the search delivery before a switch still deliver there), unless a FirehoseTarget
    uses SearchEndpoint.
    """
    return p["Delivery"] == "search" or bool(p["SearchEndpoint"] and p["FirehoseTarget"] == "none")


def delivery_environment(parameters: Mapping[str, str]) -> dict[str, str]:
    """The LOGSTEP_* variables the stage's delivery parameters give put_batch and transform."""
    p = delivery_parameters(parameters)
    env = {}
    if p["Delivery"] != "kinesis":
        env["LOGSTEP_DELIVERY"] = p["Delivery"]
    if put_batch_searches(p) and p["SearchEndpoint"]:
        for key in ("SearchEndpoint", "SearchAuth", "SearchSecretArn", "IndexPrefix", "IndexRotation"):
            if p[key]:
                env[PARAMETER_ENV[key]] = p[key]
    return env


def with_delivery_environment(
    config: Mapping[str, Any], stage: str, env: Mapping[str, str]
) -> dict[str, Any]:
    """The Chalice config with the stage's delivery variables replaced by ``env``.

    When the delivery changes and put_batch has the old delivery's memory size
    (infra.PUT_BATCH_MEMORY_MB), it gets the new delivery's; any other size, and any size
    on a stage whose delivery stays, is the stage's own choice and is kept.
    """
    updated = json.loads(json.dumps(config))
    variables = updated["stages"][stage].setdefault("environment_variables", {})
    before = variables.get("LOGSTEP_DELIVERY", "kinesis")
    for name in PARAMETER_ENV.values():
        variables.pop(name, None)
    variables.update(env)
    after = env.get("LOGSTEP_DELIVERY", "kinesis")
    put_batch = updated["stages"][stage].get("lambda_functions", {}).get("put_batch")
    if (
        before != after
        and put_batch is not None
        and put_batch.get("lambda_memory_size") == infra.put_batch_memory_mb(before)
    ):
        put_batch["lambda_memory_size"] = infra.put_batch_memory_mb(after)
    return dict(updated)


def put_batch_memory(config: Mapping[str, Any], stage: str) -> int:
    """put_batch's memory size as Chalice resolves it: the function's, the stage's, the
    config's top level, else Chalice's default (128 MB)."""
    stage_config = config.get("stages", {}).get(stage, {})
    for level in (stage_config.get("lambda_functions", {}).get("put_batch", {}), stage_config, config):
        if "lambda_memory_size" in level:
            return int(level["lambda_memory_size"])
    return 128


# A full 64 MiB search chunk peaked at 255 MB in bench/put_batch_memory.py, without the
# Lambda runtime, boto3 and the S3 read's buffers: below this, put_batch may run out.
SEARCH_PUT_BATCH_MIN_MEMORY_MB = 384


# Stack output -> the stage environment variable that must name the same resource.
OUTPUT_ENV = {
    "SourceStreamName": "LOGSTEP_SOURCE_STREAM",
    "DestinationStreamName": "LOGSTEP_DESTINATION_STREAM",
    "ClaimCheckBucketName": "LOGSTEP_BUCKET",
    "StateMachineName": "LOGSTEP_STATE_MACHINE_NAME",
}


def check_outputs_match_config(
    outputs: Mapping[str, str], env: Mapping[str, str], partition: str, region: str, account: str
) -> list[str]:
    """Mismatches between the stack's resource names and the stage config (empty: all agree)."""
    problems = []
    for output, variable in OUTPUT_ENV.items():
        if (
            output not in outputs
            and output == "DestinationStreamName"
            and env.get("LOGSTEP_DELIVERY") == "search"
        ):
            continue  # no destination stream in search mode (KeepDestinationStream=false)
        expected = fill(env.get(variable, ""), partition, region, account)
        if outputs.get(output) != expected:
            problems.append(
                f"{variable}={env.get(variable, '')!r} resolves to {expected!r}, "
                f"but the stack's {output} is {outputs.get(output)!r}"
            )
    return problems


def default_chalice_runner(project_dir: Path, profile: str | None) -> ChaliceRunner:
    """Run the venv's ``chalice`` in the project directory, output straight to the terminal."""
    chalice = Path(sys.executable).parent / "chalice"

    def run(args: Sequence[str]) -> int:
        command = [str(chalice)] + (["--profile", profile] if profile else []) + list(args)
        print("$ chalice " + " ".join(command[1:]), flush=True)
        return subprocess.call(command, cwd=project_dir)

    return run


@dataclass
class DeployResult:
    """What a deploy did, for the summary and the tests."""

    stack_action: str  # created / updated / unchanged
    outputs: dict[str, str]
    mapping_updates: list[dict[str, Any]] = field(default_factory=list)
    api_url: str | None = None


class Deployer:
    """Deploys and destroys one stage with the clients of one boto3 session."""

    def __init__(
        self,
        session: Any,
        stage: str,
        settings: infra.StageSettings,
        run_chalice: ChaliceRunner,
        project_dir: Path = infra.ROOT,
        out: Callable[[str], None] = print,
    ) -> None:
        from botocore.config import Config

        # CloudWatch Logs' describe calls are rate-limited per account: back off, don't fail.
        config = Config(retries={"mode": "adaptive", "max_attempts": 10})
        self._cfn = session.client("cloudformation", config=config)
        self._lambda = session.client("lambda", config=config)
        self._iam = session.client("iam", config=config)
        self._logs = session.client("logs", config=config)
        self._s3 = session.client("s3", config=config)
        self._sts = session.client("sts", config=config)
        self._sfn = session.client("stepfunctions", config=config)
        self._region: str = session.region_name
        self.stage = stage
        self.settings = settings
        self._run_chalice = run_chalice
        self._project_dir = project_dir
        self._out = out

    # -- deploy ---------------------------------------------------------------------

    def deploy(self, skip_chalice: bool = False) -> DeployResult:
        """Stack, chalice deploy, event source mapping settings; safe to run again."""
        problems = delivery_problems(self.settings.parameters)
        if problems:
            raise DeployError("the delivery parameters are incomplete:\n  " + "\n  ".join(problems))
        check_stage_environment(stage_environment(self.stage, self._project_dir))
        self._write_delivery_environment()
        env = stage_environment(self.stage, self._project_dir)
        rendered = infra.render()
        path = infra.render_to_file(
            self._project_dir / "build" / "infra" / f"logstep-{self.stage}.json", rendered
        )
        where = path.relative_to(self._project_dir)
        self._out(f"[1/4] stack {stack_name(self.stage)} from {where}")
        self._refuse_to_drop_the_destination_stream_silently()
        action = self._ensure_stack(json.dumps(rendered, separators=(",", ":")))
        outputs = self._outputs()
        self._out(f"      {action}")

        partition, account = self._identity()
        problems = check_outputs_match_config(outputs, env, partition, self._region, account)
        if problems:
            raise DeployError("the stack and .chalice/config.json disagree:\n  " + "\n  ".join(problems))

        result = DeployResult(stack_action=action, outputs=outputs)
        policy = outputs.get(DELIVERY_POLICY_OUTPUT, "")
        # Attach before chalice deploy when the role exists (an update: Chalice rewrites the
        # role's inline policy, the delivery grants stay), and after (a first deploy).
        self._attach_delivery_policy(policy, required=False)
        if skip_chalice:
            self._out("[2/4] chalice deploy skipped (--skip-chalice)")
        else:
            self._out(f"[2/4] chalice deploy --stage {self.stage}")
            code = self._run_chalice(["deploy", "--stage", self.stage])
            if code != 0:
                raise DeployError(f"chalice deploy --stage {self.stage} exited with {code}")
            self._attach_delivery_policy(policy, required=True)

        self._out("[3/4] event source mapping settings Chalice cannot set")
        result.mapping_updates = self._apply_mapping_settings(outputs["SourceStreamArn"])
        if not result.mapping_updates:
            self._out("      already as configured")

        result.api_url = self._api_url()
        self._out("[4/4] done")
        self._print_next_steps(result)
        return result

    def _refuse_to_drop_the_destination_stream_silently(self) -> None:
        """A switch to search would delete the stream: only when the operator says so.

        Deleting it loses what no consumer has read yet, and runs made for the kinesis
        delivery before the switch could no longer deliver (their pending records stay in
        the claim-check bucket, but a replay needs the stream).
        """
        if self._stack_status(stack_name(self.stage)) is None:
            return
        if "DestinationStreamName" not in self._outputs() or has_destination_stream(self.settings.parameters):
            return
        if "KeepDestinationStream" in self.settings.parameters:
            return  # explicitly false: the operator chose to remove it
        raise DeployError(
            f"Delivery=search would delete the destination stream logstep-{self.stage}-destination. "
            "Keep it while runs made for the kinesis delivery are pending or a consumer is "
            "still reading (--set KeepDestinationStream=true), or remove it now "
            "(--set KeepDestinationStream=false)"
        )

    def _write_delivery_environment(self) -> None:
        """Copy the delivery parameters into the stage's environment in .chalice/config.json."""
        path = self._project_dir / ".chalice" / "config.json"
        config = chalice_config(self._project_dir)
        if self.stage not in config.get("stages", {}):
            stage_environment(self.stage, self._project_dir)  # raises with the known stages
        wanted = delivery_environment(self.settings.parameters)
        updated = with_delivery_environment(config, self.stage, wanted)
        memory = (put_batch_memory(config, self.stage), put_batch_memory(updated, self.stage))
        if wanted.get("LOGSTEP_DELIVERY") == "search" and memory[1] < SEARCH_PUT_BATCH_MIN_MEMORY_MB:
            self._out(
                f"      warning: put_batch has {memory[1]} MB; a full search chunk needs about "
                f"{SEARCH_PUT_BATCH_MIN_MEMORY_MB} MB or more ({infra.put_batch_memory_mb('search')} MB "
                "is the search default)"
            )
        if updated == config:
            return
        path.write_text(json.dumps(updated, indent=2) + "\n")
        variables = [c["stages"][self.stage].get("environment_variables", {}) for c in (config, updated)]
        if variables[0] != variables[1]:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(wanted.items())) or "the defaults (kinesis)"
            self._out(f"      stage environment in .chalice/config.json: {shown} (commit it)")
        if memory[0] != memory[1]:
            self._out(
                f"      put_batch memory in .chalice/config.json: {memory[0]} -> {memory[1]} MB, "
                "the size for this delivery (commit it)"
            )

    def _put_batch_role(self) -> str:
        return infra.function_name(self.stage, "put_batch")

    def _attach_delivery_policy(self, policy_arn: str, required: bool) -> None:
        """Attach the stack's delivery policy to put_batch's role (idempotent)."""
        if not policy_arn:
            return
        from botocore.exceptions import ClientError

        role = self._put_batch_role()
        try:
            attached = self._iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "NoSuchEntity" and not required:
                return  # a first deploy: chalice deploy creates the role
            raise DeployError(f"role {role} (put_batch): {e}") from e
        if any(p["PolicyArn"] == policy_arn for p in attached):
            return
        self._iam.attach_role_policy(RoleName=role, PolicyArn=policy_arn)
        self._out(f"      attached {policy_arn.rsplit('/', 1)[-1]} to role {role}")

    def _detach_delivery_policies(self) -> int:
        """Detach every policy attached to put_batch's role, so Chalice can delete it."""
        from botocore.exceptions import ClientError

        role = self._put_batch_role()
        try:
            attached = self._iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "NoSuchEntity":
                return 0
            raise
        for policy in attached:
            self._iam.detach_role_policy(RoleName=role, PolicyArn=policy["PolicyArn"])
        return len(attached)

    def _ensure_stack(self, body: str) -> str:
        if len(body.encode()) > MAX_TEMPLATE_BODY_BYTES:
            raise DeployError(
                f"rendered template is {len(body.encode())} bytes; CloudFormation takes "
                f"{MAX_TEMPLATE_BODY_BYTES} inline (upload it to S3 and use TemplateURL)"
            )
        name = stack_name(self.stage)
        parameters = [
            {"ParameterKey": k, "ParameterValue": v} for k, v in sorted(self.settings.parameters.items())
        ]
        status = self._stack_status(name)
        if status == "ROLLBACK_COMPLETE":
            raise DeployError(
                f"stack {name} is ROLLBACK_COMPLETE (its first creation failed; see its events "
                f"in the CloudFormation console): delete it with `make destroy STAGE={self.stage}` "
                "and deploy again"
            )
        if status is None:
            self._cfn.create_stack(
                StackName=name,
                TemplateBody=body,
                Parameters=parameters,
                Capabilities=CAPABILITIES,
                Tags=[{"Key": "logstep:stage", "Value": self.stage}],
            )
            self._wait("stack_create_complete", name)
            return "created"
        if self._stack_matches(name, body, parameters):
            return "unchanged"
        from botocore.exceptions import ClientError

        try:
            self._cfn.update_stack(
                StackName=name, TemplateBody=body, Parameters=parameters, Capabilities=CAPABILITIES
            )
        except ClientError as e:
            if "No updates are to be performed" in str(e):
                return "unchanged"
            raise
        self._wait("stack_update_complete", name)
        return "updated"

    def _wait(self, waiter: str, name: str) -> None:
        """Wait for the stack; on failure, say which resources failed and why."""
        from botocore.exceptions import WaiterError

        try:
            self._cfn.get_waiter(waiter).wait(StackName=name, WaiterConfig={"Delay": 10, "MaxAttempts": 180})
        except WaiterError as e:
            events = self._cfn.describe_stack_events(StackName=name).get("StackEvents", [])
            reasons = [
                f"{ev['LogicalResourceId']}: {ev.get('ResourceStatusReason', '')}"
                for ev in events
                if str(ev.get("ResourceStatus", "")).endswith("FAILED")
            ][:5]
            raise DeployError(f"stack {name}: {e}\n  " + "\n  ".join(reasons)) from e

    def _stack_matches(self, name: str, body: str, parameters: list[dict[str, str]]) -> bool:
        """True when the stack already runs this template with these parameters."""
        current = self._cfn.get_template(StackName=name, TemplateStage="Original")["TemplateBody"]
        if isinstance(current, str):
            try:
                current = json.loads(current)
            except ValueError:
                return False
        stack = self._cfn.describe_stacks(StackName=name)["Stacks"][0]
        deployed = {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])}
        wanted = {p["ParameterKey"]: p["ParameterValue"] for p in parameters}
        same_parameters = all(deployed.get(k) == v for k, v in wanted.items())
        return bool(current == json.loads(body) and same_parameters)

    def _stack_status(self, name: str) -> str | None:
        from botocore.exceptions import ClientError

        try:
            stacks = self._cfn.describe_stacks(StackName=name)["Stacks"]
        except ClientError as e:
            if "does not exist" in str(e):
                return None
            raise
        status = str(stacks[0]["StackStatus"]) if stacks else None
        return None if status == "DELETE_COMPLETE" else status

    def _outputs(self) -> dict[str, str]:
        stack = self._cfn.describe_stacks(StackName=stack_name(self.stage))["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def _identity(self) -> tuple[str, str]:
        identity = self._sts.get_caller_identity()
        return str(identity["Arn"]).split(":")[1], str(identity["Account"])

    def _apply_mapping_settings(self, source_stream_arn: str) -> list[dict[str, Any]]:
        wanted = self.settings.event_source_mapping
        if not wanted:
            return []
        function = infra.function_name(self.stage, "ingest")
        pages = self._lambda.get_paginator("list_event_source_mappings").paginate(
            EventSourceArn=source_stream_arn
        )
        mappings = [
            m
            for page in pages
            for m in page.get("EventSourceMappings", [])
            if str(m.get("FunctionArn", "")).endswith(f":function:{function}")
        ]
        if not mappings:
            raise DeployError(
                f"no event source mapping from {source_stream_arn} to {function}: did chalice deploy run?"
            )
        updates = []
        for mapping in mappings:
            changes = {k: v for k, v in wanted.items() if mapping.get(k) != v}
            if changes:
                self._lambda.update_event_source_mapping(UUID=mapping["UUID"], **changes)
                self._out(f"      {mapping['UUID']}: {changes}")
                updates.append({"UUID": mapping["UUID"], **changes})
        return updates

    def _api_url(self) -> str | None:
        deployed = self._project_dir / ".chalice" / "deployed" / f"{self.stage}.json"
        if not deployed.exists():
            return None
        for resource in json.loads(deployed.read_text()).get("resources", []):
            if resource.get("resource_type") == "rest_api":
                return str(resource.get("rest_api_url"))
        return None

    def _print_next_steps(self, result: DeployResult) -> None:
        o = result.outputs
        self._out("")
        self._out(f"Stage {self.stage} is deployed.")
        self._out(f"  source stream       {o.get('SourceStreamArn')}")
        if o.get("FirehoseStreamName"):
            self._out(f"  destination stream  {o.get('DestinationStreamArn')}")
            self._out(f"  Firehose stream     {o['FirehoseStreamName']}, role {o.get('FirehoseRoleArn')}")
            self._out("                      (map that role on the cluster: docs/deploy.md, 'The last hop')")
        elif o.get("DestinationStreamArn"):
            self._out(f"  destination stream  {o.get('DestinationStreamArn')}  (no FirehoseTarget)")
        search = delivery_environment(self.settings.parameters).get("LOGSTEP_SEARCH_ENDPOINT")
        if search:
            self._out(f"  search endpoint     {search}")
            self._out(
                f"                      (map role {self._put_batch_role()} on the cluster: docs/deploy.md)"
            )
        self._out(f"  claim-check bucket  {o.get('ClaimCheckBucketName')}")
        self._out(f"  state machine       {o.get('StateMachineArn')}")
        if result.api_url:
            self._out(f"  API                 {result.api_url}")
            self._out("")
            self._out("Next: subscribe a log group (IAM auth; awscurl signs the request):")
            body = json.dumps({"logGroupName": "/aws/lambda/my-function"})
            self._out(
                f"  awscurl --service execute-api --region {self._region} -X POST "
                f"-d '{body}' {result.api_url}subscriptions"
            )
        else:
            self._out("")
            self._out("Next: this app has no REST API yet; subscribe a log group directly:")
            self._out(
                "  aws logs put-subscription-filter --log-group-name /aws/lambda/my-function "
                f"--filter-name logstep-{self.stage} --filter-pattern '' "
                f"--destination-arn {o.get('SourceStreamArn')} "
                f"--role-arn {o.get('CloudWatchLogsRoleArn')}"
            )

    # -- destroy --------------------------------------------------------------------

    def plan_destroy(self) -> dict[str, Any]:
        """What destroy would remove, without removing anything."""
        status = self._stack_status(stack_name(self.stage))
        # A stack whose creation failed (ROLLBACK_COMPLETE) has no outputs but must go too.
        outputs = self._outputs() if status else {}
        source_arn = outputs.get("SourceStreamArn") or self._source_stream_arn()
        filters = self.find_subscription_filters(source_arn)
        bucket = outputs.get("ClaimCheckBucketName")
        running = 0
        if outputs.get("StateMachineArn"):
            running = len(
                self._sfn.list_executions(stateMachineArn=outputs["StateMachineArn"], statusFilter="RUNNING")[
                    "executions"
                ]
            )
        return {
            "stack": stack_name(self.stage) if status else None,
            "subscription_filters": filters,
            "bucket": bucket,
            "running_executions": running,
            "chalice_deployed": self._deployed_file().exists(),
        }

    def destroy(self, plan: Mapping[str, Any] | None = None) -> None:
        """Filters, Chalice's resources, the bucket's objects, the stack: in that order."""
        plan = plan or self.plan_destroy()
        filters = plan["subscription_filters"]
        self._out(f"[1/4] subscription filters to the source stream: {len(filters)}")
        for group, name in filters:
            self._logs.delete_subscription_filter(logGroupName=group, filterName=name)
            self._out(f"      removed {name} from {group}")
        if plan["chalice_deployed"]:
            detached = self._detach_delivery_policies()
            if detached:
                self._out(f"      detached {detached} managed policy from role {self._put_batch_role()}")
            self._out(f"[2/4] chalice delete --stage {self.stage}")
            code = self._run_chalice(["delete", "--stage", self.stage])
            if code != 0:
                raise DeployError(f"chalice delete --stage {self.stage} exited with {code}")
        else:
            self._out(f"[2/4] nothing deployed by Chalice for {self.stage}")
        if plan["bucket"]:
            removed = self._empty_bucket(plan["bucket"])
            self._out(f"[3/4] emptied {plan['bucket']} ({removed} objects)")
        else:
            self._out("[3/4] no claim-check bucket")
        if plan["stack"]:
            self._out(f"[4/4] deleting stack {plan['stack']}")
            self._cfn.delete_stack(StackName=plan["stack"])
            self._cfn.get_waiter("stack_delete_complete").wait(StackName=plan["stack"])
        else:
            self._out("[4/4] no stack")
        self._out(f"Stage {self.stage} is gone.")

    def find_subscription_filters(self, source_stream_arn: str) -> list[tuple[str, str]]:
        """(log group, filter name) of every filter whose destination is the source stream."""
        found = []
        for page in self._logs.get_paginator("describe_log_groups").paginate():
            for group in page.get("logGroups", []):
                name = group["logGroupName"]
                filters = self._logs.describe_subscription_filters(logGroupName=name)
                for f in filters.get("subscriptionFilters", []):
                    if f.get("destinationArn") == source_stream_arn:
                        found.append((name, str(f["filterName"])))
        return found

    def _source_stream_arn(self) -> str:
        partition, account = self._identity()
        env = stage_environment(self.stage, self._project_dir)
        return f"arn:{partition}:kinesis:{self._region}:{account}:stream/{env['LOGSTEP_SOURCE_STREAM']}"

    def _deployed_file(self) -> Path:
        return self._project_dir / ".chalice" / "deployed" / f"{self.stage}.json"

    def _empty_bucket(self, bucket: str) -> int:
        from botocore.exceptions import ClientError

        removed = 0
        try:
            pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for page in pages:
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                for start in range(0, len(keys), MAX_KEYS_PER_DELETE):
                    batch = keys[start : start + MAX_KEYS_PER_DELETE]
                    self._s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
                    removed += len(batch)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "NoSuchBucket":
                return 0
            raise
        return removed


# -- command line -------------------------------------------------------------------


def _parse_sets(values: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise DeployError(f"--set {item!r}: use Key=Value")
        out[key] = value
    return out


def _session(args: argparse.Namespace) -> Any:
    import boto3

    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    if not session.region_name:
        raise DeployError("no region: pass --region, or set AWS_REGION / a profile's region")
    return session


def add_deploy_arguments(parser: argparse.ArgumentParser) -> None:
    """``logstep deploy`` options."""
    _common(parser)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a stack parameter or mapping setting of infra/stages/STAGE.json",
    )
    parser.add_argument("--skip-chalice", action="store_true", help="only the stack and mapping settings")


def add_destroy_arguments(parser: argparse.ArgumentParser) -> None:
    """``logstep destroy`` options."""
    _common(parser)
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", default="dev", help="Chalice stage (default: dev)")
    parser.add_argument("--profile", default=None, help="AWS profile (default: the usual chain)")
    parser.add_argument("--region", default=None, help="AWS region (default: the profile's)")


def _deployer(args: argparse.Namespace, overrides: Mapping[str, str] | None = None) -> Deployer:
    session = _session(args)
    if args.region:
        # chalice runs in a child process and finds the region the usual way.
        os.environ["AWS_DEFAULT_REGION"] = args.region
    settings = infra.stage_settings(args.stage, overrides)
    runner = default_chalice_runner(infra.ROOT, args.profile)
    return Deployer(session, args.stage, settings, runner)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``logstep deploy`` options (the CLI's module protocol)."""
    add_deploy_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """``logstep deploy`` (the CLI's module protocol)."""
    return run_deploy(args)


def run_deploy(args: argparse.Namespace) -> int:
    """Entry point of ``logstep deploy``."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        _deployer(args, _parse_sets(args.set)).deploy(skip_chalice=args.skip_chalice)
    except (DeployError, ValueError, BotoCoreError, ClientError) as e:
        print(f"deploy failed: {e}", file=sys.stderr)
        return 1
    return 0


def run_destroy(args: argparse.Namespace) -> int:
    """Entry point of ``logstep destroy``."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        deployer = _deployer(args)
        plan = deployer.plan_destroy()
        print(f"This removes stage {args.stage} from the account of your credentials:")
        print(f"  subscription filters to its source stream: {len(plan['subscription_filters'])}")
        for group, name in plan["subscription_filters"]:
            print(f"    {group} ({name})")
        chalice = "yes" if plan["chalice_deployed"] else "none"
        print(f"  Chalice resources (Lambdas, API, roles): {chalice}")
        print(f"  claim-check bucket and every object in it: {plan['bucket'] or 'none'}")
        print(f"  stack: {plan['stack'] or 'none'}")
        if plan["running_executions"]:
            print(f"  WARNING: {plan['running_executions']} executions are still running")
        print("  Records still pending from failed executions are deleted with the bucket.")
        if not args.yes:
            if not sys.stdin.isatty():
                print("not a terminal: pass --yes (make destroy YES=1) to confirm", file=sys.stderr)
                return 1
            if input(f"Type the stage name ({args.stage}) to confirm: ").strip() != args.stage:
                print("cancelled")
                return 1
        deployer.destroy(plan)
    except (DeployError, BotoCoreError, ClientError) as e:
        print(f"destroy failed: {e}", file=sys.stderr)
        return 1
    return 0
