"""logstep executions / logstep show: from "logs are missing" to the exact undelivered records.

Against AWS (the usual credentials) or `logstep local` (``--endpoint-url``).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from logstep.history import count_execution, execution_history


@dataclass
class ExecutionRow:
    """One execution, as the list shows it."""

    name: str
    arn: str
    status: str
    started: datetime
    stopped: datetime | None
    counts: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    cause: str = ""
    pending_location: str = ""


def state_machine_arn(sfn: Any, stage: str, explicit: str | None) -> str:
    """The pipeline's state machine: explicit, or found by its deterministic name."""
    if explicit:
        return explicit
    name = f"logstep-{stage}-pipeline"
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            if machine["name"] == name:
                return str(machine["stateMachineArn"])
    raise SystemExit(f"no state machine named {name}; pass --state-machine-arn or --stage")


def _summary(s3: Any, state: dict[str, Any]) -> dict[str, Any]:
    try:
        body = s3.get_object(Bucket=state["bucket"], Key=f"{state['run']}summary.json")["Body"].read()
    except Exception:  # no summary yet (running, or failed before Summarize)
        return {}
    data: dict[str, Any] = json.loads(body)
    return data


def list_executions(
    sfn: Any, s3: Any, machine_arn: str, *, failed_only: bool = False, limit: int = 20
) -> list[ExecutionRow]:
    """Recent executions, newest first, with their counts and (for failed ones) why."""
    rows: list[ExecutionRow] = []
    kwargs: dict[str, Any] = {"stateMachineArn": machine_arn}
    if failed_only:
        kwargs["statusFilter"] = "FAILED"
    for page in sfn.get_paginator("list_executions").paginate(**kwargs):
        for item in page["executions"]:
            rows.append(
                ExecutionRow(
                    name=item["name"],
                    arn=item["executionArn"],
                    status=item["status"],
                    started=item["startDate"],
                    stopped=item.get("stopDate"),
                )
            )
    rows.sort(key=lambda r: r.started, reverse=True)
    rows = rows[:limit]
    for row in rows:
        description = sfn.describe_execution(executionArn=row.arn)
        state = json.loads(description.get("input") or "{}")
        output = json.loads(description.get("output") or "{}")
        summary = output.get("summary") or (_summary(s3, state) if "bucket" in state else {})
        row.counts = {
            "records": state.get("records"),
            "events": output.get("events"),
            "documents": summary.get("documents", output.get("documents")),
            "delivered": summary.get("delivered"),
            "pending": summary.get("pending"),
            "quarantined": summary.get("quarantined", output.get("quarantined")),
        }
        if row.status in ("FAILED", "TIMED_OUT", "ABORTED"):
            row.error = description.get("error", "")
            row.cause = description.get("cause", "")
            if "bucket" in state:
                row.pending_location = f"s3://{state['bucket']}/{state['run']}pending/"
    return rows


def format_rows(rows: list[ExecutionRow]) -> str:
    """A table, then the details of failed executions."""
    lines = [f"{'STATUS':<10} {'STARTED':<20} {'DOCS':>7} {'DELIVERED':>9} {'PENDING':>7} {'QUAR':>5}  NAME"]
    for row in rows:
        c = row.counts
        lines.append(
            f"{row.status:<10} {row.started:%Y-%m-%d %H:%M:%S} {_n(c.get('documents')):>7} "
            f"{_n(c.get('delivered')):>9} {_n(c.get('pending')):>7} {_n(c.get('quarantined')):>5}  {row.name}"
        )
    for row in rows:
        if row.error:
            lines += [
                "",
                f"{row.name} {row.status}: {row.error}",
                f"  cause:   {row.cause}",
                f"  pending: {row.pending_location}",
                f"  replay:  logstep replay {row.arn}",
            ]
    return "\n".join(lines)


def _n(value: Any) -> str:
    return "-" if value is None else str(value)


@dataclass
class StateStep:
    """One state of an execution, as `logstep show` prints it."""

    name: str
    kind: str
    entered: datetime
    exited: datetime | None = None
    attempts: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    output: str = ""


def execution_steps(events: list[dict[str, Any]]) -> list[StateStep]:
    """A step per state entered, in order, with its attempts and errors (Map iterations folded)."""
    steps: list[StateStep] = []
    open_by_name: dict[str, list[StateStep]] = {}
    current: list[StateStep] = []  # Lambda events belong to the last task entered in a thread
    by_id: dict[int, StateStep] = {}
    for event in events:
        kind = event["type"]
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails")
        if kind.endswith("StateEntered") and details:
            step = StateStep(
                name=details["name"], kind=kind.removesuffix("StateEntered"), entered=event["timestamp"]
            )
            steps.append(step)
            open_by_name.setdefault(step.name, []).append(step)
            current.append(step)
            by_id[event["id"]] = step
        elif kind.endswith("StateExited") and details:
            queue = open_by_name.get(details["name"]) or []
            if queue:
                step = queue.pop(0)
                step.exited = event["timestamp"]
                step.output = details.get("output", "")
        elif kind == "LambdaFunctionScheduled":
            owner = _owner(event, by_id, current)
            if owner:
                owner.attempts += 1
                by_id[event["id"]] = owner
        elif kind in ("LambdaFunctionFailed", "LambdaFunctionTimedOut"):
            owner = _owner(event, by_id, current)
            detail = event.get("lambdaFunctionFailedEventDetails") or event.get(
                "lambdaFunctionTimedOutEventDetails", {}
            )
            if owner:
                owner.errors[detail.get("error", "?")] += 1
                by_id[event["id"]] = owner
        elif kind.startswith("LambdaFunction"):
            owner = _owner(event, by_id, current)
            if owner:
                by_id[event["id"]] = owner
    return steps


def _owner(event: dict[str, Any], by_id: dict[int, StateStep], current: list[StateStep]) -> StateStep | None:
    previous = event.get("previousEventId")
    if previous in by_id:
        return by_id[previous]
    tasks = [s for s in current if s.kind == "Task"]
    return tasks[-1] if tasks else None


def format_steps(description: dict[str, Any], steps: list[StateStep], events: list[dict[str, Any]]) -> str:
    """One execution, step by step."""
    counts = count_execution(events)
    lines = [
        f"{description['name']}  {description['status']}",
        f"  started {description['startDate']:%Y-%m-%d %H:%M:%S}"
        + (f", stopped {description['stopDate']:%H:%M:%S}" if description.get("stopDate") else ""),
        f"  {counts.transitions} state transitions ({counts.retries} retries), "
        f"largest payload {counts.largest_payload_bytes} bytes",
        "",
    ]
    grouped: dict[str, list[StateStep]] = {}
    for step in steps:
        grouped.setdefault(step.name, []).append(step)
    for name, group in grouped.items():
        attempts = sum(s.attempts for s in group)
        errors: Counter[str] = Counter()
        for s in group:
            errors.update(s.errors)
        durations = [(s.exited - s.entered).total_seconds() for s in group if s.exited]
        times = f"{max(durations):.2f}s" if durations else "-"
        text = f"  {name:<18} {group[0].kind:<8} x{len(group):<4} attempts {attempts:<4} longest {times}"
        if errors:
            text += "  errors " + ", ".join(f"{k} x{v}" for k, v in sorted(errors.items()))
        lines.append(text)
    if description.get("error"):
        lines += ["", f"  error: {description['error']}", f"  cause: {description.get('cause', '')}"]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``logstep executions`` and ``logstep show``."""
    parser.add_argument("--endpoint-url", help="AWS endpoint, e.g. http://127.0.0.1:5000 for logstep local")
    parser.add_argument("--region")
    parser.add_argument("--stage", default="dev", help="stage whose state machine to read (default dev)")
    parser.add_argument("--state-machine-arn")
    parser.add_argument("--failed", action="store_true", help="only FAILED executions")
    parser.add_argument("--limit", type=int, default=20)


def _clients(args: argparse.Namespace) -> tuple[Any, Any]:
    import boto3

    session = boto3.Session(region_name=args.region)
    return (
        session.client("stepfunctions", endpoint_url=args.endpoint_url),
        session.client("s3", endpoint_url=args.endpoint_url),
    )


def run(args: argparse.Namespace) -> int:
    """logstep executions."""
    sfn, s3 = _clients(args)
    arn = state_machine_arn(sfn, args.stage, args.state_machine_arn)
    rows = list_executions(sfn, s3, arn, failed_only=args.failed, limit=args.limit)
    print(format_rows(rows) if rows else "no executions")
    return 0


def add_show_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``logstep show``."""
    parser.add_argument("execution_arn")
    parser.add_argument("--endpoint-url")
    parser.add_argument("--region")


def run_show(args: argparse.Namespace) -> int:
    """logstep show EXECUTION_ARN."""
    import boto3

    sfn = boto3.Session(region_name=args.region).client("stepfunctions", endpoint_url=args.endpoint_url)
    description = sfn.describe_execution(executionArn=args.execution_arn)
    events = execution_history(sfn, args.execution_arn)
    print(format_steps(description, execution_steps(events), events))
    return 0
