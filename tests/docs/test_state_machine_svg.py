"""docs/images/state-machine.svg is drawn from statemachines/pipeline.asl.json and never drifts."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tools import render_state_machine as rsm

pytestmark = pytest.mark.docs


def test_committed_picture_matches_the_definition() -> None:
    fresh = rsm.render(json.loads(rsm.DEFINITION.read_text()))
    committed = rsm.OUTPUT.read_text() if rsm.OUTPUT.exists() else ""
    assert committed == fresh, (
        "docs/images/state-machine.svg is stale (statemachines/pipeline.asl.json or the renderer "
        "changed): run `make state-machine-svg` and commit the picture"
    )


def test_every_state_retry_and_transition_is_drawn() -> None:
    definition = json.loads(rsm.DEFINITION.read_text())
    svg = rsm.render(definition)
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]

    def states(scope: dict) -> list[str]:
        names = []
        for name, state in scope["States"].items():
            names.append(name)
            if state["Type"] == "Map":
                names += states(state.get("ItemProcessor") or state["Iterator"])
        return names

    for name in states(definition):
        assert name in texts
    assert "Map · MaxConcurrency 4 · items $.chunks" in texts
    assert any(t.startswith("retry 20x (1s x2, max 30s): RecordsThrottledError") for t in texts)
    assert "Default" in texts and "$.summary.pending > 0" in texts and "Catch States.ALL" in texts


def test_parallel_loops_and_compound_choices_render() -> None:
    definition = {
        "StartAt": "Poll",
        "States": {
            "Poll": {"Type": "Task", "Resource": "arn", "Next": "Ready?"},
            "Ready?": {
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [
                            {"Variable": "$.done", "BooleanEquals": True},
                            {"Variable": "$.name", "StringEquals": "x"},
                        ],
                        "Next": "Both",
                    }
                ],
                "Default": "Wait",
            },
            "Wait": {"Type": "Wait", "Seconds": 5, "Next": "Poll"},
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}},
                    {"StartAt": "B", "States": {"B": {"Type": "Succeed"}}},
                ],
                "End": True,
            },
        },
    }
    svg = rsm.render(definition)
    assert svg == rsm.render(definition)
    texts = [t.text for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]
    assert '($.done == True) and ($.name == "x")' in texts
    assert {"Poll", "Ready?", "Wait", "Both", "A", "B"} <= set(texts)


def test_error_names_sharing_a_prefix_are_counted() -> None:
    names = ["Lambda.ServiceException", "Lambda.SdkClientException", "StorageUnavailableError"]
    assert rsm._errors(names) == "2 Lambda.* errors, StorageUnavailableError"
    assert rsm._errors(["States.ALL"]) == "States.ALL"
