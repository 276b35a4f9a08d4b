"""statemachines/pipeline.asl.json is data: check its structure on every change."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib import errors
from logstep.sandbox.pipeline import TASK_FUNCTIONS

ASL = Path(__file__).resolve().parents[2] / "statemachines" / "pipeline.asl.json"
LAMBDA_SERVICE_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return json.loads(ASL.read_text())


def all_states(machine: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(name, state, the States dict it lives in), recursing into Map processors."""
    for name, state in machine["States"].items():
        yield name, state, machine["States"]
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from all_states(processor)


def test_start_at_and_every_next_resolve(definition: dict[str, Any]) -> None:
    def check(machine: dict[str, Any]) -> None:
        states = machine["States"]
        assert machine["StartAt"] in states
        for state in states.values():
            targets = [state.get("Next"), state.get("Default")]
            targets += [c["Next"] for c in state.get("Choices", [])]
            targets += [c["Next"] for c in state.get("Catch", [])]
            for target in filter(None, targets):
                assert target in states
            processor = state.get("ItemProcessor")
            if processor:
                check(processor)

    check(definition)


def test_every_task_retries_lambda_service_errors_with_capped_full_jitter(definition: dict[str, Any]) -> None:
    tasks = [(n, s) for n, s, _ in all_states(definition) if s["Type"] == "Task"]
    assert {n for n, _ in tasks} == {"Decode", "Transform", "PutBatch", "Summarize"}
    for name, task in tasks:
        retriers = task.get("Retry", [])
        covered = {e for r in retriers if r.get("MaxAttempts", 3) > 0 for e in r["ErrorEquals"]}
        assert covered >= LAMBDA_SERVICE_ERRORS, name
        for retrier in retriers:
            if retrier.get("MaxAttempts", 3) > 0:
                assert retrier.get("JitterStrategy") == "FULL", name
                assert retrier.get("BackoffRate", 2) > 1, name
        assert "TimeoutSeconds" in task, name


def test_put_batch_retries_throttling_with_a_cap_and_catches_after_the_last_attempt(
    definition: dict[str, Any],
) -> None:
    put_batch = next(s for n, s, _ in all_states(definition) if n == "PutBatch")
    throttling = next(r for r in put_batch["Retry"] if "RecordsThrottledError" in r["ErrorEquals"])
    assert "DeliveryThrottledError" in throttling["ErrorEquals"]
    assert throttling["MaxDelaySeconds"] <= 60
    assert throttling["MaxAttempts"] >= 10
    assert put_batch["Catch"][0]["ErrorEquals"] == ["States.ALL"]


def test_every_map_has_an_explicit_max_concurrency(definition: dict[str, Any]) -> None:
    maps = [s for _, s, _ in all_states(definition) if s["Type"] == "Map"]
    assert maps
    assert all(isinstance(m.get("MaxConcurrency"), int) and m["MaxConcurrency"] > 0 for m in maps)


def test_custom_error_names_match_exception_classes_both_ways(definition: dict[str, Any]) -> None:
    named = {
        e
        for _, s, _ in all_states(definition)
        for r in s.get("Retry", []) + s.get("Catch", [])
        for e in r["ErrorEquals"]
        if not e.startswith(("States.", "Lambda."))
    }
    classes = {c.__name__ for c in errors.RETRYABLE_ERRORS + errors.PERMANENT_ERRORS}
    assert named == classes
    for name in named:
        assert issubclass(getattr(errors, name), errors.LogstepError)


def test_placeholders_are_exactly_the_substitution_keys() -> None:
    assert set(re.findall(r"\$\{(\w+)\}", ASL.read_text())) == set(TASK_FUNCTIONS)
