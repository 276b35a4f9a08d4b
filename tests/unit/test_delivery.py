"""PutRecords outcome handling: only failed records are kept, by kind of failure."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.batching import Record
from chalicelib.delivery.kinesis import KinesisDelivery
from chalicelib.errors import DeliveryRejectedError
from chalicelib.settings import DeliveryLimits

LIMITS = DeliveryLimits(records_per_request=3)


class FakeKinesis:
    """Answers PutRecords from a script: per call, a list of error codes (None = written) or a ClientError."""

    def __init__(self, script: list[Any]) -> None:
        self.script = list(script)
        self.calls: list[dict[str, Any]] = []

    def put_records(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        step = self.script.pop(0) if self.script else None
        if isinstance(step, ClientError):
            raise step
        codes = step or [None] * len(kwargs["Records"])
        return {
            "FailedRecordCount": sum(1 for c in codes if c),
            "Records": [
                {"ErrorCode": c, "ErrorMessage": "m"} if c else {"SequenceNumber": "1", "ShardId": "s"}
                for c in codes
            ],
        }


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutRecords",
    )


def records(n: int) -> list[Record]:
    return [Record(partition_key=str(i), data=f"doc{i}".encode()) for i in range(n)]


def test_everything_written_in_as_many_calls_as_the_limits_need() -> None:
    kinesis = FakeKinesis([])
    outcome = KinesisDelivery(kinesis, "dest", LIMITS).send(records(7))
    assert outcome.delivered == 7
    assert outcome.pending == []
    assert outcome.calls == 3
    assert [len(c["Records"]) for c in kinesis.calls] == [3, 3, 1]
    assert all(c["StreamName"] == "dest" for c in kinesis.calls)


def test_only_failed_records_are_pending_and_kms_access_errors_are_not_retryable() -> None:
    kinesis = FakeKinesis(
        [
            [None, "ProvisionedThroughputExceededException", None],
            ["InternalFailure", "KMSAccessDeniedException", "KMSThrottlingException"],
        ]
    )
    rs = records(6)
    outcome = KinesisDelivery(kinesis, "dest", LIMITS).send(rs)
    assert outcome.delivered == 2
    assert outcome.retryable == [rs[1], rs[3], rs[5]]
    assert outcome.rejected == [rs[4]]
    assert outcome.error_counts == {
        "ProvisionedThroughputExceededException": 1,
        "InternalFailure": 1,
        "KMSAccessDeniedException": 1,
        "KMSThrottlingException": 1,
    }


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ProvisionedThroughputExceededException", 400),
        ("LimitExceededException", 400),
        ("InternalFailure", 500),
        ("ServiceUnavailable", 503),
    ],
)
def test_a_refused_call_keeps_its_records_pending_and_the_next_calls_go_on(code: str, status: int) -> None:
    kinesis = FakeKinesis([None, client_error(code, status)])
    rs = records(8)
    outcome = KinesisDelivery(kinesis, "dest", LIMITS).send(rs)
    assert outcome.delivered == 5
    assert outcome.retryable == rs[3:6]
    assert outcome.throttled_calls == 1
    assert len(kinesis.calls) == 3
    assert outcome.call_sizes == [(3, 15), (2, 10)]  # the calls that reached the stream


def test_a_missing_stream_is_a_permanent_error() -> None:
    kinesis = FakeKinesis([client_error("ResourceNotFoundException")])
    with pytest.raises(DeliveryRejectedError, match="ResourceNotFoundException"):
        KinesisDelivery(kinesis, "dest", LIMITS).send(records(2))
