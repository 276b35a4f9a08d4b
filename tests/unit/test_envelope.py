"""Kinesis record bytes -> envelope: gzip and zlib, shapes, malformed input."""

from __future__ import annotations

import base64
import gzip
import json
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.envelope import (
    ControlMessage,
    Envelope,
    Malformed,
    decode_base64_record,
    decode_record,
    envelope_to_json,
    parse_envelope,
)
from tests.helpers import envelope, gzip_json, load_event, zlib_json


def test_gzip_envelope_decodes_with_its_events() -> None:
    message = load_event("kinesis_cwl_envelope.json")
    decoded = decode_record(gzip_json(message))
    assert isinstance(decoded, Envelope)
    assert decoded.log_group == "/aws/lambda/orders-api"
    assert decoded.owner == "123456789012"
    assert [e.id for e in decoded.events] == [e["id"] for e in message["logEvents"]]
    assert decoded.events[1].message.startswith("[INFO]\t")
    assert decoded.policy_level is None


def test_zlib_envelope_from_an_account_level_policy_keeps_policy_level() -> None:
    message = envelope([{"id": "1", "timestamp": 1, "message": "x"}], policyLevel="ACCOUNT_LEVEL_POLICY")
    decoded = decode_record(zlib_json(message))
    assert isinstance(decoded, Envelope)
    assert decoded.policy_level == "ACCOUNT_LEVEL_POLICY"
    assert envelope_to_json(decoded)["policyLevel"] == "ACCOUNT_LEVEL_POLICY"


def test_control_message_yields_no_events() -> None:
    message = {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logEvents": []}
    assert isinstance(decode_record(gzip_json(message)), ControlMessage)


def test_integer_event_ids_become_strings() -> None:
    decoded = parse_envelope(envelope([{"id": 42, "timestamp": 1, "message": "m"}]))
    assert isinstance(decoded, Envelope)
    assert decoded.events[0].id == "42"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"plain text", "not gzip or zlib"),
        (gzip.compress(b"not json"), "not JSON"),
        (gzip.compress(b"[1, 2]"), "envelope is a JSON list"),
        (gzip_json({"messageType": "SOMETHING_NEW"}), "unknown messageType"),
        (gzip_json({"messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "g"}), "logStream"),
        (gzip_json(envelope("nope")), "logEvents is missing or not a list"),  # type: ignore[arg-type]
        (gzip_json(envelope([{"id": "1", "timestamp": "x", "message": "m"}])), "timestamp"),
        (gzip_json(envelope([{"id": "1", "timestamp": 1, "message": 5}])), "message"),
        (gzip_json(envelope([{"timestamp": 1, "message": "m"}])), "id"),
        (gzip.compress(b'{"a": 1}')[:-4], "not gzip or zlib"),
    ],
)
def test_malformed_records_say_why(data: bytes, reason: str) -> None:
    decoded = decode_record(data)
    assert isinstance(decoded, Malformed)
    assert reason in decoded.reason


def test_invalid_base64_is_malformed() -> None:
    decoded = decode_base64_record("***not base64***")
    assert isinstance(decoded, Malformed)
    assert decoded.reason.startswith("not base64")


def test_base64_round_trip() -> None:
    message = envelope([{"id": "7", "timestamp": 3, "message": "hello\n"}])
    decoded = decode_base64_record(base64.b64encode(gzip_json(message)).decode())
    assert isinstance(decoded, Envelope)
    assert envelope_to_json(decoded) == {**message, "subscriptionFilters": ["logstep"]}


events_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.text(alphabet="0123456789", min_size=1, max_size=56),
            "timestamp": st.integers(min_value=0, max_value=2**53),
            "message": st.text(),
        }
    ),
    max_size=20,
)


@given(events=events_strategy, use_zlib=st.booleans())
def test_decode_of_encode_is_identity(events: list[dict[str, object]], use_zlib: bool) -> None:
    message = envelope(events)
    raw = json.dumps(message).encode()
    data = zlib.compress(raw) if use_zlib else gzip.compress(raw)
    decoded = decode_record(data)
    assert isinstance(decoded, Envelope)
    assert envelope_to_json(decoded) == message


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    assert decode_record(data) is not None
