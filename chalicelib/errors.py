"""The exception taxonomy.

A retryable exception's class name is the error name the state machine's ``Retry``
matches (Lambda reports ``errorType`` = the class name, and Step Functions matches
``ErrorEquals`` against it). ``tests/statemachine`` checks that every custom name in
``statemachines/pipeline.asl.json`` exists here, and the reverse.
"""


class LogstepError(Exception):
    """Base class of every error logstep raises on purpose."""


class RetryableError(LogstepError):
    """A transient condition: the same input, retried later, can succeed."""


class PermanentError(LogstepError):
    """Retrying the same input cannot help; the data is kept and reported instead."""


class RecordsThrottledError(RetryableError):
    """Some records of a chunk were not written (throttled or InternalFailure); only they are pending."""


class DeliveryThrottledError(RetryableError):
    """Whole PutRecords calls were refused (throughput, limits, 5xx): nothing of them was written."""


class StorageUnavailableError(RetryableError):
    """The claim-check bucket answered with a throttle or a server error."""


class DeliveryRejectedError(PermanentError):
    """The destination refused records for a reason retrying will not fix (KMS access, missing stream)."""


class MalformedStateError(PermanentError):
    """A step received a state input that is not of the shape the state machine passes."""


class ConfigurationError(PermanentError):
    """A required setting is missing or invalid."""


RETRYABLE_ERRORS: tuple[type[RetryableError], ...] = (
    RecordsThrottledError,
    DeliveryThrottledError,
    StorageUnavailableError,
)
PERMANENT_ERRORS: tuple[type[PermanentError], ...] = (
    DeliveryRejectedError,
    MalformedStateError,
    ConfigurationError,
)


# --- Onboarding API errors (issue 4) -----------------------------------------------------
# Not part of the state machine's taxonomy: these never reach Step Functions, so they are
# neither RetryableError nor PermanentError and appear in no ASL ErrorEquals list. Each one
# is an HTTP answer: ``status`` and ``code`` become the response's status and JSON
# ``{"error": code, "message": ...}`` (docs/onboarding-api.md, "Errors", lists every code).


class ApiError(LogstepError):
    """An error the onboarding API answers with a JSON body; subclasses fix status and code."""

    status = 400
    code = "INVALID_REQUEST"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, object] | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})
        self.retry_after_seconds = retry_after_seconds

    def body(self) -> dict[str, object]:
        """The JSON body: error code, message, then any details (field, filters, permission)."""
        return {"error": self.code, "message": self.message, **self.details}


class InvalidRequestError(ApiError):
    """A body or query that is not what the route takes: wrong type, unknown or missing field."""

    status, code = 400, "INVALID_REQUEST"


class MalformedJsonError(InvalidRequestError):
    """The body is not a JSON document."""

    status, code = 400, "MALFORMED_JSON"


class BodyTooLargeError(InvalidRequestError):
    """The body is larger than the API accepts."""

    status, code = 400, "BODY_TOO_LARGE"


class InvalidLogGroupNameError(InvalidRequestError):
    """A log group name or prefix CloudWatch Logs would refuse (characters, length)."""

    status, code = 400, "INVALID_LOG_GROUP_NAME"


class InvalidFilterPatternError(InvalidRequestError):
    """A filter pattern that is too long, or that CloudWatch Logs rejected."""

    status, code = 400, "INVALID_FILTER_PATTERN"


class InvalidNextTokenError(InvalidRequestError):
    """A nextToken this API did not issue, issued for another prefix, or expired."""

    status, code = 400, "INVALID_NEXT_TOKEN"


class ProtectedLogGroupError(InvalidRequestError):
    """The group belongs to logstep itself: subscribing it would feed the pipeline its own logs."""

    status, code = 400, "PROTECTED_LOG_GROUP"


class LogGroupNotFoundError(ApiError):
    """The log group does not exist (in this account and region)."""

    status, code = 404, "LOG_GROUP_NOT_FOUND"


class NotSubscribedError(ApiError):
    """The log group exists but has no logstep subscription filter."""

    status, code = 404, "NOT_SUBSCRIBED"


class FilterLimitReachedError(ApiError):
    """The group already has the two subscription filters CloudWatch Logs allows."""

    status, code = 409, "FILTER_LIMIT_REACHED"


class AlreadySubscribedByOtherFilterError(ApiError):
    """Another of the group's filters already sends to logstep's stream (a second duplicates)."""

    status, code = 409, "ALREADY_SUBSCRIBED_BY_OTHER_FILTER"


class ConcurrentUpdateError(ApiError):
    """CloudWatch Logs aborted the change because another update of the group was in flight."""

    status, code = 409, "CONCURRENT_UPDATE"


class LogsThrottledError(ApiError):
    """CloudWatch Logs throttled the API's calls; retry after the advertised delay."""

    status, code = 503, "THROTTLED"


class LogsUnavailableError(ApiError):
    """CloudWatch Logs could not be reached or answered with a server error."""

    status, code = 503, "SERVICE_UNAVAILABLE"


class LogsAccessDeniedError(ApiError):
    """logstep's API role lacks a permission: a deployment problem, not the caller's."""

    status, code = 502, "ACCESS_DENIED"


class DestinationUnreachableError(ApiError):
    """CloudWatch Logs could not write its test message to the source stream (stream or role)."""

    status, code = 502, "DESTINATION_UNREACHABLE"


class UpstreamError(ApiError):
    """CloudWatch Logs refused a call for a reason the API does not expect."""

    status, code = 502, "UPSTREAM_ERROR"


class ApiConfigurationError(ApiError):
    """The stage's onboarding settings are missing or invalid."""

    status, code = 500, "CONFIGURATION_ERROR"


class InternalApiError(ApiError):
    """An unexpected failure: a bug. The body never carries a stack trace."""

    status, code = 500, "INTERNAL_ERROR"


# --- /follows (issue 14) ---------------------------------------------------------------


class FollowNotFoundError(ApiError):
    """No follow rule has this prefix (and, for an unsubscribe, no group is left of one)."""

    status, code = 404, "FOLLOW_NOT_FOUND"


class StoreUnavailableError(ApiError):
    """The follow rule store (DynamoDB) throttled or could not be reached; retry."""

    status, code = 503, "STORE_UNAVAILABLE"
