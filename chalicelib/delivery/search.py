"""_bulk with per-item outcome handling, over HTTPS with SigV4, an API key or basic auth (shell).

A bulk answer is ``200`` even when items failed; each item has its own status
(https://opensearch.org/docs/latest/api-reference/document-apis/bulk/#response):

- ``201``/``200``: written; ``409`` on ``create``: the ``_id`` is already there (an
  earlier attempt wrote it), so it counts as delivered and as a suppressed duplicate;
- ``429`` and ``5xx``: the cluster was busy or failing: the item is retried;
- other ``4xx`` (mapping conflicts, parse errors): permanent until the mapping or the
  document changes: rejected, kept with the cluster's reason.

A whole request answered ``429``/``5xx``, or that timed out or could not connect, is
retried whole, and the chunk's later requests wait for the Retry's backoff with it (the
cluster asked for less load). ``413`` (payload too large) splits the request in two and
goes on. ``401``/``403`` and other whole-request ``4xx`` are a configuration problem:
``DeliveryRejectedError``, not retried.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import BotoCoreError, ClientError
from botocore.httpsession import URLLib3Session

from chalicelib import jsoncodec
from chalicelib.batching import Record, plan_requests
from chalicelib.bulk import REQUEST_TOO_LARGE, bulk_body, describe_error, item_action, item_results
from chalicelib.delivery.outcome import DeliveryOutcome
from chalicelib.errors import ConfigurationError, DeliveryRejectedError, DeliveryThrottledError
from chalicelib.settings import DeliveryLimits, SearchSettings

# SigV4 service names: Amazon OpenSearch Service domains sign as "es", Serverless
# collections as "aoss" (which also needs the x-amz-content-sha256 header):
# https://docs.aws.amazon.com/opensearch-service/latest/developerguide/serverless-clients.html
SIGV4_SERVICES = {"aws-es": "es", "aws-aoss": "aoss"}
NDJSON = "application/x-ndjson"
# Seconds kept for writing the pending set after the last request.
TIME_MARGIN_SECONDS = 5


@dataclass(frozen=True)
class HttpResponse:
    """A cluster's answer: status and body."""

    status: int
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return jsoncodec.loads(self.body)
        except ValueError:
            return None


class TransportError(Exception):
    """The request got no answer: connection refused or reset, DNS, TLS, timeout."""


Signer = Callable[[AWSRequest], None]


class HttpTransport:
    """Sends requests to one cluster endpoint; TLS certificates are always verified."""

    def __init__(
        self, endpoint: str, sign: Signer, timeout_seconds: float, session: Any | None = None
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._sign = sign
        # botocore's own HTTP session: urllib3 with botocore's CA bundle, verify=True.
        self._session = session or URLLib3Session(
            verify=True, timeout=timeout_seconds, max_pool_connections=4
        )

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"
    ) -> HttpResponse:
        """One request; raise TransportError when no answer came."""
        headers = {"Content-Type": content_type} if body is not None else {}
        request = AWSRequest(method=method, url=self.endpoint + path, data=body, headers=headers)
        self._sign(request)
        try:
            response = self._session.send(request.prepare())
        except BotoCoreError as e:  # ConnectionError, ReadTimeoutError, SSLError, ...
            raise TransportError(f"{method} {path}: {type(e).__name__}: {e}") from e
        return HttpResponse(status=int(response.status_code), body=bytes(response.content or b""))


def no_auth(request: AWSRequest) -> None:
    """Leave the request unsigned (a local cluster)."""


def header_auth(value: str) -> Signer:
    """Set ``Authorization`` to a fixed value (API key or basic auth)."""

    def sign(request: AWSRequest) -> None:
        request.headers["Authorization"] = value

    return sign


def sigv4_auth(credentials: Callable[[], Any], service: str, region: str) -> Signer:
    """Sign with the Lambda role's (refreshing) credentials, for service es or aoss."""
    if not region:
        raise ConfigurationError("SigV4 needs a region: none in the endpoint and AWS_REGION is not set")

    def sign(request: AWSRequest) -> None:
        body = request.body or b""
        payload = body if isinstance(body, bytes) else str(body).encode()
        request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(payload).hexdigest()
        SigV4Auth(credentials(), service, region).add_auth(request)

    return sign


def read_secret(secretsmanager: Any, secret_arn: str) -> dict[str, Any]:
    """The secret's JSON: ``{"apiKey": ...}`` or ``{"username": ..., "password": ...}``."""
    try:
        value = secretsmanager.get_secret_value(SecretId=secret_arn)
    except ClientError as e:
        code = str(e.response.get("Error", {}).get("Code", ""))
        status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if code in ("ThrottlingException", "InternalServiceError") or status >= 500:
            raise DeliveryThrottledError(f"Secrets Manager {code or status} reading {secret_arn}") from e
        raise ConfigurationError(f"cannot read the search credentials {secret_arn}: {code}") from e
    try:
        parsed = jsoncodec.loads(str(value.get("SecretString", "")).encode())
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ConfigurationError(f"secret {secret_arn} is not a JSON object")
    return parsed


def secret_auth(auth: str, secret: Mapping[str, Any], secret_arn: str) -> Signer:
    """The Authorization header an Elasticsearch API key or a user's password gives."""
    if auth == "api-key":
        key = secret.get("apiKey")
        if not isinstance(key, str) or not key:
            raise ConfigurationError(f'secret {secret_arn} lacks "apiKey" (the encoded API key)')
        return header_auth(f"ApiKey {key}")
    user, password = secret.get("username"), secret.get("password")
    if not isinstance(user, str) or not isinstance(password, str) or not user:
        raise ConfigurationError(f'secret {secret_arn} lacks "username" and "password"')
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return header_auth(f"Basic {token}")


def signer_for(search: SearchSettings, credentials: Callable[[], Any], secretsmanager: Any) -> Signer:
    """How requests to the stage's cluster are authenticated."""
    if search.auth in SIGV4_SERVICES:
        return sigv4_auth(credentials, SIGV4_SERVICES[search.auth], search.region)
    if search.auth == "none":
        return no_auth
    return secret_auth(search.auth, read_secret(secretsmanager, search.secret_arn), search.secret_arn)


class SearchDelivery:
    """Writes chunk items to one cluster with as many _bulk requests as the limits need."""

    def __init__(
        self,
        transport: HttpTransport,
        search: SearchSettings,
        time_left: Callable[[], float] = lambda: float("inf"),
    ) -> None:
        self._transport = transport
        self._search = search
        # Seconds the invocation has left: a request that could outlast it is not started
        # (its items stay pending for the Retry), so a slow cluster never gets a chunk cut
        # off by the Lambda timeout mid-request.
        self._time_left = time_left
        # Per-request byte budget for plan_requests, which counts key + data: each item
        # also adds two newlines.
        self._limits = DeliveryLimits(
            records_per_request=search.bulk_documents,
            request_bytes=max(1, search.bulk_bytes - 2 * search.bulk_documents),
            record_bytes=2**62,
        )

    @property
    def kind(self) -> str:
        """Always ``search``."""
        return "search"

    @property
    def target(self) -> str:
        """The cluster's endpoint."""
        return self._transport.endpoint

    def send(self, records: Sequence[Record]) -> DeliveryOutcome:
        """Send every item once; report which still need sending and why."""
        retryable: list[Record] = []
        rejected: list[Record] = []
        rejections: list[dict[str, object]] = []
        errors: Counter[str] = Counter()
        delivered = duplicates = calls = throttled_calls = bytes_sent = 0
        call_sizes: list[tuple[int, int]] = []
        queue = deque(plan_requests(records, self._limits))
        backing_off = False
        while queue:
            request = queue.popleft()
            if not backing_off and self._time_left() < self._search.timeout_seconds + TIME_MARGIN_SECONDS:
                errors["time budget"] += len(request)
                backing_off = True
            if backing_off:
                retryable.extend(request)
                continue
            calls += 1
            body = bulk_body(request)
            try:
                response = self._transport.request("POST", "/_bulk", body, NDJSON)
            except TransportError as e:
                throttled_calls += 1
                errors["timeout" if "Timeout" in str(e) else "connection"] += len(request)
                retryable.extend(request)
                backing_off = True
                continue
            status = response.status
            if status == REQUEST_TOO_LARGE and len(request) > 1:
                errors[str(status)] += 1
                half = len(request) // 2
                queue.extendleft([request[half:], request[:half]])
                continue
            if status == REQUEST_TOO_LARGE:
                errors[str(status)] += 1
                rejected.extend(request)
                rejections.append(_rejection(request[0], status, "request too large for the cluster"))
                continue
            if status == 429 or status >= 500:
                throttled_calls += 1
                errors[str(status)] += len(request)
                retryable.extend(request)
                backing_off = True
                continue
            if status != 200:
                raise DeliveryRejectedError(
                    f"_bulk at {self.target} answered {status}: {_reason(response)}"
                    + (
                        " (check the stage's search auth and the cluster's role mapping)"
                        if status in (401, 403)
                        else ""
                    )
                )
            results = item_results(response.json(), len(request))
            if results is None:
                # Not an answer logstep can read item by item: resend it all (create + _id
                # makes that safe: what was written answers 409 next time).
                throttled_calls += 1
                errors["unreadable"] += len(request)
                retryable.extend(request)
                continue
            call_sizes.append((len(request), len(body)))
            for record, result in zip(request, results, strict=True):
                if result.delivered:
                    delivered += 1
                    bytes_sent += len(record.data)
                    duplicates += result.status == 409
                    continue
                errors[str(result.status)] += 1
                if result.retryable:
                    retryable.append(record)
                else:
                    rejected.append(record)
                    rejections.append(_rejection(record, result.status, result.error))
        return DeliveryOutcome(
            delivered=delivered,
            retryable=retryable,
            rejected=rejected,
            calls=calls,
            throttled_calls=throttled_calls,
            bytes_sent=bytes_sent,
            error_counts=dict(errors),
            call_sizes=call_sizes,
            duplicates=duplicates,
            rejections=rejections,
        )


def _rejection(record: Record, status: int, error: str) -> dict[str, object]:
    index, doc_id = item_action(record)
    return {"_index": index, "_id": doc_id, "status": status, "error": error}


def _reason(response: HttpResponse) -> str:
    parsed = response.json()
    if isinstance(parsed, dict) and "error" in parsed:
        return describe_error(parsed["error"])
    return response.body[:300].decode(errors="replace")
