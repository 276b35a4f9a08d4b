"""Settings.from_env(): the one reader of environment variables for the Lambda code."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib import limits
from chalicelib.errors import ConfigurationError

# Placeholders a stage's committed config may use in resource names, filled from the
# Lambda's own ARN at run time (see Settings.resolve): bucket names are global, so they
# carry account and region, and the committed .chalice/config.json carries no account id.
_PLACEHOLDER = re.compile(r"\{(partition|region|account)\}")


@dataclass(frozen=True)
class DeliveryLimits:
    """Per-call, per-record and per-chunk limits for writing the destination stream."""

    records_per_request: int = limits.MAX_RECORDS_PER_REQUEST
    request_bytes: int = limits.MAX_REQUEST_BYTES
    record_bytes: int = limits.MAX_RECORD_BYTES
    records_per_chunk: int = limits.MAX_RECORDS_PER_CHUNK
    chunk_bytes: int = limits.MAX_CHUNK_BYTES


OUTPUT_RECORDS = ("single", "aggregated")


@dataclass(frozen=True)
class RecordPacking:
    """How documents become destination records: one each, or many per KPL aggregated record."""

    output_records: str = "single"
    aggregated_record_bytes: int = limits.AGGREGATED_RECORD_BYTES

    @property
    def aggregated(self) -> bool:
        """Whether documents are packed into KPL aggregated records."""
        return self.output_records == "aggregated"


@dataclass(frozen=True)
class Settings:
    """Everything the Lambda handlers need to know about their stage."""

    stage: str
    source_stream: str
    destination_stream: str
    bucket: str
    state_machine_arn: str
    state_machine_name: str
    delivery: DeliveryLimits
    output_format: str = "logstep"
    json_fields_key: str = ""
    packing: RecordPacking = RecordPacking()
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read the stage's settings from a Lambda environment (or a sandbox's)."""

        def required(name: str) -> str:
            value = environ.get(name, "")
            if not value:
                raise ConfigurationError(f"environment variable {name} is not set")
            return value

        def integer(name: str, default: int) -> int:
            raw = environ.get(name, "")
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError as e:
                raise ConfigurationError(f"{name}={raw!r} is not an integer") from e
            if value <= 0:
                raise ConfigurationError(f"{name}={raw!r} must be positive")
            return value

        delivery = DeliveryLimits(
            records_per_request=integer("LOGSTEP_MAX_RECORDS_PER_REQUEST", limits.MAX_RECORDS_PER_REQUEST),
            request_bytes=integer("LOGSTEP_MAX_REQUEST_BYTES", limits.MAX_REQUEST_BYTES),
            record_bytes=integer("LOGSTEP_MAX_RECORD_BYTES", limits.MAX_RECORD_BYTES),
            records_per_chunk=integer("LOGSTEP_MAX_RECORDS_PER_CHUNK", limits.MAX_RECORDS_PER_CHUNK),
            chunk_bytes=integer("LOGSTEP_MAX_CHUNK_BYTES", limits.MAX_CHUNK_BYTES),
        )
        output_format = environ.get("LOGSTEP_OUTPUT_FORMAT", "logstep") or "logstep"
        if output_format not in ("logstep", "ecs"):
            raise ConfigurationError(f"LOGSTEP_OUTPUT_FORMAT={output_format!r}: use logstep or ecs")
        output_records = environ.get("LOGSTEP_OUTPUT_RECORDS", "single") or "single"
        if output_records not in OUTPUT_RECORDS:
            raise ConfigurationError(
                f"LOGSTEP_OUTPUT_RECORDS={output_records!r}: use {' or '.join(OUTPUT_RECORDS)}"
            )
        # The default target never exceeds the per-record limit; an explicit one must not.
        target = integer(
            "LOGSTEP_AGGREGATED_RECORD_BYTES", min(limits.AGGREGATED_RECORD_BYTES, delivery.record_bytes)
        )
        if target > delivery.record_bytes:
            raise ConfigurationError(
                f"LOGSTEP_AGGREGATED_RECORD_BYTES={target} exceeds the per-record limit "
                f"{delivery.record_bytes} (LOGSTEP_MAX_RECORD_BYTES)"
            )
        packing = RecordPacking(output_records=output_records, aggregated_record_bytes=target)
        return cls(
            stage=environ.get("LOGSTEP_STAGE", "dev"),
            source_stream=environ.get("LOGSTEP_SOURCE_STREAM", ""),
            destination_stream=required("LOGSTEP_DESTINATION_STREAM"),
            bucket=required("LOGSTEP_BUCKET"),
            state_machine_arn=environ.get("LOGSTEP_STATE_MACHINE_ARN", ""),
            state_machine_name=environ.get("LOGSTEP_STATE_MACHINE_NAME", ""),
            delivery=delivery,
            output_format=output_format,
            json_fields_key=environ.get("LOGSTEP_JSON_FIELDS_KEY", ""),
            packing=packing,
            log_level=_log_level(environ.get("LOGSTEP_LOG_LEVEL", "INFO")),
        )

    def resolve_state_machine_arn(self, invoked_function_arn: str) -> str:
        """The state machine's ARN: explicit, or built from the Lambda's own ARN and the name.

        Committed stage config holds no account id; the Lambda's ARN
        (arn:aws:lambda:REGION:ACCOUNT:function:NAME) supplies region and account.
        """
        if self.state_machine_arn:
            return self.state_machine_arn
        if not self.state_machine_name:
            raise ConfigurationError("set LOGSTEP_STATE_MACHINE_ARN or LOGSTEP_STATE_MACHINE_NAME")
        arn = arn_parts(invoked_function_arn)
        return (
            f"arn:{arn['partition']}:states:{arn['region']}:{arn['account']}"
            f":stateMachine:{self.state_machine_name}"
        )

    def resolve(self, invoked_function_arn: str) -> Settings:
        """These settings with ``{partition}``, ``{region}`` and ``{account}`` filled in.

        The values come from the Lambda's own ARN
        (arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]), so one committed
        stage config works in any account and region. Settings without placeholders are
        returned unchanged whatever the ARN (the sandbox and tests pass none).
        """
        fields = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), str)
        }
        templated = {name: value for name, value in fields.items() if _PLACEHOLDER.search(value)}
        if not templated:
            return self
        values = arn_parts(invoked_function_arn)
        filled: dict[str, Any] = {
            name: _PLACEHOLDER.sub(lambda m: values[m.group(1)], value) for name, value in templated.items()
        }
        return dataclasses.replace(self, **filled)


def arn_parts(invoked_function_arn: str) -> dict[str, str]:
    """Partition, region and account of a Lambda function ARN (raises ConfigurationError)."""
    parts = invoked_function_arn.split(":")
    if len(parts) < 7 or parts[0] != "arn" or parts[2] != "lambda" or not parts[4]:
        raise ConfigurationError(
            f"cannot derive partition/region/account from {invoked_function_arn!r}: "
            "outside Lambda, set names without {partition}/{region}/{account} placeholders"
        )
    return {"partition": parts[1], "region": parts[3], "account": parts[4]}


def _log_level(raw: str) -> str:
    level = (raw or "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigurationError(f"LOGSTEP_LOG_LEVEL={raw!r}: use DEBUG, INFO, WARNING or ERROR")
    return level
