"""The delivery part of the stack, per target: cfn-lint with real values, Firehose, its role.

moto's CloudFormation has no AWS::KinesisFirehose::DeliveryStream, so the Firehose stream,
its role and its alarms are read from the rendered template evaluated for each target's
parameters (tests/deploy/cfn_eval.py), the way the alarm tests read alarms.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from cfnlint.api import lint
from cfnlint.config import ManualArgs

from tests.deploy.cfn_eval import ACCOUNT, REGION, Evaluated
from tests.deploy.firehose_targets import COLLECTION_ARN, DOMAIN_ARN, FIREHOSE_TARGETS, SECRET_ARN
from tests.deploy.test_iam_policies import SCENARIOS

TARGETS = ["opensearch", "serverless", "http"]
BUCKET_ARN = f"arn:aws:s3:::logstep-dev-claimcheck-{ACCOUNT}-{REGION}"
STREAM_ARN = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/logstep-dev-destination"
DESTINATIONS = {
    "opensearch": "AmazonopensearchserviceDestinationConfiguration",
    "serverless": "AmazonOpenSearchServerlessDestinationConfiguration",
    "http": "HttpEndpointDestinationConfiguration",
}


# cfn-lint resolves every Ref, in every branch, to the parameter's default: a target's lint
# gives every cluster parameter a real value, then the target's own.
REAL_VALUES = {
    "SearchEndpoint": "https://search-logs-abc.eu-west-1.es.amazonaws.com",
    "SearchSecretArn": SECRET_ARN,
    "SearchResourceArn": DOMAIN_ARN,
}


def _with_defaults(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """The template with these values as parameter defaults, and without the lint ignores."""
    linted = copy.deepcopy(template)
    for key, value in {**REAL_VALUES, **parameters}.items():
        linted["Parameters"][key]["Default"] = value
    del linted["Metadata"]["cfn-lint"]
    return linted


def _lint(template: dict[str, Any]) -> list[str]:
    config = ManualArgs(include_checks=["I"], ignore_checks=["I4010"], regions=["us-east-1", "eu-west-1"])
    return [str(m) for m in lint(json.dumps(template), config=config)]


@pytest.mark.parametrize("target", TARGETS)
def test_cfn_lint_passes_for_each_firehose_target(template: dict[str, Any], target: str) -> None:
    parameters = {"FirehoseTarget": target, **FIREHOSE_TARGETS[target]}
    assert _lint(_with_defaults(template, parameters)) == []


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s != "kinesis"])
def test_cfn_lint_passes_for_each_search_delivery(template: dict[str, Any], scenario: str) -> None:
    assert _lint(_with_defaults(template, SCENARIOS[scenario])) == []


def _firehose(template: dict[str, Any], target: str) -> Evaluated:
    return Evaluated(template, {"Stage": "dev", "FirehoseTarget": target, **FIREHOSE_TARGETS[target]})


@pytest.mark.parametrize("target", TARGETS)
def test_firehose_reads_the_destination_stream_and_backs_failures_up(
    template: dict[str, Any], target: str
) -> None:
    ev = _firehose(template, target)
    props = ev.resources["FirehoseStream"]["Properties"]
    assert props["DeliveryStreamType"] == "KinesisStreamAsSource"
    assert props["KinesisStreamSourceConfiguration"]["KinesisStreamARN"] == STREAM_ARN
    (destination,) = [k for k in props if k.endswith("DestinationConfiguration")]
    assert destination == DESTINATIONS[target]
    config = props[destination]
    assert config["S3BackupMode"] == ("FailedDataOnly" if target == "http" else "FailedDocumentsOnly")
    assert config["S3Configuration"]["BucketARN"] == BUCKET_ARN
    assert config["S3Configuration"]["Prefix"] == "firehose/"
    assert config["BufferingHints"] == {"IntervalInSeconds": "60", "SizeInMBs": "5"}
    assert config["RetryOptions"] == {"DurationInSeconds": "300"}
    assert config["CloudWatchLoggingOptions"]["Enabled"] is True
    if target == "opensearch":
        assert config["DomainARN"] == DOMAIN_ARN
        assert (config["IndexName"], config["IndexRotationPeriod"]) == ("logstep", "OneDay")
        assert config["DocumentIdOptions"] == {"DefaultDocumentIdFormat": "FIREHOSE_DEFAULT"}
    if target == "serverless":
        assert config["CollectionEndpoint"] == FIREHOSE_TARGETS["serverless"]["SearchEndpoint"]
        assert config["IndexName"] == "logstep"
    if target == "http":
        assert config["EndpointConfiguration"]["Url"] == FIREHOSE_TARGETS["http"]["SearchEndpoint"]
        assert config["SecretsManagerConfiguration"]["SecretARN"] == SECRET_ARN
        assert "AccessKey" not in config["EndpointConfiguration"]


@pytest.mark.parametrize("target", TARGETS)
def test_firehose_role_reaches_only_the_stream_its_prefix_and_the_chosen_target(
    template: dict[str, Any], target: str
) -> None:
    ev = _firehose(template, target)
    role = ev.resources["FirehoseRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "firehose.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": ACCOUNT}}
    (policy,) = role["Policies"]
    grants = {
        statement["Sid"]: (statement["Action"], statement["Resource"])
        for statement in policy["PolicyDocument"]["Statement"]
    }
    assert all(s["Effect"] == "Allow" for s in policy["PolicyDocument"]["Statement"])
    assert grants["ReadDestinationStream"][1] == STREAM_ARN
    assert "kinesis:PutRecords" not in grants["ReadDestinationStream"][0]
    assert grants["BackupPrefix"] == (
        ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
        f"{BUCKET_ARN}/firehose/*",
    )
    assert grants["BackupBucket"][1] == BUCKET_ARN
    assert not [a for a in grants["BackupBucket"][0] if a in ("s3:PutObject", "s3:DeleteObject")]
    resources = json.dumps({k: v[1] for k, v in grants.items()})
    others = {"opensearch": DOMAIN_ARN, "serverless": COLLECTION_ARN, "http": SECRET_ARN}
    expected = {
        "opensearch": {"Domain", "DomainReads"},
        "serverless": {"Collection"},
        "http": {"EndpointKey"},
    }
    common = {"ReadDestinationStream", "BackupBucket", "BackupPrefix", "ErrorLog"}
    assert set(grants) == common | expected[target]
    for other, arn in others.items():
        assert (arn in resources) == (other == target), other
    if target == "opensearch":
        assert "es:ESHttpDelete" not in json.dumps(grants)
        assert all(r.startswith(DOMAIN_ARN) for r in grants["DomainReads"][1])


def test_firehose_relies_on_de_aggregation_and_says_where(source_template_text: str) -> None:
    """LOGSTEP_OUTPUT_RECORDS=aggregated is only safe because Firehose de-aggregates."""
    assert (
        "Amazon Data Firehose\n  # de-aggregates the records before it delivers them to the destination"
        in (source_template_text)
    )
    assert "https://docs.aws.amazon.com/firehose/latest/dev/writing-with-kinesis-streams.html" in (
        source_template_text
    )


def test_without_a_firehose_target_the_stack_has_no_firehose(template: dict[str, Any]) -> None:
    ev = Evaluated(template, {"Stage": "dev"})
    assert not {"FirehoseStream", "FirehoseRole", "FirehoseLogGroup", "FirehoseLogStream"} & set(ev.resources)
    assert "DestinationStream" in ev.resources


@pytest.mark.parametrize(
    ("parameters", "stream"),
    [
        ({}, True),
        ({"Delivery": "search", **SCENARIOS["search-aws-es"]}, False),
        ({**SCENARIOS["search-keeping-the-stream"]}, True),
        ({"Delivery": "search", **SCENARIOS["search-aws-es"], "FirehoseTarget": "opensearch"}, True),
    ],
)
def test_the_destination_stream_exists_only_when_a_delivery_needs_it(
    template: dict[str, Any], parameters: dict[str, str], stream: bool
) -> None:
    ev = Evaluated(template, {"Stage": "dev", **parameters})
    assert ("DestinationStream" in ev.resources) == stream
    assert ("DestinationStreamName" in ev.outputs) == stream


def test_the_default_stack_has_no_search_grants(template: dict[str, Any]) -> None:
    ev = Evaluated(template, {"Stage": "dev"})
    statements = ev.resources["PutBatchDeliveryPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert [(s["Sid"], s["Resource"]) for s in statements] == [("WriteDestinationStream", STREAM_ARN)]


def test_a_firehose_endpoint_gives_put_batch_no_search_grants_in_kinesis_mode(
    template: dict[str, Any],
) -> None:
    ev = _firehose(template, "http")
    statements = ev.resources["PutBatchDeliveryPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert [s["Sid"] for s in statements] == ["WriteDestinationStream"]
