"""logstep demo: the whole pipeline on the embedded sandbox, then an account of every event.

Creates the streams, bucket and state machine on moto, subscribes demo log groups,
writes realistic log events with PutLogEvents (or puts the records of a Lambda Kinesis
event with --input), lets CloudWatch Logs deliver them to the source stream, runs the
real state machine with the Chalice handlers as its Lambda tasks, and reads the
destination stream. With the default Kinesis delivery, a Firehose stand-in
(``logstep.sandbox.firehose``) then delivers the destination stream to the sandbox's
search server, as the deployed Firehose delivery stream would. Exit code 0 only when
every event is accounted for: delivered, or reported pending (replayable) or
quarantined, and (Kinesis delivery with a search server) indexed or in Firehose's S3
backup.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Keys of --summary-json (documented in docs/getting-started.md, "--summary-json keys").
SUMMARY_KEYS = (
    "events_in",
    "documents_delivered",
    "unique_events_delivered",
    "duplicates",
    "pending_records",
    "quarantined_records",
    "missing_events",
    "accounted",
    "executions",
    "batches",
    "chunks",
    "state_transitions",
    "retries",
    "largest_state_payload_bytes",
    "lambda",
    "put_records",
    "destination_documents",
    "s3_requests",
    "source",
    "log_bytes_in",
    "output_records",
    "settings",
    "claimcheck",
    "delivery",
    "search",
    "firehose",
    "elapsed_seconds",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``logstep demo``."""
    parser.add_argument("--events", type=int, default=2000, help="log events to generate")
    parser.add_argument("--input", help="a Lambda Kinesis event JSON whose records go on the source stream")
    parser.add_argument("--throttle-rate", type=float, default=0.0, help="share of records throttled")
    parser.add_argument(
        "--internal-failure-rate",
        type=float,
        default=0.0,
        help="share of records failing with InternalFailure",
    )
    parser.add_argument(
        "--call-throttle-rate",
        type=float,
        default=0.0,
        help="share of whole PutRecords calls throttled",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed for traffic and fault decisions")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=0.01,
        help="multiplier on Retry backoff sleeps (1 = real time)",
    )
    parser.add_argument(
        "--output-records",
        choices=("single", "aggregated"),
        default="single",
        help="one document per destination record, or many per KPL aggregated record",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a stage environment variable for the Lambda handlers (repeatable), "
        "e.g. LOGSTEP_MAX_CHUNK_BYTES=33554432",
    )
    parser.add_argument(
        "--delivery",
        choices=("kinesis", "search"),
        default="kinesis",
        help="kinesis: documents go to the destination stream; search: straight to the sandbox's "
        "search server (osmem-server) with _bulk (LOGSTEP_DELIVERY)",
    )
    parser.add_argument(
        "--search-throttle-rate", type=float, default=0.0, help="share of bulk items answered 429"
    )
    parser.add_argument(
        "--search-error-rate", type=float, default=0.0, help="share of bulk items answered 503"
    )
    parser.add_argument(
        "--search-request-throttle-rate",
        type=float,
        default=0.0,
        help="share of whole _bulk requests answered 429",
    )
    parser.add_argument(
        "--stream-only",
        action="store_true",
        help="kinesis delivery: stop at the destination stream (no search server, no Firehose "
        "stand-in), for large runs: osmem-server keeps every document in memory",
    )
    parser.add_argument(
        "--crash-after-write",
        type=int,
        default=0,
        metavar="N",
        help="put_batch crashes N times after writing and before recording it, so the chunk is "
        "resent (at-least-once: duplicates behind Firehose, none in the search delivery)",
    )
    parser.add_argument("--source-shards", type=int, default=2, help="shards of the source stream")
    parser.add_argument("--destination-shards", type=int, default=2, help="shards of the destination stream")
    parser.add_argument("--out", help="write every delivered document here, one JSON per line")
    parser.add_argument("--summary-json", help="write the run's counters here")
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds to wait for the executions to end"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


@dataclass
class Expected:
    """The events that went in, by CloudWatch event id, and the records that cannot be envelopes."""

    ids: set[str] = field(default_factory=set)
    malformed_records: int = 0
    source_records: int = 0
    source_bytes: int = 0
    log_bytes: int = 0


def _progress(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def write_generated(sandbox: Any, count: int, seed: int) -> Expected:
    """PutLogEvents of generated traffic; the ids come back from FilterLogEvents."""
    from logstep.sandbox.traffic import GROUPS, generate

    logs = sandbox.client("logs")
    # Midnight UTC today: CloudWatch accepts events up to 14 days old, and the same seed on
    # the same day writes the same events, so a run (and its injected faults) reproduces.
    start = int(time.time() // 86_400 * 86_400 * 1000)
    events = generate(count, seed, start)
    expected = Expected()
    by_stream: dict[tuple[str, str], list[Any]] = {}
    for event in events:
        by_stream.setdefault((event.log_group, event.log_stream), []).append(event)
    for group in GROUPS:
        sandbox.subscribe(group)
    for (group, stream), batch in by_stream.items():
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        # PutLogEvents takes up to 10,000 events / 1 MiB per call.
        for i in range(0, len(batch), 500):
            part = batch[i : i + 500]
            logs.put_log_events(
                logGroupName=group,
                logStreamName=stream,
                logEvents=[{"timestamp": e.timestamp, "message": e.message} for e in part],
            )
            expected.log_bytes += sum(len(e.message.encode()) for e in part)
    for group in GROUPS:
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group):
            expected.ids.update(str(e["eventId"]) for e in page["events"])
    return expected


def write_input(sandbox: Any, path: str) -> Expected:
    """Put the records of a Lambda Kinesis event on the source stream, as they are."""
    from chalicelib.envelope import Envelope, Malformed, decode_base64_record

    with open(path, "rb") as handle:
        event = json.load(handle)
    kinesis = sandbox.client("kinesis")
    expected = Expected()
    for i, record in enumerate(event.get("Records", [])):
        data_b64 = record.get("kinesis", {}).get("data", "")
        try:
            data = base64.b64decode(data_b64)
        except ValueError:
            data = data_b64.encode()
        kinesis.put_record(
            StreamName=sandbox.source_stream,
            Data=data or b"\0",
            PartitionKey=record.get("kinesis", {}).get("partitionKey") or f"record-{i}",
        )
        decoded = decode_base64_record(data_b64)
        if isinstance(decoded, Malformed):
            expected.malformed_records += 1
        elif isinstance(decoded, Envelope):
            expected.ids.update(e.id for e in decoded.events)
            expected.log_bytes += sum(len(e.message.encode()) for e in decoded.events)
    return expected


def stage_environment(args: argparse.Namespace) -> dict[str, str]:
    """The Lambda handlers' extra stage environment from --output-records and --env."""
    environment = {"LOGSTEP_OUTPUT_RECORDS": args.output_records}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--env expects NAME=VALUE, got {item!r}")
        environment[name] = value
    return environment


def run(args: argparse.Namespace) -> int:
    """Run the demo; print progress and a summary."""
    from chalicelib import jsoncodec
    from chalicelib.aggregation import deaggregate_all
    from chalicelib.claimcheck import ClaimCheck
    from logstep.cost.units import record_units
    from logstep.health import format_health, health_from_emf
    from logstep.history import count_execution, execution_history
    from logstep.replay import pending_sets
    from logstep.sandbox.faults import FaultPlan
    from logstep.sandbox.pipeline import Sandbox, SandboxConfig

    started = time.monotonic()
    plan = FaultPlan(
        seed=args.seed,
        throttle_rate=args.throttle_rate,
        internal_failure_rate=args.internal_failure_rate,
        call_throttle_rate=args.call_throttle_rate,
    )
    environment = stage_environment(args)
    stack = contextlib.ExitStack()
    search = _start_search(args, stack)
    if search is not None and args.delivery == "search":
        environment = {**environment, **search.environment()}
    config = SandboxConfig(
        faults=plan,
        time_scale=args.time_scale,
        seed=args.seed,
        environment=environment,
        source_shards=args.source_shards,
        destination_shards=args.destination_shards,
        crash_after_write=args.crash_after_write,
    )
    with stack, Sandbox(config) as sandbox:
        firehose = _start_firehose(args, sandbox, search)
        _progress(
            args,
            f"sandbox up (moto, in-process): {sandbox.source_stream} -> state machine "
            f"{sandbox.state_machine_name} -> "
            + (
                f"_bulk -> search server {search.url}"
                if args.delivery == "search"
                else sandbox.destination_stream
                + (f" -> Firehose stand-in -> search server {search.url}" if firehose else "")
            ),
        )
        if search is not None and search.plan.active:
            _progress(
                args,
                f"search faults: {search.plan.throttle_rate:.0%} items 429, "
                f"{search.plan.error_rate:.0%} items 503, "
                f"{search.plan.request_throttle_rate:.0%} requests 429 (seed {search.plan.seed})",
            )
        if plan.active:
            _progress(
                args,
                f"destination faults: {plan.throttle_rate:.0%} records throttled, "
                f"{plan.internal_failure_rate:.0%} InternalFailure, "
                f"{plan.call_throttle_rate:.0%} calls throttled (seed {plan.seed})",
            )
        if args.input:
            expected = write_input(sandbox, args.input)
            _progress(
                args,
                f"put {args.input}'s records on the source stream "
                f"({len(expected.ids)} events, {expected.malformed_records} not envelopes)",
            )
        else:
            expected = write_generated(sandbox, args.events, args.seed)
            _progress(
                args,
                f"wrote {len(expected.ids)} log events with PutLogEvents to 3 subscribed log groups",
            )
        source = list(sandbox.read_stream(sandbox.source_stream))
        expected.source_records = len(source)
        expected.source_bytes = sum(len(r["Data"]) for r in source)
        source_units = record_units(len(r["Data"]) + len(r["PartitionKey"].encode()) for r in source)
        ingested = sandbox.drain()
        _progress(args, f"event source poller: {ingested} source records -> ingest")

        last = [""]

        def show(statuses: Counter[str]) -> None:
            text = ", ".join(f"{n} {s.lower()}" for s, n in sorted(statuses.items()))
            if text != last[0]:
                last[0] = text
                pb = sandbox.function_stats.get("put_batch")
                calls = sandbox.faults.counters
                _progress(
                    args,
                    f"executions: {text}; PutRecords calls {calls.calls} "
                    f"({calls.throttled_calls} throttled), put_batch attempts "
                    f"{pb.invocations if pb else 0}",
                )

        statuses = sandbox.wait_for_executions(timeout=args.timeout, on_progress=show)
        if firehose is not None:
            firehose.settle(timeout=args.timeout)
            fc = firehose.counters
            _progress(
                args,
                f"Firehose stand-in: {fc.records_read} records ({fc.documents_read} documents) read, "
                f"{fc.indexed} indexed in {fc.bulk_requests} bulk requests, {fc.backed_up} backed up to S3",
            )
        sfn = sandbox.client("stepfunctions")
        store = ClaimCheck(sandbox.client("s3"), sandbox.bucket)
        transitions = retries = largest = chunks = quarantined = 0
        pending_ids: set[str] = set()
        pending_records = 0
        executions = sandbox.executions()
        for execution in executions:
            counts = count_execution(execution_history(sfn, execution["executionArn"]))
            transitions += counts.transitions
            retries += counts.retries
            largest = max(largest, counts.largest_payload_bytes)
            run_prefix = f"runs/{execution['name']}/"
            summary = store.get_optional(f"{run_prefix}summary.json")
            if summary is not None:
                run_summary = jsoncodec.loads(summary)
                quarantined += int(run_summary.get("quarantined", 0))
                # A delivered run's chunks are deleted; summarize recorded how many there were.
                chunks += int(run_summary.get("deliveryChunks", 0))
            else:
                chunks += len(store.list_keys(f"{run_prefix}chunks/"))
            if execution["status"] == "FAILED":
                for pending in pending_sets(store, run_prefix):
                    documents_pending = deaggregate_all(pending.records)
                    pending_records += len(documents_pending)
                    for record in documents_pending:
                        pending_ids.add(str(jsoncodec.loads(record.data)["cloudwatch"]["id"]))
        # What stays in the bucket after the runs (kept until the lifecycle rule expires it),
        # and every byte written, most of it deleted once its run delivered.
        claimcheck = {"objects": 0, "bytes": 0, "written_bytes": sandbox.s3_bytes_written}
        for page in sandbox.client("s3").get_paginator("list_objects_v2").paginate(Bucket=sandbox.bucket):
            for item in page.get("Contents", []):
                claimcheck["objects"] += 1
                claimcheck["bytes"] += int(item["Size"])
        destination = deaggregate_all(sandbox.read_destination_records())
        documents = [jsoncodec.loads(user.data) for user in destination]
        search_summary: dict[str, Any] | None = None
        firehose_summary: dict[str, Any] | None = None
        if args.delivery == "search" and search is not None:
            # Search mode: what was delivered is what the index holds, counted by the index.
            search_summary, documents = index_account(search, expected)
        elif firehose is not None:
            # Kinesis mode: delivered is what reached the stream; the index is Firehose's
            # (at-least-once: logstep's resends are duplicates there too, reported).
            search_summary, indexed_documents = index_account(search, expected)
            firehose_summary = firehose_account(firehose, documents, indexed_documents)
        delivered_ids = Counter(str(d["cloudwatch"]["id"]) for d in documents)
        if args.out:
            with open(args.out, "wb") as out:
                for document in documents:
                    out.write(jsoncodec.dumps(document) + b"\n")
        missing = expected.ids - set(delivered_ids) - pending_ids
        # Search mode promises exactly one copy per event in the index; behind Firehose every
        # event on the stream must be indexed or in its S3 backup (duplicates are reported).
        exactly_once = (
            args.delivery != "search" or search_summary is None or search_summary["duplicates"] == 0
        )
        indexed_all = firehose_summary is None or firehose_summary["not_indexed_events"] == 0
        accounted = not missing and quarantined == expected.malformed_records and exactly_once and indexed_all
        summary_data: dict[str, Any] = {
            "events_in": len(expected.ids),
            "documents_delivered": (
                search_summary["indexed"] if search_summary and firehose is None else len(documents)
            ),
            "unique_events_delivered": len(set(delivered_ids) & expected.ids),
            "duplicates": (
                search_summary["duplicates"]
                if search_summary and firehose is None
                else sum(n - 1 for n in delivered_ids.values() if n > 1)
            ),
            "pending_records": pending_records,
            "quarantined_records": quarantined,
            "missing_events": len(missing),
            "accounted": accounted,
            "executions": dict(statuses),
            "batches": len(executions),
            "chunks": chunks,
            "state_transitions": transitions,
            "retries": retries,
            "largest_state_payload_bytes": largest,
            "lambda": {
                name: {
                    "invocations": s.invocations,
                    "errors": s.errors,
                    "duration_ms": round(s.duration_ms, 1),
                    "billed_ms": s.billed_ms,
                    "cpu_ms": round(s.cpu_ms, 1),
                    "memory_mb": sandbox.memory_mb(name),
                }
                for name, s in sorted(sandbox.function_stats.items())
            },
            "put_records": {
                "calls": sandbox.faults.counters.calls,
                "throttled_calls": sandbox.faults.counters.throttled_calls,
                "records": sandbox.faults.counters.records_written,
                "bytes": sandbox.faults.counters.bytes_written,
                "record_errors": dict(sandbox.faults.counters.record_errors),
                "units": dict(sandbox.faults.counters.units),
            },
            "s3_requests": dict(sandbox.s3_requests),
            "destination_documents": {
                "records": len(destination),
                "bytes": sum(user.size for user in destination),
                "units": record_units(user.size for user in destination),
            },
            "source": {
                "records": expected.source_records,
                "bytes": expected.source_bytes,
                "units": source_units,
            },
            "log_bytes_in": expected.log_bytes,
            "output_records": args.output_records,
            "settings": environment,
            "claimcheck": claimcheck,
            "delivery": args.delivery,
            "search": search_summary,
            "firehose": firehose_summary,
            "elapsed_seconds": round(time.monotonic() - started, 2),
        }
        health = health_from_emf(sandbox.metric_documents)
    if args.summary_json:
        with open(args.summary_json, "w") as handle:
            json.dump(summary_data, handle, indent=2)
    print_summary(summary_data, args)
    print()
    print(format_health(health))
    return 0 if accounted else 1


def print_summary(s: dict[str, Any], args: argparse.Namespace) -> None:
    """The human summary."""
    ex = ", ".join(f"{n} {k.lower()}" for k, n in sorted(s["executions"].items())) or "none"
    pr = s["put_records"]
    lines = [
        "",
        "logstep demo summary",
        f"  events written           {s['events_in']}",
        f"  documents delivered      {s['documents_delivered']} "
        f"({s['unique_events_delivered']} unique, {s['duplicates']} duplicates)",
        f"  pending (replayable)     {s['pending_records']}",
        f"  quarantined records      {s['quarantined_records']}",
        f"  missing                  {s['missing_events']}",
        f"  batches (executions)     {s['batches']}: {ex}",
        f"  delivery chunks          {s['chunks']}",
    ]
    search = s.get("search")
    firehose = s.get("firehose")
    if firehose:
        lines += [
            f"  destination records      {pr['records']} ({s['output_records']}), {pr['bytes']} bytes",
            f"  PutRecords calls         {pr['calls']} ({pr['throttled_calls']} throttled whole), "
            f"record errors {pr['record_errors'] or 'none'}",
            f"  Firehose (stand-in)      {firehose['records_read']} records -> {firehose['documents_read']} "
            f"documents, flushes {firehose['flushes'] or 'none'}, {firehose['item_retries']} item retries, "
            f"{firehose['backed_up']} backed up to S3"
            + (f" ({firehose['backup']})" if firehose["backed_up"] else ""),
        ]
    if search:
        lines += [
            f"  search index             {search['indexed']} documents in {search['index_pattern']} "
            f"(counted by the index), {search['unique']} unique, {search['duplicates']} duplicate _ids",
            f"  bulk requests            {search['bulk_requests']} ({search['throttled_requests']} "
            f"refused whole), item errors {search['item_errors'] or 'none'}",
        ]
    elif not firehose:
        lines += [
            f"  destination records      {pr['records']} ({s['output_records']}), {pr['bytes']} bytes",
            f"  PutRecords calls         {pr['calls']} ({pr['throttled_calls']} throttled whole), "
            f"record errors {pr['record_errors'] or 'none'}",
        ]
    lines += [
        f"  retries (Step Functions) {s['retries']}",
        f"  state transitions        {s['state_transitions']}",
        f"  largest state payload    {s['largest_state_payload_bytes']} bytes (limit 262144)",
        f"  elapsed                  {s['elapsed_seconds']} s",
        "",
        "every event accounted for" if s["accounted"] else "NOT every event is accounted for",
    ]
    if search:
        lines.insert(-2, "")
        lines[-2:-2] = format_searches(search)
    print("\n".join(lines))


# The searches the demo shows: what a user would ask first (docs/getting-started.md).
ERRORS_BY_GROUP = {
    "size": 0,
    "query": {"query_string": {"query": "level:ERROR"}},
    "aggs": {"groups": {"terms": {"field": "cloudwatch.logGroup", "size": 10}}},
}
SLOWEST_REPORTS = {
    "size": 3,
    "query": {"term": {"lambda.type": "REPORT"}},
    "sort": [{"lambda.durationMs": "desc"}],
    "_source": ["lambda.functionName", "lambda.durationMs", "lambda.requestId"],
}


def _start_search(args: argparse.Namespace, stack: contextlib.ExitStack) -> Any:
    """The sandbox's search server (the pipeline's target with --delivery search, the Firehose
    stand-in's with kinesis), or None where osmem-server cannot run."""
    if args.delivery == "kinesis" and args.stream_only:
        return None
    from logstep.sandbox.search import SearchFaultPlan, SearchSandbox, SearchServerUnavailable

    plan = SearchFaultPlan(
        seed=args.seed,
        throttle_rate=args.search_throttle_rate,
        error_rate=args.search_error_rate,
        request_throttle_rate=args.search_request_throttle_rate,
    )
    try:
        search = stack.enter_context(SearchSandbox(plan))
    except SearchServerUnavailable as e:
        if args.delivery == "kinesis":
            print(
                f"logstep demo: cannot start a search server on this platform ({e}); the documents "
                "stay on the destination stream (no Firehose stand-in)",
                file=sys.stderr,
            )
            return None
        print(
            f"logstep demo: cannot start a search server on this platform ({e}); "
            "falling back to the Kinesis delivery",
            file=sys.stderr,
        )
        args.delivery = "kinesis"
        return None
    from logstep.sandbox.search import install_index_template

    install_index_template(search)
    return search


def _start_firehose(args: argparse.Namespace, sandbox: Any, search: Any) -> Any:
    """The Firehose stand-in between the destination stream and the search server (kinesis
    delivery with a search server), or None."""
    if args.delivery != "kinesis" or search is None:
        return None
    from logstep.sandbox.firehose import stand_in_for

    return stand_in_for(sandbox, search)


def _identity(document: dict[str, Any]) -> tuple[str, str, str]:
    cloudwatch = document.get("cloudwatch", {})
    return (str(cloudwatch.get("logGroup")), str(cloudwatch.get("logStream")), str(cloudwatch.get("id")))


def firehose_account(
    firehose: Any, stream_documents: list[dict[str, Any]], indexed_documents: list[dict[str, Any]]
) -> dict[str, Any]:
    """What the Firehose stand-in did, and the events on the stream it neither indexed nor
    backed up (must be 0): the summary's ``firehose`` object."""
    from chalicelib import jsoncodec
    from logstep.sandbox.firehose import FAILED_DOCUMENTS_FOLDER

    backed_up: set[tuple[str, str, str]] = set()
    for failed in firehose.backed_up_documents():
        try:
            backed_up.add(_identity(jsoncodec.loads(base64.b64decode(failed["rawData"]))))
        except (ValueError, TypeError, AttributeError):
            continue  # not a logstep document: it cannot be a missing one
    on_stream = {_identity(d) for d in stream_documents}
    indexed = {_identity(d) for d in indexed_documents}
    settings = firehose.settings
    return {
        **firehose.counters.to_json(),
        "not_indexed_events": len(on_stream - indexed - backed_up),
        "backup": f"s3://{firehose.backup_bucket}/{settings.backup_prefix}{FAILED_DOCUMENTS_FOLDER}",
        "settings": {
            "buffer_bytes": settings.buffer_bytes,
            "buffer_interval_seconds": settings.buffer_interval_seconds,
            "retry_duration_seconds": settings.retry_duration_seconds,
            "time_scale": settings.time_scale,
            "index_rotation": settings.rotation,
            "document_ids": "FIREHOSE_DEFAULT",
        },
    }


def index_account(search: Any, expected: Expected) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What the index holds for the run, counted by the index: the summary's ``search`` object."""
    pattern = "logstep-*"
    search.refresh()
    indexed = search.count(pattern)
    documents = [hit["_source"] for hit in search.documents(pattern)]
    identities = {
        (d["cloudwatch"]["logGroup"], d["cloudwatch"]["logStream"], str(d["cloudwatch"]["id"]))
        for d in documents
    }
    counters = search.faults.counters
    item_errors = dict(sorted(counters.item_errors.items()))
    rejected = sum(
        n
        for status, n in item_errors.items()
        if status.isdigit() and 400 <= int(status) < 500 and status not in ("409", "429")
    )
    errors_by_group = search.request("POST", f"/{pattern}/_search", ERRORS_BY_GROUP)
    slowest = search.request("POST", f"/{pattern}/_search", SLOWEST_REPORTS)
    summary = {
        "url": search.url,
        "index_pattern": pattern,
        "indexed": indexed,
        "unique": len(identities),
        "duplicates": indexed - len(identities),
        "rejected": rejected,
        **counters.to_json(),
        "units": dict(counters.units),
        "indices": {
            row["index"]: int(row["docs.count"])
            for row in search.request("GET", f"/_cat/indices/{pattern}?format=json")
        },
        "searches": {
            "errors_by_log_group": {
                b["key"]: b["doc_count"] for b in errors_by_group["aggregations"]["groups"]["buckets"]
            },
            "slowest_reports": [hit["_source"].get("lambda", {}) for hit in slowest["hits"]["hits"]],
        },
    }
    return summary, documents


def format_searches(search: dict[str, Any]) -> list[str]:
    """The demo's two searches, with the curl that runs each against the server."""
    lines = ["searches the index answered (the same with curl against `logstep local`):"]
    lines.append("  errors by log group      curl 'http://127.0.0.1:9200/logstep-*/_search?q=level:ERROR'")
    for group, count in search["searches"]["errors_by_log_group"].items():
        lines.append(f"    {count:6d}  {group}")
    lines.append("  slowest Lambda REPORTs   (sort lambda.durationMs desc, lambda.type:REPORT)")
    for report in search["searches"]["slowest_reports"]:
        lines.append(
            f"    {report.get('durationMs', '?'):>9} ms  {report.get('functionName', '?')}  "
            f"{report.get('requestId', '')}"
        )
    return lines
