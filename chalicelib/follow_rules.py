"""Follow rules: which rule a log group belongs to, and what the CreateLogGroup event names (pure).

A follow rule is a prefix (plus an optional filter pattern and exclusions) whose groups
logstep subscribes by itself: the ones that exist when the rule is posted, the ones a
CloudTrail ``CreateLogGroup`` event announces, and the ones a scheduled sweep finds.
Rules may overlap (``/aws/`` and ``/aws/lambda/``): a group belongs to the most specific
rule (longest prefix) that does not exclude it, so exactly one rule ever acts on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# EventBridge's pattern for CloudTrail's record of CreateLogGroup: EventBridge sees AWS API
# calls only where a CloudTrail trail logs management events
# (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html).
CREATE_LOG_GROUP_PATTERN: dict[str, Any] = {
    "source": ["aws.logs"],
    "detail-type": ["AWS API Call via CloudTrail"],
    "detail": {"eventSource": ["logs.amazonaws.com"], "eventName": ["CreateLogGroup"]},
}

# What a group's record in the store says about it, for the rule that owns it:
# pending: claimed, its filter being put (a crash here is finished by the next sweep);
# subscribed: the rule created logstep's filter (DELETE ...&unsubscribe=true removes it);
# foreign: logstep's filter was already there (onboarded by hand): the rule leaves it alone;
# failed: the group had no room (two filters) or already sent to logstep through another
#   filter; the rule does not retry it on every sweep (POST the rule again to retry).
# A record written before its group was last created is about a deleted group of the same
# name (GroupRecord.predates): subscribed, foreign and failed no longer hold for the new one.
GROUP_STATES = ("pending", "subscribed", "foreign", "failed")


@dataclass(frozen=True)
class FollowRule:
    """One follow rule as stored, with its sweep progress and counts."""

    prefix: str
    filter_pattern: str = ""
    exclude_names: tuple[str, ...] = ()
    exclude_prefixes: tuple[str, ...] = ()
    version: int = 1
    created_at: str = ""
    updated_at: str = ""
    # The pattern the rule's groups have; differs from filter_pattern after a change, until
    # a sweep has re-applied it to every group the rule subscribed.
    applied_pattern: str = ""
    # Where the next sweep continues in DescribeLogGroups (a page token of this API), or
    # None: the next sweep starts the prefix from the top.
    sweep_token: str | None = None
    # Where re-applying a changed pattern continues (a group name), or None.
    reapply_after: str | None = None
    last_swept_at: str = ""
    last_completed_at: str = ""
    groups_subscribed: int = 0
    groups_failed: int = 0
    # The REST API that last wrote the rule: its execution logs join the loop guard of
    # sweeps and events, which have no request to read the API id from.
    api_id: str = ""

    def exclusion(self, log_group_name: str) -> str | None:
        """Why this rule leaves the group alone (its exclusions), or None."""
        if log_group_name in self.exclude_names:
            return f"{log_group_name} is in the rule's excludeLogGroupNames"
        for prefix in self.exclude_prefixes:
            if log_group_name.startswith(prefix):
                return f"{log_group_name} matches the rule's excludePrefixes entry {prefix}"
        return None

    def covers(self, log_group_name: str) -> bool:
        """Whether the group is under the prefix and not excluded."""
        return log_group_name.startswith(self.prefix) and self.exclusion(log_group_name) is None

    @property
    def pattern_pending(self) -> bool:
        """Whether a changed filterPattern still has to reach the rule's groups."""
        return self.applied_pattern != self.filter_pattern

    def to_json(self) -> dict[str, Any]:
        """The API's representation (camelCase)."""
        out: dict[str, Any] = {
            "logGroupNamePrefix": self.prefix,
            "filterPattern": self.filter_pattern,
            "excludeLogGroupNames": list(self.exclude_names),
            "excludePrefixes": list(self.exclude_prefixes),
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "lastSweptAt": self.last_swept_at or None,
            "lastCompletedSweepAt": self.last_completed_at or None,
            "sweepInProgress": self.sweep_token is not None,
            "patternPending": self.pattern_pending,
            "groupsSubscribed": self.groups_subscribed,
            "groupsFailed": self.groups_failed,
        }
        return out


@dataclass(frozen=True)
class GroupRecord:
    """What the store remembers about one group of one rule."""

    log_group_name: str
    state: str
    filter_pattern: str = ""
    reason: str = ""
    error: str = ""
    # When the record was written (ISO-8601 UTC, ms), or "" when not stored.
    recorded_at: str = ""

    def predates(self, creation_time_ms: int | None) -> bool:
        """Whether a group of this name was created at or after the record was written: the
        group was deleted and re-created since, so what the record says is about the old one.

        False when either time is unknown. The two clocks (this function's and CloudWatch's)
        differ by little next to the time between creating a group and recording it; a
        false True only costs a check of the group's filters.
        """
        if creation_time_ms is None or not self.recorded_at:
            return False
        try:
            written = datetime.fromisoformat(self.recorded_at.replace("Z", "+00:00"))
        except ValueError:
            return False
        return creation_time_ms >= int(written.timestamp() * 1000)


def owner(rules: Iterable[FollowRule], log_group_name: str) -> FollowRule | None:
    """The rule that acts on the group: the longest prefix that covers it, or None."""
    covering = [r for r in rules if r.covers(log_group_name)]
    return max(covering, key=lambda r: len(r.prefix)) if covering else None


def created_log_group(event: Mapping[str, Any]) -> str | None:
    """The log group a CloudTrail ``CreateLogGroup`` event announces, or None.

    None for another event, or for a call CloudTrail recorded as failed (``errorCode``:
    e.g. the group already existed, or the caller was denied): no group was created.
    """
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return None
    if event.get("source") != "aws.logs" or detail.get("eventName") != "CreateLogGroup":
        return None
    if detail.get("errorCode"):
        return None
    parameters = detail.get("requestParameters")
    if not isinstance(parameters, Mapping):
        return None
    name = parameters.get("logGroupName")
    return name if isinstance(name, str) and name else None
