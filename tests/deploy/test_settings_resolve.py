"""Settings.resolve: the committed stage config names resources without an account id."""

from __future__ import annotations

import pytest

from chalicelib.errors import ConfigurationError
from chalicelib.settings import Settings

ENV = {
    "LOGSTEP_STAGE": "dev",
    "LOGSTEP_SOURCE_STREAM": "logstep-dev-source",
    "LOGSTEP_DESTINATION_STREAM": "logstep-dev-destination",
    "LOGSTEP_BUCKET": "logstep-dev-claimcheck-{account}-{region}",
    "LOGSTEP_STATE_MACHINE_NAME": "logstep-dev-pipeline",
}
ARN = "arn:aws:lambda:eu-central-1:111122223333:function:logstep-dev-decode"


def test_fills_account_and_region_from_the_functions_arn() -> None:
    settings = Settings.from_env(ENV).resolve(ARN)
    assert settings.bucket == "logstep-dev-claimcheck-111122223333-eu-central-1"
    assert settings.destination_stream == "logstep-dev-destination"
    assert settings.resolve_state_machine_arn(ARN) == (
        "arn:aws:states:eu-central-1:111122223333:stateMachine:logstep-dev-pipeline"
    )


def test_a_qualified_arn_and_another_partition_work() -> None:
    arn = "arn:aws-cn:lambda:cn-north-1:111122223333:function:logstep-dev-decode:live"
    env = {**ENV, "LOGSTEP_BUCKET": "b-{partition}-{account}-{region}"}
    assert Settings.from_env(env).resolve(arn).bucket == "b-aws-cn-111122223333-cn-north-1"


def test_settings_without_placeholders_need_no_arn() -> None:
    env = {**ENV, "LOGSTEP_BUCKET": "sandbox-bucket"}
    settings = Settings.from_env(env)
    assert settings.resolve("") is settings


@pytest.mark.parametrize("arn", ["", "not-an-arn", "arn:aws:s3:::bucket", "arn:aws:lambda:r::function:f"])
def test_placeholders_without_a_usable_arn_are_a_configuration_error(arn: str) -> None:
    with pytest.raises(ConfigurationError, match="placeholders"):
        Settings.from_env(ENV).resolve(arn)
