"""PutRecords with per-record outcome handling (shell).

A PutRecords call is not atomic: each record succeeds or fails on its own and the
response lists an ErrorCode per failed record, in request order
(https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html).
Throttling (ProvisionedThroughputExceededException), InternalFailure and KMS throttling
are worth retrying; KMS access errors are not. A whole call refused with a throughput,
limit or server error wrote nothing, so all its records are retried.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.batching import Record, plan_requests
from chalicelib.delivery.outcome import DeliveryOutcome
from chalicelib.errors import DeliveryRejectedError
from chalicelib.settings import DeliveryLimits

RETRYABLE_RECORD_ERRORS = frozenset(
    {"ProvisionedThroughputExceededException", "InternalFailure", "KMSThrottlingException"}
)
RETRYABLE_CALL_ERRORS = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "KMSThrottlingException",
        "InternalFailure",
        "ServiceUnavailable",
        "ThrottlingException",
    }
)


class KinesisDelivery:
    """Sends records to one stream with as many PutRecords calls as the limits need."""

    def __init__(self, kinesis: Any, stream_name: str, limits: DeliveryLimits) -> None:
        self._kinesis = kinesis
        self._stream = stream_name
        self._limits = limits

    @property
    def kind(self) -> str:
        """Always ``kinesis``."""
        return "kinesis"

    @property
    def target(self) -> str:
        """The destination stream's name."""
        return self._stream

    def send(self, records: Sequence[Record]) -> DeliveryOutcome:
        """Send every record once; report which still need sending and why.

        A refused call keeps its records for the retry and the next calls go on: Kinesis
        throttles per shard, and a chunk's records spread over every shard, so the
        other calls usually succeed. The state machine's backoff is where the waiting
        happens, never a sleep in here.
        """
        retryable: list[Record] = []
        rejected: list[Record] = []
        errors: Counter[str] = Counter()
        delivered = calls = throttled_calls = bytes_sent = 0
        call_sizes: list[tuple[int, int]] = []
        requests = plan_requests(records, self._limits)
        for request in requests:
            calls += 1
            try:
                response = self._kinesis.put_records(
                    StreamName=self._stream,
                    Records=[{"Data": r.data, "PartitionKey": r.partition_key} for r in request],
                )
            except ClientError as e:
                code = str(e.response.get("Error", {}).get("Code", ""))
                status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if code in RETRYABLE_CALL_ERRORS or status >= 500:
                    throttled_calls += 1
                    errors[code or str(status)] += len(request)
                    retryable.extend(request)
                    continue
                raise DeliveryRejectedError(
                    f"PutRecords to {self._stream} failed with {code}: "
                    f"{e.response.get('Error', {}).get('Message', '')}"
                ) from e
            request_bytes = sum(r.size for r in request)
            call_sizes.append((len(request), request_bytes))
            bytes_sent += request_bytes
            results = response.get("Records", [])
            if not response.get("FailedRecordCount"):
                delivered += len(request)
                continue
            for record, result in zip(request, results, strict=True):
                code = result.get("ErrorCode")
                if not code:
                    delivered += 1
                    continue
                errors[code] += 1
                bytes_sent -= record.size
                if code in RETRYABLE_RECORD_ERRORS:
                    retryable.append(record)
                else:
                    rejected.append(record)
        return DeliveryOutcome(
            delivered=delivered,
            retryable=retryable,
            rejected=rejected,
            calls=calls,
            throttled_calls=throttled_calls,
            bytes_sent=bytes_sent,
            error_counts=dict(errors),
            call_sizes=call_sizes,
        )
