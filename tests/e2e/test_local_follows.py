"""Follow rules against `logstep local` (issue 14): a process, real HTTP, the AWS SDK against moto.

moto sends no CloudTrail events, so here a group created after the rule is found by the
sweep (`--sweep-interval`); the event path is covered in tests/functional/test_follows.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.test_local import Local, destination_documents, start_local

SWEEP_INTERVAL_SECONDS = 2.0
# What "within one sweep interval" may take on a loaded 2-core machine: the interval, one
# sweep (a few moto calls), and the polling here.
SUBSCRIBED_WITHIN_SECONDS = SWEEP_INTERVAL_SECONDS + 8
DELIVERY_TIMEOUT_SECONDS = 60


@pytest.fixture
def local() -> Iterator[Local]:
    yield from start_local("--sweep-interval", str(SWEEP_INTERVAL_SECONDS))


def our_filter(logs: Any, group: str) -> dict[str, Any] | None:
    found = [
        f
        for f in logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
        if f["filterName"] == "logstep-local"
    ]
    return found[0] if found else None


@pytest.mark.slow
def test_a_rule_subscribes_a_later_group_within_one_sweep_and_unsubscribes_only_what_it_made(
    local: Local,
) -> None:
    # Past start-up (a sweep or two with no rules has run), "ready" is still the last line.
    time.sleep(SWEEP_INTERVAL_SECONDS * 1.5)
    assert local.printed().strip().splitlines()[-1].startswith("logstep local: ready"), local.printed()
    assert f"{local.api_url}/follows" in local.printed()

    logs = local.client("logs")
    by_hand, own = "/aws/lambda/by-hand", "/aws/lambda/logstep-local-ingest"
    logs.create_log_group(logGroupName=by_hand)
    logs.create_log_group(logGroupName=own)
    assert local.request("POST", "/subscriptions", {"logGroupName": by_hand})[0] == 201
    status, created = local.request("POST", "/follows", {"logGroupNamePrefix": "/aws/lambda/"})
    assert status == 201, created
    outcomes = {g["logGroupName"]: g["outcome"] for g in created["groups"]}
    assert outcomes == {by_hand: "alreadySubscribed", own: "skipped"}

    group = "/aws/lambda/checkout"
    logs.create_log_group(logGroupName=group)
    created_at = time.monotonic()
    while our_filter(logs, group) is None:
        assert time.monotonic() - created_at < SUBSCRIBED_WITHIN_SECONDS, local.printed()
        time.sleep(0.1)
    took = time.monotonic() - created_at
    print(f"\nsubscribed {took:.1f} s after creation (sweep interval {SWEEP_INTERVAL_SECONDS} s)")
    deadline = time.monotonic() + 5
    while "[follows] sweep: 1 subscribed" not in local.printed():
        assert time.monotonic() < deadline, local.printed()
        time.sleep(0.1)

    logs.create_log_stream(logGroupName=group, logStreamName="web-1")
    logs.put_log_events(
        logGroupName=group,
        logStreamName="web-1",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": "order 7 paid"}],
    )
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    documents: list[dict[str, Any]] = []
    while not documents and time.monotonic() < deadline:
        time.sleep(0.5)
        documents = [d for d in destination_documents(local) if d["cloudwatch"]["logGroup"] == group]
    assert [d["message"] for d in documents] == ["order 7 paid"], local.printed()

    # logstep's own group stays unsubscribed through every sweep.
    assert logs.describe_subscription_filters(logGroupName=own)["subscriptionFilters"] == []
    status, listed = local.request("GET", "/follows")
    [rule] = listed["follows"]
    assert (rule["groupsSubscribed"], rule["lastSweptAt"] is not None) == (1, True)

    status, removed = local.request("DELETE", "/follows?logGroupNamePrefix=/aws/lambda/&unsubscribe=true")
    assert status == 200, removed
    assert {g["logGroupName"]: g["outcome"] for g in removed["groups"]} == {
        by_hand: "kept",
        group: "unsubscribed",
    }
    assert our_filter(logs, group) is None
    assert our_filter(logs, by_hand) is not None
    assert local.request("GET", "/follows") == (200, {"follows": []})
