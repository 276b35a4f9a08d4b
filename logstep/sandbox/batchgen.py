"""A full Kinesis batch of CloudWatch Logs records, as the Lambda event the ingest step receives.

``python -m logstep.sandbox.batchgen OUT.json`` writes up to 6,000,000 bytes of gzip'd DATA_MESSAGE
envelopes (at most 10,000 records: the event source mapping's batch limits) of the demo's
realistic traffic, 60 events per record, with 56-digit event ids like CloudWatch's. Feed it
to ``logstep demo --input OUT.json --source-shards 1`` to measure one full-batch execution
(docs/cost.md).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import gzip
import json
import random
import sys
from collections.abc import Sequence
from typing import Any

from logstep.sandbox.traffic import GeneratedEvent, generate

MAX_BATCH_BYTES = 6_000_000
MAX_BATCH_RECORDS = 10_000


# Lambda platform lines keep their size when messages are padded (they parse as such).
PLATFORM_PREFIXES = ("START ", "END ", "REPORT ", "INIT_", "EXTENSION", "TELEMETRY", "RESTORE_")
WORDS = [
    "order",
    "cart",
    "payment",
    "user",
    "session",
    "request",
    "upstream",
    "retry",
    "cache",
    "queue",
    "item",
    "warehouse",
    "shipment",
    "invoice",
    "token",
    "region",
    "latency",
    "status",
    "account",
    "customer",
    "product",
    "stock",
]


def padded(events: list[GeneratedEvent], average_bytes: int, seed: int) -> list[GeneratedEvent]:
    """The events with application messages lengthened (words of text, or a JSON ``detail``
    field) so the average message is about ``average_bytes``; platform lines unchanged."""
    rng = random.Random(seed)
    fixed = [e for e in events if e.message.startswith(PLATFORM_PREFIXES)]
    budget = average_bytes * len(events) - sum(len(e.message.encode()) for e in fixed)
    target = budget // max(len(events) - len(fixed), 1)
    out: list[GeneratedEvent] = []
    for e in events:
        missing = target - len(e.message.encode())
        if e.message.startswith(PLATFORM_PREFIXES) or missing <= 12:
            out.append(e)
            continue
        words: list[str] = []
        length = 0
        while length < missing - 12:
            words.append(rng.choice(WORDS) + str(rng.randint(0, 999)) * rng.randint(0, 1))
            length += len(words[-1]) + 1
        text = " ".join(words)
        body = e.message.rstrip("\n")
        newline = e.message[len(body) :]
        if body.startswith("{") and body.endswith("}"):
            body = body[:-1] + f', "detail": "{text}"}}'
        else:
            body = f"{body} {text}"
        out.append(dataclasses.replace(e, message=body + newline))
    return out


def full_batch(
    max_bytes: int = MAX_BATCH_BYTES, events_per_record: int = 60, seed: int = 7, message_bytes: int = 0
) -> tuple[list[bytes], int, int]:
    """(gzip'd envelopes, events, message bytes) filling one batch, log streams interleaved.

    ``message_bytes`` pads application messages to about that average (0: as generated).
    """
    by_stream: dict[tuple[str, str], list[Any]] = {}
    # Enough events for the batch (small events compress ~3x in their envelopes).
    generated = generate(max_bytes // (15 + message_bytes // 10), seed, 1795680000000)
    if message_bytes:
        generated = padded(generated, message_bytes, seed)
    for event in generated:
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
    parser = argparse.ArgumentParser(prog="python -m logstep.sandbox.batchgen", description=__doc__)
    parser.add_argument("out")
    parser.add_argument("--bytes", type=int, default=MAX_BATCH_BYTES, help="gzip'd record bytes at most")
    parser.add_argument("--events-per-record", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--message-bytes",
        type=int,
        default=0,
        help="lengthen application messages to about this average (platform lines keep theirs)",
    )
    args = parser.parse_args(argv)
    payloads, events, message_bytes = full_batch(
        args.bytes, args.events_per_record, args.seed, args.message_bytes
    )
    with open(args.out, "w") as handle:
        json.dump(lambda_event(payloads), handle)
    print(
        f"{len(payloads)} records, {sum(map(len, payloads))} bytes gzip'd, {events} events, "
        f"{message_bytes} bytes of messages ({message_bytes / max(events, 1):.0f} per event)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
