"""Realistic CloudWatch Logs traffic for the demo: what Lambda functions really print.

Python and Node.js runtime lines, Lambda START/END/REPORT (some cold starts with Init
Duration), JSON application logs, a multi-line Python traceback and a Node.js error
with its stack, and plain text. Deterministic for a seed.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class GeneratedEvent:
    """One log event to write with PutLogEvents."""

    log_group: str
    log_stream: str
    timestamp: int
    message: str


GROUPS = {
    "/aws/lambda/orders-api": "python",
    "/aws/lambda/checkout-web": "node",
    "/ecs/inventory-worker": "plain",
}


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _invocation(rng: random.Random, runtime: str, start_ms: int) -> list[tuple[int, str]]:
    rid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    t = start_ms
    lines: list[tuple[int, str]] = [(t, f"START RequestId: {rid} Version: $LATEST\n")]
    for _ in range(rng.randint(1, 4)):
        t += rng.randint(1, 40)
        roll = rng.random()
        order = rng.randint(10000, 99999)
        if roll < 0.35:
            body = json.dumps(
                {
                    "level": rng.choice(["info", "info", "warn", "debug"]),
                    "message": rng.choice(["order placed", "cart updated", "payment authorised"]),
                    "orderId": order,
                    "latencyMs": round(rng.uniform(1, 250), 2),
                    "customer": {"tier": rng.choice(["gold", "silver"]), "region": "eu-west-1"},
                }
            )
            lines.append((t, body + "\n"))
        elif runtime == "python":
            level = rng.choice(["INFO", "INFO", "WARNING", "DEBUG"])
            lines.append(
                (
                    t,
                    f"[{level}]\t{_iso(t)}\t{rid}\tprocessed order {order} in {rng.randint(2, 90)} ms\n",
                )
            )
        else:
            level = rng.choice(["INFO", "INFO", "WARN", "DEBUG"])
            lines.append(
                (
                    t,
                    f"{_iso(t)}\t{rid}\t{level}\tcheckout step "
                    f"{rng.choice(['address', 'payment', 'review'])} ok for {order}\n",
                )
            )
    if rng.random() < 0.05:
        t += 3
        if runtime == "python":
            lines.append(
                (
                    t,
                    "[ERROR] KeyError: 'sku'\rTraceback (most recent call last):\r"
                    '  File "/var/task/app.py", line 42, in handler\r'
                    "    sku = event['sku']\n",
                )
            )
        else:
            lines.append(
                (
                    t,
                    f"{_iso(t)}\t{rid}\tERROR\tInvoke Error \t"
                    + json.dumps(
                        {
                            "errorType": "TypeError",
                            "errorMessage": "Cannot read properties of undefined (reading 'total')",
                            "stack": [
                                "TypeError: Cannot read properties of undefined (reading 'total')",
                                "    at Runtime.handler (/var/task/index.js:12:24)",
                            ],
                        }
                    )
                    + "\n",
                )
            )
    t += rng.randint(1, 5)
    duration = round(rng.uniform(2, 900), 2)
    init = f"\tInit Duration: {round(rng.uniform(100, 600), 2)} ms" if rng.random() < 0.1 else ""
    lines.append((t, f"END RequestId: {rid}\n"))
    lines.append(
        (
            t,
            f"REPORT RequestId: {rid}\tDuration: {duration} ms\tBilled Duration: {int(duration) + 1} ms"
            f"\tMemory Size: 512 MB\tMax Memory Used: {rng.randint(60, 300)} MB{init}\t\n",
        )
    )
    return lines


def _plain(rng: random.Random, t: int) -> str:
    return rng.choice(
        [
            f"worker heartbeat ok, queue depth {rng.randint(0, 50)}\n",
            f"GET /health 200 {rng.randint(1, 9)}ms\n",
            f"2026-11-26 10:00:{rng.randint(10, 59)},{rng.randint(100, 999)} WARN reconnecting to broker\n",
        ]
    )


def generate(count: int, seed: int, start_ms: int) -> list[GeneratedEvent]:
    """``count`` events across a few groups and streams, in timestamp order per stream."""
    rng = random.Random(seed)
    events: list[GeneratedEvent] = []
    streams = {
        group: [
            f"2026/11/26/[$LATEST]{uuid.UUID(int=rng.getrandbits(128)).hex}"
            if kind != "plain"
            else f"inventory/worker/{i}"
            for i in range(2)
        ]
        for group, kind in GROUPS.items()
    }
    clock = {(g, s): start_ms for g, ss in streams.items() for s in ss}
    while len(events) < count:
        group = rng.choice(list(GROUPS))
        stream = rng.choice(streams[group])
        t = clock[(group, stream)]
        kind = GROUPS[group]
        batch = [(t + 7, _plain(rng, t))] if kind == "plain" else _invocation(rng, kind, t)
        for ts, message in batch:
            if len(events) < count:
                events.append(GeneratedEvent(group, stream, ts, message))
        clock[(group, stream)] = batch[-1][0] + rng.randint(1, 30)
    return events
