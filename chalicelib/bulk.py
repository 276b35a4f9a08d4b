"""Documents -> _bulk items, and _bulk answers -> per-item outcomes (pure).

The search delivery (``LOGSTEP_DELIVERY=search``) writes every document with ``create``
and a deterministic ``_id`` into an index named from the event's own time, so a retried,
resent or replayed document always meets its earlier copy: ``create`` answers ``409``
for an ``_id`` the index already holds, and the index keeps exactly one copy.
Bulk API: https://opensearch.org/docs/latest/api-reference/document-apis/bulk/ and
https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-bulk.html ("The
create action fails if a document with the same ID already exists in the target").

A chunk's items are the same framed ``Record``s the Kinesis delivery uses, so chunks,
pending sets, Retry and replay work unchanged: the record's key is the item's action
line (``{"create":{"_index":...,"_id":...}}``) and its data the document, so a bulk
body is the records' keys and data joined by newlines.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib import jsoncodec
from chalicelib.batching import Record

# Bulk item statuses: 409 on create = the _id is already there; 429 and 5xx are transient.
CONFLICT = 409
TOO_MANY_REQUESTS = 429
REQUEST_TIMEOUT = 408
REQUEST_TOO_LARGE = 413


def document_id(owner: str, log_group: str, log_stream: str, event_id: str) -> str:
    """The document's ``_id``: a digest of the CloudWatch event's identity.

    CloudWatch documents an event id as unique, but not across accounts or log groups,
    and other producers (moto among them) number events per stream; owner, group and
    stream make the key unique however the id is made. 120 bits, URL-safe base64 (20
    characters), well inside the 512-byte ``_id`` limit.
    """
    identity = "\0".join((owner, log_group, log_stream, event_id)).encode()
    digest = hashlib.blake2b(identity, digest_size=15).digest()
    return base64.urlsafe_b64encode(digest).decode()


def bulk_record(index: str, doc_id: str, data: bytes) -> Record:
    """A chunk item: the ``create`` action line as key, the document as data."""
    action = '{"create":{"_index":"' + index + '","_id":"' + doc_id + '"}}'
    return Record(partition_key=action, data=data)


def item_action(record: Record) -> tuple[str, str]:
    """(index, _id) of a chunk item."""
    create = jsoncodec.loads(record.partition_key.encode())["create"]
    return str(create["_index"]), str(create["_id"])


def bulk_body(records: Sequence[Record]) -> bytes:
    """The NDJSON body of a _bulk request: action line, document, each newline-terminated."""
    parts: list[bytes] = []
    for record in records:
        parts += [record.partition_key.encode(), b"\n", record.data, b"\n"]
    return b"".join(parts)


def bulk_bytes(record: Record) -> int:
    """Bytes an item adds to a bulk body (its two lines and their newlines)."""
    return record.size + 2


@dataclass(frozen=True)
class ItemResult:
    """One bulk item's answer: its HTTP status and, for a failure, the cluster's reason."""

    status: int
    error: str = ""

    @property
    def delivered(self) -> bool:
        """Written now (2xx), or already there (409 on create)."""
        return 200 <= self.status < 300 or self.status == CONFLICT

    @property
    def retryable(self) -> bool:
        """Worth sending again unchanged: the cluster was busy or failing."""
        return self.status in (TOO_MANY_REQUESTS, REQUEST_TIMEOUT) or self.status >= 500


def item_results(response: Any, expected: int) -> list[ItemResult] | None:
    """Per-item results of a 200 bulk answer, in request order; None if it is not one.

    A bulk answer is 200 even when items failed: ``errors`` says whether any did, and
    each item carries its own ``status`` (and ``error``). Anything that does not list
    exactly one item per document sent is not a bulk answer logstep can trust.
    """
    if not isinstance(response, dict):
        return None
    items = response.get("items")
    if not isinstance(items, list) or len(items) != expected:
        return None
    results: list[ItemResult] = []
    for item in items:
        outcome = next(iter(item.values()), None) if isinstance(item, dict) and item else None
        if not isinstance(outcome, dict) or not isinstance(outcome.get("status"), int):
            return None
        status = int(outcome["status"])
        error = "" if 200 <= status < 300 or status == CONFLICT else describe_error(outcome.get("error"))
        results.append(ItemResult(status=status, error=error))
    return results


def describe_error(error: Any) -> str:
    """``type: reason`` of a cluster error object (with its cause's), or its text."""
    if isinstance(error, dict):
        text = f"{error.get('type', 'error')}: {error.get('reason', '')}".strip()
        cause = error.get("caused_by")
        if isinstance(cause, dict):
            text += f" (caused by {cause.get('type', '')}: {cause.get('reason', '')})"
        return text[:1000]
    return str(error or "")[:1000]


# The per-document parts of OpenSearch/Elasticsearch mapping errors.
_PREVIEW = re.compile(r"\. Preview of field's value: .*$")
_DOCUMENT_ID = re.compile(r"(document with id )'[^']*'")


def error_class(error: str) -> str:
    """A rejection's reason without its per-document parts (document id, value), so
    rejections can be counted by kind: ``mapper_parsing_exception: failed to parse field
    [timestamp] of type [long] in document with id '…'``."""
    head = _PREVIEW.sub("", error.split(" (caused by", 1)[0])
    return _DOCUMENT_ID.sub(r"\1'…'", head)
