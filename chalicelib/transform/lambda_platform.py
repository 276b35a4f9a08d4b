"""Lambda's own lines: START/END/REPORT and friends as text, and ``platform.*`` JSON records.

Both land in the same ``lambda`` fields, with ``type`` the text keyword (``REPORT`` for
``platform.report``), so a dashboard works whatever log format a function uses.

Formats:
- text lines: https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html
  (INIT_REPORT/RESTORE_REPORT and the new-style ``Status``/``Error Type`` REPORT fields)
  and https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html
- JSON records (same shapes as the Telemetry API's):
  https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html
  https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html
- log streams of custom log groups, ``YYYY/MM/DD/<function>[<version>]<guid>``:
  https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-loggroups.html
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from chalicelib.transform.schema import LAMBDA, Document, value_to_timestamp

LAMBDA_LOG_GROUP_PREFIX: Final = "/aws/lambda/"

# "Key: value" pairs of the text lines. Keys are matched longest first, so "Duration" is
# never read out of "Billed Duration". A value is one token (a unit such as "ms" follows
# it) or a bracketed list ("Events: [INVOKE, SHUTDOWN]"). Any run of whitespace may
# separate pairs: CloudWatch writes tabs, documentation renders them as spaces.
_PAIR: Final = re.compile(
    r"(Billed Restore Duration|Billed Duration|Restore Duration|Init Duration|Duration"
    r"|Max Memory Used|Memory Size|Runtime Version ARN|Runtime Version|Error Type|Status"
    r"|Phase|Name|State|Events|Types|RequestId|Version|TraceId|SegmentId|Sampled)"
    r":[ \t]*(\[[^\]\n]*\]|[^\s]+)"
)


def _float(text: str) -> float:
    return float(text)


def _int(text: str) -> int:
    return int(text) if text.isdigit() else int(float(text))


def _text(text: str) -> str:
    return text


def _boolean(text: str) -> bool:
    return text.lower() == "true"


def _listed(text: str) -> list[str]:
    inner = text.strip("[]")
    return [item.strip() for item in inner.split(",") if item.strip()]


_TEXT_FIELDS: Final[dict[str, tuple[str, Callable[[str], Any]]]] = {
    "RequestId": ("requestId", _text),
    "Version": ("version", _text),
    "Duration": ("durationMs", _float),
    "Billed Duration": ("billedDurationMs", _int),
    "Memory Size": ("memorySizeMb", _int),
    "Max Memory Used": ("maxMemoryUsedMb", _int),
    "Init Duration": ("initDurationMs", _float),
    "Restore Duration": ("restoreDurationMs", _float),
    "Billed Restore Duration": ("billedRestoreDurationMs", _int),
    "Status": ("status", _text),
    "Error Type": ("errorType", _text),
    "Phase": ("phase", _text),
    "Runtime Version": ("runtimeVersion", _text),
    "Runtime Version ARN": ("runtimeVersionArn", _text),
    "Name": ("extensionName", _text),
    "State": ("state", _text),
    "Events": ("events", _listed),
    "Types": ("types", _listed),
    "TraceId": ("xrayTraceId", _text),
    "SegmentId": ("segmentId", _text),
    "Sampled": ("sampled", _boolean),
}

PLATFORM_KEYWORDS: Final = (
    "START",
    "END",
    "REPORT",
    "INIT_START",
    "INIT_REPORT",
    "RESTORE_START",
    "RESTORE_REPORT",
    "EXTENSION",
    "TELEMETRY",
)
_KEYWORD: Final = re.compile(r"(" + "|".join(sorted(PLATFORM_KEYWORDS, key=len, reverse=True)) + r")[ \t]")
# "RequestId: <id> Error: <message>": the platform's word on a runtime that crashed.
_RUNTIME_ERROR: Final = re.compile(r"RequestId: (\S+) Error: (.*)", re.S)
# The bare error type the platform writes after it ("Runtime.ExitError").
_BARE_ERROR_TYPE: Final = re.compile(r"(?:Runtime|Sandbox|Extension|Function)\.[A-Za-z]+")


# The shapes nearly every invocation writes, read by one regex each; any other shape of
# these lines (documentation renderings, SnapStart, Status/Error Type) takes the general path.
_START: Final = re.compile(r"START RequestId: ([^\s]+) Version: ([^\s]+)\s*")
_END: Final = re.compile(r"END RequestId: ([^\s]+)\s*")
_REPORT: Final = re.compile(
    r"REPORT RequestId: ([^\s]+)\tDuration: (\d+\.\d+) ms\tBilled Duration: (\d+) ms\t"
    r"Memory Size: (\d+) MB\tMax Memory Used: (\d+) MB\t(?:Init Duration: (\d+\.\d+) ms\t)?"
    r"(?:\nXRAY TraceId: ([^\s]+)\tSegmentId: ([^\s]+)\tSampled: (true|false)\t?)?\s*"
)


def _parse_common(text: str) -> dict[str, Any] | None:
    head = text[:3]
    if head == "STA":
        match = _START.fullmatch(text)
        if match is not None:
            return {"type": "START", "requestId": match[1], "version": match[2]}
    elif head == "END":
        match = _END.fullmatch(text)
        if match is not None:
            return {"type": "END", "requestId": match[1]}
    elif head == "REP":
        match = _REPORT.fullmatch(text)
        if match is not None:
            rid, duration, billed, size, used, init, trace, segment, sampled = match.groups()
            info: dict[str, Any] = {
                "type": "REPORT",
                "requestId": rid,
                "durationMs": float(duration),
                "billedDurationMs": int(billed),
                "memorySizeMb": int(size),
                "maxMemoryUsedMb": int(used),
            }
            if init is not None:
                info["initDurationMs"] = float(init)
            if trace is not None:
                info["xrayTraceId"] = trace
                info["segmentId"] = segment
                info["sampled"] = sampled == "true"
            return info
    return None


def parse_platform_text(text: str, doc: Document) -> bool:
    """A START/END/REPORT/INIT_*/RESTORE_*/EXTENSION/TELEMETRY line -> ``lambda``; False if not."""
    common = _parse_common(text)
    if common is not None:
        doc[LAMBDA] = common
        doc["message"] = text.rstrip()
        return True
    match = _KEYWORD.match(text)
    if match is None:
        return False
    info: dict[str, Any] = {"type": match[1]}
    for key, value in _PAIR.findall(text, match.end()):
        name, convert = _TEXT_FIELDS[key]
        try:
            info[name] = convert(value)
        except ValueError:
            continue  # a value we cannot read stays in the message
    doc[LAMBDA] = info
    doc["message"] = text.rstrip()
    return True


def parse_runtime_error(text: str, doc: Document) -> bool:
    """``RequestId: <id> Error: <message>`` or a bare ``Runtime.ExitError`` line."""
    match = _RUNTIME_ERROR.match(text)
    if match is not None:
        doc[LAMBDA] = {"requestId": match[1], "errorMessage": match[2].rstrip()}
        return True
    if _BARE_ERROR_TYPE.fullmatch(text.rstrip()):
        doc[LAMBDA] = {"errorType": text.rstrip()}
        return True
    return False


# platform.<name> -> the text twin's keyword; the rest become UPPER_SNAKE (runtimeDone ->
# RUNTIME_DONE) so every record has a type a keyword field can hold.
_PLATFORM_TYPES: Final = {
    "platform.initStart": "INIT_START",
    "platform.initReport": "INIT_REPORT",
    "platform.start": "START",
    "platform.report": "REPORT",
    "platform.restoreStart": "RESTORE_START",
    "platform.restoreReport": "RESTORE_REPORT",
    "platform.extension": "EXTENSION",
    "platform.telemetrySubscription": "TELEMETRY",
}
_CAMEL_HUMP: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

# record.metrics key -> lambda field; "durationMs" depends on the record (see below).
_METRICS: Final = {
    "billedDurationMs": ("billedDurationMs", int),
    "memorySizeMB": ("memorySizeMb", int),
    "maxMemoryUsedMB": ("maxMemoryUsedMb", int),
    "initDurationMs": ("initDurationMs", float),
    "restoreDurationMs": ("restoreDurationMs", float),
    "billedRestoreDurationMs": ("billedRestoreDurationMs", int),
    "producedBytes": ("producedBytes", int),
}
# What a record's own metrics.durationMs measures.
_DURATION_OF: Final = {
    "INIT_REPORT": "initDurationMs",
    "RESTORE_REPORT": "restoreDurationMs",
}
_RECORD_TEXT: Final = {
    "requestId": "requestId",
    "version": "version",
    "functionVersion": "version",
    "functionName": "functionName",
    "status": "status",
    "errorType": "errorType",
    "phase": "phase",
    "initializationType": "initializationType",
    "runtimeVersion": "runtimeVersion",
    "runtimeVersionArn": "runtimeVersionArn",
    "name": "extensionName",
    "state": "state",
}


_LISTS: Final = ("events", "types")


def platform_type(raw_type: str) -> str:
    """``platform.report`` -> ``REPORT``; unknown records -> UPPER_SNAKE of their name."""
    known = _PLATFORM_TYPES.get(raw_type)
    if known is not None:
        return known
    return _CAMEL_HUMP.sub("_", raw_type[len("platform.") :]).upper()


def is_platform_record(value: dict[str, Any]) -> bool:
    """A Lambda JSON-format system record: ``{"time", "type": "platform.*", "record"}``."""
    kind = value.get("type")
    return isinstance(kind, str) and kind.startswith("platform.") and "record" in value


def apply_platform_record(value: dict[str, Any], doc: Document) -> None:
    """Map a ``platform.*`` record into ``lambda``; its text stays the message."""
    kind = platform_type(value["type"])
    info: dict[str, Any] = {"type": kind}
    record = value.get("record")
    if type(record) is dict:
        for key, item in record.items():
            name = _RECORD_TEXT.get(key)
            if name is not None:
                if type(item) is str:
                    info[name] = item
            elif key == "metrics":
                if type(item) is dict:
                    _apply_metrics(item, info, _DURATION_OF.get(kind, "durationMs"))
            elif key == "tracing":
                if type(item) is dict:
                    _apply_tracing(item, info)
            elif key in _LISTS and type(item) is list:
                info[key] = [str(entry) for entry in item]
    doc[LAMBDA] = info
    stamp = value_to_timestamp(value.get("time"))
    if stamp is not None:
        doc["timestamp"] = stamp


def _apply_metrics(metrics: dict[str, Any], info: dict[str, Any], duration_field: str) -> None:
    for key, item in metrics.items():
        if isinstance(item, bool) or not isinstance(item, int | float):
            continue
        if key == "durationMs":
            info[duration_field] = float(item)
            continue
        known = _METRICS.get(key)
        if known is not None:
            name, kind = known
            info[name] = kind(item)


def _apply_tracing(tracing: dict[str, Any], info: dict[str, Any]) -> None:
    # {"spanId": "...", "type": "X-Amzn-Trace-Id", "value": "Root=1-...;Parent=...;Sampled=1"}
    span = tracing.get("spanId")
    if isinstance(span, str):
        info["segmentId"] = span
    header = tracing.get("value")
    if isinstance(header, str):
        for part in header.split(";"):
            key, _, item = part.partition("=")
            if key == "Root":
                info["xrayTraceId"] = item
            elif key == "Sampled":
                info["sampled"] = item == "1"


# YYYY/MM/DD/[<version>]<guid> in /aws/lambda/<function>; YYYY/MM/DD/<function>[<version>]<guid>
# (the docs also show the guid in brackets) in custom and shared log groups.
_LAMBDA_STREAM: Final = re.compile(r"\d{4}/\d\d/\d\d/([^\[\]/]*)\[([^\]]*)\]\[?[0-9a-f]+\]?")


def lambda_stream_context(log_group: str, log_stream: str) -> dict[str, str] | None:
    """``functionName`` and ``version`` that a Lambda log stream's name states, or None."""
    match = _LAMBDA_STREAM.fullmatch(log_stream)
    if match is None:
        return None
    function, version = match[1], match[2]
    if not function and log_group.startswith(LAMBDA_LOG_GROUP_PREFIX):
        function = log_group[len(LAMBDA_LOG_GROUP_PREFIX) :]
    context: dict[str, str] = {}
    if function:
        context["functionName"] = function
    if version:
        context["version"] = version
    return context or None
