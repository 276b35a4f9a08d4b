"""Test helpers: build Kinesis records and Lambda events from readable envelopes."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from typing import Any

from logstep.sandbox.batchgen import lambda_event

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"
REPO_ROOT = Path(__file__).resolve().parents[2]


def corpus_dir() -> Path | None:
    """../shared/corpus next to the repository (or $LOGSTEP_CORPUS), if present."""
    import os

    explicit = os.environ.get("LOGSTEP_CORPUS")
    candidates = [Path(explicit)] if explicit else []
    candidates += [parent / "shared" / "corpus" for parent in REPO_ROOT.parents]
    for candidate in candidates:
        if (candidate / "lines.jsonl").is_file():
            return candidate
    return None


def load_event(name: str) -> Any:
    """A fixture from tests/events/."""
    return json.loads((EVENTS_DIR / name).read_text())


def envelope(
    events: list[dict[str, Any]],
    log_group: str = "/aws/lambda/orders",
    log_stream: str = "2026/11/26/[$LATEST]0123456789abcdef",
    **extra: Any,
) -> dict[str, Any]:
    """A DATA_MESSAGE envelope."""
    return {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": log_group,
        "logStream": log_stream,
        "subscriptionFilters": ["logstep"],
        "logEvents": events,
        **extra,
    }


def gzip_json(message: Any) -> bytes:
    """What a subscription filter puts on the stream."""
    return gzip.compress(json.dumps(message).encode())


def zlib_json(message: Any) -> bytes:
    """What an account-level subscription policy puts on the stream."""
    return zlib.compress(json.dumps(message).encode())


def kinesis_event(payloads: list[bytes], shard: str = "shardId-000000000000") -> dict[str, Any]:
    """A Lambda Kinesis event whose records carry these payloads."""
    return lambda_event(payloads, shard)


def library_deaggregate(records: list[Any]) -> list[Any]:
    """What a consumer using AWS's aws-kinesis-agg gets (as a Lambda on the stream would).

    Callers skip first when the library is absent (``pytest.importorskip``).
    """
    import base64

    from aws_kinesis_agg import deaggregator

    from chalicelib.batching import Record

    event = [
        {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "sequenceNumber": str(i),
                "approximateArrivalTimestamp": 0,
                "partitionKey": r.partition_key,
                "data": base64.b64encode(r.data).decode(),
            }
        }
        for i, r in enumerate(records)
    ]
    return [
        Record(partition_key=u["kinesis"]["partitionKey"], data=base64.b64decode(u["kinesis"]["data"]))
        for u in deaggregator.deaggregate_records(event)
    ]
