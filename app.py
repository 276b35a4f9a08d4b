"""logstep's Chalice app: wiring only. Each handler turns its event into typed input,
calls one chalicelib function and returns or raises."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from chalice.app import Chalice

from chalicelib import steps
from chalicelib.claimcheck import ClaimCheck
from chalicelib.delivery import KinesisDelivery
from chalicelib.ingest import Ingest, source_records_from_event
from chalicelib.settings import Settings
from chalicelib.transform import TransformOptions

app = Chalice(app_name="logstep")

# Chalice fixes the Kinesis trigger's stream when app.py is imported, so this one value
# is read here, from the stage's environment (.chalice/config.json), and nowhere else.
SOURCE_STREAM = os.environ.get("LOGSTEP_SOURCE_STREAM", "logstep-dev-source")
INGEST_BATCH_SIZE = 10_000
INGEST_BATCHING_WINDOW_SECONDS = 5


@cache
def _settings() -> Settings:
    return Settings.from_env(os.environ)


@cache
def _client(service: str) -> Any:
    return boto3.client(service)


def reset() -> None:
    """Forget settings and clients (the sandbox calls this when it starts a fresh account)."""
    _settings.cache_clear()
    _client.cache_clear()


def _store() -> ClaimCheck:
    return ClaimCheck(_client("s3"), _settings().bucket)


@app.on_kinesis_record(
    stream=SOURCE_STREAM,
    batch_size=INGEST_BATCH_SIZE,
    starting_position="TRIM_HORIZON",
    maximum_batching_window_in_seconds=INGEST_BATCHING_WINDOW_SECONDS,
)
def ingest(event: Any) -> None:
    """Kinesis trigger: claim-check the batch and start its execution."""
    settings = _settings()
    arn = settings.resolve_state_machine_arn(event.context.invoked_function_arn)
    records = source_records_from_event(event.to_dict())
    Ingest(_store(), _client("stepfunctions"), arn).handle(records)


@app.lambda_function(name="decode")
def decode(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Task Decode: raw batch -> envelopes; malformed records quarantined."""
    return steps.decode_batch(event, _store())


@app.lambda_function(name="transform")
def transform(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Task Transform: envelopes -> documents in delivery chunks."""
    settings = _settings()
    options = TransformOptions(output_format=settings.output_format, json_fields_key=settings.json_fields_key)
    return steps.transform_batch(event, _store(), settings.delivery, options, settings.packing)


@app.lambda_function(name="put_batch")
def put_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Task PutBatch (inside the Map): send one chunk's pending records."""
    settings = _settings()
    delivery = KinesisDelivery(_client("kinesis"), settings.destination_stream, settings.delivery)
    return steps.put_batch(event, _store(), delivery, settings.destination_stream)


@app.lambda_function(name="summarize")
def summarize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Task Summarize: count delivered and pending records, name where pending ones are."""
    return steps.summarize(event, _store())
