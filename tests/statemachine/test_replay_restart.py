"""A run that failed before it made chunks is replayed by a new execution on the same batch.

Once that execution delivers, summarize deletes the run's batch: replaying the failed
execution again must see the delivered summary and do nothing, not start a run whose
batch is gone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from logstep.replay import replay_execution
from tests.statemachine.test_execution import delivered_ids, describe_all, run, write_events


def test_a_run_failed_in_transform_is_restarted_once_and_then_left_alone(
    make_sandbox: Callable[..., Any],
) -> None:
    sandbox = make_sandbox()
    pipeline_s3 = sandbox._app._client("s3")

    def deny_envelopes(params: dict[str, Any], **_: Any) -> None:
        if str(params.get("Key", "")).endswith("decoded.jsonl"):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "GetObject")

    pipeline_s3.meta.events.register("before-parameter-build.s3.GetObject", deny_envelopes)
    ids = write_events(sandbox, [f"line {i}\n" for i in range(30)])
    assert run(sandbox) == {"FAILED": 1}
    (failed,) = describe_all(sandbox)
    assert delivered_ids(sandbox) == []
    pipeline_s3.meta.events.unregister("before-parameter-build.s3.GetObject", deny_envelopes)

    clients = {s: sandbox.client(s) for s in ("stepfunctions", "s3", "kinesis")}

    def replay() -> Any:
        return replay_execution(
            failed["executionArn"],
            sfn=clients["stepfunctions"],
            s3=clients["s3"],
            kinesis=clients["kinesis"],
            sleep=lambda _: None,
        )

    first = replay()
    assert first.restarted_execution
    assert dict(sandbox.wait_for_executions(timeout=120)) == {"FAILED": 1, "SUCCEEDED": 1}
    assert sorted(delivered_ids(sandbox)) == sorted(ids)
    # The delivered restart deleted the batch; a second replay finds its summary.
    second = replay()
    assert (second.restarted_execution, second.sent, second.still_pending) == (None, 0, 0)
    assert len(sandbox.executions()) == 2
    assert sorted(delivered_ids(sandbox)) == sorted(ids)
