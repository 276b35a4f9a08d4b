"""The sandbox's Firehose stand-in: the destination stream -> the sandbox's search server.

moto's Firehose neither reads a Kinesis source nor delivers to OpenSearch (it drops the
data), so the sandbox imitates the delivery stream the deploy creates
(``KinesisStreamAsSource`` -> ``AmazonopensearchserviceDestinationConfiguration``):

- it reads the destination stream with its own shard iterators, from the start;
- it de-aggregates KPL records, as Firehose does for a Kinesis source ("Amazon Data
  Firehose de-aggregates the records before it delivers them to the destination",
  https://docs.aws.amazon.com/streams/latest/dev/kpl-with-firehose.html), so the
  ``aggregated`` output mode reaches the index one document per log event;
- it buffers like ``BufferingHints`` (a flush when the buffer holds ``SizeInMBs`` or its
  oldest document is ``IntervalInSeconds`` old; defaults 5 MB / 300 s), the interval
  multiplied by the sandbox's ``time_scale`` like the state machine's Retry sleeps;
- it writes ``_bulk`` ``index`` actions with ``FIREHOSE_DEFAULT``-like ids: derived from
  the Kinesis record (shard, sequence number) and the document's place in it, so they are
  stable across the stand-in's own retries only. logstep's at-least-once resends are new
  Kinesis records with new sequence numbers: they become visible duplicates in the
  index, as they do behind a real Firehose
  (https://docs.aws.amazon.com/firehose/latest/APIReference/API_DocumentIdOptions.html);
- indices are ``<prefix>-<period of the ARRIVAL time>`` (Firehose rotates on the arrival
  timestamp, https://docs.aws.amazon.com/firehose/latest/dev/es-index-rotation.html),
  not of the event's own time as the ``search`` delivery does;
- ``429``/``5xx`` items and whole requests are retried for ``RetryOptions.DurationInSeconds``
  (default 300 s, the first attempt included, scaled), then written, with the other
  failed documents (400-class at once), to the S3 backup under
  ``AmazonOpenSearchService-failed/`` (``S3BackupMode: FailedDocumentsOnly``), counted.

What it does not imitate: Firehose's real retry timing and backoff, its parallelism, its
record format conversion and Lambda processing, CloudWatch delivery metrics and error
logs, and any destination other than an OpenSearch domain (no HTTP endpoint, no
Serverless collection). The pure parts (ids, buffering decisions, batches, failure
records) are module functions; ``FirehoseStandIn`` is the shell around them.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib.aggregation import deaggregate, is_aggregated
from chalicelib.batching import Record
from chalicelib.indices import index_name

MIB = 1024 * 1024
# AmazonopensearchserviceBufferingHints defaults: SizeInMBs 5 (1-100), IntervalInSeconds 300
# (0-900): https://docs.aws.amazon.com/firehose/latest/APIReference/API_AmazonopensearchserviceBufferingHints.html
DEFAULT_BUFFER_BYTES = 5 * MIB
DEFAULT_BUFFER_INTERVAL_SECONDS = 300.0
# AmazonopensearchserviceRetryOptions.DurationInSeconds default 300 (0-7200), the first
# attempt included; 0 = no retries:
# https://docs.aws.amazon.com/firehose/latest/APIReference/API_AmazonopensearchserviceRetryOptions.html
DEFAULT_RETRY_DURATION_SECONDS = 300.0
# Where FailedDocumentsOnly puts what could not be indexed, appended to the key prefix
# (AmazonopensearchserviceDestinationConfiguration.S3BackupMode).
FAILED_DOCUMENTS_FOLDER = "AmazonOpenSearchService-failed/"
# The stand-in's own backoff between retries of one buffer (Firehose does not document its own).
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
GET_RECORDS_LIMIT = 10_000


@dataclass(frozen=True)
class FirehoseSettings:
    """The delivery stream's destination settings, as the deploy template names them."""

    index_prefix: str = "logstep"
    rotation: str = "OneDay"
    buffer_bytes: int = DEFAULT_BUFFER_BYTES
    buffer_interval_seconds: float = DEFAULT_BUFFER_INTERVAL_SECONDS
    retry_duration_seconds: float = DEFAULT_RETRY_DURATION_SECONDS
    backup_prefix: str = ""
    # Multiplies the buffer interval, the retry duration and the backoff (1 = real time).
    time_scale: float = 0.01

    @property
    def interval(self) -> float:
        """The buffer interval in scaled seconds."""
        return self.buffer_interval_seconds * self.time_scale

    @property
    def retry_duration(self) -> float:
        """The retry duration in scaled seconds."""
        return self.retry_duration_seconds * self.time_scale


@dataclass(frozen=True)
class Document:
    """One de-aggregated document read off the stream, with where it goes."""

    doc_id: str
    index: str
    data: bytes
    arrival_ms: int

    @property
    def size(self) -> int:
        """Bytes it adds to the buffer (Firehose's size hint counts the data)."""
        return len(self.data)


@dataclass(frozen=True)
class ItemAnswer:
    """One bulk item's outcome (status 0: no answer at all)."""

    status: int
    error: str = ""

    @property
    def indexed(self) -> bool:
        """Written (``index`` answers 200 or 201)."""
        return 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        """Busy or failing cluster, or no answer: worth sending again unchanged."""
        return self.status == 429 or self.status >= 500 or self.status == 0


def document_id(shard_id: str, sequence_number: str, sub_index: int) -> str:
    """A FIREHOSE_DEFAULT-like ``_id``: the Kinesis record's shard and sequence number and the
    document's place in it. The same record read again gives the same ids; a resent copy is a
    new record, so it gets new ones. (Firehose's own ids are opaque; these are readable.)"""
    return f"{shard_id}.{sequence_number}.{sub_index}"


def documents_of(shard_id: str, record: dict[str, Any], settings: FirehoseSettings) -> list[Document]:
    """The documents of one get_records record: de-aggregated, with ids and arrival-time index.

    A record with the KPL magic and checksum that does not parse is delivered as it is (the
    cluster rejects it, and it lands in the S3 backup).
    """
    arrival = record["ApproximateArrivalTimestamp"]
    arrival_ms = int(arrival.timestamp() * 1000) if isinstance(arrival, datetime) else int(arrival)
    data = bytes(record["Data"])
    try:
        users = deaggregate(Record(partition_key=str(record.get("PartitionKey", "")), data=data))
    except ValueError:
        users = [Record(partition_key="", data=data)]
    index = index_name(settings.index_prefix, settings.rotation, arrival_ms)
    sequence = str(record["SequenceNumber"])
    return [
        Document(document_id(shard_id, sequence, i), index, user.data, arrival_ms)
        for i, user in enumerate(users)
    ]


def flush_reason(buffered_bytes: int, oldest_age_seconds: float | None, settings: FirehoseSettings) -> str:
    """Why the buffer is delivered now: ``size``, ``interval``, or "" (keep buffering).

    Firehose delivers when either hint is reached, whichever comes first.
    """
    if oldest_age_seconds is None:
        return ""
    if buffered_bytes >= settings.buffer_bytes:
        return "size"
    if oldest_age_seconds >= settings.interval:
        return "interval"
    return ""


def take_batch(buffer: Sequence[Document], max_bytes: int) -> tuple[list[Document], list[Document]]:
    """The first documents up to ``max_bytes`` (at least one) and the rest, in order."""
    taken = 0
    size = 0
    for document in buffer:
        if taken and size + document.size > max_bytes:
            break
        size += document.size
        taken += 1
    return list(buffer[:taken]), list(buffer[taken:])


def bulk_body(documents: Sequence[Document]) -> bytes:
    """NDJSON ``index`` actions (Firehose indexes; a retried ``_id`` overwrites itself)."""
    parts: list[bytes] = []
    for d in documents:
        action = {"index": {"_index": d.index, "_id": d.doc_id}}
        parts += [json.dumps(action, separators=(",", ":")).encode(), b"\n", d.data, b"\n"]
    return b"".join(parts)


def item_answers(status: int, body: Any, expected: int) -> list[ItemAnswer]:
    """Per-item answers of one bulk request; a whole-request failure applies to every item."""
    items = body.get("items") if status == 200 and isinstance(body, dict) else None
    if not isinstance(items, list) or len(items) != expected:
        error = body.get("error") if isinstance(body, dict) else body
        reason = _describe(error) or f"HTTP {status}"
        return [ItemAnswer(status if status != 200 else 500, reason)] * expected
    answers = []
    for item in items:
        outcome = next(iter(item.values())) if isinstance(item, dict) and item else {}
        item_status = int(outcome.get("status", 500)) if isinstance(outcome, dict) else 500
        error = "" if 200 <= item_status < 300 else _describe(outcome.get("error"))
        answers.append(ItemAnswer(item_status, error))
    return answers


def _describe(error: Any) -> str:
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('reason', '')}"[:1000]
    return str(error or "")[:1000]


def backoff_seconds(attempt: int) -> float:
    """Unscaled wait before retry ``attempt`` (1-based): doubling from 1 s, capped at 30 s."""
    return float(min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1)))


def failed_record(document: Document, answer: ItemAnswer, attempts: int, ended_ms: int) -> dict[str, Any]:
    """One line of a backup object, in the shape of Firehose's failed-document records."""
    return {
        "attemptsMade": attempts,
        "arrivalTimestamp": document.arrival_ms,
        "errorCode": str(answer.status) if answer.status else "NoResponse",
        "errorMessage": answer.error,
        "attemptEndingTimestamp": ended_ms,
        "rawData": base64.b64encode(document.data).decode(),
        "esDocumentId": document.doc_id,
        "esIndexName": document.index,
    }


def backup_key(prefix: str, ended_ms: int, sequence: int) -> str:
    """``<prefix>AmazonOpenSearchService-failed/YYYY/MM/DD/HH/<name>``, as Firehose lays out S3."""
    when = datetime.fromtimestamp(ended_ms / 1000, tz=UTC)
    return f"{prefix}{FAILED_DOCUMENTS_FOLDER}{when:%Y/%m/%d/%H}/logstep-sandbox-{ended_ms}-{sequence:05d}"


@dataclass
class FirehoseCounters:
    """What the stand-in read, delivered and backed up."""

    records_read: int = 0
    aggregated_records: int = 0
    documents_read: int = 0
    flushes: Counter[str] = field(default_factory=Counter)
    bulk_requests: int = 0
    item_retries: int = 0
    indexed: int = 0
    backed_up: int = 0
    backup_objects: int = 0
    backup_errors: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        """The counters as the demo's summary reports them."""
        return {
            "records_read": self.records_read,
            "aggregated_records": self.aggregated_records,
            "documents_read": self.documents_read,
            "flushes": dict(sorted(self.flushes.items())),
            "bulk_requests": self.bulk_requests,
            "item_retries": self.item_retries,
            "indexed": self.indexed,
            "backed_up": self.backed_up,
            "backup_objects": self.backup_objects,
            "backup_errors": dict(sorted(self.backup_errors.items())),
        }


Post = Callable[[bytes], tuple[int, Any]]


def http_post(url: str, timeout: float = 120.0) -> Post:
    """POST a bulk body to ``url``; (status, parsed JSON body), status 0 when no answer came."""

    def post(body: bytes) -> tuple[int, Any]:
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/x-ndjson"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return int(response.status), json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as e:
            try:
                return int(e.code), json.loads(e.read() or b"{}")
            except ValueError:
                return int(e.code), None
        except (OSError, ValueError) as e:
            return 0, f"{type(e).__name__}: {e}"

    return post


class FirehoseStandIn:
    """Reads a Kinesis stream and delivers it to a search server as Firehose would (see module).

    ``poll()`` is one pass (read every shard, deliver what is due); ``settle()`` polls until
    the stream is read and the buffer delivered; ``start()``/``stop()`` run ``poll`` on a
    thread. Only one thread polls at a time.
    """

    def __init__(
        self,
        kinesis: Any,
        s3: Any,
        stream: str,
        post: Post,
        backup_bucket: str,
        settings: FirehoseSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.kinesis = kinesis
        self.s3 = s3
        self.stream = stream
        self.settings = settings or FirehoseSettings()
        self.backup_bucket = backup_bucket
        self.counters = FirehoseCounters()
        self._post = post
        self._clock = clock
        self._sleep = sleep
        self._wall_ms = wall_clock_ms
        self._iterators: dict[str, str] = {}
        self._buffer: list[Document] = []
        self._buffer_since: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backup_sequence = 0

    # ---- reading ---------------------------------------------------------------------

    def read(self) -> int:
        """One get_records per shard from where the stand-in left off; returns records read."""
        total = 0
        for shard in self.kinesis.list_shards(StreamName=self.stream)["Shards"]:
            shard_id = shard["ShardId"]
            iterator = (
                self._iterators.get(shard_id)
                or self.kinesis.get_shard_iterator(
                    StreamName=self.stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            )
            response = self.kinesis.get_records(ShardIterator=iterator, Limit=GET_RECORDS_LIMIT)
            for record in response["Records"]:
                documents = documents_of(shard_id, record, self.settings)
                self.counters.records_read += 1
                self.counters.aggregated_records += int(is_aggregated(bytes(record["Data"])))
                self.counters.documents_read += len(documents)
                if documents and self._buffer_since is None:
                    self._buffer_since = self._clock()
                self._buffer.extend(documents)
            total += len(response["Records"])
            self._iterators[shard_id] = response["NextShardIterator"]
        return total

    @property
    def buffered(self) -> int:
        """Documents waiting in the buffer."""
        return len(self._buffer)

    # ---- delivering ------------------------------------------------------------------

    def due(self) -> str:
        """Why the buffer should be delivered now, or ""."""
        age = None if self._buffer_since is None else self._clock() - self._buffer_since
        return flush_reason(sum(d.size for d in self._buffer), age, self.settings)

    def poll(self) -> int:
        """Read every shard once, then deliver while the buffer is due; returns records read."""
        with self._lock:
            read = self.read()
            while reason := self.due():
                self.flush(reason)
            return read

    def flush(self, reason: str) -> None:
        """Deliver one buffer's worth (up to the size hint): retries, then the S3 backup."""
        batch, self._buffer = take_batch(self._buffer, self.settings.buffer_bytes)
        self._buffer_since = self._clock() if self._buffer else None
        if batch:
            self.counters.flushes[reason] += 1
            self.deliver(batch)

    def deliver(self, batch: list[Document]) -> None:
        """Bulk-index ``batch``; retry 429/5xx for the retry duration; back up what failed."""
        deadline = self._clock() + self.settings.retry_duration
        pending = batch
        attempts = 0
        failed: list[tuple[Document, ItemAnswer]] = []
        while pending:
            attempts += 1
            self.counters.bulk_requests += 1
            status, body = self._post(bulk_body(pending))
            answers = item_answers(status, body, len(pending))
            retry: list[tuple[Document, ItemAnswer]] = []
            for document, answer in zip(pending, answers, strict=True):
                if answer.indexed:
                    self.counters.indexed += 1
                elif answer.retryable:
                    retry.append((document, answer))
                else:
                    failed.append((document, answer))
            wait = backoff_seconds(attempts) * self.settings.time_scale
            if retry and self._clock() + wait < deadline:
                self.counters.item_retries += len(retry)
                self._sleep(wait)
                pending = [document for document, _ in retry]
            else:
                failed += retry
                pending = []
        if failed:
            self.backup(failed, attempts)

    def backup(self, failed: list[tuple[Document, ItemAnswer]], attempts: int) -> None:
        """Write failed documents to the S3 backup, one JSON line each."""
        ended = self._wall_ms()
        self._backup_sequence += 1
        lines = [json.dumps(failed_record(d, a, attempts, ended)) for d, a in failed]
        self.s3.put_object(
            Bucket=self.backup_bucket,
            Key=backup_key(self.settings.backup_prefix, ended, self._backup_sequence),
            Body=("\n".join(lines) + "\n").encode(),
        )
        self.counters.backup_objects += 1
        self.counters.backed_up += len(failed)
        for _, answer in failed:
            self.counters.backup_errors[str(answer.status) if answer.status else "NoResponse"] += 1

    def backed_up_documents(self) -> list[dict[str, Any]]:
        """Every failed-document record in the backup bucket."""
        out: list[dict[str, Any]] = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.backup_bucket, Prefix=self.settings.backup_prefix + FAILED_DOCUMENTS_FOLDER
        )
        for page in pages:
            for item in page.get("Contents", []):
                body = self.s3.get_object(Bucket=self.backup_bucket, Key=item["Key"])["Body"].read()
                out += [json.loads(line) for line in body.splitlines() if line.strip()]
        return out

    # ---- running ---------------------------------------------------------------------

    def settle(self, timeout: float = 120.0, poll_seconds: float = 0.05) -> None:
        """Poll until nothing new is on the stream and the buffer is delivered (by its own
        interval: the stand-in never flushes early)."""
        deadline = self._clock() + timeout
        while True:
            read = self.poll()
            if not read and not self._buffer:
                return
            if self._clock() > deadline:
                raise TimeoutError(f"Firehose stand-in: {len(self._buffer)} documents still buffered")
            self._sleep(poll_seconds)

    def start(
        self,
        interval: float = 0.5,
        on_poll: Callable[[FirehoseStandIn], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        """Poll on a daemon thread every ``interval`` seconds until ``stop()``."""

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.poll()
                    if on_poll is not None:
                        on_poll(self)
                except Exception as e:  # keep polling, as Firehose keeps reading its source
                    if self._stop.is_set():
                        return
                    if on_error is not None:
                        on_error(e)

        self._thread = threading.Thread(target=loop, name="firehose-stand-in", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the polling thread (what is still buffered stays undelivered)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def backup_bucket_name(stage: str) -> str:
    """The sandbox bucket standing in for the delivery stream's S3 destination."""
    return f"logstep-{stage}-firehose-backup"


def stand_in_for(
    sandbox: Any, search: Any, settings: FirehoseSettings | None = None, **timing: Any
) -> FirehoseStandIn:
    """A stand-in reading the sandbox's destination stream into ``search`` (through its fault
    proxy, so the search fault flags reach it), with its backup bucket created. Its clients
    are the sandbox's operator clients: neither fault-injected nor counted as the pipeline's.
    ``timing``: ``clock``/``sleep``/``wall_clock_ms`` for tests."""
    settings = settings or FirehoseSettings(time_scale=sandbox.config.time_scale)
    s3 = sandbox.client("s3")
    bucket = backup_bucket_name(sandbox.config.stage)
    s3.create_bucket(Bucket=bucket)
    return FirehoseStandIn(
        kinesis=sandbox.client("kinesis"),
        s3=s3,
        stream=sandbox.destination_stream,
        post=http_post(search.proxy_url + "/_bulk"),
        backup_bucket=bucket,
        settings=settings,
        **timing,
    )
