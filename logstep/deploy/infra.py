"""The infrastructure template: render it for a stage, and the state machine definition in it.

`infra/logstep.yaml` holds everything Chalice does not create. Its state machine has no
definition of its own: ``render`` copies ``statemachines/pipeline.asl.json`` into it
verbatim (``DefinitionString``), with ``DefinitionSubstitutions`` naming the Lambda ARNs
Chalice creates (``logstep-<stage>-<function>``). So the deployed definition is, after
substitution, byte-for-byte the one the sandbox executes (``substitute`` below implements
CloudFormation's substitution, and tests/deploy checks both sides).

Deploy-time code: never shipped to Lambda.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "infra" / "logstep.yaml"
STAGES_DIR = ROOT / "infra" / "stages"
DEFINITION_PATH = ROOT / "statemachines" / "pipeline.asl.json"
BUILD_DIR = ROOT / "build" / "infra"
APP_NAME = "logstep"

# Placeholder key in the definition -> the Chalice function (@app.lambda_function name)
# whose ARN replaces it.
TASK_FUNCTIONS: dict[str, str] = {
    "DecodeFunctionArn": "decode",
    "TransformFunctionArn": "transform",
    "PutBatchFunctionArn": "put_batch",
    "SummarizeFunctionArn": "summarize",
}

# ${Name} as DefinitionSubstitutions understands it; ${!Literal} and intrinsic-style
# ${A.B} are not used by the definition, so a simple name pattern is exact here.
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


class _CfnLoader(yaml.SafeLoader):  # type: ignore[misc]
    """A YAML loader that reads CloudFormation's short-form tags (!Ref, !Sub, !GetAtt, ...)."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The source template as a dict (short-form tags expanded to their long form)."""
    loaded: dict[str, Any] = yaml.load(path.read_text(), Loader=_CfnLoader)
    return loaded


def load_definition(path: Path = DEFINITION_PATH) -> str:
    """The state machine definition, exactly as stored (bytes decoded as UTF-8, nothing else)."""
    return path.read_bytes().decode("utf-8")


def placeholders(definition: str) -> set[str]:
    """The ``${Name}`` placeholders a definition uses."""
    return set(_PLACEHOLDER.findall(definition))


def substitute(definition: str, substitutions: Mapping[str, str]) -> str:
    """Replace ``${Name}`` by its value, as CloudFormation's DefinitionSubstitutions does.

    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-stepfunctions-statemachine.html
    A placeholder without a substitution is an error here (CloudFormation would leave it
    and Step Functions would reject the definition at deploy time).
    """
    missing = placeholders(definition) - set(substitutions)
    if missing:
        raise KeyError(f"no substitution for {sorted(missing)}")
    return _PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], definition)


# put_batch's memory by delivery. Kinesis: a chunk of up to 32 MiB (~85 MB in use,
# measured). Search: the wait on the cluster is most of put_batch's billed time, so less
# memory halves its cost; a full 64 MiB search chunk peaked at 255 MB (every item left
# pending and written back; `python bench/put_batch_memory.py`). Lambda gives CPU in
# proportion to memory (1,769 MB is one vCPU:
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html), so put_batch's
# CPU-bound part costs the same at either size. When a stage's delivery changes, `logstep
# deploy` writes the new delivery's size into .chalice/config.json if put_batch had the old
# one's; any other size is the stage's own and is kept.
PUT_BATCH_MEMORY_MB = {"kinesis": 1024, "search": 512}


def put_batch_memory_mb(delivery: str) -> int:
    """put_batch's memory size for a delivery (kinesis or search)."""
    return PUT_BATCH_MEMORY_MB.get(delivery, PUT_BATCH_MEMORY_MB["kinesis"])


def function_name(stage: str, function: str) -> str:
    """The name Chalice gives a function: <app>-<stage>-<function>."""
    return f"{APP_NAME}-{stage}-{function}"


def function_arns(stage: str, region: str, account: str, partition: str = "aws") -> dict[str, str]:
    """Placeholder key -> Lambda ARN, as the template's DefinitionSubstitutions resolve them."""
    return {
        key: f"arn:{partition}:lambda:{region}:{account}:function:{function_name(stage, fn)}"
        for key, fn in TASK_FUNCTIONS.items()
    }


def definition_resource(template: Mapping[str, Any]) -> str:
    """The logical id of the state machine that receives the definition."""
    return str(template["Metadata"]["logstep"]["definitionResource"])


def render(template_path: Path = TEMPLATE_PATH, definition_path: Path = DEFINITION_PATH) -> dict[str, Any]:
    """The deployable template: the source template with the definition copied in."""
    template = load_template(template_path)
    resource = template["Resources"][definition_resource(template)]
    resource["Properties"]["DefinitionString"] = load_definition(definition_path)
    return template


def render_to_file(path: Path, template: Mapping[str, Any] | None = None) -> Path:
    """Write the rendered template as JSON (CloudFormation accepts either; JSON is exact)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(template if template is not None else render(), indent=2) + "\n")
    return path


@dataclass(frozen=True)
class StageSettings:
    """What infra/stages/<stage>.json sets: stack parameters and event source mapping settings."""

    stage: str
    parameters: dict[str, str]
    event_source_mapping: dict[str, Any]


def stage_settings(stage: str, overrides: Mapping[str, str] | None = None) -> StageSettings:
    """Read a stage's settings; ``overrides`` (Key=Value from the command line) win.

    A stage without a file deploys with the template's defaults. The Stage parameter is
    always the stage itself.
    """
    path = STAGES_DIR / f"{stage}.json"
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    parameters = {k: str(v) for k, v in data.get("parameters", {}).items()}
    mapping = dict(data.get("eventSourceMapping", {}))
    template_parameters = set(load_template()["Parameters"])
    for key, value in (overrides or {}).items():
        if key in template_parameters:
            parameters[key] = str(value)
        elif key in ESM_SETTINGS:
            mapping[key] = ESM_SETTINGS[key](value)
        else:
            known = sorted(template_parameters | set(ESM_SETTINGS))
            raise ValueError(f"unknown setting {key!r}; known: {', '.join(known)}")
    unknown = set(parameters) - template_parameters
    if unknown:
        raise ValueError(f"{path}: unknown stack parameters {sorted(unknown)}")
    parameters["Stage"] = stage
    return StageSettings(stage=stage, parameters=parameters, event_source_mapping=mapping)


# Event source mapping settings `make deploy` applies after `chalice deploy` (Chalice's
# on_kinesis_record takes only stream, batch size, starting position and window).
# https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-errors.html
# The others are left at Lambda's defaults on purpose:
# - MaximumRetryAttempts / MaximumRecordAgeInSeconds = -1 (retry until it works): ingest
#   fails only when S3 or Step Functions do, never on bad data, so retrying is right and
#   skipping a batch would lose it; the bound is the stream's retention (watch iterator age).
# - BisectBatchOnFunctionError = false: halving a batch cannot fix an S3 outage.
# - No on-failure destination: it would receive record metadata, not the records.
# ParallelizationFactor (1-10 concurrent batches per shard) is the knob for a shard whose
# ingest falls behind; ingest names executions from shard + sequence range, so it stays
# safe with concurrent batches.
ESM_SETTINGS: dict[str, Any] = {"ParallelizationFactor": int}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``logstep infra``: render the template for a stage."""
    parser.add_argument("--stage", default="dev", help="Chalice stage (default: dev)")
    parser.add_argument("--out", type=Path, default=None, help="default: build/infra/logstep-STAGE.json")


def run(args: argparse.Namespace) -> int:
    """Write the rendered template and say where."""
    out = args.out or BUILD_DIR / f"logstep-{args.stage}.json"
    render_to_file(out)
    print(out)
    return 0
