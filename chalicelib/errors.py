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
