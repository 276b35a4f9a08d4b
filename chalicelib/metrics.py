"""Metrics in CloudWatch Embedded Metric Format (EMF): one JSON document per flush (pure).

https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
A Lambda prints the document to stdout and CloudWatch Logs extracts the metrics; no API
call, no extra latency. Limits: at most 100 metrics per document and 100 values per
metric, so larger sets are split.

Why not Powertools Metrics: its metric set is shared by every instance in the process,
and the sandbox runs concurrent Map iterations as threads in one process; a recorder per
invocation keeps counts exact there and on Lambda alike, in a few dozen lines.

Dimensions stay low-cardinality: stage and step (and a fixed reason code for
quarantined records); never log group names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

NAMESPACE = "logstep"
MAX_METRICS_PER_DOCUMENT = 100
MAX_VALUES_PER_METRIC = 100

# Metric name -> unit. docs/operations/metrics.md documents each one.
UNITS: dict[str, str] = {
    "SourceRecords": "Count",
    "BatchesStarted": "Count",
    "BatchesRedelivered": "Count",
    "EventsIn": "Count",
    "LogBytesIn": "Bytes",
    "ControlMessages": "Count",
    "RecordsQuarantined": "Count",
    "DocumentsOut": "Count",
    "OversizeDocuments": "Count",
    "ParseFailures": "Count",
    "RecordsDelivered": "Count",
    "DocumentsDelivered": "Count",
    "RecordsThrottled": "Count",
    "RecordsRejected": "Count",
    "CallsThrottled": "Count",
    "PutRecordsCalls": "Count",
    "BulkRequests": "Count",
    "BulkItemsThrottled": "Count",
    "DocumentsRejected": "Count",
    "DuplicatesSuppressed": "Count",
    "BatchFillRecords": "Count",
    "BatchFillBytes": "Bytes",
    "EndToEndLagMs": "Milliseconds",
    "RecordsPending": "Count",
    "ChunksPending": "Count",
    "ClaimCheckDeleteFailed": "Count",
    # Follow rules (issue 14): groups a rule subscribed, and groups it could not (no room
    # for a third filter, or another filter already sends them to logstep).
    "FollowGroupsSubscribed": "Count",
    "FollowGroupsFailed": "Count",
}


@dataclass
class MetricSet:
    """Values recorded by one invocation of one step, under one set of dimensions."""

    dimensions: dict[str, str]
    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        """Record one value (counts add up in CloudWatch's Sum statistic)."""
        if name not in UNITS:
            raise KeyError(f"undocumented metric {name!r}")
        self.values.setdefault(name, []).append(value)

    def add_many(self, name: str, values: Iterable[float]) -> None:
        """Record several values of one metric (e.g. records per PutRecords call)."""
        for value in values:
            self.add(name, value)


def to_documents(metric_set: MetricSet, timestamp_ms: int) -> list[dict[str, Any]]:
    """The EMF documents for a metric set, split to stay within the per-document limits."""
    documents: list[dict[str, Any]] = []
    names = sorted(metric_set.values)
    dimension_keys = sorted(metric_set.dimensions)
    for start in range(0, len(names), MAX_METRICS_PER_DOCUMENT):
        batch = names[start : start + MAX_METRICS_PER_DOCUMENT]
        longest = max(len(metric_set.values[n]) for n in batch)
        for offset in range(0, longest, MAX_VALUES_PER_METRIC):
            document: dict[str, Any] = dict(metric_set.dimensions)
            present = []
            for name in batch:
                values = metric_set.values[name][offset : offset + MAX_VALUES_PER_METRIC]
                if not values:
                    continue
                present.append({"Name": name, "Unit": UNITS[name]})
                document[name] = values[0] if len(values) == 1 else values
            document["_aws"] = {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [
                    {"Namespace": NAMESPACE, "Dimensions": [dimension_keys], "Metrics": present}
                ],
            }
            documents.append(document)
    return documents


class MetricsRecorder:
    """Collects metric sets for one invocation and writes them as EMF on flush."""

    def __init__(self, stage: str, step: str, write: Callable[[dict[str, Any]], None]) -> None:
        self._write = write
        self._base = {"stage": stage, "step": step}
        self._sets: dict[tuple[tuple[str, str], ...], MetricSet] = {}

    def metric_set(self, **extra_dimensions: str) -> MetricSet:
        """The set for the base dimensions plus any extra (low-cardinality) ones."""
        dimensions = {**self._base, **extra_dimensions}
        key = tuple(sorted(dimensions.items()))
        return self._sets.setdefault(key, MetricSet(dimensions=dimensions))

    def add(self, name: str, value: float, **extra_dimensions: str) -> None:
        """Record a value under the base dimensions (plus extra ones)."""
        self.metric_set(**extra_dimensions).add(name, value)

    def flush(self, timestamp_ms: int) -> None:
        """Write every recorded set and forget them."""
        for metric_set in self._sets.values():
            if metric_set.values:
                for document in to_documents(metric_set, timestamp_ms):
                    self._write(document)
        self._sets.clear()
