"""Settings.from_env(): the one reader of environment variables for the Lambda code."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from chalicelib import limits
from chalicelib.errors import ConfigurationError
from chalicelib.indices import ROTATIONS, valid_index_prefix

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
# How documents leave (LOGSTEP_DELIVERY): the destination stream, or the cluster's _bulk API.
DELIVERIES = ("kinesis", "search")
# How put_batch authenticates to the cluster (LOGSTEP_SEARCH_AUTH): SigV4 for Amazon
# OpenSearch Service (service ``es``) or Serverless (``aoss``), an Elasticsearch API key
# or basic auth from Secrets Manager, or nothing (a local cluster, e.g. the sandbox's).
SEARCH_AUTHS = ("aws-es", "aws-aoss", "api-key", "basic", "none")
SECRET_AUTHS = ("api-key", "basic")
# JSON log fields go under this key by default in search mode (mapped flat_object /
# flattened by the index template), so two services that put different types under the
# same field name cannot get each other's documents rejected. LOGSTEP_JSON_FIELDS_KEY=none
# keeps them at the top level.
SEARCH_JSON_FIELDS_KEY = "fields"
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class SearchSettings:
    """Where and how the search delivery writes: the cluster, its auth, the indices."""

    endpoint: str
    auth: str
    secret_arn: str = ""
    index_prefix: str = "logstep"
    index_rotation: str = "OneDay"
    bulk_bytes: int = limits.MAX_BULK_BYTES
    bulk_documents: int = limits.MAX_BULK_DOCUMENTS
    timeout_seconds: int = limits.BULK_TIMEOUT_SECONDS
    # _bulk requests one put_batch invocation has in flight at once.
    bulk_concurrency: int = limits.BULK_CONCURRENCY
    # SigV4's region: the endpoint's own (search-x.REGION.es.amazonaws.com), else the Lambda's.
    region: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str], integer: Any) -> SearchSettings:
        """Read and check LOGSTEP_SEARCH_* and LOGSTEP_INDEX_* (ConfigurationError if invalid)."""
        endpoint = environ.get("LOGSTEP_SEARCH_ENDPOINT", "").strip().rstrip("/")
        if not endpoint:
            raise ConfigurationError("LOGSTEP_DELIVERY=search needs LOGSTEP_SEARCH_ENDPOINT (https://...)")
        parts = urlsplit(endpoint)
        scheme, host = parts.scheme, parts.hostname or ""
        local = scheme == "http" and host in _LOOPBACK_HOSTS
        if not host or (scheme != "https" and not local):
            raise ConfigurationError(
                f"LOGSTEP_SEARCH_ENDPOINT={endpoint!r}: use https:// (plain http only for a "
                "cluster on this host, such as the sandbox's)"
            )
        auth = environ.get("LOGSTEP_SEARCH_AUTH", "") or default_search_auth(host)
        if auth not in SEARCH_AUTHS:
            raise ConfigurationError(
                f"LOGSTEP_SEARCH_AUTH={auth!r}: use one of {', '.join(SEARCH_AUTHS)}"
                + ("" if auth else " (it cannot be guessed from the endpoint)")
            )
        secret_arn = environ.get("LOGSTEP_SEARCH_SECRET_ARN", "")
        if auth in SECRET_AUTHS and not secret_arn.startswith("arn:"):
            raise ConfigurationError(
                f"LOGSTEP_SEARCH_AUTH={auth} needs LOGSTEP_SEARCH_SECRET_ARN, the ARN of the "
                "Secrets Manager secret that holds the credentials"
            )
        prefix = environ.get("LOGSTEP_INDEX_PREFIX", "") or "logstep"
        if not valid_index_prefix(prefix):
            raise ConfigurationError(
                f"LOGSTEP_INDEX_PREFIX={prefix!r}: lowercase letters, digits, '.', '_' and '-', "
                "starting with a letter or digit"
            )
        rotation = environ.get("LOGSTEP_INDEX_ROTATION", "") or "OneDay"
        if rotation not in ROTATIONS:
            raise ConfigurationError(
                f"LOGSTEP_INDEX_ROTATION={rotation!r}: use one of {', '.join(ROTATIONS)}"
            )
        return cls(
            endpoint=endpoint,
            auth=auth,
            secret_arn=secret_arn,
            index_prefix=prefix,
            index_rotation=rotation,
            bulk_bytes=integer("LOGSTEP_MAX_BULK_BYTES", limits.MAX_BULK_BYTES),
            bulk_documents=integer("LOGSTEP_MAX_BULK_DOCUMENTS", limits.MAX_BULK_DOCUMENTS),
            timeout_seconds=integer("LOGSTEP_BULK_TIMEOUT_SECONDS", limits.BULK_TIMEOUT_SECONDS),
            bulk_concurrency=integer("LOGSTEP_BULK_CONCURRENCY", limits.BULK_CONCURRENCY),
            region=endpoint_region(host)
            or environ.get("AWS_REGION", "")
            or environ.get("AWS_DEFAULT_REGION", ""),
        )


def default_search_auth(host: str) -> str:
    """The auth an endpoint's host implies (AWS's domains), or "" when it does not say."""
    if host.endswith(".es.amazonaws.com"):
        return "aws-es"
    if host.endswith(".aoss.amazonaws.com"):
        return "aws-aoss"
    return ""


def endpoint_region(host: str) -> str:
    """REGION of search-x.REGION.es.amazonaws.com / x.REGION.aoss.amazonaws.com, else ""."""
    parts = host.split(".")
    if len(parts) >= 5 and parts[-3] in ("es", "aoss") and parts[-2:] == ["amazonaws", "com"]:
        return parts[-4]
    return ""


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
    # Keep a succeeded run's raw batch, envelopes and chunks until the lifecycle rule
    # expires them (for debugging); by default summarize deletes them.
    keep_delivered_runs: bool = False
    # kinesis (the destination stream) or search (the cluster's _bulk API).
    delivery_mode: str = "kinesis"
    search: SearchSettings | None = None

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

        mode = environ.get("LOGSTEP_DELIVERY", "") or "kinesis"
        if mode not in DELIVERIES:
            raise ConfigurationError(f"LOGSTEP_DELIVERY={mode!r}: use {' or '.join(DELIVERIES)}")
        searching = mode == "search"
        delivery = DeliveryLimits(
            records_per_request=integer("LOGSTEP_MAX_RECORDS_PER_REQUEST", limits.MAX_RECORDS_PER_REQUEST),
            request_bytes=integer("LOGSTEP_MAX_REQUEST_BYTES", limits.MAX_REQUEST_BYTES),
            record_bytes=integer("LOGSTEP_MAX_RECORD_BYTES", limits.MAX_RECORD_BYTES),
            records_per_chunk=integer(
                "LOGSTEP_MAX_RECORDS_PER_CHUNK",
                limits.SEARCH_MAX_RECORDS_PER_CHUNK if searching else limits.MAX_RECORDS_PER_CHUNK,
            ),
            chunk_bytes=integer(
                "LOGSTEP_MAX_CHUNK_BYTES",
                limits.SEARCH_MAX_CHUNK_BYTES if searching else limits.MAX_CHUNK_BYTES,
            ),
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
        # Read whenever an endpoint is set: runs made for the search delivery keep using it
        # after the stage switches back to kinesis.
        search = (
            SearchSettings.from_env(environ, integer)
            if mode == "search" or environ.get("LOGSTEP_SEARCH_ENDPOINT")
            else None
        )
        if mode == "search" and packing.aggregated:
            raise ConfigurationError(
                "LOGSTEP_OUTPUT_RECORDS=aggregated packs documents into Kinesis records; "
                "LOGSTEP_DELIVERY=search writes documents to the cluster: use single"
            )
        json_fields_key = environ.get("LOGSTEP_JSON_FIELDS_KEY", "")
        if not json_fields_key and mode == "search":
            json_fields_key = SEARCH_JSON_FIELDS_KEY
        if json_fields_key == "none":
            json_fields_key = ""
        return cls(
            stage=environ.get("LOGSTEP_STAGE", "dev"),
            source_stream=environ.get("LOGSTEP_SOURCE_STREAM", ""),
            # In search mode only runs made before a switch from kinesis need the stream
            # (their chunks name it themselves).
            destination_stream=(
                required("LOGSTEP_DESTINATION_STREAM")
                if mode == "kinesis"
                else environ.get("LOGSTEP_DESTINATION_STREAM", "")
            ),
            bucket=required("LOGSTEP_BUCKET"),
            state_machine_arn=environ.get("LOGSTEP_STATE_MACHINE_ARN", ""),
            state_machine_name=environ.get("LOGSTEP_STATE_MACHINE_NAME", ""),
            delivery=delivery,
            output_format=output_format,
            json_fields_key=json_fields_key,
            packing=packing,
            log_level=_log_level(environ.get("LOGSTEP_LOG_LEVEL", "INFO")),
            keep_delivered_runs=_flag(environ, "LOGSTEP_KEEP_DELIVERED_RUNS"),
            delivery_mode=mode,
            search=search,
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
        secret = self.search.secret_arn if self.search is not None else ""
        if not templated and not _PLACEHOLDER.search(secret):
            return self
        values = arn_parts(invoked_function_arn)

        def fill(value: str) -> str:
            return _PLACEHOLDER.sub(lambda m: values[m.group(1)], value)

        filled: dict[str, Any] = {name: fill(value) for name, value in templated.items()}
        if self.search is not None and _PLACEHOLDER.search(secret):
            filled["search"] = dataclasses.replace(self.search, secret_arn=fill(secret))
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


def _flag(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name, "")
    value = raw.strip().lower()
    if value in ("", "false", "0", "no"):
        return False
    if value in ("true", "1", "yes"):
        return True
    raise ConfigurationError(f"{name}={raw!r}: use true or false")


def _log_level(raw: str) -> str:
    level = (raw or "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigurationError(f"LOGSTEP_LOG_LEVEL={raw!r}: use DEBUG, INFO, WARNING or ERROR")
    return level


# --- Onboarding API (issue 4) ------------------------------------------------------------
# The API handler's own settings, kept apart from ``Settings`` (which the pipeline Lambdas
# need, and which requires the destination stream and bucket the API never touches).

APP_NAME = "logstep"
SUBSCRIPTION_DISTRIBUTIONS = ("Random", "ByLogStream")
# The scheduled sweep of follow rules: every 15 minutes by default; one run stops starting
# work after 240 s (the sweep function's timeout is 300 s in .chalice/config.json) or 20
# DescribeLogGroups pages per rule, and the next run resumes where it stopped.
DEFAULT_SWEEP_MINUTES = 15
DEFAULT_SWEEP_BUDGET_SECONDS = 240.0
DEFAULT_SWEEP_MAX_PAGES = 20


def check_follow_sweep_minutes(environ: Mapping[str, str]) -> int:
    """LOGSTEP_FOLLOW_SWEEP_MINUTES: minutes between scheduled sweeps; ConfigurationError when
    it is not a positive whole number (``logstep deploy`` refuses such a stage)."""
    return int(_positive(environ, "LOGSTEP_FOLLOW_SWEEP_MINUTES", DEFAULT_SWEEP_MINUTES, whole=True))


def follow_sweep_minutes(environ: Mapping[str, str], on_invalid: Callable[[str], None]) -> int:
    """LOGSTEP_FOLLOW_SWEEP_MINUTES as app.py reads it at import (Chalice fixes a schedule
    expression when the app is loaded): a bad value falls back to the default, and
    ``on_invalid`` hears why. Raising there would break the import of every function of
    the app, the pipeline's included, for a setting only the sweep uses."""
    try:
        return check_follow_sweep_minutes(environ)
    except ConfigurationError as e:
        on_invalid(str(e))
        return DEFAULT_SWEEP_MINUTES


def _positive(environ: Mapping[str, str], name: str, default: float, whole: bool = False) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError as e:
        raise ConfigurationError(f"{name}={raw!r} is not a {'whole ' if whole else ''}number") from e
    if value <= 0:
        raise ConfigurationError(f"{name}={raw!r} must be positive")
    return value


@dataclass(frozen=True)
class OnboardingSettings:
    """Where subscriptions point and what must never be subscribed, read from the stage.

    Nothing here comes from a request: the destination (the source stream), the role
    CloudWatch Logs assumes to write to it, and the filter name are stage configuration.
    Committed config holds no account id: ARNs are completed at run time from the Lambda's
    own ARN (``resolve``), or given whole for the local sandbox.
    """

    stage: str
    filter_name: str
    source_stream: str
    source_stream_arn: str
    logs_role_name: str
    logs_role_arn: str
    distribution: str
    protected_log_groups: tuple[str, ...]
    log_level: str = "INFO"
    # Follow rules (issue 14): the rule store, and how much one scheduled sweep may do.
    follows_table: str = ""
    sweep_budget_seconds: float = DEFAULT_SWEEP_BUDGET_SECONDS
    sweep_max_pages: int = DEFAULT_SWEEP_MAX_PAGES

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> OnboardingSettings:
        """Read the onboarding settings from the API handler's environment."""
        stage = environ.get("LOGSTEP_STAGE", "dev") or "dev"
        distribution = environ.get("LOGSTEP_SUBSCRIPTION_DISTRIBUTION", "") or "Random"
        if distribution not in SUBSCRIPTION_DISTRIBUTIONS:
            raise ConfigurationError(
                f"LOGSTEP_SUBSCRIPTION_DISTRIBUTION={distribution!r}: use Random or ByLogStream"
            )
        extra = environ.get("LOGSTEP_PROTECTED_LOG_GROUPS", "")
        return cls(
            stage=stage,
            filter_name=environ.get("LOGSTEP_SUBSCRIPTION_FILTER_NAME", "") or f"{APP_NAME}-{stage}",
            source_stream=environ.get("LOGSTEP_SOURCE_STREAM", ""),
            source_stream_arn=environ.get("LOGSTEP_SOURCE_STREAM_ARN", ""),
            logs_role_name=environ.get("LOGSTEP_LOGS_ROLE_NAME", ""),
            logs_role_arn=environ.get("LOGSTEP_LOGS_ROLE_ARN", ""),
            distribution=distribution,
            protected_log_groups=tuple(p.strip() for p in extra.split(",") if p.strip()),
            log_level=_log_level(environ.get("LOGSTEP_LOG_LEVEL", "")),
            follows_table=environ.get("LOGSTEP_FOLLOWS_TABLE", "") or f"{APP_NAME}-{stage}-follows",
            sweep_budget_seconds=_positive(
                environ, "LOGSTEP_FOLLOW_SWEEP_BUDGET_SECONDS", DEFAULT_SWEEP_BUDGET_SECONDS
            ),
            sweep_max_pages=int(
                _positive(environ, "LOGSTEP_FOLLOW_SWEEP_MAX_PAGES", DEFAULT_SWEEP_MAX_PAGES, whole=True)
            ),
        )

    def resolve(self, invoked_function_arn: str) -> SubscriptionTarget:
        """The destination stream's and the role's ARNs, completed from the Lambda's own ARN.

        An explicit ``LOGSTEP_SOURCE_STREAM_ARN`` / ``LOGSTEP_LOGS_ROLE_ARN`` wins (the local
        sandbox sets them: Chalice's local server has no function ARN); otherwise the Lambda's
        ARN (arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME) supplies partition, region
        and account for the configured stream and role names.
        """
        stream_arn, role_arn = self.source_stream_arn, self.logs_role_arn
        if not (stream_arn and role_arn):
            parts = invoked_function_arn.split(":")
            if len(parts) < 7 or parts[2] != "lambda":
                raise ConfigurationError(
                    "cannot derive the source stream and role ARNs: set LOGSTEP_SOURCE_STREAM_ARN "
                    f"and LOGSTEP_LOGS_ROLE_ARN, or run in Lambda (function ARN "
                    f"{invoked_function_arn!r})"
                )
            partition, region, account = parts[1], parts[3], parts[4]
            if not stream_arn:
                if not self.source_stream:
                    raise ConfigurationError("LOGSTEP_SOURCE_STREAM is not set")
                stream = self.source_stream
                stream_arn = f"arn:{partition}:kinesis:{region}:{account}:stream/{stream}"
            if not role_arn:
                if not self.logs_role_name:
                    raise ConfigurationError(
                        "set LOGSTEP_LOGS_ROLE_NAME (the role CloudWatch Logs assumes to write "
                        "to the source stream) or LOGSTEP_LOGS_ROLE_ARN"
                    )
                role_arn = f"arn:{partition}:iam::{account}:role/{self.logs_role_name}"
        return SubscriptionTarget(
            filter_name=self.filter_name,
            destination_arn=stream_arn,
            role_arn=role_arn,
            distribution=self.distribution,
        )


@dataclass(frozen=True)
class SubscriptionTarget:
    """What every subscription logstep creates looks like: one filter name, one destination."""

    filter_name: str
    destination_arn: str
    role_arn: str
    distribution: str


@dataclass(frozen=True)
class ApiAuth:
    """How API Gateway authenticates /subscriptions callers.

    ``iam`` (default): SigV4-signed requests, authorised by the caller's IAM policy
    (execute-api:Invoke). ``custom``: a Lambda token authorizer the stage names by ARN.
    Chalice fixes route authorizers when app.py is imported, so app.py reads this there.
    """

    mode: str = "iam"
    authorizer_arn: str = ""
    authorizer_ttl_seconds: int = 300

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ApiAuth:
        """Read LOGSTEP_API_AUTH (iam | custom) and, for custom, LOGSTEP_API_AUTHORIZER_ARN."""
        mode = environ.get("LOGSTEP_API_AUTH", "") or "iam"
        if mode not in ("iam", "custom"):
            raise ConfigurationError(f"LOGSTEP_API_AUTH={mode!r}: use iam or custom")
        arn = environ.get("LOGSTEP_API_AUTHORIZER_ARN", "")
        if mode == "custom" and not (arn.startswith("arn:") and ":lambda:" in arn):
            raise ConfigurationError(
                "LOGSTEP_API_AUTH=custom needs LOGSTEP_API_AUTHORIZER_ARN, the ARN of the "
                "authorizer Lambda function"
            )
        return cls(mode=mode, authorizer_arn=arn)

    @property
    def authorizer_uri(self) -> str:
        """API Gateway's invocation URI of the authorizer Lambda."""
        parts = self.authorizer_arn.split(":")
        partition, region = parts[1], parts[3]
        return (
            f"arn:{partition}:apigateway:{region}:lambda:path/2015-03-31/functions/"
            f"{self.authorizer_arn}/invocations"
        )
