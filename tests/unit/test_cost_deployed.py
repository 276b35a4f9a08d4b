"""logstep cost --deployed: the window, the metric period, and the S3 estimate (no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from logstep.cost.deployed import (
    DeployedReadError,
    Window,
    metric_period,
    sample_executions,
    window_from_args,
)
from logstep.cost.model import Assumptions, Workload, project, s3_requests, usage_from_summary
from tests.unit.test_cost import summary

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_the_window_is_the_last_24_hours_by_default() -> None:
    assert window_from_args(None, None, None, NOW) == Window(NOW - timedelta(hours=24), NOW)
    assert window_from_args(None, None, 6, NOW) == Window(NOW - timedelta(hours=6), NOW)


def test_window_times_are_utc_unless_a_zone_is_given() -> None:
    window = window_from_args("2026-11-25T10:00", "2026-11-25T12:00+01:00", None, NOW)
    assert window.since == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert window.until == datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    assert window.hours == 1
    assert window_from_args(None, "2026-11-25T12:00Z", 2, NOW).since == datetime(2026, 11, 25, 10, tzinfo=UTC)


def test_a_window_must_not_be_empty_or_over_specified() -> None:
    with pytest.raises(ValueError, match="empty window"):
        window_from_args("2026-11-25T12:00", "2026-11-25T11:00", None, NOW)
    with pytest.raises(DeployedReadError):
        window_from_args("2026-11-25T12:00", None, 3, NOW)


@pytest.mark.parametrize(
    ("age_days", "hours", "period"),
    [
        (1, 24, 86_400),  # one period for the whole window
        (0.01, 0.01, 60),  # at least a minute
        (1, 24.01, 86_460),  # whole minutes
        (20, 1.01, 3_900),  # 5-minute data only after 15 days
        (100, 1.01, 7_200),  # hourly after 63 days
    ],
)
def test_one_metric_period_covers_the_window_in_steps_cloudwatch_keeps(
    age_days: float, hours: float, period: int
) -> None:
    since = NOW - timedelta(days=age_days)
    assert metric_period(Window(since, since + timedelta(hours=hours)), NOW) == period


def test_the_s3_estimate_is_the_per_execution_pattern_projections_use() -> None:
    # cost.project and cost --deployed derive S3 requests from executions, chunks and
    # retries with the same function; it must match what the sandbox counts.
    usage = usage_from_summary({**summary("aggregated"), "retries": 3})
    month, _, _ = project(usage, Workload(events_per_day=1e8, avg_event_bytes=200), Assumptions())
    assert s3_requests(month.executions, month.chunks, month.retries) == pytest.approx(
        (month.s3_put, month.s3_get)
    )
    assert s3_requests(1, 2, 0) == (8, 6)  # what the sandbox counts for 1 execution of 2 chunks


def test_a_sample_spreads_over_the_window_s_start_times() -> None:
    executions = [{"name": f"e{i}", "startDate": NOW - timedelta(minutes=i)} for i in range(10)]
    assert [e["name"] for e in sample_executions(executions, 3)] == ["e9", "e6", "e3"]
    assert len(sample_executions(executions, None)) == len(sample_executions(executions, 50)) == 10


def test_a_search_stage_reads_no_destination_stream_but_its_bulk_requests() -> None:
    from logstep.cost.deployed import PIPELINE_FUNCTIONS, Pipeline, pipeline_queries

    functions = {name: f"logstep-dev-{name}" for name in PIPELINE_FUNCTIONS}
    search = Pipeline("dev", "arn:sm", "src", "", "bucket", functions, delivery="search")
    queries = pipeline_queries(search)
    assert not any(key.startswith("destination.") for key in queries)
    assert queries["bulk_requests"].name == "BulkRequests"
    kinesis = pipeline_queries(Pipeline("dev", "arn:sm", "src", "dst", "bucket", functions))
    assert "destination.bytes" in kinesis and "bulk_requests" not in kinesis
