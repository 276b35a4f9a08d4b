"""Alarms and the dashboard: present, wired to the topic, thresholds as parameters (issue: operate).

moto's CloudFormation ignores alarms and dashboards, so they are asserted on the rendered
template; cfn-lint of the whole template runs in test_infra_template.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

from chalicelib.metrics import UNITS

ALARMS = {
    "SourceIteratorAgeAlarm": "IteratorAgeAlarmMinutes",
    "SubscriptionDeliveryErrorsAlarm": None,
    "SubscriptionDeliveryThrottlingAlarm": None,
    "ExecutionsFailedAlarm": None,
    "RecordsPendingAlarm": "PendingRecordsAlarmThreshold",
    "ThrottleRateAlarm": "ThrottleRateAlarmPercent",
    "ClaimCheckDeleteFailedAlarm": None,
}


def _metric_names(alarm: dict[str, Any]) -> set[str]:
    props = alarm["Properties"]
    names = {props["MetricName"]} if "MetricName" in props else set()
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


def test_the_dashboard_body_is_json_once_substituted(resources: dict[str, Any]) -> None:
    text, _ = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    substituted = re.sub(r"\$\{[^}]+\}", "x", text)
    widgets = json.loads(substituted)["widgets"]
    assert {w["type"] for w in widgets} == {"metric", "alarm"}
