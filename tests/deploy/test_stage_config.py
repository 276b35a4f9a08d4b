"""`.chalice/config.json`: stages, explicit policies, sizes, and no account ids."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from chalice.config import Config

from logstep.deploy import infra
from tests.deploy.conftest import CONFIG, ROOT, STAGES

# Chalice creates these from app.py; the api_handler exists once the app has routes.
PIPELINE_FUNCTIONS = ("ingest", "decode", "transform", "put_batch", "summarize")
# State name in the definition -> the function its Task invokes.
TASK_STATES = {
    "Decode": "decode",
    "Transform": "transform",
    "PutBatch": "put_batch",
    "Summarize": "summarize",
}


def _stage_config(stage: str, function: str) -> Config:
    """The settings Chalice itself resolves for one function (stage and function scoped)."""
    return Config(chalice_stage=stage, function_name=function, config_from_disk=CONFIG)


def test_dev_and_prod_exist() -> None:
    assert {"dev", "prod"} <= set(STAGES)


def test_committed_config_holds_no_account_id() -> None:
    text = (ROOT / ".chalice" / "config.json").read_text()
    assert not re.search(r"\b\d{12}\b", text)
    for path in (ROOT / ".chalice").rglob("*.json"):
        if "deployed" in path.parts or "deployments" in path.parts:
            continue
        assert not re.search(r"\b\d{12}\b", path.read_text()), path


@pytest.mark.parametrize("stage", STAGES)
def test_autogen_policy_is_off_and_every_function_has_its_policy_file(stage: str) -> None:
    stage_cfg = CONFIG["stages"][stage]
    assert stage_cfg.get("autogen_policy", CONFIG.get("autogen_policy")) is False
    functions = stage_cfg["lambda_functions"]
    assert set(PIPELINE_FUNCTIONS) <= set(functions)
    for name, settings in functions.items():
        policy = settings.get("iam_policy_file")
        assert policy, f"{stage}/{name} has no iam_policy_file"
        assert (ROOT / ".chalice" / policy).is_file(), policy
        assert _stage_config(stage, name).iam_policy_file == policy


@pytest.mark.parametrize("stage", STAGES)
def test_names_follow_the_template(stage: str) -> None:
    env = {
        **CONFIG.get("environment_variables", {}),
        **CONFIG["stages"][stage]["environment_variables"],
    }
    assert env["LOGSTEP_STAGE"] == stage
    assert env["LOGSTEP_SOURCE_STREAM"] == f"logstep-{stage}-source"
    assert env["LOGSTEP_DESTINATION_STREAM"] == f"logstep-{stage}-destination"
    assert env["LOGSTEP_BUCKET"] == f"logstep-{stage}-claimcheck-{{account}}-{{region}}"
    assert env["LOGSTEP_STATE_MACHINE_NAME"] == f"logstep-{stage}-pipeline"
    # The role the onboarding API passes to CloudWatch Logs is the template's.
    role = infra.load_template()["Resources"]["CloudWatchLogsRole"]["Properties"]["RoleName"]
    assert env["LOGSTEP_LOGS_ROLE_NAME"] == role["Fn::Sub"].replace("${Stage}", stage)
    # Every stack parameter a stage file sets is one the template declares.
    infra.stage_settings(stage)


@pytest.mark.parametrize("stage", STAGES)
def test_lambda_timeouts_end_before_their_task_times_out(stage: str) -> None:
    """A Lambda that outlives its Task's TimeoutSeconds keeps running while Step Functions
    retries it: two put_batch invocations would send the same chunk at once."""
    definition = json.loads(infra.load_definition())
    tasks = {}
    for state_name, state in _all_states(definition):
        if state_name in TASK_STATES:
            tasks[TASK_STATES[state_name]] = state["TimeoutSeconds"]
    assert set(tasks) == set(TASK_STATES.values())
    for function, task_timeout in tasks.items():
        lambda_timeout = _stage_config(stage, function).lambda_timeout
        assert lambda_timeout < task_timeout, (function, lambda_timeout, task_timeout)


@pytest.mark.parametrize("stage", STAGES)
def test_sizes_and_log_retention_are_set(stage: str) -> None:
    for function in PIPELINE_FUNCTIONS:
        config = _stage_config(stage, function)
        assert 128 <= config.lambda_memory_size <= 10240
        assert 1 <= config.lambda_timeout <= 900
        # Chalice creates the function's log group with this retention, which is why the
        # policies grant no logs:CreateLogGroup.
        assert config.log_retention_in_days in {1, 3, 5, 7, 14, 30, 60, 90, 180, 365}


@pytest.mark.parametrize("stage", STAGES)
def test_log_retention_is_never_set_for_the_api_handler(stage: str) -> None:
    """Chalice 1.34 packages the API function's log group as Fn::Sub ${ApiHandler}, a logical
    id that does not exist (the function is APIHandler), and deploys it under the wrong
    name; so retention is set per pipeline function, never at stage or app level."""
    assert "log_retention_in_days" not in CONFIG
    assert "log_retention_in_days" not in CONFIG["stages"][stage]
    assert "log_retention_in_days" not in CONFIG["stages"][stage]["lambda_functions"].get("api_handler", {})


def _all_states(definition: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, state in definition.get("States", {}).items():
        out.append((name, state))
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            out.extend(_all_states(processor))
    return out
