"""The embedded sandbox: logstep's real pipeline on moto, in one process, without Docker.

It creates the streams, the claim-check bucket and the state machine from
``statemachines/pipeline.asl.json`` (the definition users deploy), answers the state
machine's Lambda tasks in-process with the Chalice handlers from ``app.py``, lets
CloudWatch Logs deliver through a real subscription filter, and stands in for the
Lambda event source mapping with a poller. moto's interpreter really sleeps in Retry;
the sandbox scales those sleeps (``time_scale``) but never removes them from the
definition.

Two modes: in-process (``mock_aws``, for the demo and tests) and server
(``ThreadedMotoServer`` on 127.0.0.1, for ``logstep local``): moto's interpreter then
calls Lambda at its own server port, so the in-process Lambda answer lives here too.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import importlib
import io
import json
import logging
import math
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.response import StreamingBody

from logstep.deploy.infra import put_batch_memory_mb
from logstep.sandbox.faults import FaultInjector, FaultPlan

REPO_ROOT = Path(__file__).resolve().parents[2]
ASL_PATH = REPO_ROOT / "statemachines" / "pipeline.asl.json"
ACCOUNT_ID = "123456789012"
TASK_FUNCTIONS = {
    "DecodeFunctionArn": "decode",
    "TransformFunctionArn": "transform",
    "PutBatchFunctionArn": "put_batch",
    "SummarizeFunctionArn": "summarize",
}
# Memory sizes match .chalice/config.json's dev stage; the cost model prices durations with
# them. put_batch's follows the delivery, as `logstep deploy` sets it (Sandbox.memory_mb).
DEFAULT_MEMORY_MB = {
    "ingest": 512,
    "decode": 1769,
    "transform": 1769,
    "put_batch": put_batch_memory_mb("kinesis"),
    "summarize": 256,
}


@dataclass
class SandboxConfig:
    """How to build the sandbox."""

    stage: str = "sandbox"
    region: str = "us-east-1"
    source_shards: int = 2
    destination_shards: int = 2
    # Retry sleeps of moto's interpreter are multiplied by this (1.0 = real time).
    time_scale: float = 0.01
    # Replace the interpreter's sleep entirely (tests pass a recorder); wins over time_scale.
    sleep: Callable[[float], None] | None = None
    faults: FaultPlan = field(default_factory=FaultPlan)
    # Server mode: the moto server's port on 127.0.0.1 (None: in-process mock).
    aws_port: int | None = None
    ingest_batch_size: int = 10_000
    # Extra stage environment (e.g. LOGSTEP_MAX_RECORDS_PER_CHUNK for tests).
    environment: dict[str, str] = field(default_factory=dict)
    # Seeds moto's own randomness (e.g. the partition keys CloudWatch Logs picks, hence
    # which source shard a batch lands on), so a run reproduces.
    seed: int = 0
    # Faults on the Lambda tasks themselves: function name -> number of invocations to fail.
    task_failures: dict[str, int] = field(default_factory=dict)
    # Crashes of put_batch after it wrote (PutRecords or _bulk), before it recorded what it
    # wrote: the first N pending-set writes fail, so Retry resends the whole chunk
    # (at-least-once; the search delivery's create + _id keeps one copy).
    crash_after_write: int = 0


@dataclass
class FunctionStats:
    """In-process Lambda invocations of one function."""

    invocations: int = 0
    errors: int = 0
    duration_ms: float = 0.0
    billed_ms: int = 0
    # CPU time of the handler's thread: what a Lambda pays for beyond waiting on the network
    # (the sandbox's search server is an emulator, slower than a cluster; docs/cost.md).
    cpu_ms: float = 0.0
    error_types: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class LambdaContext:
    """The parts of Lambda's context object the handlers use."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    deadline: float

    @property
    def function_version(self) -> str:
        """Always $LATEST in the sandbox."""
        return "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the configured timeout."""
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class InjectedTaskFailure(Exception):
    """A Lambda task failure the sandbox was asked to inject (tests of Retry/Catch)."""


class Sandbox:
    """The pipeline on moto. Use as a context manager."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        stage, region = self.config.stage, self.config.region
        self.source_stream = f"logstep-{stage}-source"
        self.destination_stream = f"logstep-{stage}-destination"
        self.bucket = f"logstep-{stage}-claimcheck"
        self.state_machine_name = f"logstep-{stage}-pipeline"
        self.follows_table = f"logstep-{stage}-follows"
        self.state_machine_arn = (
            f"arn:aws:states:{region}:{ACCOUNT_ID}:stateMachine:{self.state_machine_name}"
        )
        self.logs_role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/logstep-{stage}-cwl-to-kinesis"
        self.function_stats: dict[str, FunctionStats] = {}
        self.s3_requests: Counter[str] = Counter()
        # Bytes the pipeline wrote to S3 (every PutObject body), deleted or not.
        self.s3_bytes_written = 0
        # EMF documents the handlers emitted (on Lambda they go to stdout).
        self.metric_documents: list[dict[str, Any]] = []
        self.faults = FaultInjector(self.config.faults, self.destination_stream)
        self._stats_lock = threading.Lock()
        self._task_failures = Counter(self.config.task_failures)
        self._mock: Any = None
        self._server: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._restore: list[Callable[[], None]] = []
        self._iterators: dict[str, str] = {}
        self._app: Any = None
        self.session: Any = None

    # ---- lifecycle -------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str | None:
        """The moto server's URL in server mode."""
        port = self.config.aws_port
        return f"http://127.0.0.1:{port}" if port else None

    def memory_mb(self, function: str) -> int:
        """A function's memory size in this sandbox's stage (put_batch's by its delivery)."""
        if function == "put_batch":
            return put_batch_memory_mb(self.environment().get("LOGSTEP_DELIVERY", "kinesis"))
        return DEFAULT_MEMORY_MB.get(function, 128)

    def environment(self) -> dict[str, str]:
        """The stage environment the Lambda handlers see (as .chalice/config.json sets it)."""
        env = {
            "LOGSTEP_STAGE": self.config.stage,
            "LOGSTEP_SOURCE_STREAM": self.source_stream,
            "LOGSTEP_DESTINATION_STREAM": self.destination_stream,
            "LOGSTEP_BUCKET": self.bucket,
            "LOGSTEP_STATE_MACHINE_NAME": self.state_machine_name,
            "LOGSTEP_STATE_MACHINE_ARN": "",
            "LOGSTEP_FOLLOWS_TABLE": self.follows_table,
            "LOGSTEP_OUTPUT_FORMAT": "logstep",
            # The handlers' JSON logs would interleave with the demo's output.
            "LOGSTEP_LOG_LEVEL": "ERROR",
        }
        env.update(self.config.environment)
        return env

    def __enter__(self) -> Sandbox:
        self._set_env(
            {
                "AWS_ACCESS_KEY_ID": "sandbox",
                "AWS_SECRET_ACCESS_KEY": "sandbox",
                "AWS_SESSION_TOKEN": "sandbox",
                "AWS_DEFAULT_REGION": self.config.region,
                "AWS_REGION": self.config.region,
                **self.environment(),
            }
        )
        if self.config.aws_port:
            self._start_server(self.config.aws_port)
        else:
            from moto import mock_aws

            self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
            self._mock.start()
        try:
            from moto.moto_api._internal import mock_random

            mock_random.seed(self.config.seed)
            # moto logs a Fail state as an ERROR with its whole state; logstep reports it itself.
            logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
            self._patch_moto()
            # mock_aws resets boto3's default session on start: hook it after that.
            boto3.setup_default_session(region_name=self.config.region)
            events = boto3._get_default_session().events
            events.register("before-parameter-build.lambda.Invoke", self._capture_invoke)
            events.register("before-call.lambda.Invoke", self._invoke_lambda)
            events.register("after-call.s3", self._count_s3)
            events.register("before-parameter-build.s3.PutObject", self._count_s3_put_bytes)
            self.faults.register(events)
            # The sandbox's own (operator) clients come from a separate session, so they
            # are neither fault-injected nor counted as the pipeline's requests.
            self.session = boto3.Session(region_name=self.config.region)
            self._app = importlib.import_module("app")
            self._app.reset()
            original_sink = self._app.metrics_sink
            self._app.metrics_sink = self.metric_documents.append
            self._restore.append(functools.partial(setattr, self._app, "metrics_sink", original_sink))
            for service in ("s3", "kinesis", "stepfunctions", "logs", "dynamodb"):
                self._app._client(service)  # boto3 client creation is not thread-safe
            if self.config.crash_after_write:
                self._register_crashes(self.config.crash_after_write)
            self._create_resources()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if boto3.DEFAULT_SESSION is not None:
            events = boto3.DEFAULT_SESSION.events
            events.unregister("before-parameter-build.lambda.Invoke", self._capture_invoke)
            events.unregister("before-call.lambda.Invoke", self._invoke_lambda)
            events.unregister("after-call.s3", self._count_s3)
            events.unregister("before-parameter-build.s3.PutObject", self._count_s3_put_bytes)
            self.faults.unregister(events)
        for restore in reversed(self._restore):
            restore()
        self._restore.clear()
        if self._app is not None:
            self._app.reset()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    def _set_env(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _start_server(self, port: int) -> None:
        from moto.core.config import default_user_config
        from moto.server import ThreadedMotoServer

        default_user_config["stepfunctions"]["execute_state_machine"] = True
        self._set_env({"MOTO_PORT": str(port), "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"})
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._server.start()

    def _patch_moto(self) -> None:
        """Scale the interpreter's Retry sleeps; serialise moto's Kinesis shard writes."""
        from moto.kinesis.models import KinesisBackend
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

        sleep = self.config.sleep
        scale = self.config.time_scale

        class _ScaledTime:
            def __getattr__(self, name: str) -> Any:
                return getattr(time, name)

            @staticmethod
            def sleep(seconds: float) -> None:
                if sleep is not None:
                    sleep(seconds)
                else:
                    time.sleep(seconds * scale)

        original_time = getattr(retrier_decl, "time")  # noqa: B009 - moto does not export it
        setattr(retrier_decl, "time", _ScaledTime())  # noqa: B010
        self._restore.append(lambda: setattr(retrier_decl, "time", original_time))

        # Concurrent Map iterations would otherwise collide on shard sequence numbers.
        lock = threading.RLock()
        for name in ("put_record", "put_records", "get_records", "send_log_event"):
            original = getattr(KinesisBackend, name)

            def locked(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
                with lock:
                    return __original(*args, **kwargs)

            setattr(KinesisBackend, name, locked)
            self._restore.append(functools.partial(setattr, KinesisBackend, name, original))

        # moto finds a shard's last sequence number by copying every key, once per record
        # written: quadratic, hours for a full 6 MB batch of small documents. The keys are
        # in insertion order, so the last one is O(1).
        from moto.kinesis.models import Shard

        original_max = Shard.get_max_sequence_number

        def max_sequence_number(shard: Any) -> int:
            return next(reversed(shard.records), 0)

        setattr(Shard, "get_max_sequence_number", max_sequence_number)  # noqa: B010
        self._restore.append(functools.partial(setattr, Shard, "get_max_sequence_number", original_max))

    def client(self, service: str) -> Any:
        """An operator client (not fault-injected, not counted)."""
        return self.session.client(
            service,
            endpoint_url=self.endpoint_url,
            config=Config(retries={"max_attempts": 2}),
        )

    # ---- resources ---------------------------------------------------------------------

    def function_arn(self, name: str) -> str:
        """The ARN Chalice gives a function: logstep-<stage>-<name>."""
        return f"arn:aws:lambda:{self.config.region}:{ACCOUNT_ID}:function:logstep-{self.config.stage}-{name}"

    def definition(self) -> str:
        """The ASL with its placeholders substituted, as CloudFormation would."""
        text = ASL_PATH.read_text()
        for placeholder, function in TASK_FUNCTIONS.items():
            text = text.replace("${" + placeholder + "}", self.function_arn(function))
        return text

    def _create_resources(self) -> None:
        kinesis, s3, sfn, iam = (self.client(s) for s in ("kinesis", "s3", "stepfunctions", "iam"))
        kinesis.create_stream(StreamName=self.source_stream, ShardCount=self.config.source_shards)
        kinesis.create_stream(StreamName=self.destination_stream, ShardCount=self.config.destination_shards)
        s3.create_bucket(Bucket=self.bucket)
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "logs.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        iam.create_role(
            RoleName=self.logs_role_arn.rsplit("/", 1)[-1],
            AssumeRolePolicyDocument=json.dumps(trust),
        )
        sfn_role = iam.create_role(
            RoleName=f"logstep-{self.config.stage}-states",
            AssumeRolePolicyDocument=json.dumps(trust).replace("logs.", "states."),
        )["Role"]["Arn"]
        sfn.create_state_machine(
            name=self.state_machine_name,
            definition=self.definition(),
            roleArn=sfn_role,
            type="STANDARD",
        )
        create_follows_table(self.client("dynamodb"), self.follows_table)

    def sweep_follows(self) -> tuple[Any, dict[str, Any] | None]:
        """One run of the scheduled follow-rule sweep, as EventBridge Scheduler would invoke it."""
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT_ID,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": self.config.region,
            "resources": [
                f"arn:aws:events:{self.config.region}:{ACCOUNT_ID}:rule/logstep-{self.config.stage}-sweep_follows"
            ],
            "detail": {},
        }
        return self.invoke("sweep_follows", event)

    def stream_arn(self, stream: str) -> str:
        """A stream's ARN in the sandbox account."""
        return f"arn:aws:kinesis:{self.config.region}:{ACCOUNT_ID}:stream/{stream}"

    def subscribe(self, log_group: str, filter_name: str = "logstep") -> None:
        """Create the log group (if needed) and subscribe it to the source stream."""
        logs = self.client("logs")
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=log_group)
        logs.put_subscription_filter(
            logGroupName=log_group,
            filterName=filter_name,
            filterPattern="",
            destinationArn=self.stream_arn(self.source_stream),
            roleArn=self.logs_role_arn,
        )

    # ---- the Lambda tasks, in-process --------------------------------------------------

    def _handler_name(self, function_name: str) -> str:
        name = function_name.rsplit(":", 1)[-1]
        prefix = f"logstep-{self.config.stage}-"
        return name[len(prefix) :] if name.startswith(prefix) else name

    @staticmethod
    def _capture_invoke(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["logstep_invoke"] = (params.get("FunctionName", ""), params.get("Payload", b"{}"))

    def _invoke_lambda(self, context: dict[str, Any], **_: Any) -> Any:
        """Answer lambda:Invoke in Lambda's wire format, so Retry/Catch see real error names."""
        function_name, body = context.get("logstep_invoke", ("", b"{}"))
        if hasattr(body, "read"):
            body = body.read()
        payload = json.loads(body or b"{}")
        result, error = self.invoke(self._handler_name(str(function_name)), payload)
        if error is not None:
            out = json.dumps(error).encode()
            headers = {"X-Amz-Function-Error": "Unhandled"}
        else:
            out = json.dumps(result).encode()
            headers = {}
        parsed = {
            "StatusCode": 200,
            "ExecutedVersion": "$LATEST",
            "Payload": StreamingBody(io.BytesIO(out), len(out)),
            "ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": headers, "RetryAttempts": 0},
        }
        if error is not None:
            parsed["FunctionError"] = "Unhandled"
        return AWSResponse("https://lambda.sandbox", 200, headers, None), parsed

    def invoke(self, name: str, event: Any) -> tuple[Any, dict[str, Any] | None]:
        """Run one handler as Lambda would; returns (result, None) or (None, error payload)."""
        handler = getattr(self._app, name)
        context = LambdaContext(
            function_name=f"logstep-{self.config.stage}-{name}",
            invoked_function_arn=self.function_arn(name),
            memory_limit_in_mb=self.memory_mb(name),
            aws_request_id=str(uuid.uuid4()),
            deadline=time.monotonic() + 900,
        )
        started = time.perf_counter()
        cpu_started = time.thread_time()
        error: dict[str, Any] | None = None
        result: Any = None
        try:
            with self._stats_lock:
                inject = self._task_failures[name] > 0
                if inject:
                    self._task_failures[name] -= 1
            if inject:
                raise InjectedTaskFailure(f"injected failure of {name}")
            result = handler(event, context)
        except Exception as e:  # Lambda reports any exception as errorType/errorMessage
            error = {"errorType": type(e).__name__, "errorMessage": str(e), "stackTrace": []}
        elapsed_ms = (time.perf_counter() - started) * 1000
        cpu_ms = (time.thread_time() - cpu_started) * 1000
        with self._stats_lock:
            stats = self.function_stats.setdefault(name, FunctionStats())
            stats.invocations += 1
            stats.duration_ms += elapsed_ms
            stats.cpu_ms += cpu_ms
            stats.billed_ms += max(1, math.ceil(elapsed_ms))
            if error is not None:
                stats.errors += 1
                stats.error_types[error["errorType"]] += 1
        return result, error

    def _register_crashes(self, count: int) -> None:
        """Fail the handlers' first ``count`` pending-set writes (put_batch wrote before them)."""
        from botocore.exceptions import ClientError

        left = [count]
        lock = threading.Lock()

        def crash(params: dict[str, Any], **_: Any) -> None:
            if "/pending/" not in params.get("Key", ""):
                return
            with lock:
                if not left[0]:
                    return
                left[0] -= 1
            error = {"Error": {"Code": "InternalError", "Message": "injected crash after the write"}}
            raise ClientError(error, "PutObject")

        events = self._app._client("s3").meta.events
        events.register("before-parameter-build.s3.PutObject", crash)
        self._restore.append(lambda: events.unregister("before-parameter-build.s3.PutObject", crash))

    def _count_s3(self, model: Any, **_: Any) -> None:
        with self._stats_lock:
            self.s3_requests[model.name] += 1

    def _count_s3_put_bytes(self, params: dict[str, Any], **_: Any) -> None:
        body = params.get("Body", b"")
        if isinstance(body, bytes | bytearray | str):
            with self._stats_lock:
                self.s3_bytes_written += len(body)

    # ---- the event source mapping, polled ----------------------------------------------

    def pump(self) -> int:
        """One poll of every source shard; each non-empty batch goes to ingest.

        Like the event source mapping, a batch whose ingest fails is offered again on the
        next poll (the iterator only advances after success).
        """
        kinesis = self.client("kinesis")
        total = 0
        shards = kinesis.list_shards(StreamName=self.source_stream)["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            iterator = (
                self._iterators.get(shard_id)
                or kinesis.get_shard_iterator(
                    StreamName=self.source_stream,
                    ShardId=shard_id,
                    ShardIteratorType="TRIM_HORIZON",
                )["ShardIterator"]
            )
            response = kinesis.get_records(ShardIterator=iterator, Limit=self.config.ingest_batch_size)
            records = response["Records"]
            if records:
                _, error = self.invoke("ingest", self.kinesis_event(shard_id, records))
                if error is not None:
                    continue
                total += len(records)
            self._iterators[shard_id] = response["NextShardIterator"]
        return total

    def kinesis_event(self, shard_id: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        """get_records output -> the event Lambda's Kinesis trigger delivers."""
        arn = self.stream_arn(self.source_stream)
        return {
            "Records": [
                {
                    "kinesis": {
                        "kinesisSchemaVersion": "1.0",
                        "partitionKey": r["PartitionKey"],
                        "sequenceNumber": r["SequenceNumber"],
                        "data": base64.b64encode(r["Data"]).decode(),
                        "approximateArrivalTimestamp": r["ApproximateArrivalTimestamp"].timestamp(),
                    },
                    "eventSource": "aws:kinesis",
                    "eventVersion": "1.0",
                    "eventID": f"{shard_id}:{r['SequenceNumber']}",
                    "eventName": "aws:kinesis:record",
                    "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT_ID}:role/logstep-{self.config.stage}-ingest",
                    "awsRegion": self.config.region,
                    "eventSourceARN": arn,
                }
                for r in records
            ]
        }

    def drain(self) -> int:
        """Pump until the source stream has nothing new."""
        total = 0
        while True:
            got = self.pump()
            total += got
            if not got:
                return total

    # ---- executions and the destination ------------------------------------------------

    def executions(self) -> list[dict[str, Any]]:
        """Every execution of the pipeline's state machine."""
        sfn = self.client("stepfunctions")
        out: list[dict[str, Any]] = []
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=self.state_machine_arn):
            out.extend(page["executions"])
        return out

    def wait_for_executions(
        self, timeout: float = 300.0, on_progress: Callable[[Counter[str]], None] | None = None
    ) -> Counter[str]:
        """Wait until no execution is RUNNING; returns executions by status."""
        deadline = time.monotonic() + timeout
        while True:
            statuses = Counter(e["status"] for e in self.executions())
            if on_progress is not None:
                on_progress(statuses)
            if not statuses.get("RUNNING"):
                return statuses
            if time.monotonic() > deadline:
                raise TimeoutError(f"executions still running after {timeout}s: {dict(statuses)}")
            time.sleep(0.05)

    def read_stream(self, stream: str) -> Iterator[dict[str, Any]]:
        """Every record on a stream, shard by shard, from the start."""
        kinesis = self.client("kinesis")
        for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
            iterator = kinesis.get_shard_iterator(
                StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while iterator:
                response = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
                yield from response["Records"]
                if not response["Records"]:
                    break
                iterator = response.get("NextShardIterator")

    def read_destination_records(self) -> list[Any]:
        """Every Kinesis record on the destination stream, as written (aggregated or not)."""
        from chalicelib.batching import Record

        return [
            Record(partition_key=r["PartitionKey"], data=r["Data"])
            for r in self.read_stream(self.destination_stream)
        ]

    def read_destination(self) -> list[dict[str, Any]]:
        """Every document on the destination stream, de-aggregating KPL aggregated records.

        In ``LOGSTEP_OUTPUT_RECORDS=aggregated`` mode one Kinesis record carries many
        documents; like Firehose and the KCL, this reads the documents out of it.
        """
        from chalicelib.aggregation import deaggregate_all

        return [json.loads(user.data) for user in deaggregate_all(self.read_destination_records())]


def create_follows_table(dynamodb: Any, table: str) -> None:
    """The follow rule store, as infra/logstep.yaml's FollowsTable declares it."""
    dynamodb.create_table(
        TableName=table,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
