"""The document schema's decisions, one at a time: times, levels, reserved names, options."""

from __future__ import annotations

import json
from typing import Any

import pytest

import chalicelib.transform as transform
from chalicelib.envelope import Envelope, LogEvent
from chalicelib.transform import TransformOptions, transform_envelope, transform_event
from chalicelib.transform.schema import (
    OUT_OF_RANGE_TIMESTAMP,
    epoch_to_timestamp,
    format_timestamp,
    normalise_time,
)

RID = "4b142fc3-17b8-4cdb-a46b-a8dbe7918715"


def make_envelope(
    *messages: str,
    log_group: str = "/aws/lambda/orders",
    log_stream: str = "2026/03/04/[$LATEST]0123456789abcdef0123456789abcdef",
    timestamp: int = 1_772_600_767_089,
) -> Envelope:
    events = tuple(LogEvent(id=str(i), timestamp=timestamp, message=m) for i, m in enumerate(messages))
    return Envelope(
        owner="123456789012",
        log_group=log_group,
        log_stream=log_stream,
        subscription_filters=("logstep",),
        events=events,
    )


def one(message: str, options: TransformOptions | None = None, **envelope: Any) -> dict[str, Any]:
    result = transform_envelope(make_envelope(message, **envelope), options or TransformOptions())
    assert result.parse_errors == 0
    (document,) = result.documents
    return document


@pytest.mark.parametrize(
    ("epoch_ms", "expected"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1_772_600_767_089, "2026-03-04T05:06:07.089Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (-62_135_596_800_000, "0001-01-01T00:00:00.000Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
        (10**20, OUT_OF_RANGE_TIMESTAMP),
        (-(10**20), OUT_OF_RANGE_TIMESTAMP),
    ],
)
def test_format_timestamp_is_iso_utc_with_milliseconds(epoch_ms: int, expected: str) -> None:
    assert format_timestamp(epoch_ms) == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2024-05-20T16:29:45.009Z", "2024-05-20T16:29:45.009Z"),
        ("2021-08-10T11:28:20.581705Z", "2021-08-10T11:28:20.581Z"),
        ("2020-03-18 08:52:43", "2020-03-18T08:52:43.000Z"),
        ("2025-01-08T23:30:48,988", "2025-01-08T23:30:48.988Z"),
        ("2024-01-01 00:00:00,123+0000", "2024-01-01T00:00:00.123Z"),
        ("2024-01-01T00:30:00+01:00", "2023-12-31T23:30:00.000Z"),
        ("2024-01-01T00:30:00-0230", "2024-01-01T03:00:00.000Z"),
        ("2021-01-02 03:04:05 UTC", "2021-01-02T03:04:05.000Z"),
        ("2024/06/26 02:34:50", "2024-06-26T02:34:50.000Z"),
        ("2024-02-30T00:00:00.000Z", None),
        ("2024-13-01T00:00:00Z", None),
        ("10/Jun/2023:15:36:28 +0000", None),
        ("", None),
    ],
)
def test_line_times_normalise_to_the_schema_form(written: str, expected: str | None) -> None:
    assert normalise_time(written) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_583_425_836, "2020-03-05T16:30:36.000Z"),
        (1_583_425_836.114, "2020-03-05T16:30:36.114Z"),
        (1_583_425_836_114, "2020-03-05T16:30:36.114Z"),
        (1_583_425_836_114_000, "2020-03-05T16:30:36.114Z"),
        (1_583_425_836_114_000_000, "2020-03-05T16:30:36.114Z"),
        (42, None),
        (True, None),
        ("1583425836", None),
    ],
)
def test_epoch_numbers_are_read_by_magnitude(value: object, expected: str | None) -> None:
    assert epoch_to_timestamp(value) == expected


def test_every_document_has_the_required_fields_and_cloudwatch_origin() -> None:
    document = one("hello\n")
    assert document == {
        "timestamp": "2026-03-04T05:06:07.089Z",
        "message": "hello",
        "lambda": {"functionName": "orders", "version": "$LATEST"},
        "cloudwatch": {
            "logGroup": "/aws/lambda/orders",
            "logStream": "2026/03/04/[$LATEST]0123456789abcdef0123456789abcdef",
            "id": "0",
            "owner": "123456789012",
            "timestamp": 1_772_600_767_089,
        },
    }


def test_trailing_newlines_go_inner_newlines_and_leading_space_stay() -> None:
    assert one(" a\n  b\r\n\n", log_group="/x", log_stream="s")["message"] == " a\n  b"


def test_a_line_that_states_its_time_keeps_it_and_cloudwatch_keeps_the_event_time() -> None:
    document = one(f"2019-06-07T19:11:20.564Z\t{RID}\tWARN\tEvent not processed.")
    assert document["timestamp"] == "2019-06-07T19:11:20.564Z"
    assert document["cloudwatch"]["timestamp"] == 1_772_600_767_089


@pytest.mark.parametrize(
    ("message", "level"),
    [
        (f"2021-11-14T21:32:01.022Z\t{RID}\tinfo\thello", "INFO"),
        (f"[WARNING]\t2026-04-22T21:00:55.004Z\t{RID}\tcareful", "WARNING"),
        (f"2019-06-07T19:11:20.564Z\t{RID}\tWARN\tcareful", "WARN"),
        ('{"level": "debug", "message": "m"}', "DEBUG"),
    ],
)
def test_level_is_upper_cased_verbatim(message: str, level: str) -> None:
    assert one(message)["level"] == level


def test_json_fields_go_to_the_top_level_and_the_schema_keeps_its_own_names() -> None:
    message = (
        '{"timestamp": 1583425836114, "level": "info", "message": {"text": "m"},'
        ' "cloudwatch": "mine", "lambda": 7, "user": "ann"}'
    )
    document = one(message, log_group="/app", log_stream="s")
    assert document["timestamp"] == "2020-03-05T16:30:36.114Z"
    assert document["level"] == "INFO"
    assert document["message"] == message  # its own message is not a string: the raw line
    assert document["user"] == "ann"
    assert document["cloudwatch"]["id"] == "0"
    assert document["cloudwatch"]["shadowed"] == {
        "timestamp": 1583425836114,
        "level": "info",
        "message": {"text": "m"},
        "cloudwatch": "mine",
        "lambda": 7,
    }


def test_user_values_equal_to_the_documents_are_not_shadowed() -> None:
    message = f'{{"timestamp":"2024-05-20T16:29:45.009Z","level":"INFO","requestId":"{RID}","message":"m"}}'
    document = one(message)
    assert "shadowed" not in document["cloudwatch"]
    assert document["lambda"]["requestId"] == RID
    assert document["requestId"] == RID


def test_json_fields_key_nests_the_object_unchanged() -> None:
    message = '{"timestamp": "2024-05-20T16:29:45.009Z", "level": "info", "message": "m", "a": {"b": 1}}'
    document = one(message, TransformOptions(json_fields_key="json"))
    assert document["json"] == {
        "timestamp": "2024-05-20T16:29:45.009Z",
        "level": "info",
        "message": "m",
        "a": {"b": 1},
    }
    assert (document["message"], document["level"], document["timestamp"]) == (
        "m",
        "INFO",
        "2024-05-20T16:29:45.009Z",
    )
    assert "a" not in document


@pytest.mark.parametrize("message", ["[1, 2]", '"text"', "42", "null", '{"broken": ', "{}}", "{"])
def test_non_object_and_broken_json_are_text(message: str) -> None:
    document = one(message, log_group="/app", log_stream="s")
    assert document["message"] == message
    assert set(document) == {"timestamp", "message", "cloudwatch"}


def test_json_after_a_runtime_prefix_is_read_and_the_prefix_wins() -> None:
    document = one(f'2024-01-01T00:00:00.000Z\t{RID}\tINFO\t{{"level": "debug", "orderId": 7}}')
    assert document["level"] == "INFO"
    assert document["orderId"] == 7
    assert document["cloudwatch"]["shadowed"] == {"level": "debug"}


def test_custom_log_group_stream_names_the_function_and_version() -> None:
    document = one("plain", log_group="/shared/app", log_stream="2023/11/15/checkout[12]58f7a3b1c0d9e2f4")
    assert document["lambda"] == {"functionName": "checkout", "version": "12"}
    bracketed = one("plain", log_group="/shared/app", log_stream="2023/11/15/checkout[$LATEST][58f7a3b1c0d9]")
    assert bracketed["lambda"] == {"functionName": "checkout", "version": "$LATEST"}


def test_non_lambda_streams_get_no_lambda_object() -> None:
    assert "lambda" not in one("plain", log_group="/vpc/flow-logs", log_stream="eni-123-all")


def test_text_and_json_twins_land_in_the_same_lambda_fields() -> None:
    text = one(
        f"REPORT RequestId: {RID}\tDuration: 11.64 ms\tBilled Duration: 12 ms\tMemory Size: 128 MB\t"
        "Max Memory Used: 67 MB\tInit Duration: 174.05 ms\t\n"
    )
    record = one(
        '{"time":"2024-05-20T16:29:45.022Z","type":"platform.report","record":{"requestId":"'
        + RID
        + '","status":"success","metrics":{"durationMs":11.64,"billedDurationMs":12,'
        '"memorySizeMB":128,"maxMemoryUsedMB":67,"initDurationMs":174.05}}}'
    )
    assert record["lambda"] == {**text["lambda"], "status": "success"}
    assert record["timestamp"] == "2024-05-20T16:29:45.022Z"
    assert "type" not in record and "record" not in record  # Lambda's own record is not user JSON


def test_output_format_ecs_maps_the_same_information() -> None:
    envelope = make_envelope(f"[ERROR]\t2026-03-04T05:06:07.089Z\t{RID}\tboom")
    (document,) = transform_envelope(envelope, TransformOptions(output_format="ecs")).documents
    assert document == {
        "@timestamp": "2026-03-04T05:06:07.089Z",
        "message": "boom",
        "log": {"level": "ERROR"},
        "faas": {"execution": RID, "name": "orders", "version": "$LATEST"},
        "cloud": {"provider": "aws", "account": {"id": "123456789012"}},
        "event": {"id": "0"},
        "aws": {
            "cloudwatch": {
                "log_group": "/aws/lambda/orders",
                "log_stream": "2026/03/04/[$LATEST]0123456789abcdef0123456789abcdef",
                "event_id": "0",
                "timestamp": 1_772_600_767_089,
            }
        },
        "ecs": {"version": "8.11.0"},
    }


def test_ecs_shadows_user_fields_named_like_ecs_objects() -> None:
    options = TransformOptions(output_format="ecs")
    document = one('{"event": {"id": 1}, "user": "ann"}', options, log_group="/app", log_stream="s")
    assert document["event"] == {"id": "0"}
    assert document["user"] == "ann"
    assert document["aws"]["cloudwatch"]["shadowed"] == {"event": {"id": 1}}


@pytest.mark.parametrize(
    "options",
    [{"output_format": "xml"}, {"json_fields_key": "message"}, {"json_fields_key": "@timestamp"}],
)
def test_options_refuse_what_would_break_the_schema(options: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        TransformOptions(**options)


def test_a_parser_bug_keeps_the_event_as_text_and_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(text: str, doc: dict[str, Any], ctx: object) -> bool:
        raise RuntimeError("parser bug")

    monkeypatch.setitem(transform._PARSERS, "S", broken)
    result = transform_envelope(make_envelope("START here\n", "other"), TransformOptions())
    assert result.parse_errors == 1
    assert [d["message"] for d in result.documents] == ["START here", "other"]
    assert result.documents[0]["cloudwatch"]["id"] == "0"


def test_transform_event_matches_the_envelope_path() -> None:
    envelope = make_envelope(f"START RequestId: {RID} Version: 3\n")
    assert (
        transform_event(envelope.events[0], envelope, TransformOptions())
        == (transform_envelope(envelope, TransformOptions()).documents[0])
    )


def test_index_template_maps_every_schema_field() -> None:
    from pathlib import Path

    from chalicelib.transform.ecs import _FAAS, _SNAKE

    path = Path(__file__).resolve().parents[2] / "infra" / "index-template.json"
    properties = json.loads(path.read_text())["template"]["mappings"]["properties"]
    assert {"timestamp", "message", "level", "lambda", "cloudwatch"} <= set(properties)
    assert set(properties["lambda"]["properties"]) == set(_SNAKE) | set(_FAAS)
    assert set(properties["cloudwatch"]["properties"]) == {
        "logGroup",
        "logStream",
        "id",
        "owner",
        "timestamp",
        "shadowed",
    }
    assert properties["cloudwatch"]["properties"]["shadowed"] == {"type": "object", "enabled": False}
