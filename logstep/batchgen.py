"""A full Kinesis batch of CloudWatch Logs records, as the Lambda event the ingest step receives.

``python -m logstep.batchgen OUT.json`` writes up to 6,000,000 bytes of gzip'd DATA_MESSAGE
envelopes (at most 10,000 records: the event source mapping's batch limits) of the demo's
realistic traffic, 60 events per record, with 56-digit event ids like CloudWatch's. Feed it
to ``logstep demo --input OUT.json --source-shards 1`` to measure one full-batch execution
(README "What it costs").
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import sys
from collections.abc import Sequence
from typing import Any

from logstep.traffic import generate

MAX_BATCH_BYTES = 6_000_000
MAX_BATCH_RECORDS = 10_000


def full_batch(
    max_bytes: int = MAX_BATCH_BYTES, events_per_record: int = 60, seed: int = 7
) -> tuple[list[bytes], int, int]:
    """(gzip'd envelopes, events, message bytes) filling one batch, log streams interleaved."""
    by_stream: dict[tuple[str, str], list[Any]] = {}
    # Enough events for the batch (small events compress ~3x in their envelopes).
    for event in generate(max_bytes // 15, seed, 1795680000000):
        by_stream.setdefault((event.log_group, event.log_stream), []).append(event)
    cursors = dict.fromkeys(by_stream, 0)
    payloads: list[bytes] = []
    total = events = message_bytes = 0
    while True:
        progressed = False
        for (group, stream), pending in by_stream.items():
            part = pending[cursors[(group, stream)] : cursors[(group, stream)] + events_per_record]
            if not part:
                continue
            envelope = {
                "messageType": "DATA_MESSAGE",
                "owner": "123456789012",
                "logGroup": group,
                "logStream": stream,
                "subscriptionFilters": ["logstep"],
                "logEvents": [
                    {"id": f"{events + i:056d}", "timestamp": e.timestamp, "message": e.message}
                    for i, e in enumerate(part)
                ],
            }
            data = gzip.compress(json.dumps(envelope).encode(), mtime=0)
            if total + len(data) > max_bytes or len(payloads) == MAX_BATCH_RECORDS:
                return payloads, events, message_bytes
            progressed = True
            cursors[(group, stream)] += len(part)
            payloads.append(data)
            total += len(data)
            events += len(part)
            message_bytes += sum(len(e.message.encode()) for e in part)
        if not progressed:
            return payloads, events, message_bytes


def lambda_event(payloads: Sequence[bytes], shard: str = "shardId-000000000000") -> dict[str, Any]:
    """The Kinesis event Lambda delivers for these record payloads (one shard)."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": f"pk-{i}",
                    "sequenceNumber": f"4959{i:052d}",
                    "data": base64.b64encode(p).decode(),
                    "approximateArrivalTimestamp": 1795680000.0 + i,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard}:4959{i:052d}",
                "eventName": "aws:kinesis:record",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/logstep-sandbox-source",
            }
            for i, p in enumerate(payloads)
        ]
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Write the batch and say what is in it."""
    parser = argparse.ArgumentParser(prog="python -m logstep.batchgen", description=__doc__)
    parser.add_argument("out")
    parser.add_argument("--bytes", type=int, default=MAX_BATCH_BYTES, help="gzip'd record bytes at most")
    parser.add_argument("--events-per-record", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    payloads, events, message_bytes = full_batch(args.bytes, args.events_per_record, args.seed)
    with open(args.out, "w") as handle:
        json.dump(lambda_event(payloads), handle)
    print(
        f"{len(payloads)} records, {sum(map(len, payloads))} bytes gzip'd, {events} events, "
        f"{message_bytes} bytes of messages ({message_bytes / max(events, 1):.0f} per event)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
