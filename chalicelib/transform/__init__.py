"""Log event -> one JSON document (pure). The schema is documented in README.md ("Document schema").

The contract the pipeline relies on (the transform issue extends the formats, not this):
- ``transform_envelope(envelope, options)`` never raises and returns one document per
  event, in event order, plus a count of parse failures;
- every document has ``timestamp`` (ISO-8601 UTC, milliseconds, ``Z``), ``message`` (str)
  and ``cloudwatch`` {logGroup, logStream, id, owner, timestamp}; ``cloudwatch.id`` is
  the dedup key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib import jsoncodec
from chalicelib.envelope import Envelope, LogEvent

Document = dict[str, Any]


@dataclass(frozen=True)
class TransformOptions:
    """Per-stage output options."""

    output_format: str = "logstep"
    # When set, a JSON-object message's fields go under this key instead of the top level.
    json_fields_key: str = ""


@dataclass(frozen=True)
class TransformedEnvelope:
    """The documents of one envelope, in event order, and how many lines hit a parser bug."""

    documents: list[Document] = field(default_factory=list)
    parse_errors: int = 0


def format_timestamp(epoch_ms: int) -> str:
    """Epoch milliseconds -> ``2026-03-04T05:06:07.089Z``."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


_PYTHON_LINE = re.compile(
    r"\[(?P<level>[A-Za-z]+)\]\t(?P<ts>\d{4}-\d\d-\d\dT[\d:.]+Z)\t(?P<rid>[0-9a-f-]{36})\t(?P<msg>.*)",
    re.S,
)
_START = re.compile(r"START RequestId: (?P<rid>\S+)(?: Version: (?P<ver>\S+))?")
_END = re.compile(r"END RequestId: (?P<rid>\S+)")
_REPORT = re.compile(r"REPORT RequestId: (?P<rid>\S+)")
_REPORT_FIELDS = {
    "Duration": "durationMs",
    "Billed Duration": "billedDurationMs",
    "Memory Size": "memorySizeMb",
    "Max Memory Used": "maxMemoryUsedMb",
    "Init Duration": "initDurationMs",
}
_KEY_VALUE = re.compile(r"([A-Za-z ]+): ([\d.]+)")


def _number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def _parse_text(message: str, doc: Document) -> None:
    match = _PYTHON_LINE.match(message)
    if match:
        doc["level"] = match["level"].upper()
        doc["message"] = match["msg"]
        doc["lambda"] = {"requestId": match["rid"]}
        return
    if message.startswith("START "):
        match = _START.match(message)
        if match:
            info: dict[str, Any] = {"type": "START", "requestId": match["rid"]}
            if match["ver"]:
                info["version"] = match["ver"]
            doc["lambda"] = info
    elif message.startswith("END "):
        match = _END.match(message)
        if match:
            doc["lambda"] = {"type": "END", "requestId": match["rid"]}
    elif message.startswith("REPORT "):
        match = _REPORT.match(message)
        if match:
            info = {"type": "REPORT", "requestId": match["rid"]}
            for key, value in _KEY_VALUE.findall(message):
                name = _REPORT_FIELDS.get(key.strip())
                if name:
                    info[name] = _number(value)
            doc["lambda"] = info


def transform_event(event: LogEvent, envelope: Envelope, options: TransformOptions) -> Document:
    """One log event -> one document. Never raises."""
    message = event.message.rstrip("\r\n")
    doc: Document = {"timestamp": format_timestamp(event.timestamp), "message": message}
    stripped = message.lstrip()
    if stripped.startswith("{"):
        try:
            parsed = jsoncodec.loads(stripped)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            if options.json_fields_key:
                doc[options.json_fields_key] = parsed
            else:
                for key, value in parsed.items():
                    if key not in ("timestamp", "message", "cloudwatch"):
                        doc[key] = value
            if isinstance(parsed.get("message"), str):
                doc["message"] = parsed["message"]
            level = parsed.get("level")
            if isinstance(level, str):
                doc["level"] = level.upper()
    else:
        _parse_text(message, doc)
    doc["cloudwatch"] = {
        "logGroup": envelope.log_group,
        "logStream": envelope.log_stream,
        "id": event.id,
        "owner": envelope.owner,
        "timestamp": event.timestamp,
    }
    return doc


def transform_envelope(envelope: Envelope, options: TransformOptions) -> TransformedEnvelope:
    """Every event of an envelope -> documents, in order. Never raises."""
    documents: list[Document] = []
    errors = 0
    for event in envelope.events:
        try:
            documents.append(transform_event(event, envelope, options))
        except Exception:  # a parser bug must not lose the event: keep it as plain text
            errors += 1
            documents.append(
                {
                    "timestamp": format_timestamp(event.timestamp),
                    "message": event.message.rstrip("\r\n"),
                    "cloudwatch": {
                        "logGroup": envelope.log_group,
                        "logStream": envelope.log_stream,
                        "id": event.id,
                        "owner": envelope.owner,
                        "timestamp": event.timestamp,
                    },
                }
            )
    return TransformedEnvelope(documents=documents, parse_errors=errors)
