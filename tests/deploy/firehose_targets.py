"""Stack parameters for each FirehoseTarget, shared by the deploy tests."""

from __future__ import annotations

REGION, ACCOUNT = "eu-west-1", "111122223333"
DOMAIN_ARN = f"arn:aws:es:{REGION}:{ACCOUNT}:domain/logs"
COLLECTION_ARN = f"arn:aws:aoss:{REGION}:{ACCOUNT}:collection/abc123def456"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:logstep/elastic-AbCdEf"

# FirehoseTarget -> the parameters it needs besides itself (logstep.deploy.deploy.delivery_problems).
FIREHOSE_TARGETS: dict[str, dict[str, str]] = {
    "none": {},
    "opensearch": {"SearchResourceArn": DOMAIN_ARN},
    "serverless": {
        "SearchEndpoint": f"https://abc123def456.{REGION}.aoss.amazonaws.com",
        "SearchResourceArn": COLLECTION_ARN,
    },
    "http": {
        "SearchEndpoint": "https://logs.es.eu-west-1.aws.elastic-cloud.com",
        "SearchSecretArn": SECRET_ARN,
    },
}
# The prefix of Firehose's delivery metrics per target (DeliveryTo<prefix>.Success, ...).
# https://docs.aws.amazon.com/firehose/latest/dev/firehose-cloudwatch-metrics-best-practices.html
FIREHOSE_METRIC_PREFIX = {
    "opensearch": "AmazonOpenSearchService",
    "serverless": "AmazonOpenSearchServerless",
    "http": "HttpEndpoint",
}
