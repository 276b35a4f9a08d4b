"""Reading executions back: transitions (what Step Functions bills), retries, payload sizes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ExecutionCounts:
    """What one execution's history says."""

    transitions: int
    retries: int
    task_failures: int
    largest_payload_bytes: int
    map_items: int = 0  # items the Map state iterated over: the delivery chunks


def execution_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every history event of an execution, oldest first."""
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    return events


def payloads(events: Iterable[dict[str, Any]]) -> Iterable[str]:
    """Every state/task input and output string in a history."""
    for event in events:
        for key, value in event.items():
            if not key.endswith("EventDetails") or not isinstance(value, dict):
                continue
            for field in ("input", "output", "cause"):
                text = value.get(field)
                if isinstance(text, str):
                    yield text


def count_execution(events: list[dict[str, Any]]) -> ExecutionCounts:
    """Billed state transitions of one execution, from its history.

    Standard workflows bill every state transition, retries included
    (https://aws.amazon.com/step-functions/pricing/): one per state entered, plus one
    per retry of a Task (a Lambda scheduled again without entering its state again).
    """
    types = Counter(event["type"] for event in events)
    entered = sum(n for t, n in types.items() if t.endswith("StateEntered"))
    retries = max(0, types["LambdaFunctionScheduled"] - types["TaskStateEntered"])
    largest = max((len(p.encode()) for p in payloads(events)), default=0)
    map_items = sum(
        int((event.get("mapStateStartedEventDetails") or {}).get("length", 0))
        for event in events
        if event["type"] == "MapStateStarted"
    )
    return ExecutionCounts(
        transitions=entered + retries,
        retries=retries,
        task_failures=types["LambdaFunctionFailed"] + types["LambdaFunctionTimedOut"],
        largest_payload_bytes=largest,
        map_items=map_items,
    )
