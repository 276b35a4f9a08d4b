"""The full-batch generator the cost measurements use."""

from __future__ import annotations

import base64
import gzip
import json

from logstep.batchgen import full_batch, lambda_event


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
