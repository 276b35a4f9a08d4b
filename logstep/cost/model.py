"""logstep cost: what a run of the pipeline costs on AWS, per GB of logs and per million events.

Counts are measured (by ``logstep demo --summary-json``: executions, state transitions
from the execution histories, Lambda invocations and billed milliseconds, S3 requests,
PutRecords records with each record's size rounded to the billing units, claim-check
bytes); dollars come from a price table (``logstep/cost/prices.json``, each figure with its
source and date). ``--events-per-day`` / ``--avg-event-bytes`` project a month for a
workload, with the fixed costs (shard or stream hours) and the executions that the
event source mapping's batching window implies.

``--deployed --stage S`` reads the same counters from a deployed stage over a time window
(``logstep/cost/deployed.py``: executions and their histories, CloudWatch metrics, the
claim-check objects); Lambda billed duration, S3 requests and per-record billing units are
estimated there, and the bill lists those estimates.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

GIB = 2**30  # AWS bills "GB" as 2^30 bytes
KIB = 1024
HOURS_PER_MONTH = 730  # AWS's monthly hours
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
PRICES_PATH = Path(__file__).resolve().parent / "prices.json"
# The deploy template's ClaimCheckExpirationDays (infra/stages/*.json): what a run leaves
# in the claim-check bucket (its summary, quarantined records and oversize originals; all
# of a failed run's objects) lives this long. A delivered run's raw batch, envelopes and
# chunks are deleted by summarize when it ends.
CLAIMCHECK_DAYS = 97.0
# How long those deleted objects are stored: S3 Standard meters storage in byte-hours and
# has no minimum storage duration (https://aws.amazon.com/s3/pricing/); an execution ends
# within minutes, so an hour is an upper bound.
TRANSIENT_HOURS = 1.0
# Lambda's event source mapping: at most 10,000 records / 6 MB per batch, and the
# batching window app.py sets (INGEST_BATCHING_WINDOW_SECONDS).
ESM_BATCH_RECORDS = 10_000
ESM_BATCH_BYTES = 6 * 1000 * 1000
BATCHING_WINDOW_SECONDS = 60.0
# A provisioned shard takes 1 MiB/s and 1,000 records/s; an on-demand stream starts
# with 4 MB/s of write capacity (4 shards, so 4 concurrent event source mapping pollers).
SHARD_BYTES_PER_SECOND = 1024 * 1024
SHARD_RECORDS_PER_SECOND = 1000
ON_DEMAND_INITIAL_SHARDS = 4
# Per-invocation time a Lambda spends beyond its bytes on AWS (S3 round trips, the
# Step Functions hop): an assumption for projections, not a measurement.
INVOCATION_FLOOR_MS = 20.0


@dataclass(frozen=True)
class FunctionUsage:
    """One Lambda function's invocations and billed time."""

    name: str
    invocations: float
    billed_ms: float
    memory_mb: int
    # CPU time of the handler's thread (the sandbox measures it; None where unknown, as on a
    # deployed stage). Search delivery prices put_batch from it (see bulk_wait_ms).
    cpu_ms: float | None = None


@dataclass(frozen=True)
class StreamUsage:
    """Records written to one stream: count, bytes, and the sum of each record's billing units."""

    records: float
    bytes: float
    units: Mapping[str, float]  # logstep.cost.units: kb1, kb5, kb25


@dataclass(frozen=True)
class Usage:
    """The measured (or projected) counters of a run."""

    events: float
    log_bytes: float
    executions: float
    chunks: float
    transitions: float
    retries: float
    functions: tuple[FunctionUsage, ...]
    s3_put: float
    s3_get: float
    claimcheck_bytes: float
    source: StreamUsage
    destination: StreamUsage  # Kinesis records as written (aggregated or not)
    documents: StreamUsage  # one per document (what a de-aggregating consumer sees)
    output_records: str = "single"
    settings: Mapping[str, str] = field(default_factory=dict)
    # Claim-check bytes written and deleted again when their run delivered (claimcheck_bytes
    # is what stays).
    claimcheck_transient_bytes: float = 0.0
    # LOGSTEP_DELIVERY: "kinesis" (destination stream, then Firehose) or "search" (_bulk
    # straight to the cluster: no destination stream, no Firehose).
    delivery: str = "kinesis"
    bulk_requests: float = 0.0  # _bulk requests put_batch sent (search delivery)


@dataclass(frozen=True)
class Assumptions:
    """What the counters cannot say."""

    stream_mode: str = "provisioned"  # or "on-demand"
    architecture: str = "x86_64"  # or "arm64"
    claimcheck_days: float = CLAIMCHECK_DAYS
    # The sandbox's Lambda durations are in-process on a developer machine, with moto's
    # S3 and Kinesis inside them: priced as measured, with this range around them.
    duration_low: float = 0.5
    duration_high: float = 3.0
    # Search delivery: what one _bulk request waits on a real cluster (prices.json
    # "assumptions"); None: the table's value.
    bulk_wait_ms: float | None = None


@dataclass(frozen=True)
class Line:
    """One line of a bill."""

    service: str
    item: str
    quantity: float
    unit: str
    unit_price: float
    low: float
    high: float
    note: str = ""

    @property
    def cost(self) -> float:
        """Quantity times unit price."""
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class Prices:
    """Price per unit by name, and where each came from."""

    values: Mapping[str, float]
    sources: Mapping[str, Mapping[str, str]]
    region: str
    # Figures that are not prices but assumptions (e.g. search.bulk_request_ms), each with
    # value, low, high and where it comes from.
    assumptions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    def assumed(self, name: str, which: str = "value") -> float:
        """An assumption's value (or its ``low`` / ``high``)."""
        return float(self.assumptions[name][which])


def load_prices(path: Path | None = None, region: str | None = None) -> Prices:
    """The price table, with the region's overrides applied."""
    data = json.loads((path or PRICES_PATH).read_text())
    values = {name: float(item["price"]) for name, item in data["prices"].items()}
    region = region or str(data.get("region", "us-east-1"))
    overrides = data.get("regions", {}).get(region, {})
    values.update({name: float(price) for name, price in overrides.items()})
    sources = {
        name: {k: str(v) for k, v in item.items() if k != "price"} for name, item in data["prices"].items()
    }
    for name in overrides:
        sources[name] = {**sources.get(name, {}), "region": region}
    assumptions = {name: dict(item) for name, item in (data.get("assumptions") or {}).items()}
    return Prices(values=values, sources=sources, region=region, assumptions=assumptions)


def _stream(data: Mapping[str, Any]) -> StreamUsage:
    records = float(data.get("records", 0))
    units = {k: float(v) for k, v in (data.get("units") or {}).items()}
    if not units and records:  # an older summary: assume records of equal size
        size = float(data.get("bytes", 0)) / records
        units = {
            name: records * max(1, math.ceil(size / unit))
            for name, unit in (("kb1", KIB), ("kb5", 5 * KIB), ("kb25", 25 * KIB))
        }
    return StreamUsage(records=records, bytes=float(data.get("bytes", 0)), units=units)


S3_PUT_LIKE = ("Put", "Copy", "List", "Post", "Create")


def usage_from_summary(summary: Mapping[str, Any]) -> Usage:
    """The counters of a ``logstep demo --summary-json`` file."""
    functions = tuple(
        FunctionUsage(
            name=name,
            invocations=float(f["invocations"]),
            billed_ms=float(f["billed_ms"]),
            memory_mb=int(f["memory_mb"]),
            cpu_ms=float(f["cpu_ms"]) if "cpu_ms" in f else None,
        )
        for name, f in sorted(summary.get("lambda", {}).items())
    )
    s3 = summary.get("s3_requests", {})
    # S3 bills PUT, COPY, POST and LIST at one rate, GET and the rest at another;
    # DELETE requests are free (https://aws.amazon.com/s3/pricing/).
    put_like = sum(n for op, n in s3.items() if op.startswith(S3_PUT_LIKE))
    get_like = sum(n for op, n in s3.items() if not op.startswith((*S3_PUT_LIKE, "Delete")))
    claimcheck = summary.get("claimcheck") or {}
    kept = float(claimcheck.get("bytes", 0))
    delivery = str(summary.get("delivery") or "kinesis")
    search = summary.get("search") or {}
    destination = _stream(summary.get("put_records", {}))
    documents = _stream(summary.get("destination_documents") or summary.get("put_records", {}))
    if delivery == "search":
        # No destination stream: the documents are the bulk items put_batch sent.
        destination = StreamUsage(records=0.0, bytes=0.0, units={})
        items = float(search.get("items_sent", 0))
        item_bytes = float(search.get("item_bytes", 0))
        units = {k: float(v) for k, v in (search.get("units") or {}).items()}
        documents = StreamUsage(records=items, bytes=item_bytes, units=units)
    return Usage(
        events=float(summary["events_in"]),
        log_bytes=float(summary["log_bytes_in"]),
        executions=float(summary.get("batches", 0)),
        chunks=float(summary.get("chunks", 0)),
        transitions=float(summary.get("state_transitions", 0)),
        retries=float(summary.get("retries", 0)),
        functions=functions,
        s3_put=float(put_like),
        s3_get=float(get_like),
        claimcheck_bytes=kept,
        claimcheck_transient_bytes=max(0.0, float(claimcheck.get("written_bytes", kept)) - kept),
        source=_stream(summary.get("source", {})),
        destination=destination,
        documents=documents,
        output_records=str(summary.get("output_records", "single")),
        settings=dict(summary.get("settings") or {}),
        delivery=delivery,
        bulk_requests=float(search.get("bulk_requests", 0)),
    )


def _kinesis_lines(name: str, stream: StreamUsage, prices: Prices, a: Assumptions) -> list[Line]:
    if a.stream_mode == "provisioned":
        units = stream.units.get("kb25", 0)
        p = prices["kinesis.provisioned.put_payload_unit"]
        cost = units * p
        return [Line("Kinesis", f"{name}: PUT payload units", units, "25 KB unit", p, cost, cost)]
    billed_gb = stream.units.get("kb1", 0) * KIB / GIB
    p_in, p_out = prices["kinesis.on_demand.data_in_gb"], prices["kinesis.on_demand.data_out_gb"]
    read_gb = stream.bytes / GIB
    return [
        Line(
            "Kinesis",
            f"{name}: data in (1 KB steps)",
            billed_gb,
            "GB",
            p_in,
            billed_gb * p_in,
            billed_gb * p_in,
        ),
        Line("Kinesis", f"{name}: data read once", read_gb, "GB", p_out, read_gb * p_out, read_gb * p_out),
    ]


def bill(usage: Usage, prices: Prices, a: Assumptions) -> list[Line]:
    """Every billed line of a run's counters (variable costs; fixed hours are in project())."""
    lines: list[Line] = []
    p = prices["stepfunctions.transition"]
    cost = usage.transitions * p
    lines.append(Line("Step Functions", "state transitions", usage.transitions, "transition", p, cost, cost))
    invocations = sum(f.invocations for f in usage.functions)
    p = prices["lambda.request"]
    lines.append(Line("Lambda", "requests", invocations, "request", p, invocations * p, invocations * p))
    p = prices[f"lambda.gb_second.{a.architecture}"]
    for f in usage.functions:
        if modelled_put_batch(usage, f):
            lines.append(search_put_batch_line(usage, f, prices, a))
            continue
        gb_s = f.billed_ms / 1000 * f.memory_mb / 1024
        cost = gb_s * p
        lines.append(
            Line(
                "Lambda",
                f"{f.name} duration ({f.memory_mb} MB)",
                gb_s,
                "GB-second",
                p,
                cost * a.duration_low,
                cost * a.duration_high,
                "measured in-process on the sandbox",
            )
        )
    p = prices["s3.put_request"]
    lines.append(
        Line("S3", "PUT/LIST requests", usage.s3_put, "request", p, usage.s3_put * p, usage.s3_put * p)
    )
    p = prices["s3.get_request"]
    lines.append(Line("S3", "GET requests", usage.s3_get, "request", p, usage.s3_get * p, usage.s3_get * p))
    months = a.claimcheck_days / DAYS_PER_MONTH
    gb_months = usage.claimcheck_bytes / GIB * months
    p = prices["s3.storage_gb_month"]
    lines.append(
        Line(
            "S3",
            f"claim-check storage ({a.claimcheck_days:g} days)",
            gb_months,
            "GB-month",
            p,
            usage.claimcheck_bytes / GIB / DAYS_PER_MONTH * p,
            gb_months * p,
            "low: objects expired after 1 day",
        )
    )
    transient_gb_months = usage.claimcheck_transient_bytes / GIB * TRANSIENT_HOURS / HOURS_PER_MONTH
    lines.append(
        Line(
            "S3",
            "claim-check storage while runs deliver",
            transient_gb_months,
            "GB-month",
            p,
            transient_gb_months * p,
            transient_gb_months * p,
            f"deleted once delivered; priced as {TRANSIENT_HOURS:g} hour",
        )
    )
    lines += _kinesis_lines("source", usage.source, prices, a)
    if usage.delivery == "search":
        return lines  # put_batch wrote to the cluster: no destination stream, no Firehose
    lines += _kinesis_lines("destination", usage.destination, prices, a)
    p = prices["firehose.ingestion_gb"]
    record_gb = usage.destination.units.get("kb5", 0) * 5 * KIB / GIB
    document_gb = usage.documents.units.get("kb5", 0) * 5 * KIB / GIB
    aggregated = usage.output_records == "aggregated"
    lines.append(
        Line(
            "Firehose",
            "ingestion (5 KB steps)",
            record_gb,
            "GB",
            p,
            record_gb * p,
            (document_gb if aggregated else record_gb) * p,
            "high: if each de-aggregated document is rounded to 5 KB" if aggregated else "",
        )
    )
    return lines


BULK_WAIT = "search.bulk_request_ms"  # the assumption's name in prices.json
# Lambda bills each invocation rounded up to 1 ms: half a millisecond on average.
BILLED_ROUNDING_MS = 0.5
# Lambda gives CPU in proportion to memory, one vCPU at 1,769 MB
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html): CPU time
# measured on a whole core takes 1,769 / memory times as long below that size.
ONE_VCPU_MB = 1769


def modelled_put_batch(usage: Usage, f: FunctionUsage) -> bool:
    """Whether ``f`` is a search-mode put_batch whose time is modelled (CPU + bulk waits)
    rather than taken as measured: the sandbox's search server is an emulator, slower than a
    cluster, so put_batch's wall time against it says nothing about a Lambda's."""
    return usage.delivery == "search" and f.name == "put_batch" and f.cpu_ms is not None


def bulk_wait_ms(prices: Prices, a: Assumptions, which: str = "value") -> float:
    """What one _bulk request waits on the cluster: --bulk-wait-ms, else the price table's
    assumption (its ``value``, ``low`` or ``high``)."""
    if a.bulk_wait_ms is not None:
        return a.bulk_wait_ms
    return prices.assumed(BULK_WAIT, which)


def bulk_waits(usage: Usage, f: FunctionUsage) -> float:
    """How many times put_batch waits on the cluster: its _bulk requests go out
    LOGSTEP_BULK_CONCURRENCY at a time, so an invocation waits once per wave. Spread evenly
    over the invocations (the summary counts requests, not waves per invocation)."""
    from chalicelib import limits as _limits

    concurrency = max(1, _setting(usage, "LOGSTEP_BULK_CONCURRENCY", _limits.BULK_CONCURRENCY))
    invocations = max(1.0, f.invocations)
    return invocations * math.ceil(usage.bulk_requests / invocations / concurrency)


def cpu_stretch(memory_mb: int) -> float:
    """How much longer CPU work measured on a whole core takes on Lambda at ``memory_mb``."""
    return ONE_VCPU_MB / max(1, min(memory_mb, ONE_VCPU_MB))


def search_put_batch_ms(usage: Usage, f: FunctionUsage, wait_ms: float, cpu_factor: float = 1.0) -> float:
    """put_batch's billed milliseconds in search mode: its CPU time (stretched by Lambda's
    CPU share at its memory size), plus every wave of _bulk requests' wait on the cluster,
    plus Lambda's rounding per invocation."""
    cpu = (f.cpu_ms or 0.0) * cpu_stretch(f.memory_mb) * cpu_factor
    return cpu + bulk_waits(usage, f) * wait_ms + BILLED_ROUNDING_MS * f.invocations


def search_put_batch_line(usage: Usage, f: FunctionUsage, prices: Prices, a: Assumptions) -> Line:
    """The put_batch duration line of a search-mode run (CPU time + bulk requests x latency)."""
    p = prices[f"lambda.gb_second.{a.architecture}"]
    gb_per_ms = f.memory_mb / 1024 / 1000
    wait = bulk_wait_ms(prices, a)
    gb_s = search_put_batch_ms(usage, f, wait) * gb_per_ms
    stretch = cpu_stretch(f.memory_mb)
    if a.bulk_wait_ms is None:
        low_wait, high_wait = prices.assumed(BULK_WAIT, "low"), prices.assumed(BULK_WAIT, "high")
    else:
        low_wait = high_wait = wait
    low = search_put_batch_ms(usage, f, low_wait, a.duration_low) * gb_per_ms * p
    high = search_put_batch_ms(usage, f, high_wait, a.duration_high) * gb_per_ms * p
    return Line(
        "Lambda",
        f"{f.name} duration ({f.memory_mb} MB)",
        gb_s,
        "GB-second",
        p,
        low,
        high,
        f"CPU {f.cpu_ms or 0:,.0f} ms on a whole core (x{stretch:.2f} at {f.memory_mb} MB) + "
        f"{bulk_waits(usage, f):,.0f} waits for {usage.bulk_requests:,.0f} _bulk x {wait:g} ms "
        "(assumed cluster latency), not the wall time against the sandbox's emulator",
    )


@dataclass(frozen=True)
class Workload:
    """A month of traffic to project."""

    events_per_day: float
    avg_event_bytes: float
    batching_window_seconds: float = BATCHING_WINDOW_SECONDS
    peak_factor: float = 2.0  # shards are sized for this multiple of the average rate


def _setting(usage: Usage, name: str, default: int) -> int:
    raw = usage.settings.get(name, "")
    return int(raw) if raw else default


def units_for(records: float, size: float) -> dict[str, float]:
    """The 1 KB / 5 KB / 25 KB billing units of ``records`` records of ``size`` bytes each."""
    return {
        name: records * max(1, math.ceil(size / unit))
        for name, unit in (("kb1", KIB), ("kb5", 5 * KIB), ("kb25", 25 * KIB))
    }


def shards_for(bytes_per_day: float, records_per_day: float, peak_factor: float) -> int:
    """Provisioned shards a stream needs for a daily volume at a peak multiple of the average."""
    per_second = peak_factor / 86_400
    return max(
        1,
        math.ceil(bytes_per_day * per_second / SHARD_BYTES_PER_SECOND),
        math.ceil(records_per_day * per_second / SHARD_RECORDS_PER_SECOND),
    )


def project(usage: Usage, workload: Workload, a: Assumptions) -> tuple[Usage, list[str], dict[str, float]]:
    """A month of ``workload`` with the measured run's shape; returns usage, notes and fixed hours.

    Kept from the run: document bytes per event beyond the message, compression of the
    source records, events per source record, the aggregated record size, claim-check
    bytes per log byte, Lambda time per log byte (decode, transform, put_batch) or per
    invocation (ingest, summarize), and the fixed states per execution. Derived: how many
    executions the event source mapping starts (one per source shard per batching window
    while records arrive, more when batches fill), chunks per execution from the chunk
    limits, and shards.
    """
    from chalicelib import limits

    days = DAYS_PER_MONTH
    events = workload.events_per_day * days
    log_bytes = events * workload.avg_event_bytes
    doc_overhead = max(
        0.0, usage.documents.bytes / max(usage.documents.records, 1) - usage.log_bytes / usage.events
    )
    doc_size = workload.avg_event_bytes + doc_overhead
    documents = StreamUsage(records=events, bytes=events * doc_size, units=units_for(events, doc_size))
    search = usage.delivery == "search"
    if search:  # put_batch writes _bulk: no destination stream
        destination = StreamUsage(records=0.0, bytes=0.0, units={})
    elif usage.output_records == "aggregated" and usage.destination.records:
        record_size = usage.destination.bytes / usage.destination.records
        records = max(1.0, documents.bytes / record_size)
        destination = StreamUsage(
            records=records, bytes=documents.bytes, units=units_for(records, record_size)
        )
    else:
        destination = documents
    compression = usage.source.bytes / usage.log_bytes
    events_per_source_record = usage.events / max(usage.source.records, 1)
    source_records = events / events_per_source_record
    source_bytes = log_bytes * compression
    source = StreamUsage(
        records=source_records,
        bytes=source_bytes,
        units=units_for(source_records, source_bytes / max(source_records, 1)),
    )
    daily = 1 / days
    if a.stream_mode == "provisioned":
        source_shards = shards_for(source_bytes * daily, source_records * daily, workload.peak_factor)
        destination_shards = shards_for(
            destination.bytes * daily, destination.records * daily, workload.peak_factor
        )
    else:
        source_shards = destination_shards = ON_DEMAND_INITIAL_SHARDS
    if search:
        destination_shards = 0
    polls = source_shards * 86_400 / workload.batching_window_seconds * days
    executions = min(
        source_records,
        max(polls, source_bytes / ESM_BATCH_BYTES, source_records / ESM_BATCH_RECORDS),
    )
    # The chunks carry what put_batch sends: Kinesis records, or one bulk item per document.
    carried = documents if search else destination
    per_execution_records = carried.records / executions
    per_execution_bytes = carried.bytes / executions
    records_per_chunk = _setting(usage, "LOGSTEP_MAX_RECORDS_PER_CHUNK", limits.MAX_RECORDS_PER_CHUNK)
    chunk_bytes = _setting(usage, "LOGSTEP_MAX_CHUNK_BYTES", limits.MAX_CHUNK_BYTES)
    chunks_per_execution = max(
        1, math.ceil(per_execution_records / records_per_chunk), math.ceil(per_execution_bytes / chunk_bytes)
    )
    chunks = executions * chunks_per_execution
    fixed_states = (usage.transitions - usage.chunks - usage.retries) / max(usage.executions, 1)
    retries = usage.retries / max(usage.chunks, 1) * chunks
    transitions = executions * fixed_states + chunks + retries
    # Claim-check objects written: the chunks hold the destination's bytes; the raw batch
    # and the decoded envelopes grow per event (each carries its id and timestamp) and per
    # byte. Summaries written before deletion existed count everything as kept.
    written = usage.claimcheck_transient_bytes or usage.claimcheck_bytes
    carried_bytes = usage.documents.bytes if search else usage.destination.bytes
    other_per_event = max(0.0, (written - carried_bytes) / usage.events)
    other_overhead = max(0.0, other_per_event - usage.log_bytes / usage.events)
    written_bytes = carried.bytes + events * (workload.avg_event_bytes + other_overhead)
    if usage.claimcheck_transient_bytes:
        # What a run keeps (its summary) is per execution.
        claimcheck_bytes = usage.claimcheck_bytes / max(usage.executions, 1) * executions
        transient_bytes = written_bytes
    else:
        claimcheck_bytes, transient_bytes = written_bytes, 0.0
    per_execution = {"ingest", "decode", "transform", "summarize"}
    functions: list[FunctionUsage] = []
    for f in usage.functions:
        if f.name in ("ingest", "summarize"):
            invocations = executions
            billed = f.billed_ms / max(f.invocations, 1) * invocations
        else:
            invocations = executions if f.name in per_execution else chunks + retries
            billed = f.billed_ms / usage.log_bytes * log_bytes + INVOCATION_FLOOR_MS * invocations
        cpu = f.cpu_ms
        if cpu is not None:
            # Per log byte like the billed time; the floor stands for S3 and the Step
            # Functions hop, which a modelled put_batch otherwise would not wait for.
            cpu = cpu / usage.log_bytes * log_bytes + INVOCATION_FLOOR_MS * invocations
        functions.append(replace(f, invocations=invocations, billed_ms=billed, cpu_ms=cpu))
    bulk_requests = 0.0
    if search:
        # Every chunk needs as many _bulk requests as its items and bytes ask for; a retry
        # resends at most a chunk's items.
        bulk_documents = _setting(usage, "LOGSTEP_MAX_BULK_DOCUMENTS", limits.MAX_BULK_DOCUMENTS)
        bulk_bytes = _setting(usage, "LOGSTEP_MAX_BULK_BYTES", limits.MAX_BULK_BYTES)
        per_chunk = max(
            1,
            math.ceil(per_execution_records / chunks_per_execution / bulk_documents),
            math.ceil(per_execution_bytes / chunks_per_execution / bulk_bytes),
        )
        bulk_requests = (chunks + retries) * per_chunk
    s3_put, s3_get = s3_requests(executions, chunks, retries)
    projected = Usage(
        events=events,
        log_bytes=log_bytes,
        executions=executions,
        chunks=chunks,
        transitions=transitions,
        retries=retries,
        functions=tuple(functions),
        s3_put=s3_put,
        s3_get=s3_get,
        claimcheck_bytes=claimcheck_bytes,
        claimcheck_transient_bytes=transient_bytes,
        source=source,
        destination=destination,
        documents=documents,
        output_records=usage.output_records,
        settings=usage.settings,
        delivery=usage.delivery,
        bulk_requests=bulk_requests,
    )
    notes = [
        f"{workload.events_per_day:,.0f} events/day of {workload.avg_event_bytes:,.0f} bytes: "
        f"{log_bytes / GIB:,.1f} GB of logs a month",
        f"executions: {executions:,.0f}/month ({source_shards} source shard(s), one batch per "
        f"{workload.batching_window_seconds:g} s window while records arrive, or per full 6 MB batch)",
        f"chunks: {chunks_per_execution} per execution; documents of {doc_size:,.0f} bytes",
        f"shards: source {source_shards}, destination {destination_shards} ({a.stream_mode})"
        if not search
        else f"shards: source {source_shards} ({a.stream_mode}); no destination stream (search "
        f"delivery), {bulk_requests / max(chunks, 1):,.1f} _bulk requests per chunk",
    ]
    hours = {
        "source_shards": source_shards,
        "destination_shards": destination_shards,
        "streams": 1 if search else 2,
    }
    return projected, notes, {k: float(v) for k, v in hours.items()}


def s3_requests(executions: float, chunks: float, retries: float) -> tuple[float, float]:
    """(PUT, GET) requests the claim-check layout implies (chalicelib/claimcheck.py).

    Per execution: ingest writes raw.json, decode reads it and writes decoded.jsonl,
    transform reads that and writes chunks.json, summarize writes summary.json (4 PUT,
    2 GET). Per chunk: transform writes it; put_batch reads its pending object (a miss is
    still a GET) and the chunk, and writes the pending set (2 PUT, 2 GET). Per retry: the
    pending set read and written again (1 PUT, 1 GET). Not counted: quarantine and
    oversize objects, summarize's reads of failed chunks, the DELETE (free), replays.
    """
    return 4 * executions + 2 * chunks + retries, 2 * executions + 2 * chunks + retries


def fixed_lines(hours: Mapping[str, float], prices: Prices, a: Assumptions) -> list[Line]:
    """A month of shard-hours (provisioned) or stream-hours (on-demand) for both streams (the
    source stream alone with the search delivery)."""
    streams = hours.get("streams", 2)
    which = "both streams" if streams == 2 else "source stream"
    if a.stream_mode == "provisioned":
        p = prices["kinesis.provisioned.shard_hour"]
        shard_hours = (hours["source_shards"] + hours["destination_shards"]) * HOURS_PER_MONTH
        cost = shard_hours * p
        return [Line("Kinesis", f"shard-hours ({which})", shard_hours, "shard-hour", p, cost, cost)]
    p = prices["kinesis.on_demand.stream_hour"]
    stream_hours = streams * HOURS_PER_MONTH
    cost = stream_hours * p
    return [Line("Kinesis", f"stream-hours ({which})", stream_hours, "stream-hour", p, cost, cost)]


@dataclass(frozen=True)
class Totals:
    """A bill's total and its range, per GB of logs and per million events."""

    total: float
    low: float
    high: float
    per_gb: float
    per_gb_low: float
    per_gb_high: float
    per_million_events: float


def totals(lines: Sequence[Line], usage: Usage) -> Totals:
    """Sum a bill and divide it by the logs it carried."""
    total = sum(line.cost for line in lines)
    low = sum(line.low for line in lines)
    high = sum(line.high for line in lines)
    gb = usage.log_bytes / GIB
    return Totals(
        total=total,
        low=low,
        high=high,
        per_gb=total / gb,
        per_gb_low=low / gb,
        per_gb_high=high / gb,
        per_million_events=total / usage.events * 1e6,
    )


def paper_model(avg_event_bytes: float, aggregated: bool, prices: Prices) -> float:
    """Issue 6's back-of-envelope $ per GB: a record per event (or ~25 KB records), provisioned.

    Firehose ingestion in 5 KB steps, Kinesis PUT payload units and shard-seconds for the
    record rate; documents the size of the events; no Lambda, S3 or Step Functions.
    """
    events = GIB / avg_event_bytes
    if aggregated:
        records = GIB / 25_000
        firehose_gb = records * math.ceil(25_000 / (5 * KIB)) * 5 * KIB / GIB
    else:
        records = events
        firehose_gb = records * math.ceil(avg_event_bytes / (5 * KIB)) * 5 * KIB / GIB
    put_units = records * math.ceil(min(avg_event_bytes, 25_000) / (25 * KIB)) if not aggregated else records
    shard_hours = records / SHARD_RECORDS_PER_SECOND / 3600
    return (
        firehose_gb * prices["firehose.ingestion_gb"]
        + put_units * prices["kinesis.provisioned.put_payload_unit"]
        + shard_hours * prices["kinesis.provisioned.shard_hour"]
    )


# ---- the command -----------------------------------------------------------------------
