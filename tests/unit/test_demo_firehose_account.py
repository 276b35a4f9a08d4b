"""The demo's account of the Firehose stand-in: every event on the stream is indexed or backed up."""

from __future__ import annotations

import base64
import json
from typing import Any

from logstep.sandbox.demo import firehose_account
from logstep.sandbox.firehose import FirehoseCounters, FirehoseSettings


def document(event_id: str, group: str = "/aws/lambda/orders") -> dict[str, Any]:
    return {"message": "m", "cloudwatch": {"logGroup": group, "logStream": "s1", "id": event_id}}


class FakeStandIn:
    """What firehose_account reads of a FirehoseStandIn."""

    def __init__(self, backed_up: list[dict[str, Any] | bytes]) -> None:
        self.settings = FirehoseSettings(backup_prefix="fh/")
        self.backup_bucket = "logstep-sandbox-firehose-backup"
        self.counters = FirehoseCounters(
            records_read=4, documents_read=4, indexed=1, backed_up=len(backed_up)
        )
        self._backed_up = backed_up

    def backed_up_documents(self) -> list[dict[str, Any]]:
        return [
            {"rawData": base64.b64encode(d if isinstance(d, bytes) else json.dumps(d).encode()).decode()}
            for d in self._backed_up
        ]


def test_events_neither_indexed_nor_backed_up_are_counted() -> None:
    stream = [document("1"), document("2"), document("3"), document("1", "/aws/lambda/other")]
    firehose = FakeStandIn([document("2"), b"not json"])
    account = firehose_account(firehose, stream, indexed_documents=[document("1")])
    # Event 3 and the other group's event 1 are nowhere (an id alone does not identify an event).
    assert account["not_indexed_events"] == 2
    assert account["backup"] == "s3://logstep-sandbox-firehose-backup/fh/AmazonOpenSearchService-failed/"
    assert (account["indexed"], account["backed_up"]) == (1, 2)
    assert account["settings"]["document_ids"] == "FIREHOSE_DEFAULT"


def test_a_backed_up_event_is_accounted_for() -> None:
    stream = [document("1"), document("2")]
    account = firehose_account(FakeStandIn([document("2")]), stream, indexed_documents=[document("1")])
    assert account["not_indexed_events"] == 0
