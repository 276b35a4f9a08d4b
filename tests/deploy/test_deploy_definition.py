"""The state machine the template deploys is the one the sandbox executes.

CloudFormation substitutes ``${Name}`` placeholders from DefinitionSubstitutions;
``infra.substitute`` does the same locally. The template carries the definition file
verbatim, so (template definition, substituted) == (file, substituted), byte for byte.
"""

from __future__ import annotations

import ast
import json
from typing import Any

import pytest

from logstep.deploy import infra

ROOT = infra.ROOT


def test_template_carries_the_definition_file_byte_for_byte(resources: dict[str, Any]) -> None:
    definition = resources["PipelineStateMachine"]["Properties"]["DefinitionString"]
    assert definition.encode("utf-8") == infra.DEFINITION_PATH.read_bytes()


def test_placeholders_equal_the_substitution_keys(resources: dict[str, Any]) -> None:
    props = resources["PipelineStateMachine"]["Properties"]
    assert infra.placeholders(props["DefinitionString"]) == set(props["DefinitionSubstitutions"])
    assert set(props["DefinitionSubstitutions"]) == set(infra.TASK_FUNCTIONS)


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_substituted_template_definition_equals_the_sandbox_definition(
    resources: dict[str, Any], stage: str
) -> None:
    from logstep.sandbox import pipeline as sandbox_module

    sandbox = sandbox_module.Sandbox(sandbox_module.SandboxConfig(stage=stage, region="eu-west-1"))
    assert sandbox_module.TASK_FUNCTIONS == infra.TASK_FUNCTIONS
    # CloudFormation's substitution, with the ARNs Chalice gives the functions in the
    # sandbox's account and region...
    arns = infra.function_arns(stage, "eu-west-1", sandbox_module.ACCOUNT_ID)
    assert arns == {k: sandbox.function_arn(f) for k, f in infra.TASK_FUNCTIONS.items()}
    from_template = infra.substitute(
        resources["PipelineStateMachine"]["Properties"]["DefinitionString"], arns
    )
    # ...gives exactly the definition the sandbox creates and executes.
    assert from_template.encode() == sandbox.definition().encode()
    # And it is still the file with nothing but the placeholders replaced.
    parsed = json.loads(from_template)
    resources_used = {state["Resource"] for state in _states(parsed) if state.get("Type") == "Task"}
    assert resources_used == set(arns.values())


def _states(definition: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for state in definition.get("States", {}).values():
        out.append(state)
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            out.extend(_states(processor))
        for branch in state.get("Branches", []):
            out.extend(_states(branch))
    return out


def test_substitute_refuses_a_placeholder_without_a_value() -> None:
    with pytest.raises(KeyError, match="MissingArn"):
        infra.substitute('{"Resource": "${MissingArn}"}', {})


def test_task_functions_are_the_apps_lambda_functions() -> None:
    """Every function the definition names is an @app.lambda_function of app.py."""
    tree = ast.parse((ROOT / "app.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and isinstance(decorator.func, ast.Attribute)
                    and decorator.func.attr == "lambda_function"
                ):
                    keywords = {k.arg: k.value for k in decorator.keywords}
                    name = keywords.get("name")
                    names.add(name.value if isinstance(name, ast.Constant) else node.name)
    assert set(infra.TASK_FUNCTIONS.values()) <= names


def test_function_arns_follow_chalices_naming() -> None:
    arns = infra.function_arns("prod", "us-east-1", "111122223333", partition="aws")
    assert arns["PutBatchFunctionArn"] == (
        "arn:aws:lambda:us-east-1:111122223333:function:logstep-prod-put_batch"
    )
