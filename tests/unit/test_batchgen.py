"""The full-batch generator the cost measurements use."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

from logstep.sandbox.batchgen import full_batch, lambda_event


def test_a_batch_stays_within_the_event_source_mapping_limits_and_is_reproducible() -> None:
    payloads, events, message_bytes = full_batch(max_bytes=200_000, events_per_record=20, seed=3)
    assert sum(map(len, payloads)) <= 200_000
    assert len(payloads) <= 10_000
    assert (payloads, events, message_bytes) == full_batch(max_bytes=200_000, events_per_record=20, seed=3)
    envelopes = [json.loads(gzip.decompress(p)) for p in payloads]
    ids = [e["id"] for env in envelopes for e in env["logEvents"]]
    assert len(ids) == len(set(ids)) == events
    assert all(len(i) == 56 for i in ids)
    assert sum(len(e["message"].encode()) for env in envelopes for e in env["logEvents"]) == message_bytes
    record = lambda_event(payloads)["Records"][0]["kinesis"]
    assert base64.b64decode(record["data"]) == payloads[0]


def test_padding_lengthens_application_messages_and_keeps_their_shape() -> None:
    from logstep.sandbox.batchgen import PLATFORM_PREFIXES, padded
    from logstep.sandbox.traffic import generate

    events = generate(3000, 5, 1795680000000)
    longer = padded(events, 400, 5)
    average = sum(len(e.message.encode()) for e in longer) / len(longer)
    assert 380 <= average <= 440
    for before, after in zip(events, longer, strict=True):
        if before.message.startswith(PLATFORM_PREFIXES):
            assert after == before
            continue
        assert after.message.endswith("\n") == before.message.endswith("\n")
        if before.message.startswith("{"):
            assert json.loads(after.message)["detail"]  # still a JSON object, one field more
    # Padded lines still parse as what they were (level, request id).
    for before, after in list(zip(events, longer, strict=True))[:300]:
        a, b = document(before.message), document(after.message)
        assert a.get("level") == b.get("level")
        assert (a.get("lambda") or {}).get("requestId") == (b.get("lambda") or {}).get("requestId")


def document(message: str) -> dict[str, Any]:
    from chalicelib.envelope import Envelope, LogEvent
    from chalicelib.transform import TransformOptions, document_for

    event = LogEvent(id="1", timestamp=1795680000000, message=message)
    stream = "2026/11/26/[$LATEST]abc"
    envelope = Envelope("123456789012", "/aws/lambda/f", stream, ("logstep",), (event,))
    return dict(document_for(event, envelope, TransformOptions()))
