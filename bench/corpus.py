"""A deterministic, realistic mixed corpus: Lambda Kinesis events of gzip'd CloudWatch envelopes.

Each Kinesis record is one DATA_MESSAGE of one log stream, as a subscription filter
writes it. Streams are drawn from a fixed mix of sources: Python and Node.js functions
in the text log format (START, application lines, an occasional traceback or Invoke
Error, END, REPORT with or without XRAY), functions in the JSON log format (platform.*
records and JSON application records), Java log4j2 and Go lines, API Gateway access logs
(JSON), VPC flow logs and plain text.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import time
import uuid
from collections.abc import Iterator
from typing import Any

BASE_EPOCH_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
WORDS = tuple(
    [
        "order",
        "user",
        "cart",
        "payment",
        "invoice",
        "session",
        "token",
        "cache",
        "retry",
        "queue",
        "message",
        "batch",
        "item",
        "request",
        "response",
        "handler",
        "database",
        "table",
        "index",
        "record",
        "shard",
        "stream",
        "bucket",
        "object",
        "key",
        "timeout",
        "latency",
        "upstream",
        "downstream",
        "customer",
        "account",
        "region",
        "config",
        "feature",
        "flag",
    ]
)
SOURCES = (
    ("python", 30),
    ("node", 25),
    ("lambda_json", 15),
    ("java", 5),
    ("go", 5),
    ("apigw", 10),
    ("vpc", 5),
    ("plain", 5),
)


def _iso(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class _Writer:
    def __init__(self, rng: random.Random, start_ms: int) -> None:
        self.rng = rng
        self.now = start_ms

    def tick(self) -> int:
        self.now += self.rng.randint(0, 40)
        return self.now

    def words(self, low: int = 4, high: int = 14) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(low, high)))

    def rid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def _invocation_lines(w: _Writer, source: str) -> Iterator[str]:
    rid = w.rid()
    rng = w.rng
    if source == "lambda_json":
        yield json.dumps(
            {
                "time": _iso(w.now),
                "type": "platform.start",
                "record": {"requestId": rid, "version": "$LATEST"},
            },
            separators=(",", ":"),
        )
        for _ in range(rng.randint(2, 8)):
            yield json.dumps(
                {
                    "timestamp": _iso(w.tick()),
                    "level": rng.choice(("INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR")),
                    "requestId": rid,
                    "message": w.words(),
                    "orderId": rng.randint(1, 10**9),
                    "durationMs": round(rng.random() * 200, 3),
                },
                separators=(",", ":"),
            )
        duration = round(rng.random() * 900 + 1, 3)
        yield json.dumps(
            {
                "time": _iso(w.tick()),
                "type": "platform.report",
                "record": {
                    "requestId": rid,
                    "metrics": {
                        "durationMs": duration,
                        "billedDurationMs": int(duration) + 1,
                        "memorySizeMB": 512,
                        "maxMemoryUsedMB": rng.randint(60, 300),
                    },
                    "status": "success",
                },
            },
            separators=(",", ":"),
        )
        return
    yield f"START RequestId: {rid} Version: $LATEST\n"
    for _ in range(rng.randint(2, 8)):
        ts = _iso(w.tick())
        level = rng.choice(("INFO", "INFO", "INFO", "DEBUG", "WARNING", "ERROR"))
        if source == "python":
            if level == "ERROR" and rng.random() < 0.3:
                frames = "".join(
                    f'  File "/var/task/app/{rng.choice(WORDS)}.py", line {rng.randint(1, 400)},'
                    f" in {rng.choice(WORDS)}\n    {w.words(3, 6)}\n"
                    for _ in range(rng.randint(2, 6))
                )
                yield (
                    f"[ERROR]\t{ts}\t{rid}\tunhandled {rng.choice(WORDS)}\n"
                    f"Traceback (most recent call last):\n{frames}KeyError: '{rng.choice(WORDS)}'\n"
                )
            else:
                yield f"[{level}]\t{ts}\t{rid}\t{w.words()}\n"
        elif source == "node":
            node_level = "WARN" if level == "WARNING" else level
            if rng.random() < 0.2:
                body = json.dumps({"event": rng.choice(WORDS), "count": rng.randint(0, 99)})
                yield f"{ts}\t{rid}\t{node_level}\t{body}\n"
            elif node_level == "ERROR" and rng.random() < 0.3:
                error = {
                    "errorType": "TypeError",
                    "errorMessage": w.words(3, 8),
                    "stack": [f"TypeError: {w.words(3, 6)}", "    at handler (/var/task/i.js:7:23)"],
                }
                yield f"{ts}\t{rid}\tERROR\tInvoke Error \t{json.dumps(error)}\n"
            else:
                yield f"{ts}\t{rid}\t{node_level}\t{w.words()}\n"
        elif source == "java":
            day, clock = ts[:10], ts[11:19]
            java_level = "WARN" if level == "WARNING" else level
            yield f"{day} {clock} {rid} {java_level:<5} {rng.choice(WORDS).title()}Handler - {w.words()}\n"
        else:  # go
            yield f"{ts[:10].replace('-', '/')} {ts[11:19]} {w.words()}\n"
    duration = rng.random() * 900 + 1
    yield f"END RequestId: {rid}\n"
    report = (
        f"REPORT RequestId: {rid}\tDuration: {duration:.2f} ms\tBilled Duration: "
        f"{int(duration) + 1} ms\tMemory Size: 512 MB\tMax Memory Used: {rng.randint(60, 300)} MB\t"
    )
    if rng.random() < 0.1:
        report += f"Init Duration: {rng.random() * 400 + 80:.2f} ms\t"
    if rng.random() < 0.3:
        trace = f"1-{rng.getrandbits(32):08x}-{rng.getrandbits(96):024x}"
        report += f"\nXRAY TraceId: {trace}\tSegmentId: {rng.getrandbits(64):016x}\tSampled: true\t"
    yield report + "\n"


def _other_line(w: _Writer, source: str) -> str:
    rng = w.rng
    if source == "apigw":
        return json.dumps(
            {
                "requestId": w.rid(),
                "ip": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                "requestTime": "01/Jan/2026:00:00:00 +0000",
                "httpMethod": rng.choice(("GET", "POST", "PUT")),
                "resourcePath": "/" + "/".join(rng.choice(WORDS) for _ in range(2)),
                "status": rng.choice(("200", "200", "201", "404", "500")),
                "protocol": "HTTP/1.1",
                "responseLength": str(rng.randint(10, 90000)),
            },
            separators=(",", ":"),
        )
    if source == "vpc":
        start = w.now // 1000
        return (
            f"2 123456789012 eni-{rng.getrandbits(68):017x} 10.0.{rng.randint(0, 255)}."
            f"{rng.randint(1, 254)} 10.0.{rng.randint(0, 255)}.{rng.randint(1, 254)} "
            f"{rng.randint(1024, 65535)} {rng.choice((22, 80, 443, 5432))} 6 {rng.randint(1, 90)} "
            f"{rng.randint(40, 90000)} {start} {start + 60} {rng.choice(('ACCEPT', 'REJECT'))} OK"
        )
    return f"{w.words(6, 30)}\n"


def _stream_name(rng: random.Random, source: str) -> tuple[str, str]:
    guid = f"{rng.getrandbits(128):032x}"
    if source in ("python", "node", "lambda_json", "java", "go"):
        function = f"{source}-{rng.choice(WORDS)}-{rng.randint(1, 20)}"
        return f"/aws/lambda/{function}", f"2026/01/01/[$LATEST]{guid}"
    if source == "apigw":
        return "API-Gateway-Access-Logs/prod", guid
    if source == "vpc":
        return "/vpc/flow-logs", f"eni-{guid[:17]}-all"
    return "/ecs/worker", f"worker/app/{guid}"


def envelope(rng: random.Random, index: int, events_per_record: int) -> dict[str, Any]:
    """One DATA_MESSAGE of ``events_per_record`` events from one randomly chosen stream."""
    names, weights = zip(*SOURCES, strict=True)
    source = rng.choices(names, weights)[0]
    group, stream = _stream_name(rng, source)
    writer = _Writer(rng, BASE_EPOCH_MS + index * 60_000)
    messages: list[str] = []
    while len(messages) < events_per_record:
        if source in ("apigw", "vpc", "plain"):
            messages.append(_other_line(writer, source))
        else:
            messages.extend(_invocation_lines(writer, source))
    events = [
        {"id": f"{38_000_000_000 + index:d}{n:045d}", "timestamp": writer.tick(), "message": m}
        for n, m in enumerate(messages[:events_per_record])
    ]
    return {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": group,
        "logStream": stream,
        "subscriptionFilters": ["logstep"],
        "logEvents": events,
    }


def kinesis_event(records: int = 400, events_per_record: int = 500, seed: int = 3) -> dict[str, Any]:
    """A Lambda Kinesis event: ``records`` gzip'd envelopes (deterministic for a seed)."""
    rng = random.Random(seed)
    out = []
    for index in range(records):
        body = json.dumps(envelope(rng, index, events_per_record), separators=(",", ":"))
        data = gzip.compress(body.encode(), compresslevel=6, mtime=0)
        out.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": f"{index:032x}",
                    "sequenceNumber": f"{49_600_000_000_000_000_000 + index:d}",
                    "data": base64.b64encode(data).decode(),
                    "approximateArrivalTimestamp": BASE_EPOCH_MS / 1000 + index,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{49_600_000_000_000_000_000 + index:d}",
                "eventName": "aws:kinesis:record",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/logstep-source",
            }
        )
    return {"Records": out}
