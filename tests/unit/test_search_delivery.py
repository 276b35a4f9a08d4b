"""SearchDelivery's handling of every bulk outcome, against a scripted cluster."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from chalicelib.bulk import bulk_record
from chalicelib.delivery.search import (
    HttpResponse,
    SearchDelivery,
    TransportError,
    header_auth,
    secret_auth,
    sigv4_auth,
)
from chalicelib.errors import ConfigurationError, DeliveryRejectedError
from chalicelib.settings import SearchSettings

Answer = Callable[[list[tuple[str, str]]], HttpResponse]


class ScriptedCluster:
    """Answers _bulk requests with a function of the items' (index, _id); records every request."""

    endpoint = "https://cluster.example"

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[list[tuple[str, str]]] = []

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = ""
    ) -> HttpResponse:
        assert (method, path, content_type) == ("POST", "/_bulk", "application/x-ndjson")
        assert body is not None and body.endswith(b"\n")
        lines = body.split(b"\n")[:-1]
        items = [tuple(json.loads(a)["create"].values()) for a in lines[0::2]]
        self.requests.append(items)  # type: ignore[arg-type]
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(items)  # type: ignore[arg-type]


def items_answer(status_of: Callable[[str], int]) -> Answer:
    def answer(items: list[tuple[str, str]]) -> HttpResponse:
        out = []
        for index, doc_id in items:
            status = status_of(doc_id)
            item: dict[str, Any] = {"_index": index, "_id": doc_id, "status": status}
            if status >= 300:
                item["error"] = {"type": f"e{status}", "reason": f"status {status}"}
            out.append({"create": item})
        return HttpResponse(200, json.dumps({"errors": True, "items": out}).encode())

    return answer


def whole(status: int, body: bytes = b'{"error":{"type":"t","reason":"r"}}') -> Answer:
    return lambda items: HttpResponse(status, body)


def records(n: int) -> list[Any]:
    return [bulk_record("logstep-2026-12-04", f"id{i:03d}", b'{"message":"m%d"}' % i) for i in range(n)]


def delivery(cluster: Any, **limits: int) -> SearchDelivery:
    # One request at a time unless a test asks: the scripted answers come in order.
    limits.setdefault("bulk_concurrency", 1)
    return SearchDelivery(cluster, SearchSettings(endpoint=cluster.endpoint, auth="none", **limits))


def test_each_item_status_has_its_outcome() -> None:
    statuses = {"id000": 201, "id001": 409, "id002": 429, "id003": 503, "id004": 400, "id005": 200}
    cluster = ScriptedCluster(items_answer(statuses.__getitem__))
    sent = records(6)
    outcome = delivery(cluster).send(sent)
    assert outcome.delivered == 3 and outcome.duplicates == 1
    assert outcome.retryable == [sent[2], sent[3]]
    assert outcome.rejected == [sent[4]]
    assert outcome.rejections == [
        {"_index": "logstep-2026-12-04", "_id": "id004", "status": 400, "error": "e400: status 400"}
    ]
    assert outcome.error_counts == {"429": 1, "503": 1, "400": 1}
    assert outcome.calls == 1 and outcome.throttled_calls == 0


def test_requests_respect_document_and_byte_limits() -> None:
    cluster = ScriptedCluster(items_answer(lambda _: 201))
    sent = records(25)
    outcome = delivery(cluster, bulk_documents=10).send(sent)
    assert [len(r) for r in cluster.requests] == [10, 10, 5]
    assert outcome.delivered == 25
    one = len(sent[0].partition_key) + len(sent[0].data) + 2
    cluster = ScriptedCluster(items_answer(lambda _: 201))
    delivery(cluster, bulk_documents=100, bulk_bytes=3 * one + 2 * 100).send(sent)
    assert max(len(r) for r in cluster.requests) == 3


def test_a_request_refused_whole_keeps_it_and_the_rest_for_the_backoff() -> None:
    cluster = ScriptedCluster(items_answer(lambda _: 201), whole(429), items_answer(lambda _: 201))
    sent = records(30)
    outcome = delivery(cluster, bulk_documents=10).send(sent)
    assert len(cluster.requests) == 2  # the third waits for the Retry's backoff
    assert outcome.delivered == 10
    assert outcome.retryable == sent[10:]
    assert outcome.throttled_calls == 1 and outcome.error_counts == {"429": 10}


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retryable(status: int) -> None:
    outcome = delivery(ScriptedCluster(whole(status))).send(records(3))
    assert len(outcome.retryable) == 3 and not outcome.rejected


def test_no_answer_is_retryable() -> None:
    class Down(ScriptedCluster):
        def request(self, *args: Any, **kwargs: Any) -> HttpResponse:
            raise TransportError("POST /_bulk: ReadTimeoutError: Read timeout on endpoint URL")

    outcome = delivery(Down()).send(records(3))
    assert len(outcome.retryable) == 3 and outcome.error_counts == {"timeout": 3}


def test_too_large_splits_until_it_fits() -> None:
    def answer(items: list[tuple[str, str]]) -> HttpResponse:
        return whole(413)(items) if len(items) > 2 else items_answer(lambda _: 201)(items)

    cluster = ScriptedCluster(answer)
    outcome = delivery(cluster).send(records(8))
    assert outcome.delivered == 8
    assert [len(r) for r in cluster.requests] == [8, 4, 2, 2, 4, 2, 2]
    assert [doc for r in cluster.requests if len(r) == 2 for _, doc in r] == [f"id{i:03d}" for i in range(8)]


def test_a_single_document_too_large_is_rejected_with_its_reason() -> None:
    outcome = delivery(ScriptedCluster(whole(413))).send(records(1))
    assert outcome.rejected and outcome.rejections[0]["status"] == 413


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_whole_request_client_errors_are_permanent(status: int) -> None:
    with pytest.raises(DeliveryRejectedError, match=f"answered {status}: t: r"):
        delivery(ScriptedCluster(whole(status))).send(records(2))


def test_an_unreadable_answer_is_resent() -> None:
    outcome = delivery(ScriptedCluster(whole(200, b"<html>proxy</html>"))).send(records(2))
    assert len(outcome.retryable) == 2 and outcome.error_counts == {"unreadable": 2}


def signed(sign: Callable[[AWSRequest], None], body: bytes = b"{}") -> AWSRequest:
    request = AWSRequest(method="POST", url="https://x.us-east-1.es.amazonaws.com/_bulk", data=body)
    sign(request)
    return request


def test_sigv4_signs_for_the_service_with_the_payload_hash() -> None:
    request = signed(sigv4_auth(lambda: Credentials("AKID", "SECRET", "TOKEN"), "aoss", "eu-west-1"))
    authorization = request.headers["Authorization"]
    assert "/eu-west-1/aoss/aws4_request" in authorization
    assert "x-amz-content-sha256" in authorization
    assert request.headers["X-Amz-Content-SHA256"] == hashlib.sha256(b"{}").hexdigest()
    assert request.headers["X-Amz-Security-Token"] == "TOKEN"
    with pytest.raises(ConfigurationError, match="region"):
        sigv4_auth(lambda: None, "es", "")


def test_api_key_and_basic_auth_headers() -> None:
    assert (
        signed(secret_auth("api-key", {"apiKey": "ZW5j"}, "arn:s")).headers["Authorization"] == "ApiKey ZW5j"
    )
    basic = signed(secret_auth("basic", {"username": "u", "password": "p:w"}, "arn:s"))
    assert basic.headers["Authorization"] == "Basic " + base64.b64encode(b"u:p:w").decode()
    with pytest.raises(ConfigurationError, match="apiKey"):
        secret_auth("api-key", {"username": "u"}, "arn:s")
    with pytest.raises(ConfigurationError, match="username"):
        secret_auth("basic", {"apiKey": "k"}, "arn:s")
    assert signed(header_auth("X")).headers["Authorization"] == "X"


def test_no_request_starts_that_could_outlast_the_invocation() -> None:
    cluster = ScriptedCluster(items_answer(lambda _: 201))
    clock = iter([100.0, 36.0, 34.0])  # seconds left before each request (timeout 30 + margin 5)
    search = SearchSettings(endpoint=cluster.endpoint, auth="none", bulk_documents=10, bulk_concurrency=1)
    sent = records(30)
    outcome = SearchDelivery(cluster, search, lambda: next(clock)).send(sent)  # type: ignore[arg-type]
    assert len(cluster.requests) == 2
    assert outcome.delivered == 20 and outcome.retryable == sent[20:]
    assert outcome.error_counts == {"time budget": 10}


def test_requests_go_out_in_waves_and_a_refusal_holds_the_next_wave() -> None:
    import threading

    in_flight, peak, lock = [0], [0], threading.Lock()
    gate = threading.Barrier(2, timeout=5)

    def answer(items: list[tuple[str, str]]) -> HttpResponse:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        gate.wait()  # both requests of a wave are in flight together
        with lock:
            in_flight[0] -= 1
        first = items[0][1]
        return whole(429)(items) if first == "id010" else items_answer(lambda _: 201)(items)

    cluster = ScriptedCluster(answer)
    sent = records(40)
    outcome = delivery(cluster, bulk_documents=10, bulk_concurrency=2).send(sent)
    assert peak[0] == 2 and len(cluster.requests) == 2  # one wave; the refusal holds the next
    assert outcome.delivered == 10 and outcome.retryable == sent[10:]
    assert outcome.throttled_calls == 1 and outcome.calls == 2


def test_a_request_timed_out_by_a_proxy_is_retried() -> None:
    outcome = delivery(ScriptedCluster(whole(408))).send(records(3))
    assert len(outcome.retryable) == 3 and outcome.error_counts == {"408": 3}
    item = ScriptedCluster(items_answer(lambda doc: 408 if doc == "id001" else 201))
    outcome = delivery(item).send(records(3))
    assert outcome.delivered == 2 and [r.partition_key for r in outcome.retryable] == [
        records(3)[1].partition_key
    ]


def test_a_bulk_timeout_that_cannot_fit_the_invocation_is_a_configuration_error() -> None:
    cluster = ScriptedCluster(items_answer(lambda _: 201))
    search = SearchSettings(endpoint=cluster.endpoint, auth="none", timeout_seconds=120, bulk_concurrency=1)
    with pytest.raises(ConfigurationError, match="LOGSTEP_BULK_TIMEOUT_SECONDS=120 does not fit"):
        SearchDelivery(cluster, search, lambda: 109.0).send(records(3))  # type: ignore[arg-type]
    assert cluster.requests == []
