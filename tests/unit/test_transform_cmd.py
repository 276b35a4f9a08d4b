"""``logstep transform``: every input shape it accepts, in process (tests/e2e runs the process)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from logstep import transform_cmd
from logstep.cli import build_parser
from tests.helpers import envelope, gzip_json, kinesis_event, load_event

LINE = "[INFO]\t2026-03-04T05:06:07.089Z\tr-1\thi\n"
EVENTS = [{"id": "1", "timestamp": 1_772_600_767_089, "message": LINE}]
Capture = pytest.CaptureFixture[bytes]


def run(tmp_path: Path, capsysbinary: Capture, data: bytes, *options: str) -> Any:
    path = tmp_path / "input"
    path.write_bytes(data)
    args = build_parser("transform").parse_args(["transform", str(path), *options])
    code = transform_cmd.run(args)
    out, err = capsysbinary.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err.decode()


@pytest.mark.parametrize(
    "shape",
    ["kinesis-event", "raw-batch", "awslogs", "envelope", "envelope-list", "jsonl"],
)
def test_every_input_shape_yields_the_same_documents(
    shape: str, tmp_path: Path, capsysbinary: Capture
) -> None:
    message = envelope(EVENTS)
    data = base64.b64encode(gzip_json(message)).decode()
    inputs: dict[str, Any] = {
        "kinesis-event": kinesis_event([gzip_json(message)]),
        "raw-batch": {"records": [{"data": data}]},
        "awslogs": {"awslogs": {"data": data}},
        "envelope": message,
        "envelope-list": [message],
    }
    raw = json.dumps(message) + "\n" if shape == "jsonl" else json.dumps(inputs[shape])
    code, documents, _ = run(tmp_path, capsysbinary, raw.encode())
    assert code == 0
    assert [(d["message"], d["level"], d["cloudwatch"]["id"]) for d in documents] == [("hi", "INFO", "1")]


def test_plain_lines_become_events_of_the_given_stream(tmp_path: Path, capsysbinary: Capture) -> None:
    lines = b"START RequestId: r-2 Version: 3\nnot json {\n"
    code, documents, _ = run(tmp_path, capsysbinary, lines, "--log-group", "/app", "--log-stream", "s")
    assert code == 0
    assert [d["message"] for d in documents] == ["START RequestId: r-2 Version: 3", "not json {"]
    assert documents[0]["lambda"] == {"type": "START", "requestId": "r-2", "version": "3"}
    assert documents[1]["cloudwatch"]["logGroup"] == "/app"


def test_ecs_format_and_nested_json_fields(tmp_path: Path, capsysbinary: Capture) -> None:
    message = envelope([{"id": "1", "timestamp": 1, "message": '{"level": "warn", "k": 1}'}])
    code, documents, _ = run(
        tmp_path, capsysbinary, json.dumps(message).encode(), "--format", "ecs", "--json-fields-key", "json"
    )
    assert code == 0
    assert documents[0]["log"] == {"level": "WARN"}
    assert documents[0]["json"] == {"level": "warn", "k": 1}
    assert documents[0]["event"] == {"id": "1"}


def test_malformed_records_are_reported_and_the_rest_printed(tmp_path: Path, capsysbinary: Capture) -> None:
    good = load_event("kinesis_cwl_envelope.json")
    event = kinesis_event([b"\x00not gzip", gzip_json(good)])
    code, documents, err = run(tmp_path, capsysbinary, json.dumps(event).encode())
    assert code == 1
    assert len(documents) == len(good["logEvents"])
    assert "skipped a record" in err


def test_a_reserved_json_fields_key_is_refused(tmp_path: Path, capsysbinary: Capture) -> None:
    code, documents, err = run(tmp_path, capsysbinary, b"x\n", "--json-fields-key", "message")
    assert (code, documents) == (2, [])
    assert "schema field" in err
