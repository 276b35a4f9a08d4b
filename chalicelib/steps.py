"""decode, transform, put_batch, summarize: the state machine's Lambda tasks (shell).

Each step reads its records from S3 and returns only references and counts: no state
input or output carries records, whatever the batch size (Step Functions limits state
to 256 KiB). Read them in the order the state machine runs them.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib import jsoncodec, native
from chalicelib.aggregation import aggregate_records, count_documents
from chalicelib.batching import (
    Record,
    decode_records,
    encode_records,
    fit_document,
    pack_chunks,
    partition_key_for,
)
from chalicelib.bulk import bulk_record, document_id, error_class
from chalicelib.claimcheck import (
    ClaimCheck,
    chunk_key,
    delivery_keys,
    manifest_key,
    pending_key,
    rejected_key,
)
from chalicelib.delivery.outcome import Delivery
from chalicelib.envelope import (
    ControlMessage,
    Envelope,
    Malformed,
    decode_base64_record,
    envelope_to_json,
    parse_envelope,
)
from chalicelib.errors import (
    DeliveryRejectedError,
    DeliveryThrottledError,
    MalformedStateError,
    RecordsThrottledError,
)
from chalicelib.indices import index_name
from chalicelib.logs import log_event
from chalicelib.metrics import MetricsRecorder
from chalicelib.settings import DeliveryLimits, RecordPacking, SearchSettings
from chalicelib.transform import TransformOptions, document_for, serialise_envelope

SINGLE_RECORDS = RecordPacking()

# Step Functions caps a Fail state's cause at 32,768 characters; keep ours well inside.
MAX_CAUSE_CHARS = 4000


@dataclass(frozen=True)
class RunRef:
    """Where one execution keeps its objects."""

    bucket: str
    run: str

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RunRef:
        """Read bucket and run prefix from a state input."""
        bucket, run = state.get("bucket"), state.get("run")
        if not isinstance(bucket, str) or not isinstance(run, str) or not run.endswith("/"):
            raise MalformedStateError(f"state input lacks bucket/run: {sorted(state)}")
        return cls(bucket=bucket, run=run)


# Malformed reasons -> fixed, low-cardinality codes (metric dimension, quarantineReasons keys).
REASON_CODES = (
    ("not base64", "NotBase64"),
    ("not gzip or zlib", "NotCompressed"),
    ("not JSON", "NotJson"),
    ("envelope is a JSON", "NotAnObject"),
    ("unknown messageType", "UnknownMessageType"),
)


def reason_code(reason: str) -> str:
    """The fixed code of a quarantine reason."""
    return next((code for prefix, code in REASON_CODES if reason.startswith(prefix)), "BadShape")


def utf8_length(text: str) -> int:
    """Bytes of ``text`` in UTF-8 (``logstep cost`` prices per GB of log messages as they went in)."""
    return len(text) if text.isascii() else len(text.encode())


def decode_batch(state: dict[str, Any], store: ClaimCheck, metrics: MetricsRecorder) -> dict[str, Any]:
    """Raw Kinesis batch -> decoded envelopes (one JSON per line) + quarantined records."""
    ref = RunRef.from_state(state)
    raw = jsoncodec.loads(store.get(f"{ref.run}raw.json"))
    lines: list[bytes] = []
    quarantine: list[dict[str, Any]] = []
    events = control = log_bytes = 0
    arrivals: list[float] = []
    for record in raw.get("records", []):
        data = record.get("data", "")
        decoded = decode_base64_record(data) if isinstance(data, str) else None
        if decoded is None or isinstance(decoded, Malformed):
            reason = decoded.reason if decoded is not None else "data is not a string"
            quarantine.append(
                {
                    "sequenceNumber": record.get("sequenceNumber"),
                    "partitionKey": record.get("partitionKey"),
                    "reason": reason,
                    "data": data,
                }
            )
            continue
        if isinstance(decoded, ControlMessage):
            control += 1
            continue
        events += len(decoded.events)
        log_bytes += sum(utf8_length(e.message) for e in decoded.events)
        arrival = record.get("approximateArrivalTimestamp")
        if isinstance(arrival, int | float) and arrival > 0:
            arrivals.append(float(arrival))
        line = envelope_to_json(decoded)
        line["approximateArrivalTimestamp"] = record.get("approximateArrivalTimestamp")
        line["sequenceNumber"] = record.get("sequenceNumber")
        lines.append(jsoncodec.dumps(line))
    store.put(f"{ref.run}decoded.jsonl", b"\n".join(lines))
    if quarantine:
        store.put(f"{ref.run}quarantine.json", jsoncodec.dumps({"records": quarantine}))
    reasons: dict[str, int] = {}
    for item in quarantine:
        code = reason_code(str(item["reason"]))
        reasons[code] = reasons.get(code, 0) + 1
    metrics.add("EventsIn", events)
    metrics.add("LogBytesIn", log_bytes)
    metrics.add("ControlMessages", control)
    for code, count in sorted(reasons.items()):
        metrics.add("RecordsQuarantined", count, reason=code)
    return {
        **state,
        "envelopes": len(lines),
        "events": events,
        "controlMessages": control,
        "quarantined": len(quarantine),
        "quarantineReasons": reasons,
        # The oldest source record's arrival (epoch seconds): end-to-end lag is measured from it.
        "arrival": min(arrivals) if arrivals else 0,
    }


def transform_batch(
    state: dict[str, Any],
    store: ClaimCheck,
    limits: DeliveryLimits,
    options: TransformOptions,
    metrics: MetricsRecorder,
    packing: RecordPacking = SINGLE_RECORDS,
    destination: ChunkDestination | None = None,
) -> dict[str, Any]:
    """Decoded envelopes -> documents -> delivery chunks in S3; returns the chunk references.

    Each document is first fitted to the per-record limit on its own (oversize ones are
    kept whole in S3 and shortened). In ``aggregated`` mode consecutive documents are
    then packed into KPL aggregated records of up to ``packing.aggregated_record_bytes``;
    chunks, PutRecords calls, pending sets and replay all work on those Kinesis records
    unchanged, so a retry resends only the aggregated records that failed.

    For the search delivery (``destination.search``) each record is a bulk item instead:
    the ``create`` action line (index from the event's time, ``_id`` from its identity)
    and the document. Every chunk reference names its delivery and target, so the run
    is delivered the way it was made even if the stage switches delivery meanwhile.
    """
    destination = destination or ChunkDestination()
    search = destination.search
    ref = RunRef.from_state(state)
    blob = store.get(f"{ref.run}decoded.jsonl")
    counters = {"documents": 0, "oversize": 0, "parseErrors": 0}

    def records() -> Any:
        for line in blob.split(b"\n"):
            if not line:
                continue
            envelope = parse_envelope(jsoncodec.loads(line))
            if not isinstance(envelope, Envelope):
                raise MalformedStateError("decoded.jsonl holds a line that is not an envelope")
            result = serialise_envelope(envelope, options, native.ACTIVE)
            counters["parseErrors"] += result.parse_errors
            for event, data in zip(envelope.events, result.records, strict=True):
                if search is None:
                    key = partition_key_for(event.id)
                else:
                    record = bulk_record(
                        index_name(search.index_prefix, search.index_rotation, event.timestamp),
                        document_id(envelope.owner, envelope.log_group, envelope.log_stream, event.id),
                        b"",
                    )
                    key = record.partition_key
                if len(data) + len(key) > limits.record_bytes:
                    original = f"{ref.run}oversize/{event.id}.json"
                    store.put(original, data)
                    document = document_for(event, envelope, options)
                    data = fit_document(document, data, key, limits.record_bytes, store.uri(original))
                    counters["oversize"] += 1
                counters["documents"] += 1
                yield Record(partition_key=key, data=data)

    kinesis_records = records()
    if packing.aggregated:
        kinesis_records = aggregate_records(kinesis_records, packing.aggregated_record_bytes)
    chunks: list[dict[str, Any]] = []
    for index, chunk in enumerate(pack_chunks(kinesis_records, limits)):
        key = chunk_key(ref.run, index)
        body = encode_records(chunk)
        store.put(key, body)
        chunks.append(
            {
                "key": key,
                "records": len(chunk),
                "bytes": len(body),
                "arrival": state.get("arrival", 0),
                "delivery": destination.kind,
                "target": destination.target,
            }
        )
    # Written last: replay trusts a run's chunks only when this exists (a Transform that
    # failed part-way leaves some chunks, not all of them).
    store.put(manifest_key(ref.run), jsoncodec.dumps({"chunks": chunks}))
    metrics.add("DocumentsOut", counters["documents"])
    metrics.add("OversizeDocuments", counters["oversize"])
    metrics.add("ParseFailures", counters["parseErrors"])
    return {**state, **counters, "chunks": chunks}


@dataclass(frozen=True)
class ChunkDestination:
    """What a run's chunks are made for: the destination stream, or a cluster's _bulk."""

    stream: str = ""
    search: SearchSettings | None = None

    @property
    def kind(self) -> str:
        """``kinesis`` or ``search``."""
        return "kinesis" if self.search is None else "search"

    @property
    def target(self) -> str:
        """The stream's name or the cluster's endpoint."""
        return self.stream if self.search is None else self.search.endpoint


# put_batch gets its delivery from the chunk: (kind, recorded target) -> Delivery.
DeliveryFor = Callable[[str, str], Delivery]


def _remaining_records(store: ClaimCheck, run: str, index: int, key: str) -> tuple[list[Record], bool]:
    """The records chunk ``index`` still has to send; its framed bytes are not kept.

    A search chunk is up to 64 MiB: holding the object next to its records and the
    pending set written from them would add that much to put_batch's peak memory.
    """
    blob, resumed = store.remaining(run, index, key)
    return decode_records(blob), resumed


def put_batch(
    state: dict[str, Any],
    store: ClaimCheck,
    delivery_for: DeliveryFor,
    metrics: MetricsRecorder,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Send what a chunk still has to send; keep the rest as its pending set and raise to retry.

    On the first attempt the chunk itself is sent; each attempt writes what is left to
    ``pending/NNNNN.bin`` before raising, so the state machine's Retry resends only those
    records. An empty pending object marks the chunk done: an invocation repeated after
    success (a Lambda service retry) sends nothing. A crash between PutRecords and that
    write resends the chunk: duplicates, never loss (documents carry cloudwatch.id); in
    the search delivery the resent items answer 409 and the index keeps one copy.

    The chunk names its delivery (chunks made before delivery was recorded are Kinesis
    records); a search item the cluster refused for good (400-class) stays in the pending
    set with the cluster's reason in ``rejected/NNNNN.json``, for the cause and replay.
    """
    ref = RunRef.from_state(state)
    index = state.get("index")
    chunk = state.get("chunk")
    if not isinstance(index, int) or not isinstance(chunk, dict) or "key" not in chunk:
        raise MalformedStateError("put_batch needs index and chunk.key")
    pending = pending_key(ref.run, index)
    records, resumed = _remaining_records(store, ref.run, index, str(chunk["key"]))
    if not records:
        return {"index": index, "delivered": 0, "calls": 0}
    delivery: Delivery = delivery_for(str(chunk.get("delivery") or "kinesis"), str(chunk.get("target") or ""))
    outcome = delivery.send(records)
    if outcome.rejections:
        # Before the pending set: the reasons must exist whenever a pending set holds a
        # rejected item (a crash in between leaves reasons for items still to send).
        store.put(rejected_key(ref.run, index), jsoncodec.dumps({"documents": outcome.rejections}))
    store.put(
        pending,
        encode_records(outcome.pending),
        metadata={"delivery": delivery.kind, "target": delivery.target[:1024]},
    )
    metrics.add("RecordsDelivered", outcome.delivered)
    # In aggregated mode a Kinesis record carries many documents; dashboards compare
    # documents delivered with DocumentsOut.
    metrics.add("DocumentsDelivered", count_documents(records) - count_documents(outcome.pending))
    # Left for a retry by this attempt: per-record throttles and InternalFailures, plus the
    # records of refused calls and of the calls not attempted after them.
    metrics.add("RecordsThrottled", len(outcome.retryable))
    metrics.add("RecordsRejected", len(outcome.rejected))
    metrics.add("CallsThrottled", outcome.throttled_calls)
    if delivery.kind == "search":
        metrics.add("BulkRequests", outcome.calls)
        metrics.add("BulkItemsThrottled", len(outcome.retryable))
        metrics.add("DocumentsRejected", len(outcome.rejected))
        metrics.add("DuplicatesSuppressed", outcome.duplicates)
    else:
        metrics.add("PutRecordsCalls", outcome.calls)
    metrics.metric_set().add_many("BatchFillRecords", [n for n, _ in outcome.call_sizes])
    metrics.metric_set().add_many("BatchFillBytes", [b for _, b in outcome.call_sizes])
    arrival = chunk.get("arrival")
    if not outcome.pending and isinstance(arrival, int | float) and arrival > 0:
        metrics.add("EndToEndLagMs", max(0.0, (clock() - arrival) * 1000))
    summary = (
        f"chunk {index}: {outcome.delivered} of {len(records)} records written"
        f"{' (resumed)' if resumed else ''}; {len(outcome.pending)} pending at "
        f"{store.uri(pending)}; errors {outcome.error_counts}"
    )
    if outcome.retryable:
        if outcome.delivered == 0 and outcome.throttled_calls:
            raise DeliveryThrottledError(summary)
        raise RecordsThrottledError(summary)
    if outcome.rejected:
        reasons = sorted({error_class(str(r["error"])) for r in outcome.rejections})
        if reasons:
            summary += f"; refused by the cluster: {'; '.join(reasons[:5])}"
        raise DeliveryRejectedError(summary)
    return {"index": index, "delivered": outcome.delivered, "calls": outcome.calls}


def _rejections(store: ClaimCheck, run: str, index: int, pending: list[Record]) -> list[dict[str, Any]]:
    """The cluster's reasons for the rejected items still in a chunk's pending set."""
    blob = store.get_optional(rejected_key(run, index))
    if not blob:
        return []
    keys = {record.partition_key for record in pending}
    documents = jsoncodec.loads(blob).get("documents", [])
    return [
        d
        for d in documents
        if isinstance(d, dict)
        and bulk_record(str(d.get("_index")), str(d.get("_id")), b"").partition_key in keys
    ]


def summarize(
    state: dict[str, Any], store: ClaimCheck, metrics: MetricsRecorder, *, keep_delivered: bool = False
) -> dict[str, Any]:
    """Count what was delivered and what is pending; the cause names where pending records are.

    A run with nothing pending has nothing to replay: its delivery objects are deleted
    (unless ``keep_delivered``), so succeeded runs do not pay months of claim-check storage.
    """
    ref = RunRef.from_state(state)
    execution = ref.run.rstrip("/").rsplit("/", 1)[-1]
    chunks = state.get("chunks") or []
    deliveries = state.get("deliveries") or []
    failed = [d for d in deliveries if isinstance(d, dict) and d.get("failed")]
    pending_total = 0
    pending_chunks: list[dict[str, Any]] = []
    for item in failed:
        index = int(item.get("index", -1))
        blob: bytes | None
        if 0 <= index < len(chunks):
            blob, _ = store.remaining(ref.run, index, str(chunks[index]["key"]))
        else:
            blob = store.get_optional(pending_key(ref.run, index))
        pending_records = decode_records(blob) if blob else []
        # Counts are documents: an aggregated record carries many.
        count = count_documents(pending_records)
        if count:
            pending_total += count
            entry: dict[str, Any] = {
                "index": index,
                "records": count,
                "kinesisRecords": len(pending_records),
                "error": item.get("error"),
            }
            if item.get("error") == "DeliveryRejectedError":
                entry["rejections"] = _rejections(store, ref.run, index, pending_records)
            pending_chunks.append(entry)
    documents = int(state.get("documents", 0))
    summary: dict[str, Any] = {
        "documents": documents,
        "delivered": documents - pending_total,
        "pending": pending_total,
        "pendingChunks": len(pending_chunks),
        "quarantined": int(state.get("quarantined", 0)),
    }
    cause = ""
    if pending_total:
        errors = sorted({str(c["error"]) for c in pending_chunks})
        listed = ", ".join(f"chunk {c['index']}: {c['records']}" for c in pending_chunks[:20])
        kinesis_pending = sum(int(c["kinesisRecords"]) for c in pending_chunks)
        packed = ""
        if kinesis_pending != pending_total:
            packed = f" (in {kinesis_pending} aggregated Kinesis records)"
        rejections = [r for c in pending_chunks for r in c.get("rejections", [])]
        refusals = ""
        if rejections:
            reasons = Counter(error_class(str(r.get("error", ""))) for r in rejections)
            listed_reasons = "; ".join(f"{n} x {reason}" for reason, n in reasons.most_common(5))
            refusals = (
                f" The cluster refused {len(rejections)} of them for good ({listed_reasons}); "
                f"each one's reason is in {store.uri(ref.run + 'rejected/')}. Fix the index "
                "mapping (or the template), then replay."
            )
        cause = (
            f"{pending_total} of {documents} records were not delivered after retries{packed} "
            f"({', '.join(errors)}). They are kept at "
            f"{store.uri(ref.run + 'pending/')} ({listed}).{refusals} "
            f"Replay them with: logstep replay <this execution's ARN> (execution {execution})."
        )[:MAX_CAUSE_CHARS]
        summary["rejected"] = len(rejections)
    summary["cause"] = cause
    summary["deliveryChunks"] = len(chunks)
    metrics.add("RecordsPending", pending_total)
    metrics.add("ChunksPending", len(pending_chunks))
    # The summary first: it is what says the run delivered once its batch is deleted (a
    # failed write here leaves everything in place; replay reads it).
    summary_chunks = [{k: v for k, v in c.items() if k != "rejections"} for c in pending_chunks]
    store.put(f"{ref.run}summary.json", jsoncodec.dumps({**summary, "chunks": summary_chunks}))
    summary["objectsDeleted"] = 0
    # Delete only what is known delivered: every chunk has a delivery that did not fail.
    succeeded = {d.get("index") for d in deliveries if isinstance(d, dict) and not d.get("failed")}
    all_delivered = succeeded >= set(range(len(chunks)))
    if not pending_total and not failed and all_delivered and not keep_delivered:
        search = any(isinstance(c, dict) and c.get("delivery") == "search" for c in chunks)
        keys = delivery_keys(ref.run, [str(c["key"]) for c in chunks if isinstance(c, dict)], search)
        refused = store.delete(keys)
        summary["objectsDeleted"] = len(keys) - len(refused)
        if refused:
            # The lifecycle rule removes them later; the run itself is delivered.
            metrics.add("ClaimCheckDeleteFailed", len(refused))
            log_event("claimcheck.delete_failed", logging.WARNING, execution=execution, keys=len(refused))
    return summary
