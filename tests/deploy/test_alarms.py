"""Alarms and the dashboard: present, wired to the topic, thresholds as parameters (issue: operate).

moto's CloudFormation ignores alarms and dashboards, so they are asserted on the rendered
template; cfn-lint of the whole template runs in test_infra_template.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from chalicelib.metrics import UNITS
from tests.deploy.cfn_eval import Evaluated
from tests.deploy.firehose_targets import FIREHOSE_METRIC_PREFIX, FIREHOSE_TARGETS

ALARMS = {
    "SourceIteratorAgeAlarm": "IteratorAgeAlarmMinutes",
    "SubscriptionDeliveryErrorsAlarm": None,
    "SubscriptionDeliveryThrottlingAlarm": None,
    "ExecutionsFailedAlarm": None,
    "RecordsPendingAlarm": "PendingRecordsAlarmThreshold",
    "ThrottleRateAlarm": "ThrottleRateAlarmPercent",
    "ClaimCheckDeleteFailedAlarm": None,
    "DocumentsRejectedAlarm": None,
    "FirehoseDeliverySuccessAlarm": None,
    "FirehoseFreshnessAlarm": "FirehoseFreshnessAlarmSeconds",
}


def _metric_names(alarm: dict[str, Any]) -> set[str]:
    props = alarm["Properties"]
    # A MetricName built with !Sub (Firehose's, per target) is checked per target below.
    names = {props["MetricName"]} if isinstance(props.get("MetricName"), str) else set()
    for query in props.get("Metrics", []):
        if "MetricStat" in query:
            names.add(query["MetricStat"]["Metric"]["MetricName"])
        expression = json.dumps(query.get("Expression", ""))
        names.update(re.findall(r"SUM\((\w+)\)", expression))
    return names


def test_every_alarm_exists_notifies_the_topic_and_takes_its_threshold_from_a_parameter(
    resources: dict[str, Any], template: dict[str, Any]
) -> None:
    for name, parameter in ALARMS.items():
        alarm = resources[name]
        assert alarm["Type"] == "AWS::CloudWatch::Alarm"
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert props["TreatMissingData"] == "notBreaching"
        if parameter:
            assert props["Threshold"] == {"Ref": parameter}
            assert parameter in template["Parameters"]


def test_alarms_watch_what_the_operate_issue_names(resources: dict[str, Any]) -> None:
    watched = {name: _metric_names(resources[name]) for name in ALARMS}
    assert watched["SourceIteratorAgeAlarm"] == {"GetRecords.IteratorAgeMilliseconds"}
    assert watched["SubscriptionDeliveryErrorsAlarm"] == {"DeliveryErrors"}
    assert watched["SubscriptionDeliveryThrottlingAlarm"] == {"DeliveryThrottling"}
    assert watched["ExecutionsFailedAlarm"] == {"ExecutionsFailed"}
    assert watched["RecordsPendingAlarm"] == {"RecordsPending"}
    assert watched["ThrottleRateAlarm"] == {"RecordsThrottled", "RecordsDelivered"}
    assert watched["ClaimCheckDeleteFailedAlarm"] == {"ClaimCheckDeleteFailed"}
    assert watched["DocumentsRejectedAlarm"] == {"DocumentsRejected"}


def test_logstep_metrics_in_alarms_and_dashboard_are_ones_the_code_emits(
    resources: dict[str, Any],
) -> None:
    body = json.dumps(resources["Dashboard"]["Properties"]["DashboardBody"])
    used = set(re.findall(r'\\"logstep\\", \\"(\w+)\\"', body))
    for name in ALARMS:
        props = resources[name]["Properties"]
        for query in props.get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric", {})
            if metric.get("Namespace") == "logstep":
                used.add(metric["MetricName"])
        if props.get("Namespace") == "logstep":
            used.add(props["MetricName"])
    assert used
    assert used <= set(UNITS)


@pytest.mark.parametrize("firehose", ["none", "opensearch", "serverless", "http"])
def test_the_dashboard_body_is_json_once_substituted(template: dict[str, Any], firehose: str) -> None:
    parameters = {"Stage": "dev", "FirehoseTarget": firehose, **FIREHOSE_TARGETS[firehose]}
    body = Evaluated(template, parameters).resources["Dashboard"]["Properties"]["DashboardBody"]
    widgets = json.loads(body)["widgets"]
    assert {w["type"] for w in widgets} == {"metric", "alarm"}
    (alarms,) = [w["properties"]["alarms"] for w in widgets if w["type"] == "alarm"]
    shown = {a.rsplit(":", 1)[1] for a in alarms}
    assert "logstep-dev-documents-rejected" in shown
    metrics = json.dumps([w for w in widgets if w["type"] == "metric"])
    for name in ("DocumentsRejected", "DuplicatesSuppressed", "BulkRequests", "BulkItemsThrottled"):
        assert name in metrics
    if firehose == "none":
        assert "AWS/Firehose" not in metrics and not any("firehose" in a for a in shown)
    else:
        assert {"logstep-dev-firehose-delivery-success", "logstep-dev-firehose-freshness"} <= shown
        assert f"DeliveryTo{FIREHOSE_METRIC_PREFIX[firehose]}.Success" in metrics
        assert f"DeliveryTo{FIREHOSE_METRIC_PREFIX[firehose]}.DataFreshness" in metrics


@pytest.mark.parametrize("firehose", ["opensearch", "serverless", "http"])
def test_firehose_alarms_watch_the_targets_metrics(template: dict[str, Any], firehose: str) -> None:
    parameters = {"Stage": "dev", "FirehoseTarget": firehose, **FIREHOSE_TARGETS[firehose]}
    resources = Evaluated(template, parameters).resources
    prefix = f"DeliveryTo{FIREHOSE_METRIC_PREFIX[firehose]}"
    success = resources["FirehoseDeliverySuccessAlarm"]["Properties"]
    assert success["Namespace"] == "AWS/Firehose"
    assert success["MetricName"] == f"{prefix}.Success"
    assert success["Dimensions"] == [{"Name": "DeliveryStreamName", "Value": "logstep-dev-firehose"}]
    assert (success["ComparisonOperator"], success["Threshold"]) == ("LessThanThreshold", 1)
    fresh = resources["FirehoseFreshnessAlarm"]["Properties"]
    assert fresh["MetricName"] == f"{prefix}.DataFreshness"
    assert fresh["Statistic"] == "Maximum"
    assert fresh["Threshold"] == template["Parameters"]["FirehoseFreshnessAlarmSeconds"][
        "Default"
    ] == "900" or (str(fresh["Threshold"]) == "900")


def test_no_firehose_alarm_without_a_firehose_target(template: dict[str, Any]) -> None:
    resources = Evaluated(template, {"Stage": "dev"}).resources
    assert "FirehoseStream" not in resources
    assert not {"FirehoseDeliverySuccessAlarm", "FirehoseFreshnessAlarm"} & set(resources)
    assert "DocumentsRejectedAlarm" in resources
