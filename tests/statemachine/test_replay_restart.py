"""Replaying runs whose Transform or Summarize failed, now that delivered runs delete their batch.

A run that failed before Transform finished (no chunks, or only some) is replayed by a new
execution on the same batch, never by resending its partial chunks. Once a run on the
batch delivered (and deleted it), replaying the failed execution again does nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError

from logstep.replay import ReplayResult, replay_execution
from tests.statemachine.test_execution import delivered_ids, describe_all, run, write_events


@contextmanager
def denied(sandbox: Any, operation: str, key_suffix: str) -> Iterator[None]:
    """The pipeline's own S3 calls of ``operation`` on keys ending so are refused (AccessDenied)."""
    pipeline_s3 = sandbox._app._client("s3")
    event = f"before-parameter-build.s3.{operation}"

    def deny(params: dict[str, Any], **_: Any) -> None:
        if str(params.get("Key", "")).endswith(key_suffix):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, operation)

    pipeline_s3.meta.events.register(event, deny)
    try:
        yield
    finally:
        pipeline_s3.meta.events.unregister(event, deny)


def replayer(sandbox: Any, execution_arn: str) -> Callable[[], ReplayResult]:
    clients = {s: sandbox.client(s) for s in ("stepfunctions", "s3", "kinesis")}
    return lambda: replay_execution(
        execution_arn,
        sfn=clients["stepfunctions"],
        s3=clients["s3"],
        kinesis=clients["kinesis"],
        sleep=lambda _: None,
    )


def run_keys(sandbox: Any) -> list[str]:
    listed = sandbox.client("s3").list_objects_v2(Bucket=sandbox.bucket).get("Contents", [])
    return sorted(item["Key"].split("/", 2)[2] for item in listed)


def test_a_run_failed_in_transform_is_restarted_and_then_left_alone(make_sandbox: Callable[..., Any]) -> None:
    sandbox = make_sandbox()
    with denied(sandbox, "GetObject", "decoded.jsonl"):
        ids = write_events(sandbox, [f"line {i}\n" for i in range(30)])
        assert run(sandbox) == {"FAILED": 1}
    (failed,) = describe_all(sandbox)
    assert delivered_ids(sandbox) == []
    replay = replayer(sandbox, failed["executionArn"])

    first = replay()
    assert first.restarted_execution == failed["executionArn"] + "-r1"
    assert dict(sandbox.wait_for_executions(timeout=120)) == {"FAILED": 1, "SUCCEEDED": 1}
    assert sorted(delivered_ids(sandbox)) == sorted(ids)
    # The delivered restart deleted the batch; a second replay finds its summary.
    second = replay()
    assert (second.restarted_execution, second.sent, second.still_pending) == (None, 0, 0)
    assert len(sandbox.executions()) == 2
    assert sorted(delivered_ids(sandbox)) == sorted(ids)


def test_a_transform_that_failed_part_way_is_restarted_not_its_partial_chunks_resent(
    make_sandbox: Callable[..., Any],
) -> None:
    sandbox = make_sandbox(environment={"LOGSTEP_MAX_RECORDS_PER_CHUNK": "10"})
    with denied(sandbox, "PutObject", "chunks/00001.bin"):
        ids = write_events(sandbox, [f"line {i}\n" for i in range(30)])
        assert run(sandbox) == {"FAILED": 1}
    (failed,) = describe_all(sandbox)
    assert "chunks/00000.bin" in run_keys(sandbox)  # one chunk of three was written
    assert "chunks.json" not in run_keys(sandbox)
    replay = replayer(sandbox, failed["executionArn"])

    first = replay()
    assert first.restarted_execution and first.sent == 0  # the partial chunk was not sent
    assert dict(sandbox.wait_for_executions(timeout=120)) == {"FAILED": 1, "SUCCEEDED": 1}
    assert sorted(delivered_ids(sandbox)) == sorted(ids)  # all 30, each once


def test_a_restart_that_failed_too_is_followed_by_the_next_one(make_sandbox: Callable[..., Any]) -> None:
    sandbox = make_sandbox()
    with denied(sandbox, "GetObject", "decoded.jsonl"):
        ids = write_events(sandbox, [f"line {i}\n" for i in range(20)])
        assert run(sandbox) == {"FAILED": 1}
        (failed,) = describe_all(sandbox)
        replay = replayer(sandbox, failed["executionArn"])
        assert replay().restarted_execution == failed["executionArn"] + "-r1"
        assert dict(sandbox.wait_for_executions(timeout=120)) == {"FAILED": 2}
    assert replay().restarted_execution == failed["executionArn"] + "-r2"
    assert dict(sandbox.wait_for_executions(timeout=120)) == {"FAILED": 2, "SUCCEEDED": 1}
    assert sorted(delivered_ids(sandbox)) == sorted(ids)


def test_a_summary_that_could_not_be_written_keeps_the_batch_and_replay_sends_nothing(
    make_sandbox: Callable[..., Any],
) -> None:
    sandbox = make_sandbox()
    with denied(sandbox, "PutObject", "summary.json"):
        ids = write_events(sandbox, [f"line {i}\n" for i in range(20)])
        assert run(sandbox) == {"FAILED": 1}
    assert sorted(delivered_ids(sandbox)) == sorted(ids)
    # Summarize failed before deleting anything: the run keeps its batch and chunks.
    assert {"raw.json", "decoded.jsonl", "chunks.json", "chunks/00000.bin"} <= set(run_keys(sandbox))
    (failed,) = describe_all(sandbox)
    result = replayer(sandbox, failed["executionArn"])()
    assert (result.restarted_execution, result.sent, result.still_pending) == (None, 0, 0)
    assert sorted(delivered_ids(sandbox)) == sorted(ids)
