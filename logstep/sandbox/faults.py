"""Reproducible faults on the destination stream's PutRecords, for the sandbox.

moto's put_records never fails a record, so the sandbox injects failures through
botocore's event hooks on the client session: records chosen to fail are removed from
the request before moto sees it (so moto stores only the others), and the response gets
an ErrorCode at their positions, exactly as Kinesis answers. A whole call can be
refused with ProvisionedThroughputExceededException instead.

Every decision is a hash of (seed, record, attempt): the same run fails the same records
on the same attempts, whatever order concurrent Map iterations run in.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse

from logstep.cost.units import add_units, record_units

THROTTLED = "ProvisionedThroughputExceededException"
INTERNAL = "InternalFailure"
_CONTEXT_KEY = "logstep_faults"


@dataclass(frozen=True)
class FaultPlan:
    """Shares of records (and calls) the destination fails, and the seed that picks them."""

    seed: int = 0
    throttle_rate: float = 0.0
    internal_failure_rate: float = 0.0
    call_throttle_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("throttle_rate", "internal_failure_rate", "call_throttle_rate"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        if self.throttle_rate + self.internal_failure_rate >= 1.0:
            raise ValueError("throttle_rate + internal_failure_rate must stay below 1")

    @property
    def active(self) -> bool:
        """Whether any fault is injected at all."""
        return bool(self.throttle_rate or self.internal_failure_rate or self.call_throttle_rate)


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from the parts."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _record_id(record: dict[str, Any]) -> str:
    data = record.get("Data", b"")
    if isinstance(data, str):
        data = data.encode()
    return hashlib.blake2b(record.get("PartitionKey", "").encode() + b"\0" + data, digest_size=12).hexdigest()


@dataclass
class PutRecordsCounters:
    """What the destination saw: calls, records and bytes written, and the faults injected."""

    calls: int = 0
    throttled_calls: int = 0
    records_written: int = 0
    bytes_written: int = 0
    record_errors: Counter[str] = field(default_factory=Counter)
    # Written records' sizes rounded up per billing unit (logstep.cost.units): what Kinesis and
    # Firehose bill, which a byte total cannot tell.
    units: dict[str, int] = field(default_factory=dict)


class FaultInjector:
    """Registers on a botocore event system and fails the destination's PutRecords per plan."""

    def __init__(self, plan: FaultPlan, stream_name: str) -> None:
        self.plan = plan
        self.stream_name = stream_name
        self.counters = PutRecordsCounters()
        self._attempts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def register(self, events: Any) -> None:
        """Hook into a boto3/botocore session's event system."""
        events.register("before-parameter-build.kinesis.PutRecords", self._before_build)
        events.register("before-call.kinesis.PutRecords", self._before_call)
        events.register("after-call.kinesis.PutRecords", self._after_call)

    def unregister(self, events: Any) -> None:
        """Remove the hooks."""
        events.unregister("before-parameter-build.kinesis.PutRecords", self._before_build)
        events.unregister("before-call.kinesis.PutRecords", self._before_call)
        events.unregister("after-call.kinesis.PutRecords", self._after_call)

    def _targets(self, params: dict[str, Any]) -> bool:
        name = params.get("StreamName") or str(params.get("StreamARN", "")).rsplit("/", 1)[-1]
        return bool(name == self.stream_name)

    def _before_build(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if not self._targets(params):
            return
        records = params.get("Records", [])
        ids = [_record_id(r) for r in records]
        with self._lock:
            attempts = []
            for record_id in ids:
                self._attempts[record_id] += 1
                attempts.append(self._attempts[record_id])
        plan = self.plan
        call_key = ids[0] if ids else ""
        decision: dict[str, Any] = {"total": len(records), "failed": {}, "throttle_call": False}
        if plan.call_throttle_rate and _unit(plan.seed, "call", call_key, attempts[0]) < (
            plan.call_throttle_rate
        ):
            decision["throttle_call"] = True
        else:
            for position, (record_id, attempt) in enumerate(zip(ids, attempts, strict=True)):
                u = _unit(plan.seed, "record", record_id, attempt)
                if u < plan.throttle_rate:
                    decision["failed"][position] = THROTTLED
                elif u < plan.throttle_rate + plan.internal_failure_rate:
                    decision["failed"][position] = INTERNAL
            if decision["failed"] and len(decision["failed"]) < len(records):
                params["Records"] = [r for i, r in enumerate(records) if i not in decision["failed"]]
        sizes = [
            len(r.get("Data", b"")) + len(r.get("PartitionKey", "").encode())
            for i, r in enumerate(records)
            if i not in decision["failed"]
        ]
        decision["bytes"] = sum(sizes)
        decision["units"] = record_units(sizes)
        context[_CONTEXT_KEY] = decision

    def _before_call(self, context: dict[str, Any], **_: Any) -> Any:
        decision = context.get(_CONTEXT_KEY)
        if decision is None:
            return None
        if decision["throttle_call"]:
            with self._lock:
                self.counters.calls += 1
                self.counters.throttled_calls += 1
            body = {
                "Error": {"Code": THROTTLED, "Message": "Rate exceeded for stream (injected)"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
            return AWSResponse("https://kinesis.sandbox", 400, {}, None), body
        if decision["failed"] and len(decision["failed"]) == decision["total"]:
            # Every record fails: answer without calling moto (a request needs >= 1 record).
            parsed = {"FailedRecordCount": 0, "Records": [], "ResponseMetadata": {}}
            self._merge(decision, parsed)
            return AWSResponse("https://kinesis.sandbox", 200, {}, None), parsed
        return None

    def _after_call(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        decision = context.get(_CONTEXT_KEY)
        if decision is None or decision["throttle_call"] or "Error" in parsed:
            return
        if len(decision["failed"]) == decision["total"] and decision["total"]:
            return  # already merged in _before_call
        self._merge(decision, parsed)

    def _merge(self, decision: dict[str, Any], parsed: dict[str, Any]) -> None:
        written = iter(parsed.get("Records", []))
        merged: list[dict[str, Any]] = []
        for position in range(decision["total"]):
            code = decision["failed"].get(position)
            if code:
                merged.append({"ErrorCode": code, "ErrorMessage": f"{code} (injected)"})
            else:
                merged.append(next(written))
        parsed["Records"] = merged
        parsed["FailedRecordCount"] = len(decision["failed"])
        with self._lock:
            self.counters.calls += 1
            self.counters.records_written += decision["total"] - len(decision["failed"])
            self.counters.bytes_written += decision["bytes"]
            self.counters.record_errors.update(decision["failed"].values())
            add_units(self.counters.units, decision["units"])
