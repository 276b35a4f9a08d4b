"""LOGSTEP_DELIVERY=search settings: endpoint, auth, indices, and what search mode changes."""

from __future__ import annotations

import pytest

from chalicelib.errors import ConfigurationError
from chalicelib.settings import Settings

BASE = {"LOGSTEP_BUCKET": "b", "LOGSTEP_STATE_MACHINE_NAME": "logstep-dev-pipeline"}
ES = "https://search-logs-abc123.eu-west-1.es.amazonaws.com"
SEARCH = {**BASE, "LOGSTEP_DELIVERY": "search", "LOGSTEP_SEARCH_ENDPOINT": ES}


def test_kinesis_stays_the_default_and_needs_its_stream() -> None:
    with pytest.raises(ConfigurationError, match="LOGSTEP_DESTINATION_STREAM"):
        Settings.from_env(BASE)
    settings = Settings.from_env({**BASE, "LOGSTEP_DESTINATION_STREAM": "d"})
    assert (settings.delivery_mode, settings.search, settings.json_fields_key) == ("kinesis", None, "")


def test_search_needs_no_stream_and_infers_sigv4_and_region_from_the_endpoint() -> None:
    settings = Settings.from_env({**SEARCH, "AWS_REGION": "us-east-1"})
    assert settings.delivery_mode == "search" and settings.destination_stream == ""
    assert settings.search is not None
    assert (settings.search.auth, settings.search.region) == ("aws-es", "eu-west-1")
    assert (settings.search.index_prefix, settings.search.index_rotation) == ("logstep", "OneDay")
    serverless = Settings.from_env(
        {**SEARCH, "LOGSTEP_SEARCH_ENDPOINT": "https://abc.us-west-2.aoss.amazonaws.com/"}
    )
    assert serverless.search is not None
    assert (serverless.search.auth, serverless.search.region, serverless.search.endpoint) == (
        "aws-aoss",
        "us-west-2",
        "https://abc.us-west-2.aoss.amazonaws.com",
    )


def test_json_fields_go_under_one_key_by_default_in_search_mode() -> None:
    assert Settings.from_env(SEARCH).json_fields_key == "fields"
    assert Settings.from_env({**SEARCH, "LOGSTEP_JSON_FIELDS_KEY": "json"}).json_fields_key == "json"
    assert Settings.from_env({**SEARCH, "LOGSTEP_JSON_FIELDS_KEY": "none"}).json_fields_key == ""


def test_search_settings_stay_readable_after_switching_back_to_kinesis() -> None:
    settings = Settings.from_env({**SEARCH, "LOGSTEP_DELIVERY": "kinesis", "LOGSTEP_DESTINATION_STREAM": "d"})
    assert settings.delivery_mode == "kinesis" and settings.search is not None
    assert settings.json_fields_key == ""


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOGSTEP_DELIVERY": "firehose"}, "use kinesis or search"),
        ({"LOGSTEP_SEARCH_ENDPOINT": ""}, "needs LOGSTEP_SEARCH_ENDPOINT"),
        ({"LOGSTEP_SEARCH_ENDPOINT": "http://search.example.com"}, "use https://"),
        ({"LOGSTEP_SEARCH_ENDPOINT": "ftp://127.0.0.1"}, "use https://"),
        ({"LOGSTEP_SEARCH_ENDPOINT": "https://es.example.com"}, "cannot be guessed"),
        ({"LOGSTEP_SEARCH_AUTH": "password"}, "use one of"),
        ({"LOGSTEP_SEARCH_AUTH": "api-key"}, "needs LOGSTEP_SEARCH_SECRET_ARN"),
        ({"LOGSTEP_SEARCH_AUTH": "basic", "LOGSTEP_SEARCH_SECRET_ARN": "my-secret"}, "SECRET_ARN"),
        ({"LOGSTEP_INDEX_PREFIX": "Logs"}, "LOGSTEP_INDEX_PREFIX"),
        ({"LOGSTEP_INDEX_ROTATION": "daily"}, "OneDay"),
        ({"LOGSTEP_OUTPUT_RECORDS": "aggregated"}, "use single"),
        ({"LOGSTEP_MAX_BULK_BYTES": "0"}, "must be positive"),
    ],
)
def test_invalid_search_settings_say_what_to_fix(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({**SEARCH, **env})


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9200", "http://localhost:9200/", "http://[::1]:9200"])
def test_plain_http_only_for_a_local_cluster(endpoint: str) -> None:
    settings = Settings.from_env(
        {**SEARCH, "LOGSTEP_SEARCH_ENDPOINT": endpoint, "LOGSTEP_SEARCH_AUTH": "none"}
    )
    assert settings.search is not None and settings.search.endpoint == endpoint.rstrip("/")


def test_elasticsearch_with_an_api_key_secret() -> None:
    settings = Settings.from_env(
        {
            **SEARCH,
            "LOGSTEP_SEARCH_ENDPOINT": "https://my.es.io:443",
            "LOGSTEP_SEARCH_AUTH": "api-key",
            "LOGSTEP_SEARCH_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:es-key",
            "LOGSTEP_INDEX_PREFIX": "app-logs",
            "LOGSTEP_INDEX_ROTATION": "OneMonth",
            "LOGSTEP_MAX_BULK_BYTES": "1048576",
            "LOGSTEP_MAX_BULK_DOCUMENTS": "100",
        }
    )
    search = settings.search
    assert search is not None
    assert (search.auth, search.index_prefix, search.index_rotation) == ("api-key", "app-logs", "OneMonth")
    assert (search.bulk_bytes, search.bulk_documents) == (1048576, 100)


def test_the_secret_arn_may_name_the_account_and_region_of_the_function() -> None:
    settings = Settings.from_env(
        {
            **SEARCH,
            "LOGSTEP_SEARCH_AUTH": "basic",
            "LOGSTEP_SEARCH_SECRET_ARN": "arn:{partition}:secretsmanager:{region}:{account}:secret:es",
        }
    ).resolve("arn:aws:lambda:eu-west-1:123456789012:function:logstep-dev-put_batch")
    assert settings.search is not None
    assert settings.search.secret_arn == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:es"
