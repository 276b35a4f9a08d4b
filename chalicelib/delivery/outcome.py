"""What one attempt at sending a chunk achieved, whatever the destination (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from chalicelib.batching import Record


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one attempt at sending a set of records achieved."""

    delivered: int
    retryable: list[Record]
    rejected: list[Record]
    calls: int
    throttled_calls: int
    bytes_sent: int
    error_counts: dict[str, int] = field(default_factory=dict)
    # (records, bytes) of every call that reached the stream: the batch fill.
    call_sizes: list[tuple[int, int]] = field(default_factory=list)
    # Search delivery: items the index already held (409 on create), counted as delivered.
    duplicates: int = 0
    # Search delivery: why each rejected item was refused ({"_id", "_index", "status",
    # "error"}), kept next to the pending set so the cause can say why.
    rejections: list[dict[str, object]] = field(default_factory=list)

    @property
    def pending(self) -> list[Record]:
        """Every record not written, retryable first, in their original order within each group."""
        return self.retryable + self.rejected


class Delivery(Protocol):
    """A destination put_batch and replay send chunks to."""

    @property
    def kind(self) -> str:
        """``kinesis`` or ``search``: what a run's chunks were made for."""
        ...

    @property
    def target(self) -> str:
        """Where records go (a stream name, an endpoint), for causes and metadata."""
        ...

    def send(self, records: Sequence[Record]) -> DeliveryOutcome:
        """Send every record once; report which still need sending and why."""
        ...
