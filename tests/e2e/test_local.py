"""`logstep local` as a newcomer runs it: a process, real HTTP, the AWS SDK against moto."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.helpers import REPO_ROOT

READY_TIMEOUT_SECONDS = 90
DELIVERY_TIMEOUT_SECONDS = 60
GROUP = "/aws/lambda/orders"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Local:
    """A running `logstep local` and what it printed so far."""

    process: subprocess.Popen[str]
    api_url: str
    aws_url: str
    search_url: str
    lines: list[str]
    pending: queue.Queue[str]

    def printed(self) -> str:
        """Everything the process printed so far."""
        while not self.pending.empty():
            self.lines.append(self.pending.get())
        return "".join(self.lines)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.api_url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.aws_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(retries={"max_attempts": 2}),
        )


def read_lines(stream: Any, into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


@pytest.fixture
def local() -> Iterator[Local]:
    yield from start_local()


def start_local(*extra: str, search_port: int | None = None) -> Iterator[Local]:
    api_port, aws_port = free_port(), free_port()
    search_port = search_port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [
            sys.executable, "-m", "logstep", "local",
            "--api-port", str(api_port),
            "--aws-port", str(aws_port),
            "--poll-interval", "0.2",
            "--search-port", str(search_port),
            *extra,
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=read_lines, args=(process.stdout, lines), daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    try:
        while not any("ready" in line for line in seen):
            assert process.poll() is None, "".join(seen)
            assert time.monotonic() < deadline, "no ready line:\n" + "".join(seen)
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=0.5))
        yield Local(
            process,
            f"http://127.0.0.1:{api_port}",
            f"http://127.0.0.1:{aws_port}",
            f"http://127.0.0.1:{search_port}",
            seen,
            lines,
        )
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def destination_documents(local: Local) -> list[dict[str, Any]]:
    kinesis = local.client("kinesis")
    documents = []
    for shard in kinesis.list_shards(StreamName="logstep-local-destination")["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName="logstep-local-destination",
            ShardId=shard["ShardId"],
            ShardIteratorType="TRIM_HORIZON",
        )["ShardIterator"]
        documents += [json.loads(r["Data"]) for r in kinesis.get_records(ShardIterator=iterator)["Records"]]
    return documents


@pytest.mark.slow
def test_onboard_over_http_write_events_and_read_transformed_documents(local: Local) -> None:
    banner = local.printed()
    assert local.api_url in banner and local.aws_url in banner
    assert "UNSIGNED" in banner  # the local server does not check SigV4
    assert f"-X POST {local.api_url}/subscriptions" in banner
    assert "aws logs put-log-events" in banner

    logs = local.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    status, created = local.request("POST", "/subscriptions", {"logGroupName": GROUP})
    assert status == 201, created
    assert created["destinationArn"].endswith(":stream/logstep-local-source")
    assert local.request("POST", "/subscriptions", {"logGroupName": GROUP}) == (200, created)
    status, listed = local.request("GET", "/subscriptions")
    assert [s["logGroupName"] for s in listed["subscriptions"]] == [GROUP]

    logs.create_log_stream(logGroupName=GROUP, logStreamName="web-1")
    now = int(time.time() * 1000)
    messages = [
        json.dumps({"level": "error", "message": "payment declined", "orderId": 42}),
        "plain text line",
    ]
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName="web-1",
        logEvents=[{"timestamp": now, "message": m} for m in messages],
    )

    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    documents: list[dict[str, Any]] = []
    while len(documents) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        documents = destination_documents(local)
    by_message = {d["message"]: d for d in documents}
    assert set(by_message) == {"payment declined", "plain text line"}, local.printed()
    declined = by_message["payment declined"]
    assert (declined["level"], declined["orderId"]) == ("ERROR", 42)
    assert declined["cloudwatch"]["logGroup"] == GROUP
    assert declined["cloudwatch"]["logStream"] == "web-1"
    # The health summary (what the stage's metrics would show) follows each execution.
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    while "RecordsDelivered 2" not in local.printed() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "[pipeline] health (the metrics" in local.printed()
    assert "EventsIn 2  DocumentsOut 2  DocumentsDelivered 2  RecordsDelivered 2" in local.printed()

    status, removed = local.request("DELETE", f"/subscriptions?logGroupName={GROUP}")
    assert (status, removed["filterName"]) == (200, "logstep-local")
    assert logs.describe_subscription_filters(logGroupName=GROUP)["subscriptionFilters"] == []

    # The Firehose stand-in delivers the stream to the search server: the walkthrough's last step.
    from logstep.sandbox.search import osmem_available

    if osmem_available():
        assert "no Firehose stand-in" in banner
        return
    lines = [line for line in banner.splitlines() if line.strip()]
    assert lines[-1].startswith("logstep local: ready") and local.search_url in lines[-1]
    assert f"curl -s '{local.search_url}/logstep-*/_search?q=level:ERROR'" in banner
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    hits: list[dict[str, Any]] = []
    while not hits and time.monotonic() < deadline:
        time.sleep(0.5)
        hits = search_get(f"{local.search_url}/logstep-*/_search?q=level:ERROR")["hits"]["hits"]
    assert [h["_source"]["message"] for h in hits] == ["payment declined"], local.printed()
    assert hits[0]["_id"] == "shardId-000000000000.1.0"  # Firehose-like: the record, not the event
    assert hits[0]["_source"]["orderId"] == 42  # the Kinesis delivery keeps JSON fields at the top
    assert search_get(f"{local.search_url}/logstep-*/_count")["count"] == 2
    assert "[firehose] 2 documents indexed" in local.printed()


@pytest.mark.slow
def test_ctrl_c_stops_it_cleanly(local: Local) -> None:
    local.process.send_signal(signal.SIGINT)
    assert local.process.wait(timeout=30) == 0
    output = local.printed() + (local.process.stdout.read() if local.process.stdout else "")
    assert "stopped" in output or local.process.returncode == 0


@pytest.fixture
def local_search() -> Iterator[tuple[Local, str]]:
    from logstep.sandbox.search import osmem_available

    reason = osmem_available()
    if reason:
        pytest.skip(reason)
    for local in start_local("--delivery", "search"):
        yield local, local.search_url


def search_get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return dict(json.loads(answer.read()))


@pytest.mark.slow
def test_search_delivery_walkthrough_ends_in_a_searchable_index(local_search: tuple[Local, str]) -> None:
    local, search_url = local_search
    printed = local.printed()
    lines = [line for line in printed.splitlines() if line.strip()]
    assert lines[-1].startswith("logstep local: ready") and search_url in lines[-1]
    assert f"curl -s '{search_url}/logstep-*/_search?q=level:ERROR'" in printed
    assert search_get(f"{search_url}/_index_template/logstep")["index_templates"]  # installed

    logs = local.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    assert local.request("POST", "/subscriptions", {"logGroupName": GROUP})[0] == 201
    logs.create_log_stream(logGroupName=GROUP, logStreamName="web-1")
    now = int(time.time() * 1000)
    messages = [
        json.dumps({"level": "error", "message": "payment declined", "orderId": 42}),
        "plain text line",
    ]
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName="web-1",
        logEvents=[{"timestamp": now, "message": m} for m in messages],
    )
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    hits: list[dict[str, Any]] = []
    while not hits and time.monotonic() < deadline:
        time.sleep(0.5)
        hits = search_get(f"{search_url}/logstep-*/_search?q=level:ERROR")["hits"]["hits"]
    assert [h["_source"]["message"] for h in hits] == ["payment declined"], local.printed()
    assert hits[0]["_source"]["fields"]["orderId"] == 42  # the JSON fields, under one key
    assert search_get(f"{search_url}/logstep-*/_count")["count"] == 2
    assert destination_documents(local) == []  # nothing went to the stream
