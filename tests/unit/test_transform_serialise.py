"""serialise_envelope writes, byte for byte, what jsoncodec.dumps writes for transform_envelope.

The template writers (chalicelib/transform/templates.py) are a second path to the same
bytes; these tests hold them to the general path on every fixture, every corpus line,
the benchmark's mixed corpus and generated lines in every shape they write, and check
the facts about orjson and msgspec that they rest on.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import importlib.util
import json
import re
import string
import sys
import zlib
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import jsoncodec, native, transform
from chalicelib.envelope import (
    MAX_EVENT_TIME_MS,
    MIN_EVENT_TIME_MS,
    Envelope,
    LogEvent,
    Malformed,
    b64decode,
    decode_base64_record,
    decode_record,
    parse_envelope,
)
from chalicelib.transform import TransformOptions, document_for, serialise_envelope, transform_envelope
from chalicelib.transform.ecs_templates import EcsDocumentWriter
from chalicelib.transform.runtimes import LEVELS
from chalicelib.transform.schema import (
    MAX_EPOCH_SECONDS,
    MIN_EPOCH_SECONDS,
    OUT_OF_RANGE_TIMESTAMP,
    checked_canonical_time,
    is_canonical_time,
    normalise_time,
)
from chalicelib.transform.templates import _decimal_json, _integer_json
from chalicelib.transform.writers import PYTHON, Writers
from tests.helpers import corpus_dir, envelope, gzip_json, load_event

REPO = Path(__file__).resolve().parents[2]
OPTIONS = {
    "logstep": TransformOptions(),
    "nested": TransformOptions(json_fields_key="json"),
    "ecs": TransformOptions(output_format="ecs"),
    "ecs-nested": TransformOptions(output_format="ecs", json_fields_key="json"),
}
STREAMS = [
    ("/aws/lambda/orders", "2026/03/04/[$LATEST]0123456789abcdef"),
    ("/shared/app", "2026/03/04/checkout[7]0123456789abcdef"),
    ("/vpc/flow-logs", "eni-1-all"),
]
RID = "e8a8529f-035e-4a25-9b08-923d10c67fd9"


# The Python writers, and their compiled copies where tools/compile_writers.py built them.
_COMPILED = native.load_compiled()
IMPLEMENTATIONS = [PYTHON] + ([_COMPILED] if isinstance(_COMPILED, Writers) else [])
COMPILED_TEMPLATES: Any = (
    importlib.import_module("chalicelib.transform._compiled_templates") if len(IMPLEMENTATIONS) > 1 else None
)


def assert_same_bytes(envelope: Envelope, options: TransformOptions) -> None:
    """The fast path's records are the general path's documents, serialised (by every
    implementation of the writers there is here)."""
    general = transform_envelope(envelope, options)
    expected = [jsoncodec.dumps(document) for document in general.documents]
    for implementation in IMPLEMENTATIONS:
        fast = serialise_envelope(envelope, options, implementation)
        assert fast.parse_errors == general.parse_errors, implementation.name
        assert len(fast.records) == len(expected)
        for event, got, want in zip(envelope.events, fast.records, expected, strict=True):
            assert got == want, (implementation.name, event.message)


def make_envelope(messages: list[str], stream: int = 0, timestamp: int = 1_772_600_767_089) -> Envelope:
    log_group, log_stream = STREAMS[stream]
    return Envelope(
        owner="123456789012",
        log_group=log_group,
        log_stream=log_stream,
        subscription_filters=(),
        events=tuple(
            LogEvent(id=f"3800000000{i:05d}", timestamp=timestamp + i, message=m)
            for i, m in enumerate(messages)
        ),
    )


@pytest.mark.parametrize("variant", sorted(OPTIONS))
def test_fixture_events_serialise_as_the_general_path(variant: str) -> None:
    for message in load_event("transform_formats.json"):
        decoded = parse_envelope(message)
        assert isinstance(decoded, Envelope)
        assert_same_bytes(decoded, OPTIONS[variant])


@pytest.mark.corpus
@pytest.mark.parametrize("stream", range(len(STREAMS)))
def test_every_corpus_line_serialises_as_the_general_path(stream: int) -> None:
    corpus = corpus_dir()
    if corpus is None:
        pytest.skip("../shared/corpus is absent")
    lines = (corpus / "lines.jsonl").read_text().splitlines()
    messages = [json.loads(line)["message"] for line in lines if line.strip()]
    for options in OPTIONS.values():
        assert_same_bytes(make_envelope(messages, stream), options)


def test_the_benchmark_corpus_serialises_as_the_general_path() -> None:
    spec = importlib.util.spec_from_file_location("bench_corpus", REPO / "bench" / "corpus.py")
    assert spec is not None and spec.loader is not None
    corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(corpus)
    event = corpus.kinesis_event(records=24, events_per_record=120, seed=11)
    for record in event["Records"]:
        decoded = decode_base64_record(record["kinesis"]["data"])
        assert isinstance(decoded, Envelope)
        for options in OPTIONS.values():
            assert_same_bytes(decoded, options)


# Fields written into lines: the shapes' own values, and values that break naive writers.
hostile_text = st.text(
    alphabet=st.characters(codec="utf-8") | st.sampled_from(['"', "\\", "\t", "\n", "\r", "\x00", "\ud800"]),
    max_size=20,
)
request_ids = st.sampled_from([RID, "", "undefined", "-", 'a"b', "a\\b", "é", "a b"]) | hostile_text
levels = st.sampled_from(sorted(LEVELS)).flatmap(
    lambda level: st.sampled_from([level, level.lower(), level.title(), level[:1] + level[1:].lower()])
) | st.sampled_from(["Info", "iNFO", "ınfo", "VERBOSE", ""])
times = st.sampled_from(
    [
        "2026-03-04T05:06:07.089Z",
        "2026-02-29T05:06:07.089Z",
        "2028-02-29T23:59:59.999Z",
        "2026-13-04T05:06:07.089Z",
        "2026-03-04T24:06:07.089Z",
        "2026-03-04T05:60:07.089Z",
        "2026-03-04T05:06:07.08Z",
        "2026-03-04T05:06:07.089",
        "2026-03-04T05:0\u0663:07.089Z",
        "\u0662026-03-04T05:06:07.089Z",
        "2026-03-04T05:06:07.\u0660\u0660\u0660Z",
        "2026-03-04 05:06:07.089",
    ]
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | hostile_text,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(hostile_text | st.sampled_from(["level"]), children, max_size=4)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(
    st.sampled_from(
        [
            "timestamp",
            "time",
            "eventTime",
            "level",
            "message",
            "requestId",
            "AWSRequestId",
            "lambda",
            "cloudwatch",
            # names the ecs format owns (shadowed there), reads (logger) or is wary of (type)
            "event",
            "log",
            "aws",
            "@timestamp",
            "logger",
            "type",
        ]
    )
    | hostile_text,
    json_values | times | levels | request_ids,
    max_size=6,
)
numbers = st.sampled_from(
    ["0.00", "1.5", "340.08", "340.10", "0.00001", "1" * 25 + ".5", "12", "0"]
) | st.from_regex(r"\A[0-9]{1,20}\.[0-9]{1,3}\Z")
integers = st.sampled_from(["1", "512", "0512", "9" * 19, "1" * 30]) | st.from_regex(r"\A[0-9]{1,20}\Z")


@st.composite
def lines(draw: Any) -> str:
    """A line in one of the shapes the templates write, with drawn (often hostile) fields."""
    rid, level, time, body = draw(request_ids), draw(levels), draw(times), draw(hostile_text)
    shape = draw(st.integers(min_value=0, max_value=16))
    if shape == 0:
        line = f"[{level}]\t{time}\t{rid}\t{body}"
    elif shape == 1:
        line = f"{time}\t{rid}\t{level}\t{body}"
    elif shape in (2, 3):  # runtime lines with a JSON body
        obj = json.dumps(draw(json_objects), ensure_ascii=draw(st.booleans()))
        line = f"[{level}]\t{time}\t{rid}\t{obj}" if shape == 2 else f"{time}\t{rid}\t{level}\t{obj}"
    elif shape == 4:
        version, end = draw(hostile_text | st.just("$LATEST")), draw(st.sampled_from(["", " ", "  "]))
        line = f"START RequestId: {rid} Version: {version}{end}"
    elif shape == 5:
        line = f"END RequestId: {rid}"
    elif shape == 14:  # Node.js: the runtime's report of an uncaught error
        named = st.fixed_dictionaries({"errorType": levels, "errorMessage": st.just(body)})
        error = json.dumps(draw(json_objects | named))
        line = f"{time}\t{rid}\t{level}\tInvoke Error {draw(st.sampled_from(['', ' ']))}\t{error}"
    elif shape == 6:
        init = f"Init Duration: {draw(numbers)} ms\t" if draw(st.booleans()) else ""
        sampled = draw(st.sampled_from(["true", "false"]))
        xray = (
            f"\nXRAY TraceId: 1-{draw(hostile_text)}\tSegmentId: ab\tSampled: {sampled}\t"
            if draw(st.booleans())
            else ""
        )
        line = (
            f"REPORT RequestId: {rid}\tDuration: {draw(numbers)} ms\tBilled Duration: {draw(integers)} ms\t"
            f"Memory Size: {draw(integers)} MB\tMax Memory Used: {draw(integers)} MB\t{init}{xray}"
        )
    elif shape == 7:
        line = json.dumps(draw(json_objects), ensure_ascii=draw(st.booleans()))
    elif shape == 8:  # a Lambda JSON application record
        record = {"timestamp": time, "level": level, "requestId": rid, "message": body, **draw(json_objects)}
        line = json.dumps(record, ensure_ascii=draw(st.booleans()))
    elif shape == 9:
        record = {
            "time": time,
            "type": "platform.report",
            "record": {"requestId": rid, "metrics": draw(json_objects)},
        }
        line = json.dumps(record)
    elif shape == 10:
        line = f"2026/03/04 05:06:{draw(st.sampled_from(['07', '61', '07.123456']))} {body}"
    elif shape == 11:
        line = f"2026-03-04 05:06:07 {rid} {level} Handler:{draw(st.integers(0, 99))} - {body}"
    elif shape == 12:
        line = f"2 123456789012 eni-1 {body}"
    elif shape == 15:  # log4j2 without its time, or text starting with the same letters
        line = draw(st.sampled_from([f"{rid} {level} Handler:12 - ", "abcdefgh-", "cart ", "e", "deadbeef "]))
        line += body
    elif shape == 16:  # Ruby's Logger, or text starting with the same letters
        line = draw(st.sampled_from([f"I, [{time} #12]  {level} {rid} -- : ", "W, [", "Warning: ", "D"]))
        line += body
    else:
        line = body
    return line + draw(st.sampled_from(["", "\n", "\r\n", " \n", "\t"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    messages=st.lists(lines(), min_size=1, max_size=6),
    stream=st.integers(min_value=0, max_value=len(STREAMS) - 1),
    variant=st.sampled_from(sorted(OPTIONS)),
)
def test_generated_lines_serialise_as_the_general_path(
    messages: list[str], stream: int, variant: str
) -> None:
    assert_same_bytes(make_envelope(messages, stream), OPTIONS[variant])


@settings(max_examples=100, deadline=None)
@given(messages=st.lists(st.text(), min_size=1, max_size=4), stream=st.integers(min_value=0, max_value=2))
def test_arbitrary_text_serialises_as_the_general_path(messages: list[str], stream: int) -> None:
    assert_same_bytes(make_envelope(messages, stream), TransformOptions())


def _platform_report(metric: str, value: str) -> str:
    return (
        '{"time":"2026-03-04T05:06:07.089Z","type":"platform.report","record":'
        f'{{"requestId":"{RID}","metrics":{{"{metric}":{value}}},"status":"success"}}}}'
    )


@pytest.mark.parametrize(
    "events",
    [
        [LogEvent(id='a"b', timestamp=1, message="END RequestId: x")],  # an id JSON must escape
        [LogEvent(id="1", timestamp=2**64, message="END RequestId: x")],  # beyond orjson's integers
        [LogEvent(id="1", timestamp=-(2**63) - 1, message="plain")],
        [LogEvent(id="1", timestamp=253402300800000, message="plain")],  # beyond year 9999
        [LogEvent(id="1", timestamp=1, message="plain \ud800 surrogate")],
        [LogEvent(id="1", timestamp=1, message='{"n": 123456789012345678901234, "t": "x"}')],
        [LogEvent(id="1", timestamp=1, message='{"n": 1e300}')],
        [LogEvent(id="1", timestamp=1, message='{"n": NaN}')],
        # a metric just beyond 64 bits, which orjson reads as a float that int() brings back
        # within them (the fast paths once wrote ...808 here)
        *(
            [LogEvent(id="1", timestamp=1, message=_platform_report(metric, value))]
            for metric in ("billedDurationMs", "durationMs", "maxMemoryUsedMB")
            for value in ("-9223372036854775809", "-9223372036854776000", "9223372036854775808")
        ),
    ],
)
def test_edge_events_serialise_as_the_general_path(events: list[LogEvent]) -> None:
    for stream in range(len(STREAMS)):
        log_group, log_stream = STREAMS[stream]
        env = Envelope("123456789012", log_group, log_stream, (), tuple(events))
        for options in OPTIONS.values():
            assert_same_bytes(env, options)


@pytest.mark.parametrize("field", ["owner", "log_group", "log_stream"])
def test_a_lone_surrogate_in_the_envelope_takes_the_general_path(field: str) -> None:
    env = make_envelope(["plain", "END RequestId: x", f"[INFO]\t2026-03-04T05:06:07.089Z\t{RID}\thi"])
    odd = Envelope(**{**vars(env), field: "a\ud800b"})
    for options in OPTIONS.values():
        assert_same_bytes(odd, options)


def test_ecs_writers_apply_only_to_streams_whose_lambda_fields_are_faas_fields() -> None:
    assert EcsDocumentWriter.supports(None)
    assert EcsDocumentWriter.supports({"functionName": "orders", "version": "$LATEST"})
    assert not EcsDocumentWriter.supports({"functionName": "orders", "region": "eu-west-1"})


def test_a_parser_bug_is_counted_and_kept_as_plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> bool:
        raise RuntimeError("parser bug")

    monkeypatch.setitem(transform._PARSERS, "S", broken)
    env = make_envelope(["START here\n", f"START RequestId: {RID} Version: $LATEST\n", "plain"])
    result = serialise_envelope(env, TransformOptions())
    # The START line in its common shape is written by the templates, which this parser is not.
    assert result.parse_errors == 1
    assert json.loads(result.records[0])["message"] == "START here"
    assert json.loads(result.records[1])["lambda"]["type"] == "START"


def test_a_writer_bug_falls_back_to_the_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.transform.templates import DocumentWriter

    def broken(*_: Any) -> str:
        raise RuntimeError("writer bug")

    monkeypatch.setattr(DocumentWriter, "python", broken)
    env = make_envelope([f"[INFO]\t2026-03-04T05:06:07.089Z\t{RID}\thello\n"])
    result = serialise_envelope(env, TransformOptions())
    assert result.parse_errors == 0
    assert json.loads(result.records[0])["level"] == "INFO"
    assert_same_bytes(env, TransformOptions())


def test_document_for_is_the_envelope_path_document() -> None:
    env = make_envelope([f"[INFO]\t2026-03-04T05:06:07.089Z\t{RID}\thello\n", "plain"])
    documents = transform_envelope(env, TransformOptions()).documents
    assert [document_for(event, env, TransformOptions()) for event in env.events] == documents


def test_str_whitespace_is_the_regex_whitespace() -> None:
    # The START and END writers read their lines with str.rstrip and str.split where the
    # general path's regexes say \s: the same characters, every code point.
    space = re.compile(r"\s")
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        assert char.isspace() == (space.fullmatch(char) is not None) == (char.split() == [])
        assert char.isspace() == (char.rstrip() == "")


def test_the_string_encoder_escapes_exactly_as_orjson() -> None:
    # Every code point but the surrogates (which orjson refuses and the general path escapes).
    text = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    assert encode_basestring(text).encode() == orjson.dumps(text)


@given(st.floats(min_value=1e-4, max_value=1e16, exclude_max=True) | st.just(0.0))
def test_python_writes_floats_in_the_duration_range_as_orjson(value: float) -> None:
    assert repr(value) == orjson.dumps(value).decode()


# The number writers of the Python module, and of its compiled copy where it is built.
NUMBER_WRITERS = [(_decimal_json, _integer_json)] + (
    [(COMPILED_TEMPLATES._decimal_json, COMPILED_TEMPLATES._integer_json)] if COMPILED_TEMPLATES else []
)


@given(
    st.from_regex(r"\A[0-9]{1,20}\.[0-9]{1,20}\Z")
    | st.from_regex(r"\A\d{1,3}\.\d{1,3}\Z")
    | numbers.filter(lambda text: "." in text)  # what the REPORT regex reads: \d+\.\d+
)
def test_report_decimals_are_written_as_orjson_writes_their_float(text: str) -> None:
    value = float(text)
    for decimal_json, _ in NUMBER_WRITERS:
        written = decimal_json(text)
        if written is None:
            assert value != 0 and not 1e-4 <= value < 1e16
        else:
            assert written == orjson.dumps(value).decode()


@given(st.from_regex(r"\A[0-9]{1,25}\Z") | st.from_regex(r"\A\d{1,5}\Z") | integers)
def test_report_integers_are_written_as_orjson_writes_them(text: str) -> None:
    for _, integer_json in NUMBER_WRITERS:
        written = integer_json(text)
        if written is None:
            assert len(text) > 18
        else:
            assert written == orjson.dumps(int(text)).decode()


@given(
    st.from_regex(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")
    | st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\Z")
    | times
)
def test_is_canonical_time_means_both_readers_keep_the_text(text: str) -> None:
    if is_canonical_time(text):
        assert text.isascii()
        assert checked_canonical_time(text) == text
        assert normalise_time(text) == text


# decode_record reads DATA_MESSAGEs with msgspec; anything it does not read takes the
# orjson path. Both must give the same envelope (or the same reason it is malformed).
def general_decode(raw: bytes) -> Any:
    try:
        message = jsoncodec.loads(zlib.decompress(raw, 31))
    except ValueError as e:
        return Malformed(f"not JSON: {e}")
    return parse_envelope(message)


event_values = st.one_of(
    st.text(max_size=8),
    st.integers(min_value=-(2**66), max_value=2**66),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
)


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "id": st.sampled_from(["1", "", "38000000000000000000"]) | event_values,
                "timestamp": st.integers(min_value=-(2**66), max_value=2**66) | event_values,
                "message": st.text(max_size=10) | event_values,
                "extra": event_values,
            },
        ),
        max_size=4,
    ),
    message_type=st.sampled_from(["DATA_MESSAGE", "CONTROL_MESSAGE", "OTHER"]),
    owner=st.sampled_from(["123456789012", 5]),
    filters=st.sampled_from([["logstep"], [], "x", [1, "a"]]),
    policy=st.sampled_from([None, "ACCOUNT_LEVEL_POLICY", 3]),
)
def test_decode_record_reads_every_message_as_the_general_path(
    events: list[dict[str, Any]], message_type: str, owner: Any, filters: Any, policy: Any
) -> None:
    message = envelope(events, subscriptionFilters=filters, messageType=message_type, owner=owner)
    if policy is not None:
        message["policyLevel"] = policy
    raw = gzip_json(message)
    assert decode_record(raw) == general_decode(raw)


@pytest.mark.parametrize(
    "text",
    [
        b'{"id":"1","id":"2","timestamp":1,"message":"m"}',  # duplicate keys: the last wins
        b'{"id":"1","timestamp":1,"message":"\\ud800"}',  # a lone surrogate: the standard library reads it
        b'{"id":"1","timestamp":1,"message":"\\u00e9\\n"}',
        b'{"id":"1","timestamp":123456789012345678901234,"message":"m"}',
        b'{"id":"1","timestamp":18446744073709551615,"message":"m"}',
        b'{"id":"1","timestamp":1.0,"message":"m"}',
        b'{"id":"1","timestamp":253402300800000,"message":"m"}',  # beyond year 9999
        b'{"id":"1","timestamp":-62135596800001,"message":"m"}',  # before year 1
        b'{"id":"1","timestamp":1,"message":"m","extra":{"deep":[1,2,{"x":null}]}}',
    ],
)
def test_decode_record_reads_odd_events_as_the_general_path(text: bytes) -> None:
    raw_message = (
        b'{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s",'
        b'"subscriptionFilters":["f"],"logEvents":[' + text + b"]}"
    )
    import gzip

    raw = gzip.compress(raw_message)
    assert decode_record(raw) == general_decode(raw)


def test_decoded_events_are_within_the_years_the_templates_write() -> None:
    # decode_record's DecodedEvents promise these bounds; the templates format times
    # without format_timestamp's out-of-range check on the strength of it.
    assert MIN_EVENT_TIME_MS == MIN_EPOCH_SECONDS * 1000
    assert MAX_EVENT_TIME_MS == MAX_EPOCH_SECONDS * 1000 + 999
    for stamp in (MIN_EVENT_TIME_MS, MAX_EVENT_TIME_MS):
        env = make_envelope(["plain", "END RequestId: x"], timestamp=stamp)
        assert_same_bytes(env, TransformOptions())
    beyond = make_envelope(["plain", "END RequestId: x"], timestamp=MAX_EVENT_TIME_MS)
    assert_same_bytes(beyond, TransformOptions())
    assert json.loads(serialise_envelope(beyond, TransformOptions()).records[1])["timestamp"] == (
        OUT_OF_RANGE_TIMESTAMP
    )


def binascii_decode(data: str) -> bytes | Malformed:
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError) as e:
        return Malformed(f"not base64: {e}")


@settings(max_examples=500)
@given(
    st.text(alphabet=st.sampled_from(string.ascii_letters + string.digits + "+/=\n -_é"))
    | st.binary(max_size=40).map(lambda raw: base64.b64encode(raw).decode())
)
def test_b64decode_is_binasciis_strict_base64(data: str) -> None:
    # pybase64 is the fast path; binascii (what base64.b64decode(validate=True) runs) the reference.
    assert b64decode(data) == binascii_decode(data)
