"""Execution names and Lambda Kinesis events."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.errors import MalformedStateError
from chalicelib.ingest import execution_name, source_records_from_event
from tests.helpers import kinesis_event

NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


@given(
    shard=st.from_regex(r"shardId-\d{12}", fullmatch=True),
    first=st.text(alphabet="0123456789", min_size=1, max_size=60),
    last=st.text(alphabet="0123456789", min_size=1, max_size=60),
    count=st.integers(min_value=1, max_value=10_000),
)
def test_execution_names_are_valid_and_deterministic(shard: str, first: str, last: str, count: int) -> None:
    name = execution_name(shard, first, last, count)
    assert NAME.match(name)
    assert name == execution_name(shard, first, last, count)


def test_different_ranges_get_different_names() -> None:
    a = execution_name("shardId-000000000001", "1", "5", 5)
    assert a != execution_name("shardId-000000000001", "1", "6", 6)
    assert a != execution_name("shardId-000000000002", "1", "5", 5)


def test_source_records_keep_shard_sequence_and_data() -> None:
    records = source_records_from_event(kinesis_event([b"a", b"b"], shard="shardId-000000000003"))
    assert [r.shard_id for r in records] == ["shardId-000000000003"] * 2
    assert records[0].data == "YQ=="
    assert records[1].sequence_number.endswith("1")


def test_an_event_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(MalformedStateError):
        source_records_from_event({"Records": [{"nope": 1}]})
