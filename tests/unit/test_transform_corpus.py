"""Every real line of ../shared/corpus/lines.jsonl against the facts a careful parser extracts.

Each record's ``facts`` are mapped to document paths (``lambda.*`` for Lambda's own
fields, ``level``, ``message``, ``timestamp``, ``logger``); facts this transform does not
extract are listed in ``GAPS`` with the reason, so a new parser shows up as a list to shrink.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib import jsoncodec
from chalicelib.envelope import Envelope, LogEvent
from chalicelib.transform import TransformOptions, transform_envelope
from chalicelib.transform.lambda_platform import platform_type
from chalicelib.transform.schema import RESERVED_FIELDS, format_timestamp, normalise_time
from tests.helpers import corpus_dir

pytestmark = pytest.mark.corpus

CORPUS = corpus_dir()
RECORDS: list[dict[str, Any]] = (
    [json.loads(line) for line in (CORPUS / "lines.jsonl").read_text().splitlines() if line.strip()]
    if CORPUS is not None
    else []
)
EVENT_TIME_MS = 1_700_000_000_123
LAMBDA_FIELDS = {
    "type",
    "requestId",
    "version",
    "durationMs",
    "billedDurationMs",
    "memorySizeMb",
    "maxMemoryUsedMb",
    "initDurationMs",
    "restoreDurationMs",
    "billedRestoreDurationMs",
    "status",
    "errorType",
    "errorMessage",
    "phase",
    "runtimeVersion",
    "runtimeVersionArn",
    "xrayTraceId",
    "segmentId",
    "sampled",
    "timeoutSeconds",
    "extensionName",
    "state",
    "events",
    "types",
    "functionName",
    "initializationType",
    "producedBytes",
}
# kind -> facts not extracted, and why. Everything else in a record's facts is asserted.
GAPS: dict[str, set[str]] = {
    # Optional formats (issue 3, "if time allows") not parsed yet: their lines stay text,
    # with the line's own time where it opens with one.
    "apigw_execution": {"*"},
    "vpc_flow": {"*"},
    "rds_postgresql": {"*"},
    "rds_mysql_slowquery": {"*"},
    "glue": {"*"},
    "ecs_agent": {"module", "taskArn", "status", "exitCode"},
    # JSON messages keep their own fields verbatim (status "200" stays a string); the
    # corpus' derived facts (userIdentityType, result) are not fields of the line.
    "apigw_access": {"*"},
    "cloudtrail": {"*"},
    "ecs_firelens": {"*"},
    # Lines that name no level or type; the facts infer them.
    # Bootstrap errors without a runtime prefix: kept whole as text.
    "lambda_app_error_dotnet": {"level", "message"},
    "lambda_app_error_java": {"level", "errorType", "message"},
    "lambda_app_text_ruby": {"severityLetter", "pid"},
    "lambda_app_text_java": {"line"},
    # Fields of the line that have no place in the schema.
    "lambda_text_timeout": {"errorType"},
    "lambda_app_error_node": {"errorMessage"},
    "lambda_app_error_python": {"errorMessage"},
    "lambda_json_platform": {"time", "functionVersion"},
    "lambda_telemetry_json": {"time", "functionVersion"},
}
# Facts about where the source found the line, not about the line.
CONTEXT_FACTS = {"logGroup"}
# Fact names that mean the same field under another name in the schema.
RENAMED = {"spanId": "segmentId", "functionVersion": "version"}


def _document(record: dict[str, Any], options: TransformOptions | None = None) -> dict[str, Any]:
    facts = record["facts"]
    event_time = facts["timestamp"] if isinstance(facts.get("timestamp"), int) else EVENT_TIME_MS
    lambda_kind = record["kind"].startswith("lambda")
    envelope = Envelope(
        owner="123456789012",
        log_group="/aws/lambda/corpus-fn" if lambda_kind else "/corpus/other",
        log_stream="2024/05/20/[$LATEST]0123456789abcdef0123456789abcdef" if lambda_kind else "other",
        subscription_filters=("logstep",),
        events=(LogEvent(id="1", timestamp=event_time, message=record["message"]),),
    )
    result = transform_envelope(envelope, options or TransformOptions())
    assert result.parse_errors == 0
    (document,) = result.documents
    return document


def _cases() -> list[Any]:
    if CORPUS is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason="../shared/corpus is absent"))]
    return [pytest.param(record, id=f"{i:03d}-{record['kind']}") for i, record in enumerate(RECORDS)]


@pytest.mark.parametrize("record", _cases())
def test_corpus_line_yields_its_facts(record: dict[str, Any]) -> None:
    document = _document(record)
    assert isinstance(document["message"], str)
    assert normalise_time(document["timestamp"]) == document["timestamp"]
    gaps = GAPS.get(record["kind"], set())
    if "*" in gaps:
        return
    lam = document.get("lambda", {})
    for key, expected in record["facts"].items():
        if key in gaps or key in CONTEXT_FACTS:
            continue
        name = RENAMED.get(key, key)
        if key == "timestamp":
            _check_timestamp(record, document, expected)
        elif key == "level":
            if expected is None:
                assert "level" not in document
            else:
                assert document["level"] == expected.upper()
        elif key == "message":
            if not str(expected).endswith("..."):  # abbreviated in the corpus
                assert document["message"] == expected.rstrip()
        elif key == "logger":
            assert document["logger"] == expected
        elif key == "type" and str(expected).startswith("platform."):
            assert lam["type"] == platform_type(expected)
        elif name in LAMBDA_FIELDS and record["kind"].startswith("lambda"):
            if expected in (None, ""):  # absent or empty in the line
                assert name not in lam
            else:
                assert lam.get(name) == expected, (name, lam)
        elif record["kind"] == "lambda_app_json_custom":
            assert document[key] == expected
        else:
            pytest.fail(f"fact {key!r} of {record['kind']} is neither checked nor a listed gap")


def _check_timestamp(record: dict[str, Any], document: dict[str, Any], expected: Any) -> None:
    if isinstance(expected, int):
        assert document["cloudwatch"]["timestamp"] == expected
        return
    if expected in record["message"]:  # as written in the line: the document says the same time
        assert document["timestamp"] == normalise_time(
            expected.replace("/", "-") if expected[4] == "/" else expected
        )
    # else: the corpus took it from elsewhere (Insights); the line carries none


@pytest.mark.parametrize("record", _cases())
def test_corpus_line_without_a_time_gets_the_event_time(record: dict[str, Any]) -> None:
    document = _document(record)
    if document["timestamp"] != format_timestamp(document["cloudwatch"]["timestamp"]):
        # then the line states its own time, and it is one of the forms we read
        assert any(ch.isdigit() for ch in record["message"][:80])


@pytest.mark.parametrize("record", _cases())
def test_json_object_lines_keep_every_field(record: dict[str, Any]) -> None:
    try:
        value = jsoncodec.loads(record["message"])
    except ValueError:
        return
    if not isinstance(value, dict) or str(value.get("type", "")).startswith("platform."):
        return
    document = _document(record)
    for key, item in value.items():
        if key in RESERVED_FIELDS:
            assert document[key] == item or document["cloudwatch"]["shadowed"][key] == item
        else:
            assert document[key] == item
    nested = _document(record, TransformOptions(json_fields_key="json"))
    assert nested["json"] == value


@pytest.mark.parametrize("record", _cases())
def test_corpus_line_in_ecs_has_the_ecs_fields(record: dict[str, Any]) -> None:
    document = _document(record, TransformOptions(output_format="ecs"))
    assert document["event"]["id"] == "1"
    assert document["cloud"]["account"]["id"] == "123456789012"
    assert isinstance(document["@timestamp"], str) and isinstance(document["message"], str)
    plain = _document(record)
    if "level" in plain:
        assert document["log"]["level"] == plain["level"]
    if "requestId" in plain.get("lambda", {}):
        assert document["faas"]["execution"] == plain["lambda"]["requestId"]


def test_corpus_events_transform_without_parse_errors(corpus: Path) -> None:
    for path in sorted((corpus / "events").glob("*decoded*.json")):
        decoded = json.loads(path.read_text())
        for message in decoded if isinstance(decoded, list) else [decoded]:
            from chalicelib.envelope import parse_envelope

            envelope = parse_envelope(message)
            assert isinstance(envelope, Envelope), path.name
            result = transform_envelope(envelope, TransformOptions())
            assert result.parse_errors == 0
            assert [d["cloudwatch"]["id"] for d in result.documents] == [e.id for e in envelope.events]
