"""Properties of /subscriptions over arbitrary input: never a 500, never a foreign destination.

One moto account serves every example of a test (state carries over between examples,
which only widens what is explored); after the run, every filter logstep's name is on
points at the stage's stream, and no protected group has one.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.functional.onboarding_support import FILTER_NAME, IAM_LOCAL_WARNING, Api, onboarding_api

pytestmark = pytest.mark.filterwarnings(IAM_LOCAL_WARNING)

EXISTING = ["/aws/lambda/orders", "/aws/lambda/payments", "/aws/lambda/logstep-dev-ingest", "/ecs/web"]
FIELDS = [
    "logGroupName",
    "logGroupNamePrefix",
    "filterPattern",
    "nextToken",
    "limit",
    "dryRun",
    "destinationArn",
    "roleArn",
]
ALLOWED_STATUSES = {200, 201, 400, 404, 409}
PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
plausible = (
    st.sampled_from(EXISTING)
    | st.sampled_from(["/aws/", "/", "/aws/lambda/logstep-", "", "x" * 513, "a b"])
    | st.text(alphabet="/aws-lambd_.#0123456789", max_size=30)
    | st.integers(-1, 60)
    | st.booleans()
)
objects = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=12), plausible | json_values, max_size=5)
names = st.sampled_from(EXISTING) | st.sampled_from(["/aws/", "/", "/nope"]) | st.text(max_size=20)
patterns = st.text(max_size=40) | st.sampled_from(["", "ERROR", '{ $.level = "error" }']) | scalars
shaped = st.fixed_dictionaries(
    {"logGroupName": names}, optional={"filterPattern": patterns}
) | st.fixed_dictionaries(
    {"logGroupNamePrefix": names},
    optional={
        "filterPattern": patterns,
        "limit": st.integers(-1, 60) | scalars,
        "dryRun": st.booleans() | scalars,
        "nextToken": st.text(max_size=20),
    },
)
bodies = (
    shaped.map(lambda o: json.dumps(o).encode())
    | objects.map(lambda o: json.dumps(o).encode())
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=300)
)
queries = st.dictionaries(
    st.sampled_from(["logGroupName", "logGroupNamePrefix", "nextToken", "limit"]) | st.text(max_size=8),
    st.text(max_size=30) | st.sampled_from(EXISTING) | st.integers(-5, 99).map(str),
    max_size=4,
)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    with onboarding_api(monkeypatch) as ready:
        ready.create_groups(*EXISTING)
        yield ready
        for group in EXISTING:
            for found in ready.filters(group):
                if found["filterName"] == FILTER_NAME:
                    assert found["destinationArn"] == ready.stream_arn
                    assert "logstep-dev" not in group.split("/")[-1]


def assert_answered(response: Any) -> None:
    assert response.status_code in ALLOWED_STATUSES, response.body
    answer = json.loads(response.body)
    assert isinstance(answer, dict)
    if response.status_code >= 400:
        assert isinstance(answer["error"], str) and isinstance(answer["message"], str)


@PROPERTY_SETTINGS
@given(body=bodies)
def test_random_post_bodies_never_give_a_500(api: Api, body: bytes) -> None:
    assert_answered(api.post(None, raw=body))


@PROPERTY_SETTINGS
@given(query=queries, method=st.sampled_from(["GET", "DELETE"]))
def test_random_queries_never_give_a_500(api: Api, query: dict[str, str], method: str) -> None:
    path = "/subscriptions"
    if query:
        path += "?" + urllib.parse.urlencode(query)
    assert_answered(api.client.http.request(method, path))
