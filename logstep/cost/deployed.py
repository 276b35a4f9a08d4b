"""logstep cost --deployed: a deployed stage's counters, read from its executions and metrics.

``logstep cost`` prices a run's counters (``cost.Usage``). The sandbox measures them
(``logstep demo --summary-json``); for a deployed stage this module reads them over a
time window, with read-only calls and the operator's credentials, into the same
``Usage``, so the bill and its rendering are shared.

Read (measured):
- executions started in the window: ListExecutions, newest first, paginated (it stops at
  the first page that reaches back before the window);
- state transitions and retries: every such execution's GetExecutionHistory, counted by
  ``logstep.history.count_execution``; chunks: the Map state's item counts;
- Lambda invocations and Duration per function (AWS/Lambda), memory size, architecture
  and the stage settings (GetFunctionConfiguration);
- records and bytes written to the source and destination streams (AWS/Kinesis
  IncomingRecords / IncomingBytes) and their capacity mode (DescribeStreamSummary);
- log events and message bytes (logstep's EMF metrics EventsIn / LogBytesIn of decode),
  documents (DocumentsOut of transform);
- claim-check bytes: the sizes of each execution's objects (ListObjectsV2 under
  ``runs/<execution name>/``), and how long the bucket keeps them (its lifecycle rule).

Estimated (each is listed with the bill):
- Lambda billed duration is not a metric: Duration's sum plus half a millisecond per
  invocation (Lambda rounds each invocation up to 1 ms); cold starts' INIT time is not
  in Duration.
- S3 requests are not metrics unless the bucket has (paid) request metrics: they follow
  from the claim-check layout per execution, chunk and retry (``s3_requests``).
- Per-record billing units (1 KB / 5 KB / 25 KB steps) need each record's size, which no
  metric has: every record is taken to be the average size.
- With ``--sample N``, transitions, retries, chunks and claim-check bytes come from N
  executions spread over the window, scaled to all of them.
- Claim-check bytes written and deleted once their run delivered (summarize deletes the
  raw batch, envelopes and chunks): from the source, message and destination bytes.
- Message bytes of a stage deployed before decode emitted LogBytesIn, and claim-check
  bytes of executions whose objects expired (see ``read_usage``).
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from logstep.cost.model import (
    Assumptions,
    FunctionUsage,
    Line,
    StreamUsage,
    Usage,
    Workload,
    bill,
    fixed_lines,
    load_prices,
    paper_model,
    project,
    s3_requests,
    totals,
    units_for,
)
from logstep.cost.report import as_json, describe, price_table_lines, render_markdown, render_text
from logstep.deploy import infra
from logstep.history import count_execution, execution_history

# The pipeline's Lambda functions: the ingest trigger and the state machine's tasks.
PIPELINE_FUNCTIONS = ("ingest", *infra.TASK_FUNCTIONS.values())
# Lambda bills each invocation's duration rounded up to 1 ms
# (https://aws.amazon.com/lambda/pricing/); Duration is the unrounded time, so the
# expected rounding is half a millisecond per invocation.
BILLED_ROUNDING_MS = 0.5
# GetMetricData takes at most 500 queries per request
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html).
MAX_METRIC_QUERIES = 500
# Histories and claim-check listings read at once (Step Functions' GetExecutionHistory
# bucket refills 5 per second per account; the adaptive retry mode backs off beyond).
HISTORY_WORKERS = 8
# CloudWatch keeps 1-minute data points 15 days, 5-minute ones 63 days, then hourly
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#Metric).
RETENTION_PERIODS = ((timedelta(days=15), 60), (timedelta(days=63), 300))
# A document's bytes beyond its message when LogBytesIn is absent (stages deployed before
# decode emitted it): the demo's mix measured ~370 without the partition key, ~420 with it
# (docs/cost.md, "What dominates"); IncomingBytes counts keys, but which way AWS counts is not
# documented, so the lower figure (more message bytes, a lower $/GB) is used.
DOCUMENT_OVERHEAD_BYTES = 370
CLAIMCHECK_PREFIX = "runs/"
# Bytes of a decoded envelope line per event beyond its message: the 56-digit id, the
# timestamp and the JSON keys (chalicelib.envelope.envelope_to_json).
DECODED_EVENT_OVERHEAD_BYTES = 105
# raw.json carries each source record's data in base64: 4 bytes per 3.
BASE64_GROWTH = 4 / 3


# What no API says, in every deployed bill (the module docstring has the reasons).
ALWAYS_ESTIMATED = (
    f"Lambda billed duration: Duration's sum + {BILLED_ROUNDING_MS:g} ms per invocation (each is "
    "billed rounded up to 1 ms; billed duration is not a metric); cold starts' INIT time is not "
    "in Duration (see REPORT lines' Init Duration)",
    "S3 requests: not metrics without the bucket's (paid) request metrics; per execution 4 PUT + "
    "2 GET, per chunk 2 PUT + 2 GET, per retry 1 PUT + 1 GET (the claim-check layout)",
    "per-record billing units (1 KB / 5 KB / 25 KB steps): no metric has each record's size; "
    "every record is taken as the average size (off either way when sizes vary widely)",
    "record sizes from Kinesis IncomingBytes, which AWS does not say includes the partition "
    "keys (PUT payload units do)",
)


class DeployedReadError(Exception):
    """The stage cannot be read: the message says what is missing."""


@dataclass(frozen=True)
class Pipeline:
    """The deployed resources of one stage, by name."""

    stage: str  # the EMF ``stage`` dimension (LOGSTEP_STAGE)
    state_machine_arn: str
    source_stream: str
    destination_stream: str  # "" with the search delivery (no destination stream)
    bucket: str
    functions: Mapping[str, str]  # logstep's name (decode) -> Lambda's (logstep-dev-decode)
    delivery: str = "kinesis"  # LOGSTEP_DELIVERY of the stage


def resolve_pipeline(
    stage: str, sfn: Any, sts: Any, region: str, state_machine_arn: str | None = None
) -> Pipeline:
    """The stage's resources, named as ``logstep deploy`` checks them (the stage config) and
    ``logstep executions`` finds its state machine."""
    from logstep.deploy.deploy import DeployError, fill, stage_environment
    from logstep.executions import state_machine_arn as find_state_machine

    try:
        env = stage_environment(stage)
    except DeployError as e:
        raise DeployedReadError(str(e)) from e
    identity = sts.get_caller_identity()
    partition, account = str(identity["Arn"]).split(":")[1], str(identity["Account"])
    delivery = env.get("LOGSTEP_DELIVERY", "") or "kinesis"
    return Pipeline(
        stage=env.get("LOGSTEP_STAGE", stage),
        state_machine_arn=find_state_machine(sfn, stage, state_machine_arn),
        source_stream=fill(env["LOGSTEP_SOURCE_STREAM"], partition, region, account),
        destination_stream=""
        if delivery == "search"
        else fill(env["LOGSTEP_DESTINATION_STREAM"], partition, region, account),
        bucket=fill(env["LOGSTEP_BUCKET"], partition, region, account),
        functions={name: infra.function_name(stage, name) for name in PIPELINE_FUNCTIONS},
        delivery=delivery,
    )


@dataclass(frozen=True)
class Window:
    """[since, until): executions started in it, metric data points time-stamped in it."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("window times need a time zone")
        if self.since >= self.until:
            raise ValueError(f"empty window: {self.since:%Y-%m-%d %H:%M} is not before {self.until:%H:%M}")

    @property
    def hours(self) -> float:
        """Its length in hours."""
        return (self.until - self.since).total_seconds() / 3600


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def window_from_args(
    since: str | None, until: str | None, hours: float | None, now: datetime | None = None
) -> Window:
    """``--since``/``--until`` (ISO 8601; UTC unless a zone is given) or the last ``--hours``."""
    end = _parse_time(until) if until else (now or datetime.now(UTC))
    if since and hours is not None:
        raise DeployedReadError("--since and --hours go separately")
    start = _parse_time(since) if since else end - timedelta(hours=24 if hours is None else hours)
    return Window(start, end)


def metric_period(window: Window, now: datetime) -> int:
    """One period covering the window, in the step CloudWatch still keeps for its start."""
    step = next((s for age, s in RETENTION_PERIODS if now - window.since <= age), 3600)
    seconds = (window.until - window.since).total_seconds()
    return max(step, math.ceil(seconds / step) * step)


# ---- Step Functions --------------------------------------------------------------------


def executions_in_window(
    sfn: Any, machine_arn: str, window: Window, page_size: int | None = None
) -> list[dict[str, Any]]:
    """Executions started in the window (ListExecutions is newest first: stop once past it)."""
    pagination = {"PageSize": page_size} if page_size else {}
    found: list[dict[str, Any]] = []
    pages = sfn.get_paginator("list_executions").paginate(
        stateMachineArn=machine_arn, PaginationConfig=pagination
    )
    for page in pages:
        items = page["executions"]
        found += [e for e in items if window.since <= e["startDate"] < window.until]
        if items and min(e["startDate"] for e in items) < window.since:
            break
    return found


@dataclass(frozen=True)
class ExecutionTotals:
    """What a window's executions add up to: their histories and their claim-check objects.

    With a sample, the sums are of the sampled executions scaled to all of them.
    """

    executions: int
    by_status: Mapping[str, int]
    read: int  # executions whose history and objects were read
    chunks: float
    transitions: float
    retries: float
    claimcheck_bytes: float
    without_objects: int  # closed ones read with none left (expired, or never written)
    closed_read: int = 0  # executions read that had ended (running ones' objects are not counted)


@dataclass(frozen=True)
class _ExecutionRead:
    transitions: int
    retries: int
    chunks: int
    run: str  # the claim-check prefix (a replay's restart shares the failed run's)
    claimcheck_bytes: int | None  # None: still running, its objects are not what it keeps


def _read_execution(sfn: Any, s3: Any, bucket: str, execution: Mapping[str, Any]) -> _ExecutionRead:
    from chalicelib.claimcheck import run_prefix

    events = execution_history(sfn, execution["executionArn"])
    counts = count_execution(events)
    run = _run_of(events) or run_prefix(execution["name"])
    size: int | None = None
    if execution["status"] != "RUNNING":
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=run)
        size = sum(int(item["Size"]) for page in pages for item in page.get("Contents", []))
    return _ExecutionRead(counts.transitions, counts.retries, counts.map_items, run, size)


def _run_of(events: Sequence[Mapping[str, Any]]) -> str | None:
    """The run prefix in an execution's input (its first history event)."""
    for event in events[:1]:
        raw = (event.get("executionStartedEventDetails") or {}).get("input") or "{}"
        try:
            run = json.loads(raw).get("run")
        except (ValueError, AttributeError):
            return None
        return run if isinstance(run, str) and run.startswith("runs/") else None
    return None


def sample_executions(executions: Sequence[Mapping[str, Any]], size: int | None) -> list[Mapping[str, Any]]:
    """All executions, or ``size`` of them spread evenly over the window's start times."""
    ordered = sorted(executions, key=lambda e: e["startDate"])
    if size is None or size >= len(ordered):
        return ordered
    return [ordered[i * len(ordered) // size] for i in range(size)]


def read_executions(
    sfn: Any,
    s3: Any,
    bucket: str,
    executions: Sequence[Mapping[str, Any]],
    *,
    sample: int | None = None,
    workers: int = HISTORY_WORKERS,
) -> ExecutionTotals:
    """Transitions, retries and chunks from each execution's history; its claim-check bytes."""
    chosen = sample_executions(executions, sample)
    with ThreadPoolExecutor(max_workers=workers) as pool:  # boto3 clients are thread-safe
        reads = list(pool.map(lambda e: _read_execution(sfn, s3, bucket, e), chosen))
    scale = len(executions) / len(chosen) if chosen else 0.0
    # What closed runs keep; a restart and the run it restarted share one prefix.
    closed: dict[str, int] = {}
    for r in reads:
        if r.claimcheck_bytes is not None:
            closed[r.run] = max(closed.get(r.run, 0), r.claimcheck_bytes)
    with_objects = [size for size in closed.values() if size]
    # Runs of the window's ended executions (sampled: as many per execution as read), of
    # which those whose objects expired are scaled from the ones that still have theirs.
    closed_reads = sum(1 for r in reads if r.claimcheck_bytes is not None)
    ended = sum(1 for e in executions if e["status"] != "RUNNING")
    runs = ended * len(closed) / closed_reads if closed_reads else 0.0
    stored = sum(with_objects)
    stored_scale = runs / len(with_objects) if with_objects else 0.0
    return ExecutionTotals(
        executions=len(executions),
        by_status=dict(Counter(str(e["status"]) for e in executions)),
        read=len(chosen),
        chunks=sum(r.chunks for r in reads) * scale,
        transitions=sum(r.transitions for r in reads) * scale,
        retries=sum(r.retries for r in reads) * scale,
        claimcheck_bytes=stored * stored_scale,
        without_objects=len(closed) - len(with_objects),
        closed_read=len(closed),
    )


# ---- CloudWatch metrics ----------------------------------------------------------------


@dataclass(frozen=True)
class MetricQuery:
    """One metric's Sum over the window."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]


def metric_sums(
    cloudwatch: Any, queries: Sequence[MetricQuery], window: Window, period: int
) -> dict[MetricQuery, float | None]:
    """Each query's Sum over the window; None where CloudWatch has no data point at all."""
    sums: dict[MetricQuery, float | None] = dict.fromkeys(queries)
    for start in range(0, len(queries), MAX_METRIC_QUERIES):
        batch = {f"m{start + i}": q for i, q in enumerate(queries[start : start + MAX_METRIC_QUERIES])}
        requests = [
            {
                "Id": query_id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": q.namespace,
                        "MetricName": q.name,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in q.dimensions],
                    },
                    "Period": period,
                    "Stat": "Sum",
                },
                "ReturnData": True,
            }
            for query_id, q in batch.items()
        ]
        pages = cloudwatch.get_paginator("get_metric_data").paginate(
            MetricDataQueries=requests, StartTime=window.since, EndTime=window.until
        )
        for page in pages:
            for result in page["MetricDataResults"]:
                values = result.get("Values") or []
                if values:
                    query = batch[result["Id"]]
                    sums[query] = (sums[query] or 0.0) + float(sum(values))
    return sums


def _lambda(function: str, name: str) -> MetricQuery:
    return MetricQuery("AWS/Lambda", name, (("FunctionName", function),))


def _kinesis(stream: str, name: str) -> MetricQuery:
    return MetricQuery("AWS/Kinesis", name, (("StreamName", stream),))


def _logstep(stage: str, step: str, name: str) -> MetricQuery:
    from chalicelib.metrics import NAMESPACE

    return MetricQuery(NAMESPACE, name, (("stage", stage), ("step", step)))


def pipeline_queries(p: Pipeline) -> dict[str, MetricQuery]:
    """The metrics the bill needs, by a short key."""
    queries: dict[str, MetricQuery] = {}
    for name, function in p.functions.items():
        queries[f"{name}.invocations"] = _lambda(function, "Invocations")
        queries[f"{name}.duration_ms"] = _lambda(function, "Duration")
    for which, stream in (("source", p.source_stream), ("destination", p.destination_stream)):
        if stream:  # the search delivery has no destination stream
            queries[f"{which}.records"] = _kinesis(stream, "IncomingRecords")
            queries[f"{which}.bytes"] = _kinesis(stream, "IncomingBytes")
    if p.delivery == "search":
        queries["bulk_requests"] = _logstep(p.stage, "put_batch", "BulkRequests")
    queries["events"] = _logstep(p.stage, "decode", "EventsIn")
    queries["log_bytes"] = _logstep(p.stage, "decode", "LogBytesIn")
    queries["documents"] = _logstep(p.stage, "transform", "DocumentsOut")
    return queries


# ---- the rest of the stage ---------------------------------------------------------------


def function_configurations(lambda_client: Any, functions: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """GetFunctionConfiguration of every pipeline function."""
    configurations = {}
    for name, function in functions.items():
        try:
            configurations[name] = lambda_client.get_function_configuration(FunctionName=function)
        except lambda_client.exceptions.ResourceNotFoundException as e:
            raise DeployedReadError(f"no Lambda function {function}: is the stage deployed?") from e
    return configurations


def _keeps_delivered_runs(configuration: Mapping[str, Any]) -> bool:
    """Whether summarize keeps delivered runs' objects (LOGSTEP_KEEP_DELIVERED_RUNS), as it reads it."""
    from chalicelib.settings import Settings

    environment = (configuration.get("Environment") or {}).get("Variables") or {}
    return Settings.from_env(environment).keep_delivered_runs


def stream_mode(kinesis: Any, stream: str) -> str:
    """``provisioned`` or ``on-demand``, as the cost model names them."""
    summary = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    mode = str((summary.get("StreamModeDetails") or {}).get("StreamMode", "PROVISIONED"))
    return "on-demand" if mode == "ON_DEMAND" else "provisioned"


def claimcheck_expiration_days(s3: Any, bucket: str) -> float | None:
    """Days the bucket's lifecycle keeps ``runs/`` objects (None: no such rule, or not readable)."""
    from botocore.exceptions import ClientError

    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    except ClientError:
        return None
    for rule in rules:
        prefix = rule.get("Prefix", (rule.get("Filter") or {}).get("Prefix", ""))
        days = (rule.get("Expiration") or {}).get("Days")
        if rule.get("Status") == "Enabled" and days and CLAIMCHECK_PREFIX.startswith(prefix):
            return float(days)
    return None


def _units(records: float, total_bytes: float) -> dict[str, float]:
    """Billing units if every record were the average size (no metric has each record's size)."""
    return units_for(records, total_bytes / records) if records else {}


@dataclass(frozen=True)
class Clients:
    """The boto3 clients the reader uses (injected: tests pass moto's)."""

    sfn: Any
    cloudwatch: Any
    lambda_: Any
    s3: Any
    kinesis: Any

    @classmethod
    def from_session(cls, session: Any) -> Clients:
        """Clients of one session, backing off when throttled (histories are many calls)."""
        from botocore.config import Config

        config = Config(retries={"mode": "adaptive", "max_attempts": 10})
        return cls(
            *(
                session.client(s, config=config)
                for s in ("stepfunctions", "cloudwatch", "lambda", "s3", "kinesis")
            )
        )


@dataclass(frozen=True)
class DeployedRun:
    """A stage's counters over a window, and what was read versus estimated."""

    stage: str
    usage: Usage
    window: Window
    stream_mode: str
    architecture: str
    claimcheck_days: float | None
    notes: tuple[str, ...]
    estimates: tuple[str, ...]
    by_status: Mapping[str, int] = field(default_factory=dict)


def read_usage(
    clients: Clients,
    pipeline: Pipeline,
    window: Window,
    *,
    page_size: int | None = None,
    sample: int | None = None,
    now: datetime | None = None,
) -> DeployedRun:
    """The stage's counters over the window, as ``cost.Usage``."""
    now = now or datetime.now(UTC)
    executions = executions_in_window(clients.sfn, pipeline.state_machine_arn, window, page_size)
    counted = read_executions(clients.sfn, clients.s3, pipeline.bucket, executions, sample=sample)
    queries = pipeline_queries(pipeline)
    period = metric_period(window, now)
    raw = metric_sums(clients.cloudwatch, list(queries.values()), window, period)
    sums = {key: raw[query] for key, query in queries.items()}

    def metric(key: str) -> float:
        return sums.get(key) or 0.0

    events = metric("events")
    if executions and sums["events"] is None:
        raise DeployedReadError(
            f"stage {pipeline.stage}: {counted.executions} executions but no EventsIn metric in the "
            f"logstep namespace: are the Lambdas' EMF logs reaching CloudWatch?"
        )
    if not events:  # every figure is per GB of logs and per event
        raise DeployedReadError(
            f"stage {pipeline.stage}: {counted.executions} executions and no log events from "
            f"{window.since:%Y-%m-%d %H:%M} to {window.until:%Y-%m-%d %H:%M} UTC: nothing to price"
        )
    configurations = function_configurations(clients.lambda_, pipeline.functions)
    functions = tuple(
        FunctionUsage(
            name=name,
            invocations=metric(f"{name}.invocations"),
            billed_ms=metric(f"{name}.duration_ms") + BILLED_ROUNDING_MS * metric(f"{name}.invocations"),
            memory_mb=int(configurations[name].get("MemorySize", 128)),
        )
        for name in sorted(pipeline.functions)
    )
    architectures = sorted({(c.get("Architectures") or ["x86_64"])[0] for c in configurations.values()})
    transform_env = (configurations["transform"].get("Environment") or {}).get("Variables") or {}
    settings = {k: str(v) for k, v in transform_env.items() if k.startswith("LOGSTEP_")}
    output_records = settings.get("LOGSTEP_OUTPUT_RECORDS", "single")
    source = StreamUsage(
        records=metric("source.records"),
        bytes=metric("source.bytes"),
        units=_units(metric("source.records"), metric("source.bytes")),
    )
    destination = StreamUsage(
        records=metric("destination.records"),
        bytes=metric("destination.bytes"),
        units=_units(metric("destination.records"), metric("destination.bytes")),
    )
    estimates = list(ALWAYS_ESTIMATED)
    search = pipeline.delivery == "search"
    if search:
        # No destination stream: the documents went to the cluster in _bulk requests, and
        # put_batch's Duration is its real wait on the cluster (nothing to model).
        count = metric("documents")
        size = metric("log_bytes") + DOCUMENT_OVERHEAD_BYTES * count
        documents = StreamUsage(records=count, bytes=size, units=_units(count, size))
        estimates.append(
            "search delivery: put_batch's duration is Lambda's own Duration metric, real waits on the "
            f"cluster included; document bytes are the messages + {DOCUMENT_OVERHEAD_BYTES} bytes per "
            "DocumentsOut document"
        )
    elif output_records == "aggregated":
        count = metric("documents") or destination.records
        documents = StreamUsage(
            records=count, bytes=destination.bytes, units=_units(count, destination.bytes)
        )
        estimates.append(
            "documents (aggregated records): DocumentsOut documents sharing the destination's bytes"
        )
    else:
        documents = destination
    log_bytes = metric("log_bytes")
    if sums["log_bytes"] is None:
        log_bytes = max(events, documents.bytes - DOCUMENT_OVERHEAD_BYTES * documents.records)
        estimates.append(
            f"bytes of log messages: no LogBytesIn metric (deployed before decode emitted it); "
            f"destination bytes less {DOCUMENT_OVERHEAD_BYTES} bytes of document per event"
        )
    s3_put, s3_get = s3_requests(counted.executions, counted.chunks, counted.retries)
    transient = 0.0
    if not _keeps_delivered_runs(configurations["summarize"]) and counted.executions:
        # Summarize deletes a delivered run's raw batch, envelopes and chunks: the listing
        # sees what stays; what was written and deleted is estimated from the streams.
        written = (
            BASE64_GROWTH * source.bytes
            + log_bytes
            + DECODED_EVENT_OVERHEAD_BYTES * events
            + (documents.bytes if search else destination.bytes)
        )
        transient = written * counted.by_status.get("SUCCEEDED", 0) / counted.executions
        estimates.append(
            "claim-check bytes deleted once a run delivered (priced as an hour of storage): the raw "
            f"batch {BASE64_GROWTH:.2g} x the source bytes (base64), the envelopes the messages + "
            f"{DECODED_EVENT_OVERHEAD_BYTES} bytes per event, the chunks the destination bytes"
        )
    notes = [
        f"stage {pipeline.stage}: {window.since:%Y-%m-%d %H:%M} to {window.until:%Y-%m-%d %H:%M} UTC "
        f"({window.hours:g} h); executions "
        + (", ".join(f"{n} {s.lower()}" for s, n in sorted(counted.by_status.items())) or "none"),
    ]
    if counted.read < counted.executions:
        estimates.append(
            f"transitions, retries, chunks and claim-check bytes: the histories and objects of "
            f"{counted.read} of {counted.executions} executions (--sample), scaled to all"
        )
    if counted.without_objects:
        estimates.append(
            f"claim-check bytes: {counted.without_objects} of {counted.closed_read} ended runs have "
            "no objects left (expired?): "
            + ("scaled from the others" if counted.claimcheck_bytes else "counted as 0")
        )
    if len(architectures) > 1:
        notes.append(f"functions on {' and '.join(architectures)}: all priced as x86_64")
    if counted.by_status.get("RUNNING"):
        notes.append(
            f"{counted.by_status['RUNNING']} executions still running: their transitions so far only, "
            "and none of their claim-check objects (a run keeps what is left when it ends)"
        )
    missing_metrics = sorted(k for k, v in sums.items() if v is None and k not in ("log_bytes",))
    if missing_metrics:
        notes.append("no data points for: " + ", ".join(missing_metrics))
    usage = Usage(
        events=events,
        log_bytes=log_bytes,
        executions=counted.executions,
        chunks=counted.chunks,
        transitions=counted.transitions,
        retries=counted.retries,
        functions=functions,
        s3_put=s3_put,
        s3_get=s3_get,
        claimcheck_bytes=counted.claimcheck_bytes,
        claimcheck_transient_bytes=transient,
        source=source,
        destination=destination,
        documents=documents,
        output_records=output_records,
        settings=settings,
        delivery=pipeline.delivery,
        bulk_requests=metric("bulk_requests"),
    )
    return DeployedRun(
        stage=pipeline.stage,
        usage=usage,
        window=window,
        stream_mode=stream_mode(clients.kinesis, pipeline.source_stream),
        architecture=architectures[0] if len(architectures) == 1 else "x86_64",
        claimcheck_days=claimcheck_expiration_days(clients.s3, pipeline.bucket),
        notes=tuple(notes),
        estimates=tuple(estimates),
        by_status=counted.by_status,
    )


def deployed_bill(usage: Usage, prices: Any, a: Assumptions) -> list[Line]:
    """``cost.bill`` with the Lambda duration lines saying where their time came from."""
    return [
        replace(line, note="Duration metric + rounding")
        if line.note.startswith("measured in-process")
        else line
        for line in bill(usage, prices, a)
    ]


# ---- the command -----------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``logstep cost --deployed`` (``--region`` is cost's: the stage's region too)."""
    group = parser.add_argument_group("a deployed stage (instead of summary files)")
    group.add_argument(
        "--deployed", action="store_true", help="read a deployed stage's executions and CloudWatch metrics"
    )
    group.add_argument("--stage", default="dev", help="Chalice stage (default: dev)")
    group.add_argument("--profile", help="AWS profile (default: the usual chain)")
    group.add_argument("--state-machine-arn", help="default: the stage's logstep-STAGE-pipeline")
    group.add_argument("--hours", type=float, help="the window: the last N hours (default 24)")
    group.add_argument("--since", help="window start, ISO 8601 (UTC unless a zone is given)")
    group.add_argument("--until", help="window end, ISO 8601 (default: now)")
    group.add_argument(
        "--sample",
        type=_positive,
        metavar="N",
        help="read the histories and objects of N executions spread over the window and scale "
        "(default: all; a day of one shard at a 60 s window is 1,440)",
    )


def run(args: argparse.Namespace) -> int:
    """Read the stage, price it (or its projected month) and print the bill."""
    import boto3

    if args.summaries:
        raise SystemExit("--deployed reads a stage: give no summary files")
    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    region = session.region_name
    if not region:
        raise SystemExit("no region: pass --region, or set AWS_REGION / a profile's region")
    if (args.events_per_day is None) != (args.avg_event_bytes is None):
        raise SystemExit("--events-per-day and --avg-event-bytes go together")
    clients = Clients.from_session(session)
    try:
        pipeline = resolve_pipeline(
            args.stage, clients.sfn, session.client("sts"), region, args.state_machine_arn
        )
        window = window_from_args(args.since, args.until, args.hours)
        deployed = read_usage(clients, pipeline, window, sample=args.sample)
    except (DeployedReadError, ValueError) as e:
        raise SystemExit(f"logstep cost --deployed: {e}") from e
    print(report(deployed, args, region))
    return 0


def report(deployed: DeployedRun, args: argparse.Namespace, region: str) -> str:
    """The bill of a deployed run (or its projected month) in the chosen format."""
    from logstep.cost.model import CLAIMCHECK_DAYS

    prices = load_prices(args.prices, region)
    days = args.claimcheck_days
    days_note = f"claim-check objects kept {days:g} days (--claimcheck-days)"
    if deployed.claimcheck_days is not None and days == CLAIMCHECK_DAYS:
        days = deployed.claimcheck_days
        days_note = f"claim-check objects kept {days:g} days (the bucket's lifecycle rule)"
    a = Assumptions(
        stream_mode=deployed.stream_mode,
        architecture=deployed.architecture,
        claimcheck_days=days,
        duration_low=1.0,
        duration_high=1.0,
    )
    usage = deployed.usage
    notes = [*deployed.notes, describe(usage)]
    lines = deployed_bill(usage, prices, a)
    if args.events_per_day is not None:
        workload = Workload(args.events_per_day, args.avg_event_bytes, args.batching_window)
        usage, more, hours = project(usage, workload, a)
        notes = [f"projected from {notes[0]}", *notes[1:], *more]
        lines = deployed_bill(usage, prices, a) + fixed_lines(hours, prices, a)
    t = totals(lines, usage)
    if usage.delivery != "search":  # the paper model is Kinesis + Firehose arithmetic
        paper = paper_model(usage.log_bytes / usage.events, usage.output_records == "aggregated", prices)
        notes.append(f"paper model (issue 6) for events of this size: ${paper:.4f} per GB")
    title = f"logstep cost: stage {deployed.stage} (deployed)"
    assumptions = [
        f"{a.stream_mode} Kinesis streams (DescribeStreamSummary), Lambda on {a.architecture} "
        f"(GetFunctionConfiguration), {days_note}, prices for {prices.region}",
        "excluded: CloudWatch Logs ingestion and storage, the search cluster, Firehose backup, data "
        "transfer, KMS, free tiers, and this command's own GetMetricData and S3 LIST requests",
        "metrics arrive minutes late: a window ending now can miss its last executions' data points",
        *(f"estimated: {e}" for e in deployed.estimates),
    ]
    result = {"path": title, "usage": usage, "lines": lines, "totals": t, "notes": notes}
    if args.format == "json":
        return json.dumps([as_json(result), {"assumptions": assumptions}], indent=2)
    if args.format == "markdown":
        return render_markdown([result]) + "\n\n" + "\n".join(f"- {x}" for x in assumptions)
    out = [render_text(title, lines, t, usage, notes), "", "assumptions:"]
    out += [f"  - {x}" for x in assumptions]
    out.append("\nprice table:")
    out += price_table_lines(prices)
    return "\n".join(out)


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{raw}: read at least 1 execution")
    return value
