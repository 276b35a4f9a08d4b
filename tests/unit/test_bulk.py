"""Bulk items, index names and bulk answers (pure)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.batching import Record
from chalicelib.bulk import (
    ItemResult,
    bulk_body,
    bulk_bytes,
    bulk_record,
    describe_error,
    document_id,
    item_action,
    item_results,
)
from chalicelib.indices import ROTATIONS, index_name, valid_index_prefix

# 2016-02-25T13:00:00Z, the example of https://docs.aws.amazon.com/firehose/latest/dev/es-index-rotation.html
FIREHOSE_EXAMPLE_MS = 1456405200000


@pytest.mark.parametrize(
    ("rotation", "expected"),
    [
        ("NoRotation", "myindex"),
        ("OneHour", "myindex-2016-02-25-13"),
        ("OneDay", "myindex-2016-02-25"),
        ("OneWeek", "myindex-2016-w08"),
        ("OneMonth", "myindex-2016-02"),
    ],
)
def test_index_names_follow_firehose_rotation(rotation: str, expected: str) -> None:
    assert index_name("myindex", rotation, FIREHOSE_EXAMPLE_MS) == expected


def test_every_rotation_is_named() -> None:
    assert {index_name("p", r, 0) for r in ROTATIONS} == {
        "p",
        "p-1970-01-01-00",
        "p-1970-01-01",
        "p-1970-w00",
        "p-1970-01",
    }


@pytest.mark.parametrize("prefix", ["logstep", "logs.prod", "a", "team_1-logs"])
def test_valid_prefixes(prefix: str) -> None:
    assert valid_index_prefix(prefix)


@pytest.mark.parametrize(
    "prefix", ["", "Logstep", "-logs", "_logs", "logs*", "a b", "logs,x", "a:b", "x" * 300]
)
def test_invalid_prefixes(prefix: str) -> None:
    assert not valid_index_prefix(prefix)


def test_document_id_is_deterministic_and_depends_on_every_part() -> None:
    base = ("123456789012", "/aws/lambda/a", "stream", "3800")
    first = document_id(*base)
    assert first == document_id(*base)
    assert len(first) == 20 and all(c.isalnum() or c in "-_" for c in first)
    variants = {document_id(*base[:i], "other", *base[i + 1 :]) for i in range(4)}
    assert first not in variants and len(variants) == 4


def test_document_id_does_not_confuse_boundaries() -> None:
    assert document_id("1", "ab", "c", "d") != document_id("1", "a", "bc", "d")


def test_bulk_record_round_trips_its_action() -> None:
    record = bulk_record("logstep-2026-12-04", "abc", b'{"message":"x"}')
    assert json.loads(record.partition_key) == {"create": {"_index": "logstep-2026-12-04", "_id": "abc"}}
    assert item_action(record) == ("logstep-2026-12-04", "abc")
    assert bulk_bytes(record) == len(bulk_body([record]))


@given(
    st.lists(
        st.tuples(st.text("abc-", min_size=1, max_size=8), st.binary(max_size=30).map(bytes.hex)), max_size=20
    )
)
def test_bulk_body_is_action_and_document_lines(items: list[tuple[str, str]]) -> None:
    records = [bulk_record("i", doc_id, json.dumps({"m": m}).encode()) for doc_id, m in items]
    lines = bulk_body(records).split(b"\n")
    assert lines[-1] == b"" and len(lines) == 2 * len(records) + 1
    for n, record in enumerate(records):
        assert json.loads(lines[2 * n])["create"]["_id"] == item_action(record)[1]
        assert lines[2 * n + 1] == record.data


def test_item_results_classify_each_status() -> None:
    response = {
        "errors": True,
        "items": [
            {"create": {"status": 201}},
            {"create": {"status": 409, "error": {"type": "version_conflict_engine_exception"}}},
            {
                "create": {
                    "status": 429,
                    "error": {"type": "es_rejected_execution_exception", "reason": "busy"},
                }
            },
            {"create": {"status": 503, "error": {"type": "unavailable_shards_exception", "reason": "down"}}},
            {
                "create": {
                    "status": 400,
                    "error": {
                        "type": "mapper_parsing_exception",
                        "reason": "bad",
                        "caused_by": {"type": "x", "reason": "y"},
                    },
                }
            },
        ],
    }
    results = item_results(response, 5)
    assert results is not None
    assert [r.delivered for r in results] == [True, True, False, False, False]
    assert [r.retryable for r in results] == [False, False, True, True, False]
    assert results[1].error == ""  # a conflict is not an error
    assert results[4].error == "mapper_parsing_exception: bad (caused by x: y)"


@pytest.mark.parametrize(
    "response",
    [
        None,
        [],
        {"errors": False},
        {"items": [{"create": {"status": 201}}]},  # one item for two documents
        {"items": [{"create": {"status": "201"}}, {"create": {"status": 201}}]},
        {"items": [{}, {"create": {"status": 201}}]},
    ],
)
def test_item_results_refuse_answers_that_do_not_list_every_item(response: object) -> None:
    assert item_results(response, 2) is None


def test_describe_error_of_text_and_objects() -> None:
    assert describe_error("boom") == "boom"
    assert describe_error({"type": "t", "reason": "r"}) == "t: r"
    assert len(describe_error("x" * 5000)) == 1000
    assert ItemResult(500).retryable and not ItemResult(404).retryable
    assert Record("k", b"d").size == 2


def test_error_class_drops_per_document_parts() -> None:
    from chalicelib.bulk import error_class

    one = (
        "mapper_parsing_exception: failed to parse field [timestamp] of type [long] in document with id "
        "'XJx-Z'. Preview of field's value: '2026-12-03T10:00:00.001Z' (caused by e: x)"
    )
    other = one.replace("XJx-Z", "abc").replace("00.001Z", "00.002Z")
    assert (
        error_class(one)
        == error_class(other)
        == (
            "mapper_parsing_exception: failed to parse field [timestamp] of type [long] "
            "in document with id '…'"
        )
    )
    assert error_class("es_rejected_execution_exception: busy") == "es_rejected_execution_exception: busy"
