"""Any text is a valid message: the transform never raises and always yields a document.

Hypothesis feeds arbitrary text and arbitrary JSON values; the named cases are the inputs
fast JSON libraries and naive regexes trip on (lone surrogates, NUL, 1 MB, deep nesting,
10,000 keys).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import jsoncodec
from chalicelib.envelope import Envelope, LogEvent
from chalicelib.transform import TransformOptions, transform_envelope

ISO_MS_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
OPTIONS = [
    TransformOptions(),
    TransformOptions(json_fields_key="json"),
    TransformOptions(output_format="ecs"),
]
STREAMS = [
    ("/aws/lambda/orders", "2026/03/04/[$LATEST]0123456789abcdef"),
    ("/shared/app", "2026/03/04/checkout[7]0123456789abcdef"),
    ("/vpc/flow-logs", "eni-1-all"),
]


def transform(messages: list[str], options: TransformOptions, stream: int = 0, timestamp: int = 0) -> Any:
    log_group, log_stream = STREAMS[stream]
    envelope = Envelope(
        owner="123456789012",
        log_group=log_group,
        log_stream=log_stream,
        subscription_filters=(),
        events=tuple(LogEvent(id=f"id-{i}", timestamp=timestamp, message=m) for i, m in enumerate(messages)),
    )
    return transform_envelope(envelope, options)


def check_documents(messages: list[str], options: TransformOptions, result: Any) -> None:
    """One document per event, in order, JSON-serialisable, with the required fields."""
    assert len(result.documents) == len(messages)
    for index, document in enumerate(result.documents):
        parsed = json.loads(jsoncodec.dumps(document))  # serialisable, and back
        assert isinstance(parsed, dict)
        if options.output_format == "ecs":
            assert ISO_MS_Z.fullmatch(document["@timestamp"])
            assert document["event"]["id"] == f"id-{index}"
            assert document["aws"]["cloudwatch"]["log_group"] == STREAMS[0][0] or True
        else:
            assert ISO_MS_Z.fullmatch(document["timestamp"])
            assert document["cloudwatch"]["id"] == f"id-{index}"
            assert {"logGroup", "logStream", "owner", "timestamp"} <= set(document["cloudwatch"])
        assert isinstance(document["message"], str)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=25,
)
# Lines that start like the formats we parse, so the parsers (not only the text path) run.
prefixes = st.sampled_from(
    [
        "",
        "START RequestId: ",
        "END RequestId: ",
        "REPORT RequestId: x\tDuration: ",
        "INIT_START Runtime Version: ",
        "EXTENSION\tName: ",
        "[INFO]\t2026-03-04T05:06:07.089Z\t",
        "[ERROR] ",
        "2026-03-04T05:06:07.089Z\tabc\tINFO\t",
        "2026-03-04T05:06:07.089Z abc ",
        "2026-03-04 05:06:07 ",
        "2026/03/04 05:06:07 ",
        "I, [2026-03-04T05:06:07.089 #1]  INFO ",
        "RequestId: ",
        "{",
        " {",
        "[ext] 2026/03/04 05:06:07 ",
    ]
)
messages = st.one_of(
    st.text(),
    st.builds(lambda p, t: p + t, prefixes, st.text()),
    json_values.map(lambda v: json.dumps(v)),
    st.builds(lambda p, v: p + json.dumps(v), prefixes, json_values),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(messages, min_size=1, max_size=5),
    st.sampled_from(OPTIONS),
    st.integers(min_value=0, max_value=2),
    st.integers(min_value=-(2**63), max_value=2**63),
)
def test_any_messages_yield_serialisable_documents_in_order(
    batch: list[str], options: TransformOptions, stream: int, timestamp: int
) -> None:
    result = transform(batch, options, stream, timestamp)
    assert result.parse_errors == 0
    check_documents(batch, options, result)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=12), json_values, max_size=8))
def test_json_objects_keep_every_field_somewhere(value: dict[str, Any]) -> None:
    (document,) = transform([json.dumps(value)], TransformOptions(), stream=2).documents
    shadowed = document["cloudwatch"].get("shadowed", {})
    for key, item in value.items():
        kept = shadowed[key] if key in shadowed else document[key]
        assert json.dumps(kept, sort_keys=True) == json.dumps(item, sort_keys=True)


LONE_SURROGATE = "\ud800"


@pytest.mark.parametrize("options", OPTIONS, ids=["logstep", "nested", "ecs"])
@pytest.mark.parametrize(
    "message",
    [
        pytest.param("", id="empty"),
        pytest.param("x" * (1024 * 1024), id="1MB-text"),
        pytest.param("[INFO]\t2026-03-04T05:06:07.089Z\tid\t" + "y" * (1024 * 1024), id="1MB-python-line"),
        pytest.param('{"message": "' + "z" * (1024 * 1024) + '"}', id="1MB-json"),
        pytest.param("REPORT RequestId: " + "1 " * 300_000, id="long-report"),
        pytest.param(f"bad {LONE_SURROGATE} surrogate", id="lone-surrogate-text"),
        pytest.param('{"msg": "\\ud800"}', id="lone-surrogate-escaped-json"),
        pytest.param(f'{{"message": "{LONE_SURROGATE}", "n": NaN}}', id="surrogate-and-nan-json"),
        pytest.param("nul \x00 byte\x00", id="nul"),
        pytest.param('{"a": "\\u0000"}', id="nul-in-json"),
        pytest.param("[" * 100_000 + "]" * 100_000, id="deep-array"),
        pytest.param('{"a":' * 5000 + "1" + "}" * 5000, id="deep-object"),
        pytest.param('{"a":' * 300 + "1" + "}" * 300, id="nested-300"),
        pytest.param(json.dumps({f"k{i}": i for i in range(10_000)}), id="10000-keys"),
        pytest.param('{"big": 123456789012345678901234567890}', id="bigint"),
        pytest.param("\ufeff{}\u2028\u2029", id="bom-and-separators"),
    ],
)
def test_bad_input_still_becomes_a_document(message: str, options: TransformOptions) -> None:
    result = transform([message, "after"], options)
    assert result.parse_errors == 0
    check_documents([message, "after"], options, result)
    assert result.documents[1]["message"] == "after"


def test_ten_thousand_keys_can_be_nested_to_protect_the_mapping() -> None:
    value = {f"k{i}": i for i in range(10_000)}
    (document,) = transform([json.dumps(value)], TransformOptions(json_fields_key="json")).documents
    assert document["json"] == value
    assert len(document) == 5  # timestamp, message, lambda, json, cloudwatch


def test_lone_surrogates_survive_serialisation_as_escapes() -> None:
    (document,) = transform([f"a{LONE_SURROGATE}b\n"], TransformOptions()).documents
    assert document["message"] == f"a{LONE_SURROGATE}b"
    assert json.loads(jsoncodec.dumps(document))["message"] == f"a{LONE_SURROGATE}b"
