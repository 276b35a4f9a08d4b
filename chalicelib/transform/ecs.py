"""The ``ecs`` output format: a logstep document mapped to the Elastic Common Schema.

Field reference: https://www.elastic.co/guide/en/ecs/current/ecs-field-reference.html
(``@timestamp``, ``message``, ``log.level``, ``log.logger``, ``cloud.*``, ``event.id``,
``faas.*``). CloudWatch and Lambda details go under the ``aws.*`` custom namespace that
Elastic's own AWS integrations use (``aws.cloudwatch.log_group``, ``aws.lambda.*``).
"""

from __future__ import annotations

from typing import Any, Final

from chalicelib.transform.schema import (
    CLOUDWATCH,
    LAMBDA,
    LEVEL,
    MESSAGE,
    RESERVED_FIELDS,
    SHADOWED,
    TIMESTAMP,
    Document,
)

ECS_VERSION: Final = "8.11.0"
# Top-level names the ecs format owns; a user's JSON field of the same name is shadowed.
ECS_RESERVED_FIELDS: Final = frozenset(
    ("@timestamp", "message", "log", "cloud", "event", "aws", "faas", "ecs")
)
# lambda.<field> -> faas.<field>; every other lambda field goes to aws.lambda.<snake_case>.
_FAAS: Final = {"functionName": "name", "version": "version", "requestId": "execution"}
_SNAKE: Final = {
    "type": "type",
    "durationMs": "duration_ms",
    "billedDurationMs": "billed_duration_ms",
    "memorySizeMb": "memory_size_mb",
    "maxMemoryUsedMb": "max_memory_used_mb",
    "initDurationMs": "init_duration_ms",
    "restoreDurationMs": "restore_duration_ms",
    "billedRestoreDurationMs": "billed_restore_duration_ms",
    "status": "status",
    "errorType": "error_type",
    "errorMessage": "error_message",
    "runtimeVersion": "runtime_version",
    "runtimeVersionArn": "runtime_version_arn",
    "xrayTraceId": "xray_trace_id",
    "segmentId": "segment_id",
    "sampled": "sampled",
    "timeoutSeconds": "timeout_seconds",
    "phase": "phase",
    "initializationType": "initialization_type",
    "producedBytes": "produced_bytes",
    "extensionName": "extension_name",
    "state": "state",
    "events": "events",
    "types": "types",
}


def to_ecs(doc: Document) -> Document:
    """Map one logstep document to its ecs twin (same information, ECS names)."""
    cloudwatch: dict[str, Any] = doc[CLOUDWATCH]
    out: Document = {"@timestamp": doc[TIMESTAMP], MESSAGE: doc[MESSAGE]}
    log: dict[str, Any] = {}
    if LEVEL in doc:
        log["level"] = doc[LEVEL]
    logger = doc.get("logger")
    if isinstance(logger, str):
        log["logger"] = logger
    if log:
        out["log"] = log
    aws_cloudwatch: dict[str, Any] = {
        "log_group": cloudwatch["logGroup"],
        "log_stream": cloudwatch["logStream"],
        "event_id": cloudwatch["id"],
        "timestamp": cloudwatch["timestamp"],
    }
    aws: dict[str, Any] = {"cloudwatch": aws_cloudwatch}
    lam = doc.get(LAMBDA)
    if lam:
        faas: dict[str, Any] = {}
        details: dict[str, Any] = {}
        for key, value in lam.items():
            if key in _FAAS:
                faas[_FAAS[key]] = value
            else:
                details[_SNAKE.get(key, key)] = value
        if faas:
            out["faas"] = faas
        if details:
            aws["lambda"] = details
    out["cloud"] = {"provider": "aws", "account": {"id": cloudwatch["owner"]}}
    out["event"] = {"id": cloudwatch["id"]}
    out["aws"] = aws
    out["ecs"] = {"version": ECS_VERSION}
    shadowed: dict[str, Any] | None = cloudwatch.get(SHADOWED)
    for key, value in doc.items():
        if key in RESERVED_FIELDS or (key == "logger" and "logger" in log):
            continue
        if key in ECS_RESERVED_FIELDS:
            shadowed = {**(shadowed or {}), key: value}
        else:
            out[key] = value
    if shadowed:
        aws_cloudwatch[SHADOWED] = shadowed
    return out
