"""put_batch holds a chunk once: as records, not also as the framed object it read.

A search chunk is up to 64 MiB; keeping the object alive next to its decoded records (and
the pending set written from them) added that much to put_batch's peak (measured with
bench/put_batch_memory.py: 320 MB before, 255 MB after, every item left pending).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

from chalicelib import steps
from chalicelib.batching import Record, decode_records, encode_records
from chalicelib.delivery.outcome import DeliveryOutcome
from chalicelib.metrics import MetricsRecorder

RUN = "runs/shard-0-1-2-abc/"


class Blob(bytearray):
    """The chunk object as the store hands it over; a bytearray subclass can be weakly referenced."""


class HandedOverStore:
    """Gives put_batch the chunk without keeping a reference, as an S3 read does."""

    def __init__(self, blob: Blob) -> None:
        self.blob: Blob | None = blob
        self.written: dict[str, bytes] = {}

    def remaining(self, run: str, index: int, key: str) -> tuple[Any, bool]:
        blob, self.blob = self.blob, None
        return blob, False

    def put(self, key: str, body: bytes, metadata: dict[str, str] | None = None) -> None:
        self.written[key] = body

    def uri(self, key: str) -> str:
        return f"s3://claimcheck/{key}"


class WatchingDelivery:
    """Records whether the chunk object was still alive while the records were sent."""

    kind = "search"
    target = "https://cluster.example"

    def __init__(self, chunk: weakref.ref[Blob]) -> None:
        self._chunk = chunk
        self.chunk_alive_during_send: bool | None = None

    def send(self, records: Sequence[Record]) -> DeliveryOutcome:
        self.chunk_alive_during_send = self._chunk() is not None
        return DeliveryOutcome(
            delivered=len(records), retryable=[], rejected=[], calls=1, throttled_calls=0, bytes_sent=0
        )


def test_the_chunk_object_is_released_before_the_records_are_sent() -> None:
    records = [Record(partition_key=f"k{i}", data=b'{"message":"m%d"}' % i) for i in range(100)]
    blob = Blob(encode_records(records))
    assert decode_records(blob) == records  # type: ignore[arg-type]  # read as bytes are
    chunk = weakref.ref(blob)
    store = HandedOverStore(blob)
    del blob
    delivery = WatchingDelivery(chunk)
    state = {"bucket": "claimcheck", "run": RUN, "index": 0, "chunk": {"key": "c", "delivery": "search"}}
    out = steps.put_batch(
        state,
        store,  # type: ignore[arg-type]
        lambda kind, target: delivery,
        MetricsRecorder("test", "put_batch", lambda _: None),
    )
    assert out["delivered"] == 100
    assert delivery.chunk_alive_during_send is False
