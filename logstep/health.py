"""The health summary: what logstep's CloudWatch metrics would show, from EMF documents.

`logstep demo` and `logstep local` print it from the documents the handlers emitted;
on AWS the same numbers are the `logstep` namespace's metrics (Sum, or Maximum for lag).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Health:
    """Sums of every metric, and lag statistics."""

    sums: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    quarantined_by_reason: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    lag_ms: list[float] = field(default_factory=list)
    fill_records: list[float] = field(default_factory=list)

    def get(self, name: str) -> int:
        """A metric's sum, as an integer count."""
        return int(self.sums.get(name, 0))


def _values(value: Any) -> list[float]:
    return [float(v) for v in value] if isinstance(value, list) else [float(value)]


def health_from_emf(documents: Iterable[dict[str, Any]]) -> Health:
    """Aggregate EMF documents the way CloudWatch would."""
    health = Health()
    for document in documents:
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive.get("Metrics", []):
                name = metric["Name"]
                values = _values(document.get(name, 0))
                health.sums[name] += sum(values)
                if name == "EndToEndLagMs":
                    health.lag_ms.extend(values)
                elif name == "BatchFillRecords":
                    health.fill_records.extend(values)
                elif name == "RecordsQuarantined":
                    health.quarantined_by_reason[str(document.get("reason", "?"))] += sum(values)
    return health


def format_health(health: Health) -> str:
    """The lines an on-call engineer reads first."""
    lag = sorted(health.lag_ms)
    lag_text = f"p50 {lag[len(lag) // 2]:.0f} ms, max {lag[-1]:.0f} ms" if lag else "n/a"
    fill = (
        f"{sum(health.fill_records) / len(health.fill_records):.0f} records/call"
        if health.fill_records
        else "n/a"
    )
    reasons = ", ".join(f"{k} {int(v)}" for k, v in sorted(health.quarantined_by_reason.items()))
    search = (
        [
            f"  BulkRequests {health.get('BulkRequests')}  DuplicatesSuppressed "
            f"{health.get('DuplicatesSuppressed')}  DocumentsRejected {health.get('DocumentsRejected')}"
        ]
        if "BulkRequests" in health.sums
        else []
    )
    return "\n".join(
        [
            "health (the metrics in the `logstep` CloudWatch namespace)",
            f"  EventsIn {health.get('EventsIn')}  DocumentsOut {health.get('DocumentsOut')}  "
            f"DocumentsDelivered {health.get('DocumentsDelivered')}  "
            f"RecordsDelivered {health.get('RecordsDelivered')}",
            f"  RecordsThrottled {health.get('RecordsThrottled')}  CallsThrottled "
            f"{health.get('CallsThrottled')}  RecordsPending {health.get('RecordsPending')}",
            f"  RecordsQuarantined {health.get('RecordsQuarantined')}"
            + (f" ({reasons})" if reasons else "")
            + f"  OversizeDocuments {health.get('OversizeDocuments')}  ParseFailures "
            f"{health.get('ParseFailures')}",
            *search,
            f"  batch fill {fill}  end-to-end lag {lag_text}",
        ]
    )
