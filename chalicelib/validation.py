"""Onboarding API input: bodies, queries, names, patterns and page tokens (pure).

Everything CloudWatch Logs documents about its inputs is checked here, before any call:
https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutSubscriptionFilter.html
(logGroupName: 1-512 characters of ``[\\.\\-_/#A-Za-z0-9]``; filterPattern: 0-1024
characters) and
https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_DescribeLogGroups.html
(logGroupNamePrefix: same characters and lengths; ``limit`` at most 50). Filter pattern
*syntax* is left to CloudWatch Logs, whose rejection the service turns into a 400.

Bodies are closed: an unknown field is an error, so nothing a caller sends can choose the
destination, the role or the filter name (those come from the stage).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib import jsoncodec
from chalicelib.errors import (
    BodyTooLargeError,
    InvalidFilterPatternError,
    InvalidLogGroupNameError,
    InvalidNextTokenError,
    InvalidRequestError,
    MalformedJsonError,
)
from chalicelib.settings import APP_NAME

# Bodies are a few hundred bytes; anything near this is a mistake or an attack.
MAX_BODY_BYTES = 64 * 1024
# PutSubscriptionFilter / DescribeLogGroups: logGroupName and logGroupNamePrefix are
# "Minimum length of 1. Maximum length of 512", pattern [\.\-_/#A-Za-z0-9]+.
MAX_LOG_GROUP_NAME_CHARS = 512
LOG_GROUP_NAME_PATTERN = re.compile(r"[\.\-_/#A-Za-z0-9]+")
# PutSubscriptionFilter: filterPattern "Minimum length of 0. Maximum length of 1024."
MAX_FILTER_PATTERN_CHARS = 1024
# DescribeLogGroups: "limit ... Valid Range: Minimum value of 1. Maximum value of 50."
MAX_PAGE_GROUPS = 50
DEFAULT_LIST_PAGE_GROUPS = 50
# Onboarding a group costs a describe and a put; 25 keep a page well inside 29 seconds.
DEFAULT_ONBOARD_PAGE_GROUPS = 25
# Our page tokens wrap CloudWatch's nextToken, which is opaque and can be long.
MAX_NEXT_TOKEN_CHARS = 4096

# Fields a caller may send; the destination, role, filter name and distribution are absent
# on purpose (stage configuration).
_SINGLE_FIELDS = frozenset({"logGroupName", "filterPattern"})
_PREFIX_FIELDS = frozenset({"logGroupNamePrefix", "filterPattern", "nextToken", "limit", "dryRun"})
_STAGE_FIELDS = frozenset({"destinationArn", "roleArn", "filterName", "distribution", "destination", "role"})
_LIST_PARAMS = frozenset({"logGroupNamePrefix", "nextToken", "limit"})
_DELETE_PARAMS = frozenset({"logGroupName"})


@dataclass(frozen=True)
class SubscribeGroup:
    """POST /subscriptions for one log group."""

    log_group_name: str
    filter_pattern: str = ""


@dataclass(frozen=True)
class SubscribePrefix:
    """POST /subscriptions for every existing group under a prefix, one page per request."""

    prefix: str
    filter_pattern: str = ""
    cursor: Cursor | None = None
    limit: int = DEFAULT_ONBOARD_PAGE_GROUPS
    dry_run: bool = False


@dataclass(frozen=True)
class ListSubscriptions:
    """GET /subscriptions."""

    prefix: str = ""
    cursor: Cursor | None = None
    limit: int = DEFAULT_LIST_PAGE_GROUPS


@dataclass(frozen=True)
class Cursor:
    """Where a walk over DescribeLogGroups pages stands: a CloudWatch page and a position in it.

    ``page_token`` is CloudWatch's nextToken of the page (None: the first page); ``index``
    is the first group of that page not yet handled. Pages are always fetched with the
    same size, so (token, index) names the same group on the next request.
    """

    page_token: str | None
    index: int


# --- bodies and queries ----------------------------------------------------------------


def parse_subscribe_body(raw: bytes | str | None) -> SubscribeGroup | SubscribePrefix:
    """The body of POST /subscriptions -> a typed request, or an InvalidRequestError (400)."""
    body = _json_object(raw)
    if "logGroupName" in body and "logGroupNamePrefix" in body:
        raise InvalidRequestError(
            "send either logGroupName (one group) or logGroupNamePrefix (existing groups "
            "under a prefix), not both",
            details={"field": "logGroupNamePrefix"},
        )
    if "logGroupNamePrefix" in body:
        _reject_unknown(body, _PREFIX_FIELDS)
        prefix = validate_log_group_name(_string(body, "logGroupNamePrefix"), field="logGroupNamePrefix")
        token = _optional_string(body, "nextToken")
        return SubscribePrefix(
            prefix=prefix,
            filter_pattern=validate_filter_pattern(_optional_string(body, "filterPattern")),
            cursor=decode_next_token(token, prefix) if token is not None else None,
            limit=_limit(body.get("limit"), DEFAULT_ONBOARD_PAGE_GROUPS, present="limit" in body),
            dry_run=_boolean(body, "dryRun"),
        )
    if "logGroupName" in body:
        _reject_unknown(body, _SINGLE_FIELDS)
        return SubscribeGroup(
            log_group_name=validate_log_group_name(_string(body, "logGroupName")),
            filter_pattern=validate_filter_pattern(_optional_string(body, "filterPattern")),
        )
    _reject_unknown(body, _SINGLE_FIELDS | _PREFIX_FIELDS)
    raise InvalidRequestError(
        'the body needs logGroupName (e.g. {"logGroupName": "/aws/lambda/orders"}) or '
        'logGroupNamePrefix (e.g. {"logGroupNamePrefix": "/aws/lambda/"})',
        details={"field": "logGroupName"},
    )


def parse_list_query(params: Mapping[str, str] | None) -> ListSubscriptions:
    """The query of GET /subscriptions -> a typed request."""
    query = dict(params or {})
    _reject_unknown(query, _LIST_PARAMS, where="query parameter")
    prefix = ""
    if "logGroupNamePrefix" in query:
        prefix = validate_log_group_name(query["logGroupNamePrefix"], field="logGroupNamePrefix")
    token = query.get("nextToken")
    limit: Any = query.get("limit")
    if limit is not None:
        if not re.fullmatch(r"[0-9]{1,3}", limit):
            raise InvalidRequestError(
                f"limit must be a whole number from 1 to {MAX_PAGE_GROUPS}",
                details={"field": "limit"},
            )
        limit = int(limit)
    return ListSubscriptions(
        prefix=prefix,
        cursor=decode_next_token(token, prefix) if token is not None else None,
        limit=_limit(limit, DEFAULT_LIST_PAGE_GROUPS, present=limit is not None),
    )


def parse_delete_query(params: Mapping[str, str] | None) -> str:
    """The query of DELETE /subscriptions -> the log group name."""
    query = dict(params or {})
    _reject_unknown(query, _DELETE_PARAMS, where="query parameter")
    if "logGroupName" not in query:
        raise InvalidRequestError(
            "name the group in the query: DELETE /subscriptions?logGroupName=/aws/lambda/orders",
            details={"field": "logGroupName"},
        )
    return validate_log_group_name(query["logGroupName"])


# --- /follows (issue 14) --------------------------------------------------------------------

# A rule's exclusions are few names or prefixes; a long list belongs in a narrower prefix.
MAX_FOLLOW_EXCLUSIONS = 100
_FOLLOW_FIELDS = frozenset(
    {
        "logGroupNamePrefix",
        "filterPattern",
        "excludeLogGroupNames",
        "excludePrefixes",
        "dryRun",
        "nextToken",
        "limit",
    }
)
_UNFOLLOW_PARAMS = frozenset({"logGroupNamePrefix", "unsubscribe", "nextToken"})


@dataclass(frozen=True)
class FollowPrefix:
    """POST /follows: record a rule, then onboard one page of the groups under it."""

    prefix: str
    filter_pattern: str = ""
    exclude_names: tuple[str, ...] = ()
    exclude_prefixes: tuple[str, ...] = ()
    cursor: Cursor | None = None
    limit: int = DEFAULT_ONBOARD_PAGE_GROUPS
    dry_run: bool = False


@dataclass(frozen=True)
class Unfollow:
    """DELETE /follows: remove a rule and, with ``unsubscribe``, one page of its filters."""

    prefix: str
    unsubscribe: bool = False
    after: str | None = None


def parse_follow_body(raw: bytes | str | None) -> FollowPrefix:
    """The body of POST /follows -> a typed request, or an InvalidRequestError (400)."""
    body = _json_object(raw)
    _reject_unknown(body, _FOLLOW_FIELDS)
    if "logGroupNamePrefix" not in body:
        raise InvalidRequestError(
            'the body needs logGroupNamePrefix, e.g. {"logGroupNamePrefix": "/aws/lambda/"}',
            details={"field": "logGroupNamePrefix"},
        )
    prefix = validate_log_group_name(_string(body, "logGroupNamePrefix"), field="logGroupNamePrefix")
    token = _optional_string(body, "nextToken")
    return FollowPrefix(
        prefix=prefix,
        filter_pattern=validate_filter_pattern(_optional_string(body, "filterPattern")),
        exclude_names=_names(body, "excludeLogGroupNames"),
        exclude_prefixes=_names(body, "excludePrefixes"),
        cursor=decode_next_token(token, prefix) if token is not None else None,
        limit=_limit(body.get("limit"), DEFAULT_ONBOARD_PAGE_GROUPS, present="limit" in body),
        dry_run=_boolean(body, "dryRun"),
    )


def parse_unfollow_query(params: Mapping[str, str] | None) -> Unfollow:
    """The query of DELETE /follows -> a typed request."""
    query = dict(params or {})
    _reject_unknown(query, _UNFOLLOW_PARAMS, where="query parameter")
    if "logGroupNamePrefix" not in query:
        raise InvalidRequestError(
            "name the rule in the query: DELETE /follows?logGroupNamePrefix=/aws/lambda/",
            details={"field": "logGroupNamePrefix"},
        )
    prefix = validate_log_group_name(query["logGroupNamePrefix"], field="logGroupNamePrefix")
    flag = query.get("unsubscribe", "false").lower()
    if flag not in ("true", "false"):
        raise InvalidRequestError("unsubscribe must be true or false", details={"field": "unsubscribe"})
    token = query.get("nextToken")
    if token is not None and flag != "true":
        raise InvalidRequestError(
            "nextToken continues an unsubscribe: send it with unsubscribe=true",
            details={"field": "nextToken"},
        )
    return Unfollow(
        prefix=prefix,
        unsubscribe=flag == "true",
        after=decode_unfollow_token(token, prefix) if token is not None else None,
    )


def encode_unfollow_token(after: str, prefix: str) -> str:
    """An opaque token: the unsubscribe walk of ``prefix`` continues after group ``after``."""
    payload = {"v": 1, "p": prefix, "a": after}
    return base64.urlsafe_b64encode(jsoncodec.dumps(payload)).decode().rstrip("=")


def decode_unfollow_token(token: str, prefix: str) -> str:
    """Inverse of ``encode_unfollow_token``; InvalidNextTokenError unless it is ours."""
    if not token or len(token) > MAX_NEXT_TOKEN_CHARS or not token.isascii():
        raise _bad_token("nextToken is not one this API issued")
    try:
        payload = jsoncodec.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError) as e:
        raise _bad_token("nextToken is not one this API issued") from e
    if not isinstance(payload, dict) or payload.get("v") != 1 or not isinstance(payload.get("a"), str):
        raise _bad_token("nextToken is not one this API issued")
    if payload.get("p") != prefix:
        raise _bad_token("nextToken was issued for another logGroupNamePrefix; send the same prefix with it")
    return str(payload["a"])


def _names(body: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = body.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidRequestError(
            f"{key} must be an array of strings, not {_json_type(value)}", details={"field": key}
        )
    if len(value) > MAX_FOLLOW_EXCLUSIONS:
        raise InvalidRequestError(
            f"{key} has {len(value)} entries; at most {MAX_FOLLOW_EXCLUSIONS}", details={"field": key}
        )
    names = []
    for item in value:
        if not isinstance(item, str):
            raise InvalidRequestError(
                f"{key} must hold strings, not {_json_type(item)}", details={"field": key}
            )
        names.append(validate_log_group_name(item, field=key))
    return tuple(sorted(set(names)))


# --- values ------------------------------------------------------------------------------


def validate_log_group_name(name: str, field: str = "logGroupName") -> str:
    """A name (or prefix) CloudWatch Logs accepts: 1-512 of [.-_/#A-Za-z0-9]."""
    if name.startswith("arn:"):
        raise InvalidLogGroupNameError(
            f"{field} takes the log group's name (e.g. /aws/lambda/orders), not its ARN",
            details={"field": field},
        )
    if not name:
        raise InvalidLogGroupNameError(f"{field} must not be empty", details={"field": field})
    if len(name) > MAX_LOG_GROUP_NAME_CHARS:
        raise InvalidLogGroupNameError(
            f"{field} is {len(name)} characters; CloudWatch Logs allows at most {MAX_LOG_GROUP_NAME_CHARS}",
            details={"field": field},
        )
    if not LOG_GROUP_NAME_PATTERN.fullmatch(name):
        bad = sorted({c for c in name if not LOG_GROUP_NAME_PATTERN.fullmatch(c)})
        shown = " ".join(repr(c) for c in bad[:10])
        raise InvalidLogGroupNameError(
            f"{field} may contain only letters, digits and . - _ / #; found {shown}",
            details={"field": field},
        )
    return name


def validate_filter_pattern(pattern: str | None) -> str:
    """At most 1024 characters of encodable text; the syntax is CloudWatch's to judge."""
    if pattern is None:
        return ""
    if len(pattern) > MAX_FILTER_PATTERN_CHARS:
        raise InvalidFilterPatternError(
            f"filterPattern is {len(pattern)} characters; CloudWatch Logs allows at most "
            f"{MAX_FILTER_PATTERN_CHARS}",
            details={"field": "filterPattern"},
        )
    try:
        pattern.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidFilterPatternError(
            "filterPattern is not valid Unicode text (lone surrogate)",
            details={"field": "filterPattern"},
        ) from e
    return pattern


# --- page tokens ---------------------------------------------------------------------------


def encode_next_token(cursor: Cursor, prefix: str) -> str:
    """An opaque, URL-safe token for ``cursor``, bound to the prefix it walks."""
    payload = {"v": 1, "p": prefix, "t": cursor.page_token, "i": cursor.index}
    return base64.urlsafe_b64encode(jsoncodec.dumps(payload)).decode().rstrip("=")


def decode_next_token(token: str, prefix: str) -> Cursor:
    """Inverse of ``encode_next_token``; InvalidNextTokenError unless it is ours, for ``prefix``."""
    if not token or len(token) > MAX_NEXT_TOKEN_CHARS or not token.isascii():
        raise _bad_token("nextToken is not one this API issued")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = jsoncodec.loads(raw)
    except (binascii.Error, ValueError) as e:
        raise _bad_token("nextToken is not one this API issued") from e
    if not isinstance(payload, dict) or payload.get("v") != 1:
        raise _bad_token("nextToken is not one this API issued")
    page_token, index = payload.get("t"), payload.get("i")
    if not (page_token is None or (isinstance(page_token, str) and page_token)):
        raise _bad_token("nextToken is not one this API issued")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < MAX_PAGE_GROUPS:
        raise _bad_token("nextToken is not one this API issued")
    if payload.get("p") != prefix:
        raise _bad_token("nextToken was issued for another logGroupNamePrefix; send the same prefix with it")
    return Cursor(page_token=page_token, index=index)


# --- the loop guard ----------------------------------------------------------------------


@dataclass(frozen=True)
class LoopGuard:
    """Log groups logstep must never subscribe: its own logs would loop through the pipeline.

    Patterns are exact names, or prefixes ending in ``*``. The defaults cover every stage's
    Lambdas (Chalice names them ``logstep-<stage>[-<name>]``), Step Functions and Firehose
    logs named after logstep, and, when known, this API's API Gateway execution logs.
    """

    patterns: tuple[str, ...]

    @classmethod
    def for_stage(cls, extra: tuple[str, ...] = (), rest_api_id: str = "") -> LoopGuard:
        """The default patterns plus the stage's extra ones (LOGSTEP_PROTECTED_LOG_GROUPS)."""
        defaults = (
            f"/aws/lambda/{APP_NAME}-*",
            f"/aws/vendedlogs/states/{APP_NAME}-*",
            f"/aws/states/{APP_NAME}-*",
            f"/aws/kinesisfirehose/{APP_NAME}-*",
            f"/aws/apigateway/{APP_NAME}-*",
        )
        api_logs = (f"API-Gateway-Execution-Logs_{rest_api_id}/*",) if rest_api_id else ()
        return cls(patterns=defaults + api_logs + tuple(extra))

    def reason(self, log_group_name: str) -> str | None:
        """Why the group is protected, or None when logstep may subscribe it."""
        for pattern in self.patterns:
            if pattern.endswith("*"):
                matched = log_group_name.startswith(pattern[:-1])
            else:
                matched = log_group_name == pattern
            if matched:
                return (
                    f"{log_group_name} belongs to logstep (matches {pattern}): subscribing it "
                    "would feed logstep's own logs back into logstep"
                )
        return None


# --- helpers -------------------------------------------------------------------------------


def _json_object(raw: bytes | str | None) -> dict[str, Any]:
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else (raw or b"")
    if len(data) > MAX_BODY_BYTES:
        raise BodyTooLargeError(f"the body is {len(data)} bytes; this API accepts at most {MAX_BODY_BYTES}")
    if not data.strip():
        raise MalformedJsonError('the body is empty; send JSON, e.g. {"logGroupName": "..."}')
    try:
        body = jsoncodec.loads(data)
    except ValueError as e:
        raise MalformedJsonError(f"the body is not valid JSON: {str(e)[:200]}") from e
    if not isinstance(body, dict):
        raise InvalidRequestError(
            f"the body must be a JSON object, not {_json_type(body)}", details={"field": ""}
        )
    return body


def _reject_unknown(body: Mapping[str, Any], allowed: frozenset[str], where: str = "field") -> None:
    for key in body:
        if key in allowed:
            continue
        if key in _STAGE_FIELDS:
            raise InvalidRequestError(
                f"{key} is set by the stage, not by callers: every logstep subscription sends "
                "to the stage's source stream",
                details={"field": key},
            )
        expected = ", ".join(sorted(allowed))
        raise InvalidRequestError(
            f"unknown {where} {key[:100]!r}; expected: {expected}", details={"field": key[:100]}
        )


def _string(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise InvalidRequestError(f"{key} must be a string, not {_json_type(value)}", details={"field": key})
    return value


def _optional_string(body: Mapping[str, Any], key: str) -> str | None:
    if key not in body or body[key] is None:
        return None
    return _string(body, key)


def _boolean(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise InvalidRequestError(
            f"{key} must be true or false, not {_json_type(value)}", details={"field": key}
        )
    return value


def _limit(value: Any, default: int, present: bool) -> int:
    if not present or value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_GROUPS:
        raise InvalidRequestError(
            f"limit must be a whole number from 1 to {MAX_PAGE_GROUPS}", details={"field": "limit"}
        )
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _bad_token(message: str) -> InvalidNextTokenError:
    return InvalidNextTokenError(message, details={"field": "nextToken"})
