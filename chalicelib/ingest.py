"""ingest: store a Kinesis batch in S3 and start one execution for it (shell).

The event source mapping retries a failed batch forever by default, so this step never
looks inside the records (a malformed one is decode's business): it only fails when S3
or Step Functions do, and then the retry is what we want. The execution name is derived
from shard and sequence range, so a redelivered batch finds its execution already
started: StartExecution on a Standard state machine is idempotent for the same name and
input while it runs, and answers ExecutionAlreadyExists once it has closed
(https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import jsoncodec, limits
from chalicelib.claimcheck import ClaimCheck, run_prefix
from chalicelib.errors import MalformedStateError
from chalicelib.metrics import MetricsRecorder

_SHARD_NUMBER = re.compile(r"(\d+)$")


@dataclass(frozen=True)
class SourceRecord:
    """The parts of a Lambda Kinesis event record that ingest keeps."""

    shard_id: str
    sequence_number: str
    partition_key: str
    approximate_arrival: float
    data: str  # base64, exactly as Lambda delivered it
    event_source_arn: str = ""


@dataclass(frozen=True)
class StartedExecution:
    """One execution ingest started (or found already started) for a shard's records."""

    name: str
    records: int
    already_started: bool


def source_records_from_event(event: dict[str, Any]) -> list[SourceRecord]:
    """Lambda's Kinesis event dict -> SourceRecords (raises MalformedStateError on a wrong shape)."""
    out: list[SourceRecord] = []
    try:
        for record in event["Records"]:
            kinesis = record["kinesis"]
            shard_id = str(record.get("eventID", "")).split(":", 1)[0] or "shardId-unknown"
            out.append(
                SourceRecord(
                    shard_id=shard_id,
                    sequence_number=str(kinesis["sequenceNumber"]),
                    partition_key=str(kinesis.get("partitionKey", "")),
                    approximate_arrival=float(kinesis.get("approximateArrivalTimestamp", 0)),
                    data=str(kinesis["data"]),
                    event_source_arn=str(record.get("eventSourceARN", "")),
                )
            )
    except (KeyError, TypeError, ValueError) as e:
        raise MalformedStateError(f"not a Lambda Kinesis event: {e!r}") from e
    return out


def execution_name(shard_id: str, first_sequence: str, last_sequence: str, count: int) -> str:
    """A name unique to (shard, first sequence, last sequence, count), at most 80 characters."""
    digest = hashlib.sha256(f"{shard_id}|{first_sequence}|{last_sequence}|{count}".encode())
    match = _SHARD_NUMBER.search(shard_id)
    shard = str(int(match.group(1))) if match else "x"
    name = f"shard{shard}-{first_sequence[-12:]}-{count}-{digest.hexdigest()[:32]}"
    return name[: limits.MAX_EXECUTION_NAME_CHARS]


class Ingest:
    """Claim-checks a batch and starts its execution."""

    def __init__(self, store: ClaimCheck, sfn: Any, state_machine_arn: str, metrics: MetricsRecorder) -> None:
        self._store = store
        self._sfn = sfn
        self._state_machine_arn = state_machine_arn
        self._metrics = metrics

    def handle(self, records: Sequence[SourceRecord]) -> list[StartedExecution]:
        """One execution per shard present in the batch (Lambda sends one shard per batch)."""
        by_shard: dict[str, list[SourceRecord]] = {}
        for record in records:
            by_shard.setdefault(record.shard_id, []).append(record)
        started = [self._start(shard, group) for shard, group in by_shard.items()]
        self._metrics.add("SourceRecords", len(records))
        self._metrics.add("BatchesStarted", sum(1 for s in started if not s.already_started))
        self._metrics.add("BatchesRedelivered", sum(1 for s in started if s.already_started))
        return started

    def _start(self, shard_id: str, records: list[SourceRecord]) -> StartedExecution:
        first, last = records[0].sequence_number, records[-1].sequence_number
        name = execution_name(shard_id, first, last, len(records))
        run = run_prefix(name)
        raw = {
            "shardId": shard_id,
            "eventSourceARN": records[0].event_source_arn,
            "records": [
                {
                    "sequenceNumber": r.sequence_number,
                    "partitionKey": r.partition_key,
                    "approximateArrivalTimestamp": r.approximate_arrival,
                    "data": r.data,
                }
                for r in records
            ],
        }
        self._store.put(f"{run}raw.json", jsoncodec.dumps(raw))
        state = {
            "bucket": self._store.bucket,
            "run": run,
            "shardId": shard_id,
            "firstSequence": first,
            "lastSequence": last,
            "records": len(records),
        }
        try:
            self._sfn.start_execution(
                stateMachineArn=self._state_machine_arn,
                name=name,
                input=jsoncodec.dumps(state).decode(),
            )
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                self._drop_if_delivered(run)
                return StartedExecution(name=name, records=len(records), already_started=True)
            raise
        return StartedExecution(name=name, records=len(records), already_started=False)

    def _drop_if_delivered(self, run: str) -> None:
        """A batch redelivered after its run delivered (and deleted it): delete the copy just written.

        While the run is going, or when it failed, the copy is the batch it reads or
        replays (the same bytes), so it stays.
        """
        summary = self._store.get_optional(f"{run}summary.json")
        if summary is not None and jsoncodec.loads(summary).get("pending") == 0:
            self._store.delete([f"{run}raw.json"])
