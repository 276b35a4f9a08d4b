"""Messages that are JSON objects: application records and Lambda's ``platform.*`` records.

Lambda's JSON log format writes application records as
``{"timestamp", "level", "message", "requestId", ...}`` (Python adds ``logger``,
``stackTrace``, ``errorType``, ...; Java names the id ``AWSRequestId``):
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html
Non-object JSON and broken JSON are not handled here: they stay text.
"""

from __future__ import annotations

from typing import Any

from chalicelib import jsoncodec
from chalicelib.transform.lambda_platform import apply_platform_record, is_platform_record
from chalicelib.transform.schema import (
    LAMBDA,
    LEVEL,
    MESSAGE,
    RESERVED_FIELDS,
    TIMESTAMP,
    Document,
    value_to_timestamp,
)

# Where a JSON record states its time, in order of preference (eventTime: CloudTrail).
_TIME_KEYS = ("timestamp", "time", "eventTime")
_REQUEST_ID_KEYS = ("requestId", "AWSRequestId")
_MISSING = object()


def parse_json_message(
    text: str, doc: Document, lambda_context: bool, json_fields_key: str
) -> dict[str, Any] | None:
    """Apply a JSON-object message to ``doc``; returns the user's shadowed values, if any.

    Leaves ``doc`` alone when the text is not a JSON object.
    """
    try:
        value = jsoncodec.loads_lossless(text)
    except ValueError:
        return None  # broken JSON is text
    if not isinstance(value, dict):
        return None  # so is JSON that is not an object
    if is_platform_record(value):
        apply_platform_record(value, doc)
        return None
    return merge_object(value, doc, lambda_context, json_fields_key)


def merge_object(
    value: dict[str, Any], doc: Document, lambda_context: bool, json_fields_key: str
) -> dict[str, Any] | None:
    """Schema fields from a JSON record, then its fields at the top level (or under a key).

    What a prefix already set (a runtime's level, time or request id) wins over the
    record's own. A record's value for a reserved name that differs from the document's
    is returned, to be kept under ``cloudwatch.shadowed``.
    """
    own_message = value.get(MESSAGE)
    if isinstance(own_message, str):
        doc[MESSAGE] = own_message
    if LEVEL not in doc:
        own_level = value.get(LEVEL)
        if isinstance(own_level, str) and own_level:
            doc[LEVEL] = own_level.upper()
    if doc[TIMESTAMP] is None:
        for key in _TIME_KEYS:
            stamp = value_to_timestamp(value.get(key))
            if stamp is not None:
                doc[TIMESTAMP] = stamp
                break
    # A request id is Lambda's when the record comes from a Lambda log stream or has the
    # shape of a Lambda JSON application record (API Gateway access logs also say requestId).
    if lambda_context or (LEVEL in value and TIMESTAMP in value):
        for key in _REQUEST_ID_KEYS:
            request_id = value.get(key)
            if isinstance(request_id, str) and request_id:
                doc.setdefault(LAMBDA, {}).setdefault("requestId", request_id)
                break
    if json_fields_key:
        doc[json_fields_key] = value
        return None
    reserved = RESERVED_FIELDS.intersection(value)
    if not reserved:
        doc.update(value)
        return None
    shadowed: dict[str, Any] = {}
    for key, item in value.items():
        if key in reserved:
            current = doc.get(key, _MISSING)
            if current is None or current != item:
                shadowed[key] = item
        else:
            doc[key] = item
    return shadowed or None
