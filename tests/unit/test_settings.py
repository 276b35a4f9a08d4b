"""Settings.from_env: the one reader of the environment."""

from __future__ import annotations

import pytest

from chalicelib.errors import ConfigurationError
from chalicelib.settings import (
    DEFAULT_SWEEP_MINUTES,
    Settings,
    check_follow_sweep_minutes,
    follow_sweep_minutes,
)

BASE = {
    "LOGSTEP_DESTINATION_STREAM": "d",
    "LOGSTEP_BUCKET": "b",
    "LOGSTEP_STATE_MACHINE_NAME": "logstep-dev-pipeline",
}


def test_defaults_are_the_kinesis_limits() -> None:
    settings = Settings.from_env(BASE)
    assert settings.delivery.records_per_request == 500
    assert settings.output_format == "logstep"


def test_limits_are_configurable() -> None:
    settings = Settings.from_env({**BASE, "LOGSTEP_MAX_RECORD_BYTES": "10485760"})
    assert settings.delivery.record_bytes == 10 * 1024 * 1024


@pytest.mark.parametrize(
    "env",
    [
        {"LOGSTEP_BUCKET": "b"},
        {**BASE, "LOGSTEP_MAX_RECORDS_PER_REQUEST": "many"},
        {**BASE, "LOGSTEP_MAX_RECORDS_PER_REQUEST": "0"},
        {**BASE, "LOGSTEP_OUTPUT_FORMAT": "xml"},
        {**BASE, "LOGSTEP_KEEP_DELIVERED_RUNS": "sometimes"},
    ],
)
def test_bad_settings_say_which(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        Settings.from_env(env)


def test_state_machine_arn_is_built_from_the_lambda_arn() -> None:
    settings = Settings.from_env(BASE)
    arn = settings.resolve_state_machine_arn(
        "arn:aws:lambda:eu-west-1:111122223333:function:logstep-dev-ingest"
    )
    assert arn == "arn:aws:states:eu-west-1:111122223333:stateMachine:logstep-dev-pipeline"
    with pytest.raises(ConfigurationError):
        settings.resolve_state_machine_arn("not-an-arn")


def test_output_records_default_to_single_and_can_be_aggregated() -> None:
    assert Settings.from_env(BASE).packing.output_records == "single"
    assert not Settings.from_env(BASE).packing.aggregated
    packing = Settings.from_env({**BASE, "LOGSTEP_OUTPUT_RECORDS": "aggregated"}).packing
    assert packing.aggregated
    assert packing.aggregated_record_bytes == 25_000


@pytest.mark.parametrize(
    "env",
    [
        {**BASE, "LOGSTEP_OUTPUT_RECORDS": "batched"},
        {**BASE, "LOGSTEP_AGGREGATED_RECORD_BYTES": "2000000"},
        {**BASE, "LOGSTEP_AGGREGATED_RECORD_BYTES": "-1"},
    ],
)
def test_bad_output_records_settings_say_which(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="LOGSTEP_"):
        Settings.from_env(env)


def test_the_default_aggregated_target_follows_a_smaller_record_limit() -> None:
    settings = Settings.from_env({**BASE, "LOGSTEP_MAX_RECORD_BYTES": "4096"})
    assert settings.packing.aggregated_record_bytes == 4096


@pytest.mark.parametrize(("raw", "keep"), [("", False), ("false", False), ("TRUE", True), ("1", True)])
def test_delivered_runs_are_deleted_unless_kept(raw: str, keep: bool) -> None:
    assert Settings.from_env({**BASE, "LOGSTEP_KEEP_DELIVERED_RUNS": raw}).keep_delivered_runs is keep


@pytest.mark.parametrize("raw", ["0", "-5", "1.5", "soon"])
def test_a_bad_sweep_interval_falls_back_to_the_default_and_says_why(raw: str) -> None:
    heard: list[str] = []
    env = {"LOGSTEP_FOLLOW_SWEEP_MINUTES": raw}
    assert follow_sweep_minutes(env, heard.append) == DEFAULT_SWEEP_MINUTES
    assert len(heard) == 1 and "LOGSTEP_FOLLOW_SWEEP_MINUTES" in heard[0]
    with pytest.raises(ConfigurationError):
        check_follow_sweep_minutes(env)


def test_a_good_sweep_interval_is_used_silently() -> None:
    heard: list[str] = []
    assert follow_sweep_minutes({"LOGSTEP_FOLLOW_SWEEP_MINUTES": " 5 "}, heard.append) == 5
    assert follow_sweep_minutes({}, heard.append) == DEFAULT_SWEEP_MINUTES
    assert heard == []
