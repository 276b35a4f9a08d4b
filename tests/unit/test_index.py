"""logstep index: the pure builders, and setup/status against a scripted cluster."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.delivery.search import HttpResponse, TransportError
from chalicelib.indices import index_name
from chalicelib.settings import SEARCH_JSON_FIELDS_KEY
from logstep.deploy import index
from logstep.deploy.index import (
    SERVERLESS,
    Cluster,
    IndexSetupError,
    build_template,
    detect_cluster,
    fields_mapping,
    ilm_policy,
    ism_policy,
    load_template,
    missing_api,
    same_ilm_policy,
    same_ism_policy,
    same_template,
    setup_index,
    unknown_template_keys,
)

OPENSEARCH = Cluster("opensearch", (2, 11, 0))
OLD_OPENSEARCH = Cluster("opensearch", (2, 5, 0))
ELASTICSEARCH = Cluster("elasticsearch", (8, 15, 0), "default")
ES_OSS = Cluster("elasticsearch", (7, 10, 2), "oss")

# -- the committed template --------------------------------------------------------


def test_committed_template_has_only_keys_a_cluster_accepts() -> None:
    assert unknown_template_keys(load_template()) == set()


def test_committed_template_keeps_the_default_field_limit_with_room_to_spare() -> None:
    settings = load_template()["template"]["settings"]
    assert settings["index.mapping.total_fields.limit"] == 1000
    # The schema's own fields (multi-fields included) leave most of the limit for the rest.
    assert count_fields(build_template(load_template(), OPENSEARCH, "logstep")) < 100


def count_fields(template: dict[str, Any]) -> int:
    def count(properties: dict[str, Any]) -> int:
        total = 0
        for mapping in properties.values():
            total += 1 + count(mapping.get("properties", {})) + len(mapping.get("fields", {}))
        return total

    return count(template["template"]["mappings"]["properties"])


def test_unknown_keys_are_found_and_refused() -> None:
    body = dict(load_template(), _comment="x")
    assert unknown_template_keys(body) == {"_comment"}
    with pytest.raises(ValueError, match="_comment"):
        build_template(body, OPENSEARCH, "logstep")


# -- cluster detection -------------------------------------------------------------


def test_detects_opensearch_by_distribution() -> None:
    root = {"version": {"distribution": "opensearch", "number": "2.11.0"}}
    assert detect_cluster(root) == Cluster("opensearch", (2, 11, 0))


def test_elasticsearch_has_no_distribution() -> None:
    root = {"version": {"number": "8.15.0", "build_flavor": "default"}}
    assert detect_cluster(root) == ELASTICSEARCH
    assert detect_cluster(root).lifecycle_api == "ILM"
    assert detect_cluster(root).label == "Elasticsearch 8.15.0"


def test_snapshot_versions_and_garbage() -> None:
    assert index.parse_version("8.0.0-SNAPSHOT") == (8, 0, 0)
    assert index.parse_version("") == ()
    with pytest.raises(IndexSetupError):
        detect_cluster({"hello": "world"})


@pytest.mark.parametrize(
    ("cluster", "mapping"),
    [
        (OPENSEARCH, {"type": "flat_object"}),
        (Cluster("opensearch", (2, 7, 0)), {"type": "flat_object"}),
        (SERVERLESS, {"type": "flat_object"}),
        (OLD_OPENSEARCH, {"type": "object", "enabled": False}),
        (ELASTICSEARCH, {"type": "flattened"}),
        (Cluster("elasticsearch", (7, 3, 0), "default"), {"type": "flattened"}),
        (ES_OSS, {"type": "object", "enabled": False}),
    ],
    ids=lambda v: getattr(v, "label", ""),
)
def test_fields_mapping_by_flavour(cluster: Cluster, mapping: dict[str, Any]) -> None:
    assert fields_mapping(cluster)[0] == mapping


# -- template ------------------------------------------------------------------------


def test_template_for_opensearch() -> None:
    base = load_template()
    body = build_template(base, OPENSEARCH, "app-logs")
    assert body["index_patterns"] == ["app-logs-*"]
    assert body["template"]["mappings"]["properties"][SEARCH_JSON_FIELDS_KEY] == {"type": "flat_object"}
    assert "index.lifecycle.name" not in body["template"]["settings"]
    assert unknown_template_keys(body) == set()
    # The base is left alone.
    assert base == load_template()


def test_template_for_elasticsearch_names_the_ilm_policy() -> None:
    body = build_template(load_template(), ELASTICSEARCH, "logstep", "json", "logstep-retention")
    assert body["template"]["mappings"]["properties"]["json"] == {"type": "flattened"}
    assert body["template"]["settings"]["index.lifecycle.name"] == "logstep-retention"


def test_template_without_a_fields_key_maps_nothing_extra() -> None:
    body = build_template(load_template(), OPENSEARCH, "logstep", "")
    assert body["template"]["mappings"] == load_template()["template"]["mappings"]


def test_fields_key_cannot_be_a_schema_field_and_ism_has_no_setting() -> None:
    with pytest.raises(ValueError, match="already a field"):
        build_template(load_template(), OPENSEARCH, "logstep", "message")
    with pytest.raises(ValueError, match="ILM"):
        build_template(load_template(), OPENSEARCH, "logstep", "fields", "logstep-retention")


@pytest.mark.parametrize("rotation", ["OneHour", "OneDay", "OneWeek", "OneMonth", "NoRotation"])
def test_patterns_cover_the_indices_the_delivery_writes(rotation: str) -> None:
    from fnmatch import fnmatchcase

    name = index_name("logstep", rotation, 1_780_000_000_000)
    assert any(fnmatchcase(name, p) for p in index.index_patterns("logstep", rotation))
    assert not any(fnmatchcase("logstepx-2026-01-01", p) for p in index.index_patterns("logstep", rotation))


def test_same_template_reads_settings_as_clusters_store_them() -> None:
    wanted = build_template(load_template(), OPENSEARCH, "logstep")
    stored = json.loads(json.dumps(wanted))
    stored["composed_of"] = []
    stored["template"]["settings"] = {
        "index": {"mapping": {"total_fields": {"limit": "1000"}, "depth": {"limit": "20"}}}
    }
    assert same_template(stored, wanted)
    stored["template"]["settings"]["index"]["mapping"]["total_fields"]["limit"] = "2000"
    assert not same_template(stored, wanted)
    assert not same_template(dict(wanted, index_patterns=["other-*"]), wanted)


# -- lifecycle policies --------------------------------------------------------------


def test_ism_policy_deletes_after_retention() -> None:
    policy = ism_policy("logstep", 30)["policy"]
    hot, delete = policy["states"]
    assert hot["transitions"] == [{"state_name": "delete", "conditions": {"min_index_age": "30d"}}]
    assert delete["actions"] == [{"delete": {}}]
    assert policy["ism_template"][0]["index_patterns"] == ["logstep-*"]


def test_ism_policy_comparison_ignores_what_ism_adds_on_read() -> None:
    wanted = ism_policy("logstep", 30)["policy"]
    stored = json.loads(json.dumps(wanted))
    stored.update(
        policy_id="logstep-retention", last_updated_time=1, schema_version=19, error_notification=None
    )
    stored["states"][1]["actions"][0]["retry"] = {"count": 3, "backoff": "exponential", "delay": "1m"}
    stored["ism_template"][0]["last_updated_time"] = 1
    assert same_ism_policy(stored, wanted)
    assert not same_ism_policy(stored, ism_policy("logstep", 7)["policy"])


def test_ilm_policy() -> None:
    wanted = ilm_policy(14)["policy"]
    assert wanted["phases"]["delete"] == {"min_age": "14d", "actions": {"delete": {}}}
    assert same_ilm_policy(json.loads(json.dumps(wanted)), wanted)
    # As Elasticsearch 8 returns it: the delete action's default filled in.
    stored = {
        "phases": {"delete": {"min_age": "14d", "actions": {"delete": {"delete_searchable_snapshot": True}}}}
    }
    assert same_ilm_policy(stored, wanted)
    assert not same_ilm_policy(ilm_policy(30)["policy"], wanted)


def test_missing_api() -> None:
    body = b'{"error":"no handler found for uri [/_plugins/_ism/policies/x] and method [GET]"}'
    assert missing_api(HttpResponse(400, body))
    assert missing_api(HttpResponse(405, b'{"error":"Incorrect HTTP method for uri [/_ilm/policy/x]"}'))
    assert not missing_api(HttpResponse(404, b'{"error":{"reason":"Policy not found"},"status":404}'))
    assert not missing_api(HttpResponse(400, b'{"error":{"reason":"bad policy"}}'))


# -- setup and status against a scripted cluster -----------------------------------

Handler = Callable[[str, str, bytes | None], HttpResponse]


class ScriptedCluster:
    """A transport that answers from a dict of (method, path prefix) -> handler, and records."""

    endpoint = "https://search.example"

    def __init__(self, routes: dict[tuple[str, str], Handler | HttpResponse]) -> None:
        self.routes = routes
        self.calls: list[tuple[str, str, Any]] = []

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"
    ) -> HttpResponse:
        self.calls.append((method, path, json.loads(body) if body else None))
        for (m, prefix), answer in self.routes.items():
            if m == method and (path == "/" if prefix == "/" else path.startswith(prefix)):
                return answer(method, path, body) if callable(answer) else answer
        return HttpResponse(400, b'{"error":"no handler found for uri [' + path.encode() + b']"}')


def ok(payload: Any) -> HttpResponse:
    return HttpResponse(200, json.dumps(payload).encode())


NOT_FOUND = HttpResponse(404, b'{"error":{"reason":"not found"},"status":404}')
ACK = ok({"acknowledged": True})
OS_ROOT = ok({"version": {"distribution": "opensearch", "number": "2.11.0"}})
ES_ROOT = ok({"version": {"number": "8.15.0", "build_flavor": "default"}})


def quiet(_: str) -> None:
    pass


def test_opensearch_with_ism_creates_policy_then_template() -> None:
    cluster = ScriptedCluster(
        {
            ("GET", "/_plugins/_ism/"): NOT_FOUND,
            ("PUT", "/_plugins/_ism/"): HttpResponse(201, b"{}"),
            ("GET", "/_index_template/"): NOT_FOUND,
            ("PUT", "/_index_template/"): ACK,
            ("GET", "/"): OS_ROOT,
        }
    )
    lines: list[str] = []
    steps = setup_index(cluster, "logstep", 30, lines.append)  # type: ignore[arg-type]
    assert [s.outcome for s in steps] == ["done", "done", "done"]
    assert lines[0].startswith("[1/3] cluster: done (OpenSearch 2.11.0")
    put_policy = next(c for c in cluster.calls if c[0] == "PUT" and "_ism" in c[1])
    assert put_policy[1] == "/_plugins/_ism/policies/logstep-retention"
    assert put_policy[2] == ism_policy("logstep", 30)
    put_template = next(c for c in cluster.calls if c[0] == "PUT" and "_index_template" in c[1])
    assert put_template[2]["template"]["mappings"]["properties"]["fields"] == {"type": "flat_object"}


def test_changed_ism_policy_is_updated_with_its_sequence_number() -> None:
    stored = {"_seq_no": 7, "_primary_term": 2, "policy": ism_policy("logstep", 90)["policy"]}
    cluster = ScriptedCluster(
        {
            ("GET", "/_plugins/_ism/"): ok(stored),
            ("PUT", "/_plugins/_ism/"): ok({}),
            ("GET", "/_index_template/"): NOT_FOUND,
            ("PUT", "/_index_template/"): ACK,
            ("GET", "/"): OS_ROOT,
        }
    )
    steps = setup_index(cluster, "logstep", 30, quiet)  # type: ignore[arg-type]
    assert steps[1].outcome == "done" and "updated" in steps[1].detail
    assert ("PUT", "/_plugins/_ism/policies/logstep-retention?if_seq_no=7&if_primary_term=2") in [
        c[:2] for c in cluster.calls
    ]


def test_unchanged_policy_and_template_are_not_rewritten() -> None:
    template = build_template(load_template(), OPENSEARCH, "logstep")
    cluster = ScriptedCluster(
        {
            ("GET", "/_plugins/_ism/"): ok({"policy": ism_policy("logstep", 30)["policy"]}),
            ("GET", "/_index_template/"): ok(
                {"index_templates": [{"name": "logstep", "index_template": template}]}
            ),
            ("GET", "/"): OS_ROOT,
        }
    )
    steps = setup_index(cluster, "logstep", 30, quiet)  # type: ignore[arg-type]
    assert [s.outcome for s in steps] == ["done", "unchanged", "unchanged"]
    assert all(method == "GET" for method, _, _ in cluster.calls)


def test_elasticsearch_gets_ilm_and_the_template_names_it() -> None:
    cluster = ScriptedCluster(
        {
            ("GET", "/_ilm/"): NOT_FOUND,
            ("PUT", "/_ilm/"): ACK,
            ("GET", "/_index_template/"): NOT_FOUND,
            ("PUT", "/_index_template/"): ACK,
            ("GET", "/"): ES_ROOT,
        }
    )
    steps = setup_index(cluster, "logstep", 30, quiet)  # type: ignore[arg-type]
    assert [s.outcome for s in steps] == ["done", "done", "done"]
    body = next(c[2] for c in cluster.calls if c[0] == "PUT" and "_index_template" in c[1])
    assert body["template"]["settings"]["index.lifecycle.name"] == "logstep-retention"
    assert body["template"]["mappings"]["properties"]["fields"] == {"type": "flattened"}


def test_elasticsearch_without_ilm_skips_it_and_the_template_does_not_name_it() -> None:
    cluster = ScriptedCluster(
        {
            ("GET", "/_index_template/"): NOT_FOUND,
            ("PUT", "/_index_template/"): ACK,
            ("GET", "/"): ES_ROOT,
        }
    )
    steps = setup_index(cluster, "logstep", 30, quiet)  # type: ignore[arg-type]
    assert steps[1].outcome == "skipped" and "no ILM API" in steps[1].detail
    body = next(c[2] for c in cluster.calls if c[0] == "PUT")
    assert "index.lifecycle.name" not in body["template"]["settings"]


def test_serverless_skips_get_root_and_ism() -> None:
    cluster = ScriptedCluster({("GET", "/_index_template/"): NOT_FOUND, ("PUT", "/_index_template/"): ACK})
    steps = setup_index(cluster, "logstep", 30, quiet, serverless=True)  # type: ignore[arg-type]
    assert [s.outcome for s in steps] == ["done", "skipped", "done"]
    assert "create-lifecycle-policy" in steps[1].detail
    assert [c[:2] for c in cluster.calls] == [
        ("GET", "/_index_template/logstep"),
        ("PUT", "/_index_template/logstep"),
    ]


@pytest.mark.parametrize(("retention", "rotation"), [(0, "OneDay"), (30, "NoRotation")])
def test_no_policy_without_retention_or_rotation(retention: int, rotation: str) -> None:
    cluster = ScriptedCluster(
        {("GET", "/_index_template/"): NOT_FOUND, ("PUT", "/_index_template/"): ACK, ("GET", "/"): OS_ROOT}
    )
    steps = setup_index(cluster, "logstep", retention, quiet, rotation=rotation)  # type: ignore[arg-type]
    assert steps[1].outcome == "skipped"
    assert not any("_ism" in path for _, path, _ in cluster.calls)


def test_policy_failure_is_a_failed_step_and_the_template_still_goes_in() -> None:
    cluster = ScriptedCluster(
        {
            ("GET", "/_plugins/_ism/"): NOT_FOUND,
            ("PUT", "/_plugins/_ism/"): HttpResponse(400, b'{"error":{"reason":"overlapping ism_template"}}'),
            ("GET", "/_index_template/"): NOT_FOUND,
            ("PUT", "/_index_template/"): ACK,
            ("GET", "/"): OS_ROOT,
        }
    )
    steps = setup_index(cluster, "logstep", 30, quiet)  # type: ignore[arg-type]
    assert [s.outcome for s in steps] == ["done", "failed", "done"]
    assert "overlapping ism_template" in steps[1].detail


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_stop_setup_with_a_clear_message(status: int) -> None:
    cluster = ScriptedCluster({("GET", "/"): HttpResponse(status, b'{"message":"no"}')})
    with pytest.raises(IndexSetupError, match=f"{status}"):
        setup_index(cluster, "logstep", 30, quiet)  # type: ignore[arg-type]
    cluster = ScriptedCluster(
        {
            ("GET", "/_plugins/_ism/"): HttpResponse(status, b"{}"),
            ("GET", "/"): OS_ROOT,
        }
    )
    with pytest.raises(IndexSetupError, match="credentials"):
        setup_index(cluster, "logstep", 30, quiet)  # type: ignore[arg-type]


def test_a_refused_template_stops_setup() -> None:
    cluster = ScriptedCluster(
        {
            ("GET", "/_index_template/"): NOT_FOUND,
            ("PUT", "/_index_template/"): HttpResponse(
                400, b'{"error":{"reason":"index template [x] has index patterns matching"}}'
            ),
            ("GET", "/"): OS_ROOT,
        }
    )
    with pytest.raises(IndexSetupError, match="has index patterns matching"):
        setup_index(cluster, "logstep", 0, quiet)  # type: ignore[arg-type]


def test_connection_errors_become_setup_errors() -> None:
    class Unreachable:
        endpoint = "https://search.example"

        def request(self, *args: Any, **kwargs: Any) -> HttpResponse:
            raise TransportError("GET /: EndpointConnectionError")

    with pytest.raises(IndexSetupError, match=r"cannot reach https://search\.example"):
        setup_index(Unreachable(), "logstep", 30, quiet)  # type: ignore[arg-type]


def test_status_reads_indices_template_and_policy() -> None:
    rows = [
        {"index": "logstep-2026-12-04", "docs.count": "2", "store.size": "280", "health": "green"},
        {"index": "logstep-2026-12-03", "docs.count": None, "store.size": None, "health": ""},
        {"index": "logstepx-2026-12-04", "docs.count": "9", "store.size": "9"},
    ]
    cluster = ScriptedCluster(
        {
            ("GET", "/_cat/indices/logstep-*"): ok(rows),
            ("GET", "/_index_template/"): NOT_FOUND,
            ("GET", "/_plugins/_ism/"): ok({"policy": {}}),
            ("GET", "/"): OS_ROOT,
        }
    )
    status = index.index_status(cluster, "logstep")  # type: ignore[arg-type]
    assert [(i.name, i.docs) for i in status.indices] == [
        ("logstep-2026-12-03", 0),
        ("logstep-2026-12-04", 2),
    ]
    assert not status.template and status.policy == "present"
    lines = index.format_status(status, "logstep")
    assert "indices logstep-*: 2, 2 documents, 280 B" in lines


def test_target_environment_puts_options_over_the_stage() -> None:
    args = argparse.Namespace(
        endpoint="https://x.example",
        auth=None,
        secret_arn=None,
        index_prefix="other",
        index_rotation=None,
        json_fields_key="none",
    )
    env = index.target_environment(args, {"LOGSTEP_INDEX_PREFIX": "logstep", "LOGSTEP_SEARCH_AUTH": "basic"})
    assert env["LOGSTEP_INDEX_PREFIX"] == "other"
    assert env["LOGSTEP_SEARCH_AUTH"] == "basic"
    assert index.json_fields_key(env) == ""
    assert index.json_fields_key({}) == SEARCH_JSON_FIELDS_KEY


def test_cli_needs_a_target(capsys: pytest.CaptureFixture[str]) -> None:
    from logstep.cli import main

    assert main(["index", "setup"]) == 1
    assert "--stage S" in capsys.readouterr().err
    assert main(["index", "status", "--endpoint", "https://x.example"]) == 1
    assert "LOGSTEP_SEARCH_AUTH" in capsys.readouterr().err


def test_elasticsearch_ilm_unchanged_or_updated() -> None:
    def cluster_with(stored_days: int) -> ScriptedCluster:
        stored = {"logstep-retention": {"version": 3, "policy": ilm_policy(stored_days)["policy"]}}
        return ScriptedCluster(
            {
                ("GET", "/_ilm/"): ok(stored),
                ("PUT", "/_ilm/"): ACK,
                ("GET", "/_index_template/"): NOT_FOUND,
                ("PUT", "/_index_template/"): ACK,
                ("GET", "/"): ES_ROOT,
            }
        )

    same = cluster_with(30)
    assert setup_index(same, "logstep", 30, quiet)[1].outcome == "unchanged"  # type: ignore[arg-type]
    assert not any(m == "PUT" and "_ilm" in p for m, p, _ in same.calls)
    changed = cluster_with(90)
    step = setup_index(changed, "logstep", 30, quiet)[1]  # type: ignore[arg-type]
    assert step.outcome == "done" and step.detail.startswith("updated")
    assert ("PUT", "/_ilm/policy/logstep-retention", ilm_policy(30)) in changed.calls


def test_sigv4_without_credentials_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from logstep.cli import main

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    assert main(["index", "status", "--endpoint", "https://search-x.eu-west-1.es.amazonaws.com"]) == 1
    assert "aws-es signs with AWS credentials, and none were found" in capsys.readouterr().err


def test_sigv4_signs_for_the_endpoints_service() -> None:
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from chalicelib.settings import SearchSettings

    class Session:
        region_name = "eu-west-1"

        def get_credentials(self) -> Credentials:
            return Credentials("AKIDEXAMPLE", "secret")

    search = SearchSettings(
        endpoint="https://c.eu-west-1.aoss.amazonaws.com", auth="aws-aoss", region="eu-west-1"
    )
    transport = index.transport_for(search, Session())
    request = AWSRequest(method="GET", url=search.endpoint + "/_index_template/logstep")
    transport._sign(request)
    assert "/eu-west-1/aoss/aws4_request" in request.headers["Authorization"]


@given(
    prefix=st.from_regex(r"[a-z0-9][a-z0-9._-]{0,30}", fullmatch=True),
    rotation=st.sampled_from(["OneHour", "OneDay", "OneWeek", "OneMonth", "NoRotation"]),
    timestamp_ms=st.integers(min_value=0, max_value=4_102_444_800_000),
    cluster=st.sampled_from([OPENSEARCH, OLD_OPENSEARCH, SERVERLESS, ELASTICSEARCH, ES_OSS]),
)
def test_every_built_template_is_a_valid_body_covering_the_delivery_indices(
    prefix: str, rotation: str, timestamp_ms: int, cluster: Cluster
) -> None:
    from fnmatch import fnmatchcase

    body = build_template(load_template(), cluster, prefix, SEARCH_JSON_FIELDS_KEY, "", rotation)
    assert unknown_template_keys(body) == set()
    name = index_name(prefix, rotation, timestamp_ms)
    assert any(fnmatchcase(name, pattern) for pattern in body["index_patterns"])
    assert body["template"]["mappings"]["properties"][SEARCH_JSON_FIELDS_KEY] == fields_mapping(cluster)[0]


def test_elasticsearch_before_composable_templates_is_refused() -> None:
    cluster = ScriptedCluster({("GET", "/"): ok({"version": {"number": "7.7.1", "build_flavor": "default"}})})
    with pytest.raises(IndexSetupError, match=r"Elasticsearch 7\.8\+"):
        setup_index(cluster, "logstep", 0, quiet)  # type: ignore[arg-type]
