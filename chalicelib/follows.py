"""Follow rules behind /follows, the CreateLogGroup event and the scheduled sweep (shell).

The store is one DynamoDB table (``LOGSTEP_FOLLOWS_TABLE``, infra/logstep.yaml), keys
``pk``/``sk``:

- a rule: ``pk = "rules"``, ``sk = <prefix>`` (config, version, sweep progress, counts);
- a group a rule acted on: ``pk = "rule#<prefix>"``, ``sk = <log group name>``, with its
  state (``chalicelib.follow_rules.GROUP_STATES``). Every logstep filter has the same
  name, so this record is the only way to know which filters a rule made.

Writes are conditional, so concurrent callers cannot lose each other's work: a rule is
created only if absent and changed only at the version it was read at
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithItems.html#WorkingWithItems.ConditionalUpdate);
a group is claimed in one transaction with a check that its rule still exists, so a
sweep cannot record groups for a rule a DELETE just removed
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
A claim is written before the filter is put: a crash in between leaves a record whose
filter is missing (harmless: unsubscribe skips it), never a filter without a record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import (
    AlreadySubscribedByOtherFilterError,
    ApiConfigurationError,
    ApiError,
    ConcurrentUpdateError,
    FilterLimitReachedError,
    FollowNotFoundError,
    InvalidNextTokenError,
    LogGroupNotFoundError,
    LogsAccessDeniedError,
    LogsThrottledError,
    LogsUnavailableError,
    StoreUnavailableError,
    UpstreamError,
)
from chalicelib.follow_rules import FollowRule, GroupRecord, owner
from chalicelib.logs import log_event
from chalicelib.metrics import MetricsRecorder
from chalicelib.subscriptions import (
    OUTCOMES,
    PAGE_TIME_BUDGET_SECONDS,
    GroupOutcome,
    SubscriptionService,
)
from chalicelib.validation import (
    DEFAULT_ONBOARD_PAGE_GROUPS,
    MAX_PAGE_GROUPS,
    Cursor,
    FollowPrefix,
    LoopGuard,
    Unfollow,
    decode_next_token,
    encode_next_token,
    encode_unfollow_token,
)

RULES_PARTITION = "rules"
STORE_RETRY_AFTER_SECONDS = 2
# DynamoDB's throttling answers (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html).
_STORE_THROTTLING = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "LimitExceededException",
    }
)
UNFOLLOW_OUTCOMES = ("unsubscribed", "alreadyGone", "kept", "failed")


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _group_partition(prefix: str) -> str:
    return f"rule#{prefix}"


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def store_error(error: ClientError, operation: str) -> ApiError:
    """A DynamoDB ClientError -> the API error it means (the boundary)."""
    code = _code(error)
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in _STORE_THROTTLING or status >= 500:
        return StoreUnavailableError(
            f"the follow rule store could not complete {operation}; retry later",
            retry_after_seconds=STORE_RETRY_AFTER_SECONDS,
        )
    if code in ("AccessDeniedException", "AccessDenied"):
        return LogsAccessDeniedError(
            f"logstep's role is not allowed dynamodb:{operation} on the follows table; grant it "
            "in the stage's policy file and redeploy",
            details={"permission": f"dynamodb:{operation}"},
        )
    if code == "ResourceNotFoundException":
        return ApiConfigurationError(
            "the follows table does not exist: deploy the stage's stack (make deploy) or set "
            "LOGSTEP_FOLLOWS_TABLE"
        )
    return UpstreamError(f"DynamoDB answered {code or status} to {operation}")


@contextmanager
def _store_errors(operation: str) -> Iterator[None]:
    """Translate whatever DynamoDB raises inside the block."""
    try:
        yield
    except ClientError as e:
        raise store_error(e, operation) from e
    except BotoCoreError as e:
        raise StoreUnavailableError(
            f"could not reach the follow rule store: {type(e).__name__}",
            retry_after_seconds=STORE_RETRY_AFTER_SECONDS,
        ) from e


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _strings(item: dict[str, Any], key: str) -> tuple[str, ...]:
    values = item.get(key, {}).get("L", [])
    return tuple(str(v.get("S", "")) for v in values)


def _rule_from_item(item: dict[str, Any]) -> FollowRule:
    def text(key: str) -> str:
        return str(item.get(key, {}).get("S", ""))

    def number(key: str) -> int:
        return int(item.get(key, {}).get("N", "0"))

    return FollowRule(
        prefix=text("sk"),
        filter_pattern=text("filterPattern"),
        exclude_names=_strings(item, "excludeLogGroupNames"),
        exclude_prefixes=_strings(item, "excludePrefixes"),
        version=number("version"),
        created_at=text("createdAt"),
        updated_at=text("updatedAt"),
        applied_pattern=text("appliedPattern"),
        sweep_token=text("sweepToken") or None,
        reapply_after=text("reapplyAfter") or None,
        last_swept_at=text("lastSweptAt"),
        last_completed_at=text("lastCompletedAt"),
        groups_subscribed=number("groupsSubscribed"),
        groups_failed=number("groupsFailed"),
        api_id=text("apiId"),
    )


def _record_from_item(item: dict[str, Any]) -> GroupRecord:
    return GroupRecord(
        log_group_name=str(item["sk"]["S"]),
        state=str(item.get("state", {}).get("S", "")),
        filter_pattern=str(item.get("filterPattern", {}).get("S", "")),
        reason=str(item.get("reason", {}).get("S", "")),
        error=str(item.get("error", {}).get("S", "")),
        recorded_at=str(item.get("at", {}).get("S", "")),
    )


class FollowStore:
    """Rules and the groups each rule acted on, in one DynamoDB table (conditional writes)."""

    def __init__(self, dynamodb: Any, table: str, now: Callable[[], str] = _utc_now) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._now = now

    # --- rules -------------------------------------------------------------------------------

    def get_rule(self, prefix: str) -> FollowRule | None:
        """The rule for ``prefix``, read consistently, or None."""
        with _store_errors("GetItem"):
            response = self._dynamodb.get_item(
                TableName=self._table,
                Key={"pk": _s(RULES_PARTITION), "sk": _s(prefix)},
                ConsistentRead=True,
            )
        item = response.get("Item")
        return _rule_from_item(item) if item else None

    def list_rules(self) -> list[FollowRule]:
        """Every rule (rules are few: one partition, read to the end)."""
        rules: list[FollowRule] = []
        start: dict[str, Any] | None = None
        while True:
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": _s(RULES_PARTITION)},
                "ConsistentRead": True,
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            with _store_errors("Query"):
                response = self._dynamodb.query(**kwargs)
            rules += [_rule_from_item(item) for item in response.get("Items", [])]
            start = response.get("LastEvaluatedKey")
            if not start:
                return rules

    def save_rule(self, request: FollowPrefix, api_id: str = "") -> tuple[FollowRule, str]:
        """Create or change the rule; returns it and ``created``, ``updated`` or ``unchanged``.

        Create only if absent, change only at the version read: a concurrent writer makes the
        condition fail, and the write is retried once on what that writer left. A second
        conflict answers 409 CONCURRENT_UPDATE (the caller retries) instead of losing either.
        """
        for _ in range(2):
            current = self.get_rule(request.prefix)
            now = self._now()
            try:
                if current is None:
                    return self._create(request, api_id, now), "created"
                if (
                    current.filter_pattern,
                    current.exclude_names,
                    current.exclude_prefixes,
                ) == (request.filter_pattern, request.exclude_names, request.exclude_prefixes) and (
                    not api_id or api_id == current.api_id
                ):
                    return current, "unchanged"
                return self._update(current, request, api_id, now), "updated"
            except ClientError as e:
                if _code(e) != "ConditionalCheckFailedException":
                    raise store_error(e, "PutItem") from e
            except BotoCoreError as e:
                raise StoreUnavailableError(
                    f"could not reach the follow rule store: {type(e).__name__}",
                    retry_after_seconds=STORE_RETRY_AFTER_SECONDS,
                ) from e
            log_event("follows.rule_conflict", prefix=request.prefix)
        raise ConcurrentUpdateError(
            f"another request changed the follow rule {request.prefix} at the same time; retry",
            details={"logGroupNamePrefix": request.prefix},
            retry_after_seconds=1,
        )

    def _create(self, request: FollowPrefix, api_id: str, now: str) -> FollowRule:
        rule = FollowRule(
            prefix=request.prefix,
            filter_pattern=request.filter_pattern,
            exclude_names=request.exclude_names,
            exclude_prefixes=request.exclude_prefixes,
            version=1,
            created_at=now,
            updated_at=now,
            applied_pattern=request.filter_pattern,
            api_id=api_id,
        )
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                "pk": _s(RULES_PARTITION),
                "sk": _s(rule.prefix),
                "filterPattern": _s(rule.filter_pattern),
                "excludeLogGroupNames": {"L": [_s(n) for n in rule.exclude_names]},
                "excludePrefixes": {"L": [_s(p) for p in rule.exclude_prefixes]},
                "version": _n(1),
                "createdAt": _s(now),
                "updatedAt": _s(now),
                "appliedPattern": _s(rule.applied_pattern),
                "groupsSubscribed": _n(0),
                "groupsFailed": _n(0),
                "apiId": _s(api_id),
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
        return rule

    def _update(self, current: FollowRule, request: FollowPrefix, api_id: str, now: str) -> FollowRule:
        api = api_id or current.api_id
        # A new pattern restarts any unfinished re-apply from the first group: the groups
        # before its reapplyAfter have the previous pattern, not this one.
        pattern_changed = request.filter_pattern != current.filter_pattern
        self._dynamodb.update_item(
            TableName=self._table,
            Key={"pk": _s(RULES_PARTITION), "sk": _s(current.prefix)},
            UpdateExpression=(
                "SET filterPattern = :p, excludeLogGroupNames = :xn, excludePrefixes = :xp, "
                "version = :next, updatedAt = :now, apiId = :api"
                + (" REMOVE reapplyAfter" if pattern_changed else "")
            ),
            ConditionExpression="version = :read",
            ExpressionAttributeValues={
                ":p": _s(request.filter_pattern),
                ":xn": {"L": [_s(n) for n in request.exclude_names]},
                ":xp": {"L": [_s(p) for p in request.exclude_prefixes]},
                ":next": _n(current.version + 1),
                ":read": _n(current.version),
                ":now": _s(now),
                ":api": _s(api),
            },
        )
        return replace(
            current,
            filter_pattern=request.filter_pattern,
            exclude_names=request.exclude_names,
            exclude_prefixes=request.exclude_prefixes,
            version=current.version + 1,
            updated_at=now,
            api_id=api,
            reapply_after=None if pattern_changed else current.reapply_after,
        )

    def delete_rule(self, prefix: str) -> bool:
        """Remove the rule; True when there was one. Its group records stay until unsubscribed."""
        with _store_errors("DeleteItem"):
            response = self._dynamodb.delete_item(
                TableName=self._table,
                Key={"pk": _s(RULES_PARTITION), "sk": _s(prefix)},
                ReturnValues="ALL_OLD",
            )
        return bool(response.get("Attributes"))

    def record_sweep(self, prefix: str, sweep_token: str | None) -> bool:
        """Where the rule's sweep stopped (None: it finished the prefix); False if the rule is gone."""
        now = self._now()
        values: dict[str, Any] = {":now": _s(now)}
        if sweep_token is None:
            expression = "SET lastSweptAt = :now, lastCompletedAt = :now REMOVE sweepToken"
        else:
            expression = "SET lastSweptAt = :now, sweepToken = :t"
            values[":t"] = _s(sweep_token)
        return self._update_if_rule_exists(prefix, expression, values)

    def record_reapply(
        self, prefix: str, pattern: str, after: str | None = None, finished: bool = False
    ) -> bool:
        """Progress of re-applying ``pattern``: continue after the group ``after`` (None: from the
        first group), or ``finished`` (every group has it: the pattern is applied).

        Written only while the rule's pattern is still ``pattern``: progress of a pattern the
        user changed meanwhile must not make the next sweep skip groups. False when it was not.
        """
        if finished:
            expression = "SET appliedPattern = :p REMOVE reapplyAfter"
        elif after is not None:
            expression = "SET reapplyAfter = :a"
        else:
            expression = "REMOVE reapplyAfter"
        values: dict[str, Any] = {":p": _s(pattern)}
        if after is not None and not finished:
            values[":a"] = _s(after)
        with _store_errors("UpdateItem"):
            try:
                self._dynamodb.update_item(
                    TableName=self._table,
                    Key={"pk": _s(RULES_PARTITION), "sk": _s(prefix)},
                    UpdateExpression=expression,
                    ConditionExpression="filterPattern = :p",
                    ExpressionAttributeValues=values,
                )
            except ClientError as e:
                if _code(e) == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    def _update_if_rule_exists(self, prefix: str, expression: str, values: dict[str, Any]) -> bool:
        with _store_errors("UpdateItem"):
            try:
                self._dynamodb.update_item(
                    TableName=self._table,
                    Key={"pk": _s(RULES_PARTITION), "sk": _s(prefix)},
                    UpdateExpression=expression,
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues=values,
                )
            except ClientError as e:
                if _code(e) == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    # --- the groups of a rule ----------------------------------------------------------------

    def get_group(self, prefix: str, log_group_name: str) -> GroupRecord | None:
        """What the rule recorded about the group, or None."""
        with _store_errors("GetItem"):
            response = self._dynamodb.get_item(
                TableName=self._table,
                Key={"pk": _s(_group_partition(prefix)), "sk": _s(log_group_name)},
                ConsistentRead=True,
            )
        item = response.get("Item")
        return _record_from_item(item) if item else None

    def claim_group(self, prefix: str, log_group_name: str, filter_pattern: str) -> bool:
        """Record (``pending``) that the rule subscribes the group, only while the rule exists.

        True when the group is recorded as the rule's (now, or already by a concurrent
        sweep); False when the rule was deleted.
        """
        return self._transact(
            prefix,
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        "pk": _s(_group_partition(prefix)),
                        "sk": _s(log_group_name),
                        "state": _s("pending"),
                        "filterPattern": _s(filter_pattern),
                        "at": _s(self._now()),
                    },
                    "ConditionExpression": "attribute_not_exists(sk)",
                }
            },
            subscribed=1,
            failed=0,
        )

    def confirm_group(self, prefix: str, log_group_name: str) -> None:
        """The claimed group's filter is in place: the rule subscribed it."""
        with _store_errors("UpdateItem"):
            try:
                self._dynamodb.update_item(
                    TableName=self._table,
                    Key={"pk": _s(_group_partition(prefix)), "sk": _s(log_group_name)},
                    UpdateExpression="SET #state = :s",
                    ConditionExpression="attribute_exists(sk)",
                    ExpressionAttributeNames={"#state": "state"},
                    ExpressionAttributeValues={":s": _s("subscribed")},
                )
            except ClientError as e:
                if _code(e) != "ConditionalCheckFailedException":
                    raise

    def note_group(self, prefix: str, record: GroupRecord) -> bool:
        """Record a group the rule did not subscribe (``foreign`` or ``failed``), while the rule exists."""
        item = {
            "pk": _s(_group_partition(prefix)),
            "sk": _s(record.log_group_name),
            "state": _s(record.state),
            "at": _s(self._now()),
        }
        if record.reason:
            item["reason"] = _s(record.reason[:1000])
        if record.error:
            item["error"] = _s(record.error)
        return self._transact(
            prefix,
            {
                "Put": {
                    "TableName": self._table,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(sk)",
                }
            },
            subscribed=0,
            failed=1 if record.state == "failed" else 0,
        )

    def release_group(self, prefix: str, record: GroupRecord) -> None:
        """Forget a group of a live rule (a claim whose filter could not be put, a failure
        to retry, a deleted group), keeping the rule's counts right."""
        self._transact(
            prefix,
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": {"pk": _s(_group_partition(prefix)), "sk": _s(record.log_group_name)},
                    "ConditionExpression": "attribute_exists(sk)",
                }
            },
            subscribed=-1 if record.state in ("pending", "subscribed") else 0,
            failed=-1 if record.state == "failed" else 0,
        )

    def forget_group(self, prefix: str, log_group_name: str) -> None:
        """Delete a group's record (unsubscribing a deleted rule: no counts to keep)."""
        with _store_errors("DeleteItem"):
            self._dynamodb.delete_item(
                TableName=self._table,
                Key={"pk": _s(_group_partition(prefix)), "sk": _s(log_group_name)},
            )

    def touch_group(self, prefix: str, log_group_name: str) -> None:
        """The record was checked against the group as it is now: date it now."""
        with _store_errors("UpdateItem"):
            try:
                self._dynamodb.update_item(
                    TableName=self._table,
                    Key={"pk": _s(_group_partition(prefix)), "sk": _s(log_group_name)},
                    UpdateExpression="SET #at = :now",
                    ConditionExpression="attribute_exists(sk)",
                    ExpressionAttributeNames={"#at": "at"},
                    ExpressionAttributeValues={":now": _s(self._now())},
                )
            except ClientError as e:
                if _code(e) != "ConditionalCheckFailedException":
                    raise

    def set_group_pattern(self, prefix: str, log_group_name: str, filter_pattern: str) -> None:
        """The pattern the group's filter now has."""
        with _store_errors("UpdateItem"):
            try:
                self._dynamodb.update_item(
                    TableName=self._table,
                    Key={"pk": _s(_group_partition(prefix)), "sk": _s(log_group_name)},
                    UpdateExpression="SET filterPattern = :p",
                    ConditionExpression="attribute_exists(sk)",
                    ExpressionAttributeValues={":p": _s(filter_pattern)},
                )
            except ClientError as e:
                if _code(e) != "ConditionalCheckFailedException":
                    raise

    def groups_page(self, prefix: str, after: str | None, limit: int) -> tuple[list[GroupRecord], bool]:
        """Up to ``limit`` of the rule's group records after ``after``, by name; and whether more follow."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(_group_partition(prefix))},
            "ConsistentRead": True,
            "Limit": limit,
        }
        if after is not None:
            kwargs["ExclusiveStartKey"] = {"pk": _s(_group_partition(prefix)), "sk": _s(after)}
        with _store_errors("Query"):
            response = self._dynamodb.query(**kwargs)
        records = [_record_from_item(item) for item in response.get("Items", [])]
        return records, bool(response.get("LastEvaluatedKey"))

    def _transact(self, prefix: str, write: dict[str, Any], subscribed: int, failed: int) -> bool:
        """One group write together with the rule's counts, conditional on the rule existing.

        False when the rule is gone. When only the group's own condition failed (a concurrent
        writer recorded it first), the write is a no-op and True is returned.
        """
        with _store_errors("TransactWriteItems"):
            try:
                self._dynamodb.transact_write_items(
                    TransactItems=[
                        write,
                        {
                            "Update": {
                                "TableName": self._table,
                                "Key": {"pk": _s(RULES_PARTITION), "sk": _s(prefix)},
                                "UpdateExpression": "ADD groupsSubscribed :s, groupsFailed :f",
                                "ConditionExpression": "attribute_exists(pk)",
                                "ExpressionAttributeValues": {":s": _n(subscribed), ":f": _n(failed)},
                            }
                        },
                    ]
                )
            except ClientError as e:
                if _code(e) != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code", "") for r in e.response.get("CancellationReasons", [])]
                if len(reasons) == 2:
                    return bool(reasons[1] != "ConditionalCheckFailed")
                return self.get_rule(prefix) is not None
        return True


# --- what a page, a sweep and an unsubscribe did ---------------------------------------------


@dataclass(frozen=True)
class FollowReport:
    """POST /follows: the rule, what happened to it, and one page of its existing groups."""

    rule: FollowRule
    change: str  # created, updated, unchanged, dryRun
    groups: list[GroupOutcome]
    next_token: str | None
    retry_after_seconds: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The API's representation."""
        counts = dict.fromkeys(OUTCOMES, 0)
        for group in self.groups:
            counts[group.outcome] += 1
        out: dict[str, Any] = {
            "rule": self.rule.to_json(),
            "change": self.change,
            "dryRun": self.change == "dryRun",
            "counts": counts,
            "groups": [g.to_json() for g in self.groups],
        }
        if self.next_token:
            out["nextToken"] = self.next_token
        if self.retry_after_seconds is not None:
            out["retryAfterSeconds"] = self.retry_after_seconds
        return out


@dataclass(frozen=True)
class UnfollowReport:
    """DELETE /follows: whether the rule was deleted, and one page of its groups unsubscribed."""

    prefix: str
    rule_deleted: bool
    unsubscribe: bool
    groups: list[GroupOutcome]
    next_token: str | None
    retry_after_seconds: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The API's representation."""
        out: dict[str, Any] = {
            "logGroupNamePrefix": self.prefix,
            "ruleDeleted": self.rule_deleted,
            "unsubscribe": self.unsubscribe,
        }
        if self.unsubscribe:
            counts = dict.fromkeys(UNFOLLOW_OUTCOMES, 0)
            for group in self.groups:
                counts[group.outcome] += 1
            out["counts"] = counts
            out["groups"] = [g.to_json() for g in self.groups]
        if self.next_token:
            out["nextToken"] = self.next_token
        if self.retry_after_seconds is not None:
            out["retryAfterSeconds"] = self.retry_after_seconds
        return out


@dataclass
class SweepReport:
    """One scheduled sweep: what it did, and which rules it left for the next run."""

    rules: int = 0
    rules_finished: int = 0
    rules_resuming: list[str] = field(default_factory=list)
    pages: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    reapplied: int = 0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The handler's return value (and the sweep's log line)."""
        return {
            "rules": self.rules,
            "rulesFinished": self.rules_finished,
            "rulesResuming": self.rules_resuming,
            "pages": self.pages,
            "counts": dict(self.counts),
            "reapplied": self.reapplied,
            "errors": self.errors,
        }


@dataclass
class _Page:
    outcomes: list[GroupOutcome] = field(default_factory=list)
    resume: Cursor | None = None
    retry_after: int | None = None


_STOP_PAGE = (LogsThrottledError, LogsUnavailableError, StoreUnavailableError)


class Follower:
    """Follow rules: record them, onboard their groups, sweep, and unsubscribe what they made."""

    def __init__(
        self,
        service: SubscriptionService,
        store: FollowStore,
        guard: LoopGuard,
        metrics: MetricsRecorder | None = None,
        clock: Callable[[], float] = time.monotonic,
        budget_seconds: float = PAGE_TIME_BUDGET_SECONDS,
    ) -> None:
        self._service = service
        self._store = store
        self._guard = guard
        self._metrics = metrics
        self._clock = clock
        self._budget_seconds = budget_seconds

    # --- POST /follows ---------------------------------------------------------------------

    def follow(self, request: FollowPrefix, api_id: str = "") -> FollowReport:
        """Record (or change) the rule, then onboard one page of the groups under it."""
        deadline = self._clock() + self._budget_seconds
        if request.dry_run:
            stored = self._store.get_rule(request.prefix)
            rule = replace(
                stored or FollowRule(prefix=request.prefix),
                filter_pattern=request.filter_pattern,
                exclude_names=request.exclude_names,
                exclude_prefixes=request.exclude_prefixes,
                api_id=api_id or (stored.api_id if stored else ""),
            )
            change = "dryRun"
        else:
            rule, change = self._store.save_rule(request, api_id)
        rules = [r for r in self._store.list_rules() if r.prefix != rule.prefix] + [rule]
        page = self._page(
            rule, rules, request.cursor, request.limit, deadline, dry_run=request.dry_run, retry_failed=True
        )
        token = encode_next_token(page.resume, rule.prefix) if page.resume else None
        if not request.dry_run:
            rule = self._store.get_rule(rule.prefix) or rule  # the counts after this page
        log_event("follows.posted", prefix=rule.prefix, change=change, groups=len(page.outcomes))
        return FollowReport(rule, change, page.outcomes, token, page.retry_after)

    def list_rules(self) -> list[FollowRule]:
        """Every rule, by prefix."""
        return sorted(self._store.list_rules(), key=lambda r: r.prefix)

    # --- DELETE /follows -------------------------------------------------------------------

    def unfollow(self, request: Unfollow) -> UnfollowReport:
        """Delete the rule; with ``unsubscribe``, remove one page of the filters it made."""
        deadline = self._clock() + self._budget_seconds
        deleted = self._store.delete_rule(request.prefix)
        if not request.unsubscribe:
            if not deleted:
                raise FollowNotFoundError(
                    f"no follow rule has the prefix {request.prefix}",
                    details={"logGroupNamePrefix": request.prefix},
                )
            log_event("follows.deleted", prefix=request.prefix)
            return UnfollowReport(request.prefix, True, False, [], None)
        outcomes: list[GroupOutcome] = []
        after = request.after or None
        retry_after: int | None = None
        records, more = self._store.groups_page(request.prefix, after, DEFAULT_ONBOARD_PAGE_GROUPS)
        if not records and not deleted and after is None:
            raise FollowNotFoundError(
                f"no follow rule has the prefix {request.prefix}, and no group is left of one",
                details={"logGroupNamePrefix": request.prefix},
            )
        for record in records:
            if self._clock() >= deadline:
                more = True
                break
            try:
                outcome = self._unsubscribe(request.prefix, record)
            except _STOP_PAGE as e:
                if not outcomes:
                    raise
                retry_after, more = e.retry_after_seconds, True
                break
            outcomes.append(outcome)
            after = record.log_group_name
        # Handled records are deleted; a failed one stays, and the token continues after it
        # (a later DELETE without a token retries it). "" continues from the first record.
        token = encode_unfollow_token(after or "", request.prefix) if more else None
        log_event("follows.unsubscribed", prefix=request.prefix, groups=len(outcomes), more=more)
        return UnfollowReport(request.prefix, deleted, True, outcomes, token, retry_after)

    def _unsubscribe(self, prefix: str, record: GroupRecord) -> GroupOutcome:
        name = record.log_group_name
        if record.state not in ("pending", "subscribed"):
            self._store.forget_group(prefix, name)
            reason = (
                "logstep's filter was there before the rule (onboarded by hand): kept"
                if record.state == "foreign"
                else "the rule never subscribed it"
            )
            return GroupOutcome(name, "kept", reason=reason)
        try:
            removed = self._service.remove(name)
        except _STOP_PAGE:
            raise
        except ApiError as e:
            return GroupOutcome(name, "failed", reason=e.message, error=e.code)
        self._store.forget_group(prefix, name)
        return GroupOutcome(name, "unsubscribed" if removed else "alreadyGone")

    # --- the CreateLogGroup event ------------------------------------------------------------

    def on_log_group_created(self, log_group_name: str) -> GroupOutcome | None:
        """Subscribe a new group if a rule covers it; None when no rule does."""
        rules = self._store.list_rules()
        rule = owner(rules, log_group_name)
        if rule is None:
            log_event("follows.event_unmatched", log_group=log_group_name)
            return None
        # The group is new: what a record says may be about a deleted group of the same name.
        outcome = self._group(rule, rules, log_group_name, dry_run=False, retry_failed=False, new=True)
        log_event("follows.event", log_group=log_group_name, rule=rule.prefix, outcome=outcome.outcome)
        return outcome

    # --- the scheduled sweep -----------------------------------------------------------------

    def sweep(self, budget_seconds: float, max_pages: int) -> SweepReport:
        """One bounded run over every rule, least recently swept first.

        Each rule's walk resumes where the previous run stopped (its stored page token);
        a run stops starting work at ``budget_seconds`` and walks at most ``max_pages``
        DescribeLogGroups pages per rule, leaving the rest for the next run.
        """
        deadline = self._clock() + budget_seconds
        report = SweepReport()
        rules = sorted(self._store.list_rules(), key=lambda r: (r.last_swept_at, r.prefix))
        report.rules = len(rules)
        for rule in rules:
            if self._clock() >= deadline:
                report.rules_resuming.append(rule.prefix)
                continue
            try:
                finished = self._sweep_rule(rule, rules, deadline, max_pages, report)
            except ApiError as e:
                report.errors.append(f"{rule.prefix}: {e.code}")
                log_event("follows.sweep_error", prefix=rule.prefix, error=e.code, detail=e.message)
                if isinstance(e, _STOP_PAGE):
                    break
                continue
            if finished:
                report.rules_finished += 1
            else:
                report.rules_resuming.append(rule.prefix)
        log_event("follows.swept", **report.to_json())
        return report

    def _sweep_rule(
        self, rule: FollowRule, rules: list[FollowRule], deadline: float, max_pages: int, report: SweepReport
    ) -> bool:
        if rule.pattern_pending:
            report.reapplied += self._reapply(rule, deadline, report)
        cursor: Cursor | None = None
        if rule.sweep_token:
            try:
                cursor = decode_next_token(rule.sweep_token, rule.prefix)
            except InvalidNextTokenError:
                cursor = None
        pages = 0
        while pages < max_pages and self._clock() < deadline:
            try:
                page = self._page(rule, rules, cursor, MAX_PAGE_GROUPS, deadline, False, False)
            except InvalidNextTokenError:
                cursor = None  # CloudWatch's page token expired between runs: start over
                continue
            pages += 1
            for outcome in page.outcomes:
                report.counts[outcome.outcome] += 1
            cursor = page.resume
            if cursor is None or page.retry_after is not None:
                break
        report.pages += pages
        token = encode_next_token(cursor, rule.prefix) if cursor else None
        self._store.record_sweep(rule.prefix, token)
        return token is None

    def _reapply(self, rule: FollowRule, deadline: float, report: SweepReport) -> int:
        """Bring the groups the rule subscribed to its current pattern; resumable.

        The pattern counts as applied only when a pass reached every group without a failure;
        after a failed group the next sweep passes again from the first group (the groups
        already done have the pattern in their records and cost no call).
        """
        pattern = rule.filter_pattern
        after = rule.reapply_after
        changed = 0
        failed = False

        def stop() -> None:
            # A failed group lies before ``after``: then the next pass starts from the top.
            if failed or after is not None:
                self._store.record_reapply(rule.prefix, pattern, None if failed else after)

        while True:
            records, more = self._store.groups_page(rule.prefix, after, MAX_PAGE_GROUPS)
            for record in records:
                if self._clock() >= deadline:
                    stop()
                    return changed
                if record.state == "subscribed" and record.filter_pattern != pattern:
                    try:
                        self._service.reapply(record.log_group_name, pattern)
                    except LogGroupNotFoundError:
                        self._store.release_group(rule.prefix, record)
                    except _STOP_PAGE:
                        stop()
                        raise
                    except ApiError as e:
                        failed = True
                        report.errors.append(f"{rule.prefix}: {e.code} ({record.log_group_name})")
                        log_event("follows.reapply_failed", log_group=record.log_group_name, error=e.code)
                    else:
                        self._store.set_group_pattern(rule.prefix, record.log_group_name, pattern)
                        changed += 1
                after = record.log_group_name
            if not more:
                self._store.record_reapply(rule.prefix, pattern, finished=not failed)
                return changed

    # --- one page, one group -----------------------------------------------------------------

    def _page(
        self,
        rule: FollowRule,
        rules: list[FollowRule],
        cursor: Cursor | None,
        limit: int,
        deadline: float,
        dry_run: bool,
        retry_failed: bool,
    ) -> _Page:
        page = _Page()
        groups, page.resume = self._service.groups(rule.prefix, cursor, limit)
        for name, at, created_ms in groups:
            if self._clock() >= deadline:
                page.resume = at
                break
            try:
                page.outcomes.append(
                    self._group(rule, rules, name, dry_run, retry_failed, created_ms=created_ms)
                )
            except _STOP_PAGE as e:
                if not page.outcomes:
                    raise
                page.resume, page.retry_after = at, e.retry_after_seconds
                break
        return page

    def _group(
        self,
        rule: FollowRule,
        rules: list[FollowRule],
        name: str,
        dry_run: bool,
        retry_failed: bool,
        created_ms: int | None = None,
        new: bool = False,
    ) -> GroupOutcome:
        """What the rule does with one group: subscribe it, leave it, or report why not.

        ``created_ms`` (the group's creationTime) or ``new`` (a CreateLogGroup event) tell a
        group re-created since its record was written: deleting a group deletes its filters,
        so the record of the old group is dropped and the new one is treated as unseen.
        """
        if reason := self._guard_for(rule).reason(name):
            return GroupOutcome(name, "skipped", reason=reason)
        if reason := rule.exclusion(name):
            return GroupOutcome(name, "skipped", reason=reason)
        ruling = owner(rules, name)
        if ruling is not None and ruling.prefix != rule.prefix:
            return GroupOutcome(name, "skipped", reason=f"followed by the more specific rule {ruling.prefix}")
        record = self._store.get_group(rule.prefix, name)
        recreated = record is not None and record.state != "pending" and (new or record.predates(created_ms))
        if record is not None and recreated and self._stale(rule, record, dry_run):
            if not dry_run:
                self._store.release_group(rule.prefix, record)
            record = None
        pending = record is not None and record.state == "pending"
        if record is not None and not pending:
            if record.state == "subscribed":
                return GroupOutcome(name, "alreadySubscribed")
            if record.state == "foreign":
                return GroupOutcome(name, "alreadySubscribed", reason=_FOREIGN)
            if not retry_failed:
                return GroupOutcome(name, "failed", reason=record.reason, error=record.error)
            if not dry_run:
                self._store.release_group(rule.prefix, record)
        try:
            ours = self._service.existing(name)
        except LogGroupNotFoundError:
            if pending and not dry_run:
                self._store.release_group(rule.prefix, GroupRecord(name, "pending"))
            return GroupOutcome(name, "skipped", reason="deleted while onboarding")
        except (FilterLimitReachedError, AlreadySubscribedByOtherFilterError) as e:
            if pending and not dry_run:
                self._store.release_group(rule.prefix, GroupRecord(name, "pending"))
            return self._failed(rule, name, e, dry_run)
        except ConcurrentUpdateError as e:
            return GroupOutcome(name, "failed", reason=e.message, error=e.code)
        if pending and not dry_run:
            # A claim an earlier run could not finish: put the filter if it is missing.
            if ours is None:
                self._service.create(name, rule.filter_pattern)
            self._store.confirm_group(rule.prefix, name)
            self._count("FollowGroupsSubscribed")
            return GroupOutcome(name, "subscribed")
        if ours is not None:
            if not dry_run:
                self._store.note_group(rule.prefix, GroupRecord(name, "foreign"))
            return GroupOutcome(name, "alreadySubscribed", reason=_FOREIGN)
        if dry_run:
            return GroupOutcome(name, "subscribed")
        if not self._store.claim_group(rule.prefix, name, rule.filter_pattern):
            return GroupOutcome(name, "skipped", reason="the rule was deleted meanwhile")
        try:
            self._service.create(name, rule.filter_pattern)
        except (FilterLimitReachedError, AlreadySubscribedByOtherFilterError) as e:
            # Lost a race with another writer between the check and the put.
            self._store.release_group(rule.prefix, GroupRecord(name, "pending"))
            return self._failed(rule, name, e, dry_run)
        except LogGroupNotFoundError:
            self._store.release_group(rule.prefix, GroupRecord(name, "pending"))
            return GroupOutcome(name, "skipped", reason="deleted while onboarding")
        except ApiError:
            # No filter was put: forget the claim, so the next sweep tries again. (Should this
            # release fail too, the record stays "pending", and the next sweep finishes it.)
            self._store.release_group(rule.prefix, GroupRecord(name, "pending"))
            raise
        self._store.confirm_group(rule.prefix, name)
        self._count("FollowGroupsSubscribed")
        return GroupOutcome(name, "subscribed")

    def _stale(self, rule: FollowRule, record: GroupRecord, dry_run: bool) -> bool:
        """Whether the record of a re-created group no longer holds: a failure (about the old
        group), or a filter that is not there. A record that still holds is dated now, so
        later sweeps do not check the group again."""
        if record.state == "failed":
            return True
        try:
            stale = self._service.existing(record.log_group_name) is None
        except (LogGroupNotFoundError, FilterLimitReachedError, AlreadySubscribedByOtherFilterError):
            stale = True  # gone again, or full of filters that are not logstep's
        except ConcurrentUpdateError:
            return False  # the record still predates the group: the next sweep checks again
        if not stale and not dry_run:
            self._store.touch_group(rule.prefix, record.log_group_name)
        log_event("follows.group_recreated", log_group=record.log_group_name, rule=rule.prefix, stale=stale)
        return stale

    def _failed(self, rule: FollowRule, name: str, error: ApiError, dry_run: bool) -> GroupOutcome:
        """A group the rule cannot subscribe: recorded (no retry on every sweep) and counted."""
        if not dry_run:
            record = GroupRecord(name, "failed", reason=error.message, error=error.code)
            self._store.note_group(rule.prefix, record)
            self._count("FollowGroupsFailed")
        log_event("follows.group_failed", log_group=name, rule=rule.prefix, error=error.code)
        return GroupOutcome(name, "failed", reason=error.message, error=error.code)

    def _guard_for(self, rule: FollowRule) -> LoopGuard:
        if not rule.api_id:
            return self._guard
        api_logs = f"API-Gateway-Execution-Logs_{rule.api_id}/*"
        if api_logs in self._guard.patterns:
            return self._guard
        return LoopGuard(patterns=(*self._guard.patterns, api_logs))

    def _count(self, metric: str) -> None:
        if self._metrics is not None:
            self._metrics.add(metric, 1)


_FOREIGN = "logstep's filter was already there (onboarded by hand): the rule leaves it alone"
