"""EMF documents: shape, limits, and the structured log format."""

from __future__ import annotations

import json
import logging

import pytest

from chalicelib.logs import JsonFormatter
from chalicelib.metrics import MAX_VALUES_PER_METRIC, UNITS, MetricSet, MetricsRecorder, to_documents
from logstep.health import health_from_emf


def test_a_recorder_writes_emf_with_low_cardinality_dimensions() -> None:
    written: list[dict[str, object]] = []
    recorder = MetricsRecorder("dev", "decode", written.append)
    recorder.add("EventsIn", 12)
    recorder.add("RecordsQuarantined", 2, reason="NotJson")
    recorder.flush(1795680000000)
    assert len(written) == 2
    plain = next(d for d in written if "EventsIn" in d)
    assert plain["stage"] == "dev" and plain["step"] == "decode" and plain["EventsIn"] == 12
    directive = plain["_aws"]["CloudWatchMetrics"][0]  # type: ignore[index]
    assert directive == {
        "Namespace": "logstep",
        "Dimensions": [["stage", "step"]],
        "Metrics": [{"Name": "EventsIn", "Unit": "Count"}],
    }
    by_reason = next(d for d in written if "RecordsQuarantined" in d)
    assert by_reason["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["reason", "stage", "step"]]  # type: ignore[index]
    recorder.flush(0)
    assert len(written) == 2  # flushed sets are forgotten


def test_values_are_split_at_the_emf_limit() -> None:
    metric_set = MetricSet(dimensions={"stage": "dev", "step": "put_batch"})
    metric_set.add_many("BatchFillRecords", range(250))
    documents = to_documents(metric_set, 0)
    assert [len(d["BatchFillRecords"]) for d in documents] == [
        MAX_VALUES_PER_METRIC,
        MAX_VALUES_PER_METRIC,
        50,
    ]
    assert health_from_emf(documents).get("BatchFillRecords") == sum(range(250))


def test_undocumented_metric_names_are_refused() -> None:
    with pytest.raises(KeyError):
        MetricSet(dimensions={}).add("Typo", 1)


def test_every_metric_has_a_unit_cloudwatch_knows() -> None:
    assert set(UNITS.values()) <= {"Count", "Bytes", "Milliseconds"}


def test_log_lines_are_json_with_an_event_name_and_fields() -> None:
    record = logging.LogRecord("logstep", logging.INFO, __file__, 1, "decode.done", None, None)
    record.fields = {"execution": "shard0-abc", "ms": 12}
    line = json.loads(JsonFormatter().format(record))
    assert line["event"] == "decode.done"
    assert line["level"] == "INFO"
    assert line["execution"] == "shard0-abc"
    assert line["time"].endswith("Z")
