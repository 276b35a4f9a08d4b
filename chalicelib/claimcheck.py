"""Claim checks: records live in S3, state carries only references and counts (shell).

Step Functions state is limited to 256 KiB; a Kinesis batch can be 6 MB and decompress
to ten times that, so every step reads and writes S3 objects named from the run prefix:

    runs/<execution name>/raw.json           the Kinesis batch as ingest received it
    runs/<execution name>/decoded.jsonl      one DATA_MESSAGE envelope per line
    runs/<execution name>/quarantine.json    records that are not envelopes, with reasons
    runs/<execution name>/chunks/NNNNN.bin   delivery chunks (framed records)
    runs/<execution name>/chunks.json        the chunk list, written once every chunk is
                                             (partial chunks of a failed Transform have none)
    runs/<execution name>/pending/NNNNN.bin  what a chunk still has to send (empty: done)
    runs/<execution name>/rejected/NNNNN.json why the cluster refused a chunk's pending
                                             items (search delivery: 400-class item errors)
    runs/<execution name>/oversize/<id>.json originals of documents truncated to fit a record
    runs/<execution name>/summary.json       the run's final counts

Once every record of a run is delivered, summarize deletes the objects that only served
delivery (raw, decoded, chunks, pending) and keeps summary, quarantine and oversize: a
succeeded run has nothing to replay, and its objects were most of the claim-check bill.
Failed runs keep everything until the bucket's lifecycle rule expires it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import StorageUnavailableError

RUNS_PREFIX = "runs/"
# DeleteObjects takes at most 1,000 keys per request:
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html
MAX_KEYS_PER_DELETE = 1000
_RETRYABLE_S3_CODES = frozenset(
    {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "503", "500"}
)


def run_prefix(execution_name: str) -> str:
    """The S3 prefix of one execution's objects."""
    return f"{RUNS_PREFIX}{execution_name}/"


def chunk_key(run: str, index: int) -> str:
    """Where transform writes delivery chunk ``index``."""
    return f"{run}chunks/{index:05d}.bin"


def manifest_key(run: str) -> str:
    """Where transform lists a run's chunks once it has written them all."""
    return f"{run}chunks.json"


def pending_key(run: str, index: int) -> str:
    """Where put_batch keeps what chunk ``index`` still has to send."""
    return f"{run}pending/{index:05d}.bin"


def rejected_key(run: str, index: int) -> str:
    """Where put_batch keeps the cluster's reasons for refusing chunk ``index``'s items."""
    return f"{run}rejected/{index:05d}.json"


class ClaimCheck:
    """Reads and writes one bucket's pipeline objects, translating S3 errors at the edge."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def uri(self, key: str) -> str:
        """The s3:// URI of a key, for error messages and causes."""
        return f"s3://{self.bucket}/{key}"

    def put(self, key: str, body: bytes, metadata: dict[str, str] | None = None) -> None:
        """Write an object."""
        try:
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, Metadata=metadata or {})
        except ClientError as e:
            raise _translate(e, f"put {self.uri(key)}") from e

    def get(self, key: str) -> bytes:
        """Read an object; raise KeyError when it does not exist."""
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as e:
            if e.response["Error"]["Code"] in ("NoSuchKey", "404"):
                raise KeyError(key) from e
            raise _translate(e, f"get {self.uri(key)}") from e
        body: bytes = response["Body"].read()
        return body

    def get_optional(self, key: str) -> bytes | None:
        """Read an object, or None when it does not exist."""
        try:
            return self.get(key)
        except KeyError:
            return None

    def remaining(self, run: str, index: int, chunk: str) -> tuple[bytes, bool]:
        """What chunk ``index`` still has to send, and whether that is a pending set.

        Once put_batch has written the chunk's pending set, that set is what is left
        (empty: done); before that, the whole chunk is.
        """
        blob = self.get_optional(pending_key(run, index))
        if blob is not None:
            return blob, True
        return self.get(chunk), False

    def delete(self, keys: Sequence[str]) -> list[str]:
        """Delete objects (a missing key counts as deleted); return the keys S3 did not delete.

        Housekeeping, never a reason to fail a run: errors come back as keys, and the
        bucket's lifecycle rule removes whatever stays. S3 does not bill DELETE requests
        (https://aws.amazon.com/s3/pricing/, "DELETE and CANCEL requests are free").
        """
        refused: list[str] = []
        for start in range(0, len(keys), MAX_KEYS_PER_DELETE):
            batch = list(keys[start : start + MAX_KEYS_PER_DELETE])
            try:
                response = self._s3.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                )
            except (ClientError, BotoCoreError):
                refused += batch
                continue
            refused += [str(error.get("Key", "")) for error in response.get("Errors", [])]
        return refused

    def list_keys(self, prefix: str) -> list[str]:
        """Every key under a prefix, in key order."""
        keys: list[str] = []
        try:
            paginator = self._s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", []))
        except ClientError as e:
            raise _translate(e, f"list {self.uri(prefix)}") from e
        return sorted(keys)


def delivery_keys(run: str, chunk_keys: Sequence[str], search: bool = False) -> list[str]:
    """The objects a run needs only until its records are delivered."""
    keys = [f"{run}raw.json", f"{run}decoded.jsonl", manifest_key(run)]
    for index, chunk in enumerate(chunk_keys):
        keys += [chunk, pending_key(run, index)]
    if search:
        # Reasons of items refused on an earlier attempt and delivered since (replay).
        keys += [rejected_key(run, index) for index in range(len(chunk_keys))]
    return keys


def _translate(error: ClientError, action: str) -> BaseException:
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    if code in _RETRYABLE_S3_CODES or status >= 500:
        return StorageUnavailableError(f"S3 {code or status} on {action}")
    translated: BaseException = error
    return translated
