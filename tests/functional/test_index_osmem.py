"""logstep index setup/status against a real osmem server (the sandbox's search cluster).

Each test uses its own prefix: osmem, like a real cluster, refuses two templates of the
same priority whose patterns overlap, so the prefixes must not nest either.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.delivery.search import HttpTransport, no_auth
from logstep.deploy.index import build_template, index_status, load_template, setup_index

_prefixes = itertools.count()


@pytest.fixture(scope="session")
def osmem() -> Iterator[Any]:
    """One osmem server for the session."""
    try:
        from osmem_server import OsmemServer
    except ImportError:
        pytest.skip("osmem_server is not installed (no wheel for this platform): pip install osmem-server")
    server = OsmemServer.start(japanese=False)
    yield server
    server.close()


@pytest.fixture
def transport(osmem: Any) -> HttpTransport:
    return HttpTransport(osmem.url, no_auth, timeout_seconds=10)


@pytest.fixture
def prefix() -> str:
    return f"idx{next(_prefixes)}x"


def call(transport: HttpTransport, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    content_type = "application/x-ndjson" if path.startswith("/_bulk") else "application/json"
    response = transport.request(method, path, data, content_type)
    return response.status, response.json()


def bulk(transport: HttpTransport, index: str, docs: list[dict[str, Any]]) -> list[int]:
    lines = []
    for n, doc in enumerate(docs):
        lines += [json.dumps({"create": {"_index": index, "_id": f"d{n}"}}), json.dumps(doc)]
    status, answer = call(transport, "POST", "/_bulk", ("\n".join(lines) + "\n").encode())
    assert status == 200
    call(transport, "POST", f"/{index}/_refresh")
    return [item["create"]["status"] for item in answer["items"]]


def quiet(_: str) -> None:
    pass


def test_osmem_takes_the_committed_template_as_is_and_refuses_a_comment(
    transport: HttpTransport, prefix: str
) -> None:
    body = dict(load_template(), index_patterns=[f"{prefix}-*"])
    assert call(transport, "PUT", f"/_index_template/{prefix}", body)[0] == 200
    status, answer = call(transport, "PUT", f"/_index_template/{prefix}c", dict(body, _comment="x"))
    assert status == 400 and "_comment" in json.dumps(answer)


def test_setup_installs_the_template(transport: HttpTransport, prefix: str) -> None:
    lines: list[str] = []
    steps = setup_index(transport, prefix, 30, lines.append)
    assert [s.outcome for s in steps] == ["done", "skipped", "done"]
    assert lines[0].startswith("[1/3] cluster: done (OpenSearch")
    status, answer = call(transport, "GET", f"/_index_template/{prefix}")
    assert status == 200
    stored = answer["index_templates"][0]["index_template"]
    assert stored["index_patterns"] == [f"{prefix}-*"]
    assert stored["template"]["mappings"]["properties"]["fields"] == {"type": "flat_object"}


def test_setup_again_changes_nothing(transport: HttpTransport, prefix: str) -> None:
    setup_index(transport, prefix, 30, quiet)
    again = setup_index(transport, prefix, 30, quiet)
    assert [s.outcome for s in again] == ["done", "skipped", "unchanged"]


def test_ism_is_reported_as_skipped_on_osmem(transport: HttpTransport, prefix: str) -> None:
    lines: list[str] = []
    steps = setup_index(transport, prefix, 30, lines.append)
    assert steps[1].outcome == "skipped"
    assert "no ISM API" in steps[1].detail and "no handler found" in steps[1].detail
    assert lines[1].startswith(f"[2/3] lifecycle policy {prefix}-retention: skipped")


def test_osmem_has_no_ilm_setting_either(transport: HttpTransport, prefix: str) -> None:
    """Why the template names an ILM policy only on Elasticsearch: OpenSearch refuses the setting."""
    from logstep.deploy.index import Cluster

    es_body = build_template(load_template(), Cluster("elasticsearch", (8, 15, 0)), prefix, "fields", "p")
    status, answer = call(transport, "PUT", f"/_index_template/{prefix}", es_body)
    assert status == 400 and "index.lifecycle.name" in json.dumps(answer)


def test_type_conflicts_under_fields_index_after_setup(transport: HttpTransport, prefix: str) -> None:
    setup_index(transport, prefix, 30, quiet)
    index = f"{prefix}-2026-12-04"
    docs = [
        {"message": "a", "fields": {"id": 1}},
        {"message": "b", "fields": {"id": {"a": 1}}},
        {"message": "c", "fields": {"id": "x", "n": [1, "two", None]}},
    ]
    assert bulk(transport, index, docs) == [201, 201, 201]
    status, answer = call(transport, "GET", f"/{index}/_count")
    assert status == 200 and answer["count"] == 3


def test_without_the_template_the_same_documents_conflict(transport: HttpTransport, prefix: str) -> None:
    """The control: osmem's dynamic mapping rejects the second type, as a real cluster does."""
    index = f"{prefix}-2026-12-04"
    statuses = bulk(transport, index, [{"fields": {"id": 1}}, {"fields": {"id": {"a": 1}}}])
    assert statuses == [201, 400]


def test_status_lists_the_index_with_its_count(transport: HttpTransport, prefix: str) -> None:
    setup_index(transport, prefix, 30, quiet)
    before = index_status(transport, prefix)
    assert before.indices == [] and before.template
    assert before.policy.startswith("not available")
    bulk(transport, f"{prefix}-2026-12-04", [{"message": "x"}, {"message": "y"}])
    after = index_status(transport, prefix)
    assert [(i.name, i.docs) for i in after.indices] == [(f"{prefix}-2026-12-04", 2)]
    assert after.indices[0].size_bytes > 0


def test_the_command_line_end_to_end(osmem: Any, prefix: str, capsys: pytest.CaptureFixture[str]) -> None:
    from logstep.cli import main

    target = ["--endpoint", osmem.url, "--auth", "none", "--index-prefix", prefix]
    assert main(["index", "setup", *target, "--retention-days", "7"]) == 0
    out = capsys.readouterr().out
    assert f"index template {prefix}: done" in out and "skipped" in out
    assert main(["index", "setup", *target]) == 0
    assert f"index template {prefix}: unchanged" in capsys.readouterr().out
    assert main(["index", "status", *target]) == 0
    out = capsys.readouterr().out
    assert f"index template {prefix}: present" in out and f"indices {prefix}-*: none" in out


def test_an_unreachable_cluster_fails_clearly(osmem: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from logstep.cli import main

    assert main(["index", "setup", "--endpoint", "http://127.0.0.1:9", "--auth", "none"]) == 1
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err
