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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import BotoCoreError, ClientError
from botocore.httpsession import URLLib3Session

from chalicelib import jsoncodec
from chalicelib.batching import Record, plan_requests
from chalicelib.bulk import CONFLICT, REQUEST_TOO_LARGE, bulk_body, describe_error, item_action, item_results
from chalicelib.delivery.outcome import DeliveryOutcome
from chalicelib.errors import ConfigurationError, DeliveryRejectedError, DeliveryThrottledError
from chalicelib.settings import DeliveryLimits, SearchSettings

# SigV4 service names: Amazon OpenSearch Service domains sign as "es", Serverless
# collections as "aoss" (which also needs the x-amz-content-sha256 header):
# https://docs.aws.amazon.com/opensearch-service/latest/developerguide/serverless-clients.html
SIGV4_SERVICES = {"aws-es": "es", "aws-aoss": "aoss"}
NDJSON = "application/x-ndjson"
# Whole-request statuses worth a retry besides 5xx: 429 (the cluster's back-pressure) and
# 408 (a proxy or Elastic Cloud's front end timed the request out).
RETRYABLE_STATUSES = frozenset({408, 429})
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
        """Send every item once; report which still need sending and why.

        Requests go out ``bulk_concurrency`` at a time (a wave), in order: a Lambda bills
        its wall time, and most of a bulk request's time is the cluster's. After a wave
        with a request refused whole (429/5xx, timeout), the rest waits for the Retry.
        """
        tally = _Tally()
        queue = deque(plan_requests(records, self._limits))
        with ThreadPoolExecutor(max_workers=self._search.bulk_concurrency) as pool:
            while queue:
                left = self._time_left()
                if not tally.backing_off and left < self._search.timeout_seconds + TIME_MARGIN_SECONDS:
                    if not tally.calls:
                        # Not even the first request fits: no retry can do better.
                        raise ConfigurationError(
                            f"LOGSTEP_BULK_TIMEOUT_SECONDS={self._search.timeout_seconds} does not fit "
                            f"in put_batch's {left:.0f} s: keep it at least {TIME_MARGIN_SECONDS} s "
                            "below the function's timeout"
                        )
                    tally.errors["time budget"] += sum(len(r) for r in queue)
                    tally.backing_off = True
                if tally.backing_off:
                    tally.retryable.extend(record for request in queue for record in request)
                    break
                wave = [queue.popleft() for _ in range(min(self._search.bulk_concurrency, len(queue)))]
                bodies = [bulk_body(request) for request in wave]
                answers = list(pool.map(self._post, bodies))
                splits: list[list[Record]] = []
                for request, body, answer in zip(wave, bodies, answers, strict=True):
                    splits += self._absorb(request, body, answer, tally)
                queue.extendleft(reversed(splits))
        return tally.outcome()

    def _post(self, body: bytes) -> HttpResponse | TransportError:
        try:
            return self._transport.request("POST", "/_bulk", body, NDJSON)
        except TransportError as e:
            return e

    def _absorb(
        self, request: list[Record], body: bytes, answer: HttpResponse | TransportError, tally: _Tally
    ) -> list[list[Record]]:
        """Count one request's answer into the tally; return its halves when it must be split."""
        tally.calls += 1
        if isinstance(answer, TransportError):
            tally.refuse(request, "timeout" if "Timeout" in str(answer) else "connection")
            return []
        status = answer.status
        if status == REQUEST_TOO_LARGE and len(request) > 1:
            tally.errors[str(status)] += 1
            half = len(request) // 2
            return [request[:half], request[half:]]
        if status == REQUEST_TOO_LARGE:
            tally.errors[str(status)] += 1
            tally.reject(request[0], status, "request too large for the cluster")
            return []
        if status in RETRYABLE_STATUSES or status >= 500:
            tally.refuse(request, str(status))
            return []
        if status != 200:
            hint = " (check the stage's search auth and the cluster's role mapping)"
            raise DeliveryRejectedError(
                f"_bulk at {self.target} answered {status}: {_reason(answer)}"
                + (hint if status in (401, 403) else "")
            )
        results = item_results(answer.json(), len(request))
        if results is None:
            # Not an answer logstep can read item by item: resend it all (create + _id makes
            # that safe: what was written answers 409 next time).
            tally.throttled_calls += 1
            tally.errors["unreadable"] += len(request)
            tally.retryable.extend(request)
            return []
        tally.call_sizes.append((len(request), len(body)))
        for record, result in zip(request, results, strict=True):
            if result.delivered:
                tally.delivered += 1
                tally.bytes_sent += len(record.data)
                tally.duplicates += result.status == CONFLICT
            elif result.retryable:
                tally.errors[str(result.status)] += 1
                tally.retryable.append(record)
            else:
                tally.errors[str(result.status)] += 1
                tally.reject(record, result.status, result.error)
        return []


@dataclass
class _Tally:
    """What one send achieved so far."""

    delivered: int = 0
    duplicates: int = 0
    calls: int = 0
    throttled_calls: int = 0
    bytes_sent: int = 0
    backing_off: bool = False
    retryable: list[Record] = field(default_factory=list)
    rejected: list[Record] = field(default_factory=list)
    rejections: list[dict[str, object]] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    call_sizes: list[tuple[int, int]] = field(default_factory=list)

    def refuse(self, request: list[Record], reason: str) -> None:
        """A request refused whole: retry it, and hold the rest for the backoff."""
        self.throttled_calls += 1
        self.errors[reason] += len(request)
        self.retryable.extend(request)
        self.backing_off = True

    def reject(self, record: Record, status: int, error: str) -> None:
        """An item refused for good, with the cluster's reason."""
        self.rejected.append(record)
        self.rejections.append(_rejection(record, status, error))

    def outcome(self) -> DeliveryOutcome:
        """The tally as the delivery outcome put_batch reads."""
        return DeliveryOutcome(
            delivered=self.delivered,
            retryable=self.retryable,
            rejected=self.rejected,
            calls=self.calls,
            throttled_calls=self.throttled_calls,
            bytes_sent=self.bytes_sent,
            error_counts=dict(self.errors),
            call_sizes=self.call_sizes,
            duplicates=self.duplicates,
            rejections=self.rejections,
        )


def _rejection(record: Record, status: int, error: str) -> dict[str, object]:
    index, doc_id = item_action(record)
    return {"_index": index, "_id": doc_id, "status": status, "error": error}


def _reason(response: HttpResponse) -> str:
    parsed = response.json()
    if isinstance(parsed, dict) and "error" in parsed:
        return describe_error(parsed["error"])
    return response.body[:300].decode(errors="replace")
