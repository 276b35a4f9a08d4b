"""The onboarding service behind /subscriptions: logstep's subscription filters (shell).

Every filter this service writes has the stage's name, destination (the source stream)
and role (``SubscriptionTarget``); callers choose only the log group and the pattern.
PutSubscriptionFilter creates or updates a filter by name, and a log group can have
at most two subscription filters, so "already subscribed", "update the pattern" and
"no room" are decided from DescribeSubscriptionFilters first
(https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutSubscriptionFilter.html).

Walks over many groups (onboarding a prefix, listing) are paged: API Gateway gives a
request 29 seconds (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html)
and the CloudWatch Logs describe APIs are rate-limited per account
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html), so
a page stops at a group count or a time budget, whichever comes first, or at the first
throttle once it has made progress, and answers a nextToken to continue.

SDK errors are translated here, at the boundary, into chalicelib.errors.ApiError classes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import (
    AlreadySubscribedByOtherFilterError,
    ApiError,
    ConcurrentUpdateError,
    DestinationUnreachableError,
    FilterLimitReachedError,
    InvalidFilterPatternError,
    InvalidNextTokenError,
    LogGroupNotFoundError,
    LogsAccessDeniedError,
    LogsThrottledError,
    LogsUnavailableError,
    NotSubscribedError,
    ProtectedLogGroupError,
    UpstreamError,
)
from chalicelib.logs import log_event
from chalicelib.settings import SubscriptionTarget
from chalicelib.validation import (
    MAX_PAGE_GROUPS,
    Cursor,
    ListSubscriptions,
    LoopGuard,
    SubscribePrefix,
    encode_next_token,
)

# CloudWatch Logs allows two subscription filters per log group ("Each log group can have
# up to two subscription filters associated with it", PutSubscriptionFilter).
MAX_FILTERS_PER_LOG_GROUP = 2
# A page of work stops starting new groups after this long: API Gateway answers 504 at 29 s.
PAGE_TIME_BUDGET_SECONDS = 20.0
THROTTLED_RETRY_AFTER_SECONDS = 2
UNAVAILABLE_RETRY_AFTER_SECONDS = 5

_THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RateExceeded",
    }
)
_ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDeniedException",
        "AccessDenied",
        "UnauthorizedOperation",
    }
)
_NOT_AUTHORIZED_TO = re.compile(r"not authorized to perform: ([A-Za-z0-9-]+:[A-Za-z0-9*]+)")
# CloudWatch Logs tests the destination on PutSubscriptionFilter; when the role cannot write
# to the stream it answers InvalidParameterException "Could not deliver test message ...".
_DESTINATION_PROBLEM = re.compile(r"test message|destination|role|stream", re.IGNORECASE)


@dataclass(frozen=True)
class Subscription:
    """One log group's logstep subscription filter."""

    log_group_name: str
    filter_name: str
    filter_pattern: str
    destination_arn: str
    role_arn: str
    distribution: str

    def to_json(self) -> dict[str, str]:
        """The API's representation (camelCase, like CloudWatch Logs)."""
        return {
            "logGroupName": self.log_group_name,
            "filterName": self.filter_name,
            "filterPattern": self.filter_pattern,
            "destinationArn": self.destination_arn,
            "roleArn": self.role_arn,
            "distribution": self.distribution,
        }


@dataclass(frozen=True)
class GroupOutcome:
    """What onboarding one group of a prefix did: subscribed, updated, alreadySubscribed,
    skipped (with a reason) or failed (with an error code and message)."""

    log_group_name: str
    outcome: str
    reason: str = ""
    error: str = ""

    def to_json(self) -> dict[str, str]:
        """The API's representation of one group's outcome."""
        out = {"logGroupName": self.log_group_name, "outcome": self.outcome}
        if self.reason:
            out["reason"] = self.reason
        if self.error:
            out["error"] = self.error
        return out


OUTCOMES = ("subscribed", "updated", "alreadySubscribed", "skipped", "failed")


@dataclass(frozen=True)
class PrefixReport:
    """One page of onboarding a prefix: per-group outcomes, counts, and where to continue."""

    prefix: str
    groups: list[GroupOutcome]
    next_token: str | None
    dry_run: bool = False
    retry_after_seconds: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The API's representation of the page."""
        counts = dict.fromkeys(OUTCOMES, 0)
        for group in self.groups:
            counts[group.outcome] += 1
        out: dict[str, Any] = {
            "logGroupNamePrefix": self.prefix,
            "dryRun": self.dry_run,
            "counts": counts,
            "groups": [g.to_json() for g in self.groups],
        }
        if self.next_token:
            out["nextToken"] = self.next_token
        if self.retry_after_seconds is not None:
            out["retryAfterSeconds"] = self.retry_after_seconds
        return out


@dataclass(frozen=True)
class SubscriptionPage:
    """One page of GET /subscriptions."""

    subscriptions: list[Subscription]
    next_token: str | None
    groups_examined: int
    retry_after_seconds: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The API's representation of the page."""
        out: dict[str, Any] = {
            "subscriptions": [s.to_json() for s in self.subscriptions],
            "groupsExamined": self.groups_examined,
        }
        if self.next_token:
            out["nextToken"] = self.next_token
        if self.retry_after_seconds is not None:
            out["retryAfterSeconds"] = self.retry_after_seconds
        return out


@dataclass
class _Walk:
    """The groups of one page, each with the cursor that points at it."""

    groups: list[tuple[str, Cursor]] = field(default_factory=list)
    after: Cursor | None = None
    # Each group's creationTime (ms since the epoch), as DescribeLogGroups reported it.
    created_ms: dict[str, int] = field(default_factory=dict)


class SubscriptionService:
    """Creates, updates, lists and removes logstep's subscription filters."""

    def __init__(
        self,
        logs: Any,
        target: SubscriptionTarget,
        guard: LoopGuard,
        clock: Callable[[], float] = time.monotonic,
        budget_seconds: float = PAGE_TIME_BUDGET_SECONDS,
    ) -> None:
        self._logs = logs
        self._target = target
        self._guard = guard
        self._clock = clock
        self._budget_seconds = budget_seconds

    # --- one group -------------------------------------------------------------------------

    def subscribe(self, log_group_name: str, filter_pattern: str = "") -> tuple[Subscription, bool]:
        """Create or update logstep's filter on one group; True when it was created.

        Idempotent: the same request again changes nothing and returns the same subscription.
        """
        if reason := self._guard.reason(log_group_name):
            raise ProtectedLogGroupError(reason, details={"field": "logGroupName"})
        outcome, subscription = self._apply(log_group_name, filter_pattern, dry_run=False)
        return subscription, outcome == "subscribed"

    def unsubscribe(self, log_group_name: str) -> Subscription:
        """Remove logstep's filter from one group (only that filter); return what was removed."""
        filters = self._filters(log_group_name)
        ours = filters.get(self._target.filter_name)
        if ours is None:
            raise NotSubscribedError(
                f"{log_group_name} has no subscription filter named {self._target.filter_name}",
                details={"logGroupName": log_group_name, "filters": sorted(filters)},
            )
        try:
            self._logs.delete_subscription_filter(
                logGroupName=log_group_name, filterName=self._target.filter_name
            )
        except ClientError as e:
            if _code(e) == "ResourceNotFoundException":
                raise NotSubscribedError(
                    f"{log_group_name} has no subscription filter named {self._target.filter_name}",
                    details={"logGroupName": log_group_name},
                ) from e
            raise translate(e, log_group_name) from e
        except BotoCoreError as e:
            raise unavailable(e) from e
        log_event("subscription.deleted", log_group=log_group_name, filter=ours.filter_name)
        return ours

    # --- for follow rules (chalicelib.follows) ---------------------------------------------

    def existing(self, log_group_name: str) -> Subscription | None:
        """logstep's filter on the group, or None when there is room to add it.

        Raises FilterLimitReachedError / AlreadySubscribedByOtherFilterError when there is not.
        """
        filters = self._filters(log_group_name)
        ours = filters.get(self._target.filter_name)
        if ours is None:
            self._check_room(log_group_name, filters)
        return ours

    def create(self, log_group_name: str, filter_pattern: str) -> None:
        """Put logstep's filter on a group ``existing`` found room on (no second check)."""
        target = self._target
        self._put(
            Subscription(
                log_group_name=log_group_name,
                filter_name=target.filter_name,
                filter_pattern=filter_pattern,
                destination_arn=target.destination_arn,
                role_arn=target.role_arn,
                distribution=target.distribution,
            )
        )
        log_event("subscription.subscribed", log_group=log_group_name, filter=target.filter_name)

    def reapply(self, log_group_name: str, filter_pattern: str) -> str:
        """Bring the group's filter to ``filter_pattern``: subscribed, updated or alreadySubscribed."""
        outcome, _ = self._apply(log_group_name, filter_pattern, dry_run=False)
        return outcome

    def remove(self, log_group_name: str) -> bool:
        """Remove logstep's filter if it is there; False when there was none (or no group)."""
        try:
            self.unsubscribe(log_group_name)
        except (NotSubscribedError, LogGroupNotFoundError):
            return False
        return True

    # --- many groups -----------------------------------------------------------------------

    def subscribe_prefix(self, request: SubscribePrefix) -> PrefixReport:
        """Onboard one page of the existing groups under a prefix, reporting each group."""
        deadline = self._clock() + self._budget_seconds
        walk = self._walk(request.prefix, request.cursor, request.limit)
        outcomes: list[GroupOutcome] = []
        resume: Cursor | None = walk.after
        retry_after: int | None = None
        for name, cursor in walk.groups:
            if self._clock() >= deadline:
                resume = cursor
                break
            if reason := self._guard.reason(name):
                outcomes.append(GroupOutcome(name, "skipped", reason=reason))
                continue
            try:
                outcome, _ = self._apply(name, request.filter_pattern, dry_run=request.dry_run)
                outcomes.append(GroupOutcome(name, outcome))
            except (LogsThrottledError, LogsUnavailableError) as e:
                if not outcomes:
                    raise
                # Stop here with what is done; the token resumes at this group.
                resume, retry_after = cursor, e.retry_after_seconds
                break
            except LogGroupNotFoundError:
                outcomes.append(GroupOutcome(name, "skipped", reason="deleted while onboarding"))
            except (
                FilterLimitReachedError,
                AlreadySubscribedByOtherFilterError,
                ConcurrentUpdateError,
            ) as e:
                outcomes.append(GroupOutcome(name, "failed", reason=e.message, error=e.code))
        token = encode_next_token(resume, request.prefix) if resume else None
        log_event(
            "subscriptions.prefix",
            prefix=request.prefix,
            groups=len(outcomes),
            dry_run=request.dry_run,
            more=token is not None,
        )
        return PrefixReport(
            prefix=request.prefix,
            groups=outcomes,
            next_token=token,
            dry_run=request.dry_run,
            retry_after_seconds=retry_after,
        )

    def list_subscriptions(self, request: ListSubscriptions) -> SubscriptionPage:
        """One page of the groups that have logstep's filter (a page may hold none: follow
        nextToken until it is absent)."""
        deadline = self._clock() + self._budget_seconds
        walk = self._walk(request.prefix, request.cursor, request.limit)
        found: list[Subscription] = []
        resume: Cursor | None = walk.after
        retry_after: int | None = None
        examined = 0
        for name, cursor in walk.groups:
            if self._clock() >= deadline:
                resume = cursor
                break
            try:
                ours = self._filters(name).get(self._target.filter_name)
            except LogGroupNotFoundError:
                ours = None  # deleted between the two calls
            except (LogsThrottledError, LogsUnavailableError) as e:
                if not examined:
                    raise
                resume, retry_after = cursor, e.retry_after_seconds
                break
            examined += 1
            if ours is not None:
                found.append(ours)
        token = encode_next_token(resume, request.prefix) if resume else None
        return SubscriptionPage(
            subscriptions=found,
            next_token=token,
            groups_examined=examined,
            retry_after_seconds=retry_after,
        )

    def groups(
        self, prefix: str, cursor: Cursor | None, limit: int
    ) -> tuple[list[tuple[str, Cursor, int | None]], Cursor | None]:
        """Up to ``limit`` group names under ``prefix`` from ``cursor`` on, each with the cursor
        naming it and its creationTime (ms; None if not reported), and the cursor after them
        (None: the prefix is done)."""
        walk = self._walk(prefix, cursor, limit)
        return [(name, at, walk.created_ms.get(name)) for name, at in walk.groups], walk.after

    # --- internals -------------------------------------------------------------------------

    def _apply(self, log_group_name: str, pattern: str, dry_run: bool) -> tuple[str, Subscription]:
        """Bring one group's filter to the target: subscribed / updated / alreadySubscribed."""
        target = self._target
        wanted = Subscription(
            log_group_name=log_group_name,
            filter_name=target.filter_name,
            filter_pattern=pattern,
            destination_arn=target.destination_arn,
            role_arn=target.role_arn,
            distribution=target.distribution,
        )
        filters = self._filters(log_group_name)
        ours = filters.get(target.filter_name)
        if ours is not None:
            # Distribution is not compared: moto always reports ByLogStream. A changed stage
            # distribution reaches a group when its pattern, destination or role changes.
            if (ours.filter_pattern, ours.destination_arn, ours.role_arn) == (
                pattern,
                target.destination_arn,
                target.role_arn,
            ):
                return "alreadySubscribed", wanted
            outcome = "updated"
        else:
            self._check_room(log_group_name, filters)
            outcome = "subscribed"
        if not dry_run:
            self._put(wanted)
            log_event(f"subscription.{outcome}", log_group=log_group_name, filter=wanted.filter_name)
        return outcome, wanted

    def _check_room(self, log_group_name: str, filters: dict[str, Subscription]) -> None:
        """Raise unless logstep's filter may be added: no other filter to logstep's stream,
        and fewer than the two filters CloudWatch Logs allows."""
        others = sorted(filters)
        duplicate = [
            f.filter_name for f in filters.values() if f.destination_arn == self._target.destination_arn
        ]
        if duplicate:
            raise AlreadySubscribedByOtherFilterError(
                f"{log_group_name} already sends to logstep's stream through filter "
                f"{duplicate[0]!r}; a second filter would deliver every event twice. Remove "
                "that filter (or leave the group as it is).",
                details={"logGroupName": log_group_name, "filters": others},
            )
        if len(filters) >= MAX_FILTERS_PER_LOG_GROUP:
            raise self._limit_error(log_group_name, others)

    def _put(self, wanted: Subscription) -> None:
        try:
            self._logs.put_subscription_filter(
                logGroupName=wanted.log_group_name,
                filterName=wanted.filter_name,
                filterPattern=wanted.filter_pattern,
                destinationArn=wanted.destination_arn,
                roleArn=wanted.role_arn,
                distribution=wanted.distribution,
            )
        except ClientError as e:
            code = _code(e)
            if code == "LimitExceededException":
                # Lost a race with another writer: name what is there now.
                try:
                    names = sorted(self._filters(wanted.log_group_name))
                except ApiError:
                    names = []
                raise self._limit_error(wanted.log_group_name, names) from e
            if code == "InvalidParameterException":
                raise _invalid_parameter(e, wanted) from e
            raise translate(e, wanted.log_group_name) from e
        except BotoCoreError as e:
            raise unavailable(e) from e

    def _filters(self, log_group_name: str) -> dict[str, Subscription]:
        """The group's subscription filters by name (at most two, one call)."""
        try:
            response = self._logs.describe_subscription_filters(logGroupName=log_group_name)
        except ClientError as e:
            raise translate(e, log_group_name) from e
        except BotoCoreError as e:
            raise unavailable(e) from e
        filters: dict[str, Subscription] = {}
        for item in response.get("subscriptionFilters", []):
            name = str(item.get("filterName", ""))
            filters[name] = Subscription(
                log_group_name=log_group_name,
                filter_name=name,
                filter_pattern=str(item.get("filterPattern", "")),
                destination_arn=str(item.get("destinationArn", "")),
                role_arn=str(item.get("roleArn", "")),
                distribution=str(item.get("distribution", "ByLogStream")),
            )
        return filters

    def _walk(self, prefix: str, cursor: Cursor | None, limit: int) -> _Walk:
        """Up to ``limit`` group names from ``cursor`` on, each with the cursor naming it.

        Pages are always requested with the same size (the maximum), so a cursor's
        (page token, index) names the same group when the next request resumes.
        """
        walk = _Walk()
        page_token = cursor.page_token if cursor else None
        index = cursor.index if cursor else 0
        while True:
            names, created_ms, next_page = self._describe_groups(prefix, page_token)
            walk.created_ms.update(created_ms)
            for position in range(index, len(names)):
                if len(walk.groups) >= limit:
                    walk.after = Cursor(page_token, position)
                    return walk
                walk.groups.append((names[position], Cursor(page_token, position)))
            if not next_page:
                walk.after = None
                return walk
            page_token, index = next_page, 0
            if len(walk.groups) >= limit:
                walk.after = Cursor(page_token, 0)
                return walk

    def _describe_groups(
        self, prefix: str, page_token: str | None
    ) -> tuple[list[str], dict[str, int], str | None]:
        kwargs: dict[str, Any] = {"limit": MAX_PAGE_GROUPS}
        if prefix:
            kwargs["logGroupNamePrefix"] = prefix
        if page_token:
            kwargs["nextToken"] = page_token
        try:
            response = self._logs.describe_log_groups(**kwargs)
        except ClientError as e:
            if page_token and _code(e) == "InvalidParameterException":
                raise InvalidNextTokenError(
                    "nextToken has expired or is no longer valid; start again without it",
                    details={"field": "nextToken"},
                ) from e
            raise translate(e, prefix) from e
        except BotoCoreError as e:
            raise unavailable(e) from e
        groups = response.get("logGroups", [])
        names = [str(g["logGroupName"]) for g in groups]
        created_ms = {str(g["logGroupName"]): int(g["creationTime"]) for g in groups if "creationTime" in g}
        next_page = response.get("nextToken") or None
        return names, created_ms, next_page

    def _limit_error(self, log_group_name: str, names: list[str]) -> FilterLimitReachedError:
        listed = ", ".join(repr(n) for n in names) or "(unknown)"
        return FilterLimitReachedError(
            f"{log_group_name} already has the {MAX_FILTERS_PER_LOG_GROUP} subscription filters "
            f"CloudWatch Logs allows: {listed}. Remove one to subscribe it to logstep.",
            details={"logGroupName": log_group_name, "filters": names},
        )


# --- SDK error translation (the boundary) ---------------------------------------------------


def translate(error: ClientError, log_group_name: str = "") -> ApiError:
    """A CloudWatch Logs / IAM ClientError -> the API error it means for the caller."""
    code = _code(error)
    message = str(error.response.get("Error", {}).get("Message", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code == "ResourceNotFoundException":
        return LogGroupNotFoundError(
            f"log group {log_group_name} does not exist in this account and region",
            details={"logGroupName": log_group_name},
        )
    if code in _THROTTLING_CODES:
        return LogsThrottledError(
            f"CloudWatch Logs is throttling logstep ({error.operation_name}); retry later",
            retry_after_seconds=THROTTLED_RETRY_AFTER_SECONDS,
        )
    if code in _ACCESS_DENIED_CODES:
        match = _NOT_AUTHORIZED_TO.search(message)
        permission = match.group(1) if match else f"logs:{error.operation_name}"
        return LogsAccessDeniedError(
            f"logstep's API role is not allowed {permission}; grant it in the stage's "
            ".chalice/policy-<stage>-api_handler.json and redeploy",
            details={"permission": permission},
        )
    if code == "OperationAbortedException":
        return ConcurrentUpdateError(
            f"another update of {log_group_name}'s subscription filters was in progress; retry",
            details={"logGroupName": log_group_name},
            retry_after_seconds=1,
        )
    if code == "ServiceUnavailableException" or status >= 500:
        return LogsUnavailableError(
            f"CloudWatch Logs could not complete {error.operation_name}; retry later",
            retry_after_seconds=UNAVAILABLE_RETRY_AFTER_SECONDS,
        )
    return UpstreamError(
        f"CloudWatch Logs answered {code or status} to {error.operation_name}: {message[:300]}"
    )


def unavailable(error: BotoCoreError) -> LogsUnavailableError:
    """A transport failure (connection, timeout) -> 503."""
    return LogsUnavailableError(
        f"could not reach CloudWatch Logs: {type(error).__name__}",
        retry_after_seconds=UNAVAILABLE_RETRY_AFTER_SECONDS,
    )


def _invalid_parameter(error: ClientError, wanted: Subscription) -> ApiError:
    """InvalidParameterException on PutSubscriptionFilter: the pattern, or logstep's destination.

    Names, the destination and the role are validated or configured, so with a non-empty
    pattern a rejection that is not about the destination is about the pattern.
    """
    message = str(error.response.get("Error", {}).get("Message", ""))
    if wanted.filter_pattern and not _DESTINATION_PROBLEM.search(message):
        return InvalidFilterPatternError(
            f"CloudWatch Logs rejected the filter pattern: {message[:500]}",
            details={"field": "filterPattern"},
        )
    return DestinationUnreachableError(
        "CloudWatch Logs could not deliver to logstep's source stream "
        f"({wanted.destination_arn}) with role {wanted.role_arn}: {message[:500]}. Check that "
        "the stream is ACTIVE and the role lets logs.amazonaws.com put records on it.",
    )


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
