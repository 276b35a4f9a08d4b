"""logstep's Chalice app: wiring only. Each handler turns its event into typed input,
calls one chalicelib function and returns or raises."""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import boto3
from chalice.app import Chalice, CloudWatchEvent, CustomAuthorizer, IAMAuthorizer, Rate, Request, Response

from chalicelib import steps
from chalicelib.claimcheck import ClaimCheck
from chalicelib.delivery.outcome import Delivery
from chalicelib.delivery.routing import delivery_for_chunk
from chalicelib.delivery.search import HttpTransport, signer_for
from chalicelib.errors import (
    ApiConfigurationError,
    ApiError,
    ConfigurationError,
    DeliveryRejectedError,
    InternalApiError,
    InvalidRequestError,
)
from chalicelib.follow_rules import CREATE_LOG_GROUP_PATTERN, created_log_group
from chalicelib.follows import Follower, FollowStore
from chalicelib.ingest import Ingest, source_records_from_event
from chalicelib.logs import LOGGER_NAME, configure, execution_of, log_event
from chalicelib.metrics import MetricsRecorder
from chalicelib.settings import (
    DEFAULT_SWEEP_MINUTES,
    ApiAuth,
    OnboardingSettings,
    SearchSettings,
    Settings,
    follow_sweep_minutes,
)
from chalicelib.subscriptions import SubscriptionService
from chalicelib.transform import TransformOptions
from chalicelib.validation import (
    LoopGuard,
    SubscribeGroup,
    parse_delete_query,
    parse_follow_body,
    parse_list_query,
    parse_subscribe_body,
    parse_unfollow_query,
)

app = Chalice(app_name="logstep")

# Chalice fixes the Kinesis trigger's stream when app.py is imported, so this one value
# is read here, from the stage's environment (.chalice/config.json), and nowhere else.
SOURCE_STREAM = os.environ.get("LOGSTEP_SOURCE_STREAM", "logstep-dev-source")
INGEST_BATCH_SIZE = 10_000
# Every batch is one execution (~7 billed transitions, 5 Lambda invocations, 5 S3 PUTs),
# and a shard takes at most 1 MiB/s, so a 5 s window never fills a 6 MB batch: it starts
# 17,280 executions a day per shard whatever the volume (~$100 a month of transitions per
# source shard). 60 s cuts that 12x; Firehose buffers 60-900 s before OpenSearch anyway.
# docs/cost.md.
INGEST_BATCHING_WINDOW_SECONDS = 60


@cache
def _settings(invoked_function_arn: str = "") -> Settings:
    # Names in the stage config may hold {account}/{region} (bucket names are global);
    # the Lambda's own ARN fills them in, so the committed config has no account id.
    settings = Settings.from_env(os.environ).resolve(invoked_function_arn)
    configure(settings.log_level)
    return settings


def _arn(context: Any) -> str:
    return str(getattr(context, "invoked_function_arn", "") or "")


def _print_metrics(document: dict[str, Any]) -> None:
    print(json.dumps(document, separators=(",", ":")), flush=True)


# Where EMF documents go: stdout on Lambda (CloudWatch Logs extracts them); the sandbox
# collects them instead.
metrics_sink: Callable[[dict[str, Any]], None] = _print_metrics


@contextmanager
def _observed(step: str, state: Any, context: Any) -> Iterator[MetricsRecorder]:
    """One invocation's metrics (flushed even when the step raises) and its log lines."""
    recorder = MetricsRecorder(_settings(_arn(context)).stage, step, lambda d: metrics_sink(d))
    execution = execution_of(state)
    started = time.monotonic()
    try:
        yield recorder
    except Exception as e:
        log_event(
            f"{step}.failed", logging.WARNING, execution=execution, error=type(e).__name__, detail=str(e)
        )
        raise
    else:
        log_event(f"{step}.done", execution=execution, ms=round((time.monotonic() - started) * 1000))
    finally:
        recorder.flush(int(time.time() * 1000))


@cache
def _client(service: str) -> Any:
    return boto3.client(service)


@cache
def _search_transport(search: SearchSettings) -> HttpTransport:
    # One per container: the secret is read once, SigV4 credentials refresh themselves.
    credentials = boto3.Session().get_credentials

    def frozen() -> Any:
        return credentials().get_frozen_credentials()

    sign = signer_for(search, frozen, _client("secretsmanager"))
    return HttpTransport(search.endpoint, sign, search.timeout_seconds)


def reset() -> None:
    """Forget settings and clients (the sandbox calls this when it starts a fresh account)."""
    _settings.cache_clear()
    _client.cache_clear()
    _search_transport.cache_clear()
    _onboarding_settings.cache_clear()


def _store(settings: Settings) -> ClaimCheck:
    return ClaimCheck(_client("s3"), settings.bucket)


@app.on_kinesis_record(
    stream=SOURCE_STREAM,
    batch_size=INGEST_BATCH_SIZE,
    starting_position="TRIM_HORIZON",
    maximum_batching_window_in_seconds=INGEST_BATCHING_WINDOW_SECONDS,
)
def ingest(event: Any) -> None:
    """Kinesis trigger: claim-check the batch and start its execution."""
    settings = _settings(_arn(event.context))
    arn = settings.resolve_state_machine_arn(event.context.invoked_function_arn)
    records = source_records_from_event(event.to_dict())
    with _observed("ingest", {}, event.context) as metrics:
        Ingest(_store(settings), _client("stepfunctions"), arn, metrics).handle(records)


@app.lambda_function(name="decode")
def decode(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Task Decode: raw batch -> envelopes; malformed records quarantined."""
    with _observed("decode", event, context) as metrics:
        return steps.decode_batch(event, _store(_settings(_arn(context))), metrics)


@app.lambda_function(name="transform")
def transform(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Task Transform: envelopes -> documents in delivery chunks."""
    settings = _settings(_arn(context))
    options = TransformOptions(output_format=settings.output_format, json_fields_key=settings.json_fields_key)
    destination = steps.ChunkDestination(
        stream=settings.destination_stream,
        search=settings.search if settings.delivery_mode == "search" else None,
    )
    with _observed("transform", event, context) as metrics:
        return steps.transform_batch(
            event, _store(settings), settings.delivery, options, metrics, settings.packing, destination
        )


@app.lambda_function(name="put_batch")
def put_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Task PutBatch (inside the Map): send one chunk's pending records (stream or _bulk)."""
    settings = _settings(_arn(context))

    def time_left() -> float:
        return float(context.get_remaining_time_in_millis()) / 1000

    def delivery_for(kind: str, target: str) -> Delivery:
        kinesis = functools.partial(_client, "kinesis")
        return delivery_for_chunk(settings, kinesis, _search_transport, kind, target, time_left)

    with _observed("put_batch", event, context) as metrics:
        try:
            return steps.put_batch(event, _store(settings), delivery_for, metrics)
        except DeliveryRejectedError:
            # A cluster that refused the credentials (401/403: a rotated secret, a changed
            # role mapping) gets them read afresh by the next invocation or replay.
            _search_transport.cache_clear()
            raise


@app.lambda_function(name="summarize")
def summarize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Task Summarize: count delivered and pending records, name where pending ones are."""
    settings = _settings(_arn(context))
    with _observed("summarize", event, context) as metrics:
        return steps.summarize(event, _store(settings), metrics, keep_delivered=settings.keep_delivered_runs)


# =========================================================================================
# Onboarding API: POST / GET / DELETE /subscriptions (issue 4; docs/onboarding-api.md).
# Handlers only wire: chalicelib.validation parses the request, SubscriptionService acts,
# and every ApiError becomes its status code and {"error": CODE, "message": ...} body.
# =========================================================================================

# Chalice fixes route authorizers when app.py is imported, so the stage's choice (IAM by
# default, or a custom Lambda authorizer) is read here, from the stage's environment.
API_AUTH = ApiAuth.from_env(os.environ)
API_AUTHORIZER: IAMAuthorizer | CustomAuthorizer = (
    IAMAuthorizer()
    if API_AUTH.mode == "iam"
    else CustomAuthorizer(
        "logstep_authorizer",
        authorizer_uri=API_AUTH.authorizer_uri,
        ttl_seconds=API_AUTH.authorizer_ttl_seconds,
    )
)
# Every body is parsed as JSON whatever its Content-Type says: `curl -d` without a header
# works, and a wrong type gets this API's 400 instead of Chalice's bare 415.
API_CONTENT_TYPES = ["*/*"]
SUBSCRIPTIONS_ROUTE = "/subscriptions"


@cache
def _onboarding_settings() -> OnboardingSettings:
    settings = OnboardingSettings.from_env(os.environ)
    configure(settings.log_level)
    return settings


def _request() -> Request:
    request = app.current_request
    if request is None:  # only routes call this, and Chalice sets it before every route
        raise RuntimeError("no current request")
    return request


def _subscription_service() -> SubscriptionService:
    settings = _onboarding_settings()
    function_arn = getattr(app.lambda_context, "invoked_function_arn", "") or ""
    api_id = str(_request().context.get("apiId", ""))
    guard = LoopGuard.for_stage(settings.protected_log_groups, rest_api_id=api_id)
    return SubscriptionService(_client("logs"), settings.resolve(function_arn), guard)


def _json_response(status: int, body: dict[str, Any], headers: dict[str, str]) -> Response:
    return Response(body=body, status_code=status, headers={"Content-Type": "application/json", **headers})


def _api_errors(view: Callable[[], Response]) -> Callable[[], Response]:
    """Answer ApiErrors with their status and JSON body; anything else is a JSON 500."""

    @functools.wraps(view)
    def answer() -> Response:
        request = _request()
        try:
            response = view()
        except ApiError as e:
            error: ApiError = e
        except ConfigurationError as e:
            error = ApiConfigurationError(f"the stage is misconfigured: {e}")
        except Exception as e:
            request_id = getattr(app.lambda_context, "aws_request_id", "")
            logging.getLogger(LOGGER_NAME).error(
                "api.unexpected_error",
                exc_info=True,
                extra={"fields": {"method": request.method, "error": type(e).__name__}},
            )
            error = InternalApiError(
                "unexpected error; the API handler's log has the details",
                details={"requestId": request_id},
            )
        else:
            log_event("api.answered", method=request.method, status=response.status_code)
            return response
        level = logging.ERROR if error.status >= 500 else logging.INFO
        log_event("api.answered", level, method=request.method, status=error.status, error=error.code)
        headers = {}
        if error.retry_after_seconds is not None:
            headers["Retry-After"] = str(error.retry_after_seconds)
        return _json_response(error.status, error.body(), headers)

    return answer


@app.route(
    SUBSCRIPTIONS_ROUTE,
    methods=["POST"],
    authorizer=API_AUTHORIZER,
    content_types=API_CONTENT_TYPES,
)
@_api_errors
def create_subscriptions() -> Response:
    """Subscribe one log group (201 created / 200 unchanged or updated) or a prefix's page."""
    request = parse_subscribe_body(_request().raw_body)
    service = _subscription_service()
    if isinstance(request, SubscribeGroup):
        subscription, created = service.subscribe(request.log_group_name, request.filter_pattern)
        return _json_response(201 if created else 200, subscription.to_json(), {})
    return _json_response(200, service.subscribe_prefix(request).to_json(), {})


@app.route(SUBSCRIPTIONS_ROUTE, methods=["GET"], authorizer=API_AUTHORIZER)
@_api_errors
def list_subscriptions() -> Response:
    """One page of the log groups logstep is subscribed to."""
    request = parse_list_query(_request().query_params)
    return _json_response(200, _subscription_service().list_subscriptions(request).to_json(), {})


@app.route(SUBSCRIPTIONS_ROUTE, methods=["DELETE"], authorizer=API_AUTHORIZER)
@_api_errors
def delete_subscription() -> Response:
    """Remove logstep's filter (and nothing else) from ?logGroupName=."""
    log_group_name = parse_delete_query(_request().query_params)
    removed = _subscription_service().unsubscribe(log_group_name)
    return _json_response(200, removed.to_json(), {})


# =========================================================================================
# Follow rules: POST / GET / DELETE /follows, the CreateLogGroup event and the scheduled
# sweep (issue 14; docs/onboarding-api.md, "Follow rules"). chalicelib.follows does the work.
# =========================================================================================

FOLLOWS_ROUTE = "/follows"
# Chalice fixes the schedule when app.py is imported, so its interval is read here, from
# the stage's environment (LOGSTEP_FOLLOW_SWEEP_MINUTES, default 15; a bad value falls back
# to 15 with a warning, and `logstep deploy` refuses it).


def _sweep_minutes_invalid(problem: str) -> None:
    configure()  # at import no handler has run it yet, and Chalice's logger lets only ERROR through
    log_event(
        "follows.sweep_minutes_invalid", logging.WARNING, problem=problem, minutes=DEFAULT_SWEEP_MINUTES
    )


FOLLOW_SWEEP_SCHEDULE = Rate(follow_sweep_minutes(os.environ, _sweep_minutes_invalid), unit=Rate.MINUTES)


def _follow_metrics(step: str) -> MetricsRecorder:
    return MetricsRecorder(_onboarding_settings().stage, step, lambda d: metrics_sink(d))


def _new_follower(function_arn: str, api_id: str, metrics: MetricsRecorder) -> Follower:
    """A Follower wired to this stage's clients and settings."""
    settings = _onboarding_settings()
    guard = LoopGuard.for_stage(settings.protected_log_groups, rest_api_id=api_id)
    service = SubscriptionService(_client("logs"), settings.resolve(function_arn), guard)
    store = FollowStore(_client("dynamodb"), settings.follows_table)
    return Follower(service, store, guard, metrics)


def _route_follower(metrics: MetricsRecorder) -> Follower:
    function_arn = getattr(app.lambda_context, "invoked_function_arn", "") or ""
    return _new_follower(function_arn, _api_id(), metrics)


def _api_id() -> str:
    return str(_request().context.get("apiId", ""))


def _flush(metrics: MetricsRecorder) -> None:
    metrics.flush(int(time.time() * 1000))


@app.route(FOLLOWS_ROUTE, methods=["POST"], authorizer=API_AUTHORIZER, content_types=API_CONTENT_TYPES)
@_api_errors
def create_follow() -> Response:
    """Record a follow rule (201 created / 200 updated or unchanged) and onboard a page of it."""
    request = parse_follow_body(_request().raw_body)
    metrics = _follow_metrics("follows_api")
    try:
        follower = _route_follower(metrics)
        report = follower.follow(request, api_id=_api_id())
    finally:
        _flush(metrics)
    return _json_response(201 if report.change == "created" else 200, report.to_json(), {})


@app.route(FOLLOWS_ROUTE, methods=["GET"], authorizer=API_AUTHORIZER)
@_api_errors
def list_follows() -> Response:
    """Every follow rule, with its last sweep and counts."""
    if _request().query_params:
        raise InvalidRequestError("GET /follows takes no query parameters", details={"field": ""})
    follower = _route_follower(_follow_metrics("follows_api"))
    return _json_response(200, {"follows": [r.to_json() for r in follower.list_rules()]}, {})


@app.route(FOLLOWS_ROUTE, methods=["DELETE"], authorizer=API_AUTHORIZER)
@_api_errors
def delete_follow() -> Response:
    """Remove a rule; with unsubscribe=true also one page of the filters it made."""
    request = parse_unfollow_query(_request().query_params)
    follower = _route_follower(_follow_metrics("follows_api"))
    return _json_response(200, follower.unfollow(request).to_json(), {})


@app.on_cw_event(CREATE_LOG_GROUP_PATTERN, name="follow_new_log_group")
def follow_new_log_group(event: CloudWatchEvent) -> dict[str, Any]:
    """EventBridge (CloudTrail CreateLogGroup): subscribe the new group if a rule covers it."""
    name = created_log_group(event.to_dict())
    if name is None:
        return {"logGroupName": None, "outcome": "ignored"}
    metrics = _follow_metrics("follow_new_log_group")
    try:
        follower = _new_follower(_arn(event.context), "", metrics)
        outcome = follower.on_log_group_created(name)
    finally:
        _flush(metrics)
    return outcome.to_json() if outcome else {"logGroupName": name, "outcome": "noRule"}


@app.schedule(FOLLOW_SWEEP_SCHEDULE, name="sweep_follows", description="logstep: sweep follow rules")
def sweep_follows(event: CloudWatchEvent) -> dict[str, Any]:
    """Scheduled: subscribe groups the events missed, re-apply changed patterns (bounded, resumable)."""
    settings = _onboarding_settings()
    metrics = _follow_metrics("sweep_follows")
    try:
        follower = _new_follower(_arn(event.context), "", metrics)
        report = follower.sweep(settings.sweep_budget_seconds, settings.sweep_max_pages)
    finally:
        _flush(metrics)
    return report.to_json()
