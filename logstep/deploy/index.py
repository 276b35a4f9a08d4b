"""``logstep index setup`` and ``logstep index status``: what an index needs before documents arrive.

setup, idempotent, step by step:
  1. ask the cluster what it is (``GET /``: OpenSearch or Elasticsearch, which version);
     OpenSearch Serverless has no ``GET /`` and is known by its auth kind (``aws-aoss``);
  2. a lifecycle policy that deletes indices N days after their creation: ISM on OpenSearch
     (``_plugins/_ism/policies/<prefix>-retention`` with an ``ism_template`` for
     ``<prefix>-*``), ILM on Elasticsearch (``_ilm/policy/<prefix>-retention``, named by the
     template's ``index.lifecycle.name``). A cluster without the API (no ISM plugin,
     Serverless, the sandbox's osmem) is told about and skipped;
  3. the composable index template ``<prefix>`` built from ``infra/index-template.json``:
     ``index_patterns`` for the prefix, and the JSON fields key (``fields`` by default in
     search mode) mapped ``flat_object`` (OpenSearch 2.7+) or ``flattened``
     (Elasticsearch), so two services that put different types under one field name
     cannot get each other's documents rejected, and no log can grow the mapping.

The builders are pure functions over dicts; the HTTP part is a thin shell over
``chalicelib.delivery.search.HttpTransport`` (SigV4 / API key / basic auth, TLS verified),
so the sandbox installs the template with the same ``setup_index`` users run.

Templates: https://opensearch.org/docs/latest/im-plugin/index-templates/ and
https://www.elastic.co/guide/en/elasticsearch/reference/current/index-templates.html.
ISM: https://opensearch.org/docs/latest/im-plugin/ism/api/. ILM:
https://www.elastic.co/guide/en/elasticsearch/reference/current/ilm-put-lifecycle.html.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.delivery.search import HttpResponse, HttpTransport, TransportError
from chalicelib.indices import ROTATIONS
from chalicelib.settings import SEARCH_AUTHS, SEARCH_JSON_FIELDS_KEY, SearchSettings
from logstep.deploy import infra

TEMPLATE_PATH = infra.ROOT / "infra" / "index-template.json"
DEFAULT_RETENTION_DAYS = 30
# The top-level keys a composable index template body may have (Elasticsearch 7.8+ and
# OpenSearch 1.0+); anything else (a "_comment") is a 400 from a real cluster.
TEMPLATE_KEYS = frozenset(
    {"index_patterns", "template", "composed_of", "priority", "version", "_meta", "data_stream"}
)
# flat_object arrived in OpenSearch 2.7 (https://opensearch.org/docs/latest/field-types/
# supported-field-types/flat-object/); flattened in Elasticsearch 7.3, in the default
# (not the OSS) distribution (https://www.elastic.co/guide/en/elasticsearch/reference/
# current/flattened.html).
FLAT_OBJECT_SINCE = (2, 7)
FLATTENED_SINCE = (7, 3)
# Composable index templates: Elasticsearch 7.8+, every OpenSearch.
COMPOSABLE_TEMPLATES_SINCE_ES = (7, 8)
# An ism_template's own priority: a more specific prefix's policy can outrank this one.
ISM_TEMPLATE_PRIORITY = 100

Emit = Callable[[str], None]


class IndexSetupError(Exception):
    """The cluster could not be reached, refused the credentials, or refused the template."""


# -- the cluster ----------------------------------------------------------------------


@dataclass(frozen=True)
class Cluster:
    """What ``GET /`` says about a cluster (or what the auth kind implies, for Serverless)."""

    distribution: str  # "opensearch" or "elasticsearch"
    version: tuple[int, ...] = ()
    build_flavor: str = ""  # Elasticsearch: "default" or "oss"
    serverless: bool = False

    @property
    def opensearch(self) -> bool:
        """OpenSearch (a domain, Serverless or the sandbox's osmem) rather than Elasticsearch."""
        return self.distribution == "opensearch"

    @property
    def label(self) -> str:
        """A human name: "OpenSearch 2.11.0", "Elasticsearch 8.15.0", "OpenSearch Serverless"."""
        if self.serverless:
            return "OpenSearch Serverless"
        name = "OpenSearch" if self.opensearch else "Elasticsearch"
        version = ".".join(map(str, self.version))
        flavor = " (OSS)" if self.build_flavor == "oss" else ""
        return f"{name} {version}{flavor}".strip()

    @property
    def lifecycle_api(self) -> str:
        """The retention API the cluster would have: ISM on OpenSearch, ILM on Elasticsearch."""
        return "ISM" if self.opensearch else "ILM"


SERVERLESS = Cluster(distribution="opensearch", serverless=True)


def detect_cluster(root: Any) -> Cluster:
    """Read ``GET /``: ``version.distribution == "opensearch"``, else Elasticsearch."""
    version_info = root.get("version") if isinstance(root, Mapping) else None
    if not isinstance(version_info, Mapping):
        raise IndexSetupError(f"GET / did not describe a cluster: {str(root)[:200]}")
    distribution = "opensearch" if version_info.get("distribution") == "opensearch" else "elasticsearch"
    return Cluster(
        distribution=distribution,
        version=parse_version(str(version_info.get("number", ""))),
        build_flavor=str(version_info.get("build_flavor", "")),
    )


def parse_version(number: str) -> tuple[int, ...]:
    """ "2.11.0" -> (2, 11, 0); "8.0.0-SNAPSHOT" -> (8, 0, 0); garbage -> ()."""
    parts: list[int] = []
    for part in number.split("-", 1)[0].split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


# -- pure builders --------------------------------------------------------------------


def template_name(prefix: str) -> str:
    """The index template's name: the prefix itself."""
    return prefix


def policy_name(prefix: str) -> str:
    """The lifecycle policy's name (ISM policy id or ILM policy name)."""
    return f"{prefix}-retention"


def index_patterns(prefix: str, rotation: str = "OneDay") -> list[str]:
    """The indices a prefix's template covers: ``<prefix>-*``, or ``<prefix>`` without rotation.

    Every rotation but NoRotation appends ``-<date>`` (chalicelib.indices); NoRotation
    writes to the prefix itself, which ``<prefix>-*`` would not match.
    """
    return [prefix] if rotation == "NoRotation" else [f"{prefix}-*"]


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The committed template body (``infra/index-template.json``)."""
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def unknown_template_keys(body: Mapping[str, Any]) -> set[str]:
    """Top-level keys a cluster would reject in a composable index template."""
    return set(body) - TEMPLATE_KEYS


def fields_mapping(cluster: Cluster) -> tuple[dict[str, Any], str]:
    """How the JSON fields key is mapped on this cluster, and why.

    ``flat_object`` / ``flattened`` index every leaf as a keyword, whatever its type, and
    add one field to the mapping however many the logs have. A cluster with neither
    (OpenSearch before 2.7, Elasticsearch OSS) keeps the object without indexing it:
    documents are never rejected for it, but its fields cannot be searched.
    """
    if cluster.opensearch:
        if cluster.serverless or cluster.version >= FLAT_OBJECT_SINCE:
            return {"type": "flat_object"}, "flat_object"
        return {"type": "object", "enabled": False}, "stored, not indexed (flat_object needs OpenSearch 2.7+)"
    if cluster.build_flavor != "oss" and cluster.version >= FLATTENED_SINCE:
        return {"type": "flattened"}, "flattened"
    return (
        {"type": "object", "enabled": False},
        "stored, not indexed (flattened needs Elasticsearch 7.3+, default distribution)",
    )


def build_template(
    base: Mapping[str, Any],
    cluster: Cluster,
    prefix: str,
    fields_key: str = SEARCH_JSON_FIELDS_KEY,
    lifecycle_policy: str = "",
    rotation: str = "OneDay",
) -> dict[str, Any]:
    """The index template for a cluster and prefix (a new dict; ``base`` is left alone).

    ``fields_key`` ("" for none) is mapped as ``fields_mapping`` says; ``lifecycle_policy``
    (Elasticsearch only) names the ILM policy new indices follow.
    """
    unknown = unknown_template_keys(base)
    if unknown:
        raise ValueError(f"index template has keys a cluster rejects: {', '.join(sorted(unknown))}")
    body = copy.deepcopy(dict(base))
    body["index_patterns"] = index_patterns(prefix, rotation)
    template = body.setdefault("template", {})
    if fields_key:
        properties = template.setdefault("mappings", {}).setdefault("properties", {})
        if fields_key in properties:
            raise ValueError(f"JSON fields key {fields_key!r} is already a field of the document schema")
        properties[fields_key] = fields_mapping(cluster)[0]
    if lifecycle_policy:
        if cluster.opensearch:
            raise ValueError(
                "index.lifecycle.name is Elasticsearch's ILM; OpenSearch's ISM uses ism_template"
            )
        template.setdefault("settings", {})["index.lifecycle.name"] = lifecycle_policy
    return body


def ism_policy(prefix: str, retention_days: int, rotation: str = "OneDay") -> dict[str, Any]:
    """An ISM policy deleting ``<prefix>-*`` indices ``retention_days`` after their creation."""
    patterns = index_patterns(prefix, rotation)
    return {
        "policy": {
            "description": _policy_description(patterns, retention_days),
            "default_state": "hot",
            "states": [
                {
                    "name": "hot",
                    "actions": [],
                    "transitions": [
                        {"state_name": "delete", "conditions": {"min_index_age": f"{retention_days}d"}}
                    ],
                },
                {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
            ],
            "ism_template": [{"index_patterns": patterns, "priority": ISM_TEMPLATE_PRIORITY}],
        }
    }


def ilm_policy(retention_days: int) -> dict[str, Any]:
    """An ILM policy deleting an index ``retention_days`` after its creation (no rollover)."""
    return {"policy": {"phases": {"delete": {"min_age": f"{retention_days}d", "actions": {"delete": {}}}}}}


def _policy_description(patterns: Sequence[str], retention_days: int) -> str:
    return (
        f"logstep: delete {', '.join(patterns)} indices {retention_days} days after creation "
        "(logstep index setup)"
    )


def same_template(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether a cluster's stored template (``GET _index_template``) already is ``wanted``.

    Clusters store settings nested and as strings (``{"index": {"mapping": {...: "1000"}}}``)
    and add empty defaults (``composed_of: []``): both sides are normalised first.
    """
    return _normal_template(existing) == _normal_template(wanted)


def _normal_template(body: Mapping[str, Any]) -> dict[str, Any]:
    template = body.get("template") or {}
    settings = _flat_settings(template.get("settings") or {})
    return {
        "index_patterns": sorted(body.get("index_patterns") or []),
        "priority": body.get("priority"),
        "composed_of": list(body.get("composed_of") or []),
        "_meta": body.get("_meta") or {},
        "settings": settings,
        "mappings": template.get("mappings") or {},
        "aliases": template.get("aliases") or {},
    }


def _flat_settings(settings: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flat_settings(value, name + "."))
        else:
            if isinstance(value, bool):
                text = str(value).lower()
            elif isinstance(value, list):
                text = json.dumps(value)
            else:
                text = str(value)
            flat[name if name.startswith("index.") else "index." + name] = text
    return flat


def same_ism_policy(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether a stored ISM policy (``GET``'s ``policy``) does what ``wanted`` does.

    ISM adds defaults on read (action retry settings, ids, times), so the comparison is of
    what logstep sets: description, states and their transitions, the ism_template.
    """

    def essence(policy: Mapping[str, Any]) -> Any:
        states = [
            (
                state.get("name"),
                sorted(key for action in state.get("actions") or [] for key in action if key != "retry"),
                [(t.get("state_name"), t.get("conditions")) for t in state.get("transitions") or []],
            )
            for state in policy.get("states") or []
        ]
        templates = [
            (sorted(t.get("index_patterns") or []), t.get("priority"))
            for t in policy.get("ism_template") or []
        ]
        return (policy.get("description"), policy.get("default_state"), states, templates)

    return bool(essence(existing) == essence(wanted))


def same_ilm_policy(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether a stored ILM policy (``GET``'s ``policy``) has ``wanted``'s phases.

    Elasticsearch fills action defaults on read (``delete_searchable_snapshot``), so phases
    are compared by their age and the names of their actions.
    """

    def essence(policy: Mapping[str, Any]) -> dict[str, Any]:
        return {
            name: (phase.get("min_age", "0ms"), sorted(phase.get("actions") or {}))
            for name, phase in (policy.get("phases") or {}).items()
        }

    return essence(existing) == essence(wanted)


def missing_api(response: HttpResponse) -> bool:
    """Whether an answer means the cluster has no such API (plugin absent, Serverless, osmem).

    OpenSearch and Elasticsearch answer an unknown path ``400 no handler found for uri``;
    some proxies and newer versions say ``404``/``405``/``410`` with the same words, or
    ``Incorrect HTTP method``.
    """
    text = response.body[:2000].decode(errors="replace").lower()
    if response.status == 400 and "no handler found" in text:
        return True
    return response.status in (404, 405, 410) and (
        "no handler found" in text or "incorrect http method" in text or "unrecognized" in text
    )


# -- steps ----------------------------------------------------------------------------

DONE = "done"
UNCHANGED = "unchanged"
SKIPPED = "skipped"
FAILED = "failed"


@dataclass(frozen=True)
class Step:
    """One thing setup did, left as it was, skipped or failed, and why."""

    name: str
    outcome: str  # done / unchanged / skipped / failed
    detail: str

    def line(self) -> str:
        """The step as printed: ``lifecycle policy: skipped (...)``."""
        return f"{self.name}: {self.outcome}" + (f" ({self.detail})" if self.detail else "")


def setup_index(
    transport: HttpTransport,
    prefix: str,
    retention_days: int = DEFAULT_RETENTION_DAYS,
    emit: Emit = print,
    *,
    fields_key: str = SEARCH_JSON_FIELDS_KEY,
    rotation: str = "OneDay",
    serverless: bool = False,
    base_template: Mapping[str, Any] | None = None,
) -> list[Step]:
    """Install the lifecycle policy and the index template for ``prefix``; safe to run again.

    ``retention_days`` 0 installs no lifecycle policy. Each step is emitted as it ends.
    Raises IndexSetupError when the cluster cannot be reached, refuses the credentials, or
    refuses the template. A lifecycle API the cluster lacks is a skipped step; a policy the
    cluster refuses is a failed one, and the template still goes in.
    """
    steps: list[Step] = []

    def record(step: Step) -> Step:
        steps.append(step)
        emit(f"[{len(steps)}/3] {step.line()}")
        return step

    cluster = SERVERLESS if serverless else _cluster(transport)
    record(Step("cluster", DONE, f"{cluster.label} at {transport.endpoint}"))
    lifecycle = record(_install_lifecycle(transport, cluster, prefix, retention_days, rotation))
    ilm_name = (
        policy_name(prefix) if not cluster.opensearch and lifecycle.outcome in (DONE, UNCHANGED) else ""
    )
    base = base_template if base_template is not None else load_template()
    body = build_template(base, cluster, prefix, fields_key, ilm_name, rotation)
    record(_install_template(transport, cluster, prefix, body, fields_key))
    return steps


def _cluster(transport: HttpTransport) -> Cluster:
    response = _send(transport, "GET", "/")
    if response.status != 200:
        raise IndexSetupError(
            f"GET / at {transport.endpoint} answered {response.status}: {_reason(response)}"
        )
    return detect_cluster(response.json())


def _install_lifecycle(
    transport: HttpTransport, cluster: Cluster, prefix: str, retention_days: int, rotation: str
) -> Step:
    name = f"lifecycle policy {policy_name(prefix)}"
    if retention_days <= 0:
        return Step(name, SKIPPED, "--retention-days 0: indices are kept until you delete them")
    if rotation == "NoRotation":
        return Step(
            name,
            SKIPPED,
            f"NoRotation writes every document to the one index {prefix}: deleting it by age would "
            "delete them all; choose a rotation (LOGSTEP_INDEX_ROTATION) to expire old days",
        )
    if cluster.serverless:
        return Step(
            name,
            SKIPPED,
            "OpenSearch Serverless has no ISM; set a retention with a data lifecycle policy: "
            "aws opensearchserverless create-lifecycle-policy --type retention "
            f'--name {policy_name(prefix)} --policy \'{{"Rules":[{{"ResourceType":"index",'
            f'"Resource":["index/COLLECTION/{prefix}-*"],"MinIndexRetention":"{retention_days}d"}}]}}\'',
        )
    try:
        if cluster.opensearch:
            return _install_ism(transport, name, prefix, retention_days, rotation)
        return _install_ilm(transport, name, prefix, retention_days)
    except _MissingApiError as e:
        return Step(name, SKIPPED, f"the cluster has no {cluster.lifecycle_api} API ({e}); indices are kept")


class _MissingApiError(Exception):
    pass


def _install_ism(
    transport: HttpTransport, name: str, prefix: str, retention_days: int, rotation: str
) -> Step:
    path = f"/_plugins/_ism/policies/{policy_name(prefix)}"
    wanted = ism_policy(prefix, retention_days, rotation)
    current = _send(transport, "GET", path)
    _raise_if_missing(current)
    query = ""
    if current.status == 200:
        stored = current.json() or {}
        if same_ism_policy(stored.get("policy") or {}, wanted["policy"]):
            return Step(
                name, UNCHANGED, f"ISM deletes {prefix}-* indices {retention_days} days after creation"
            )
        # ISM refuses to overwrite a policy without the version it read (optimistic locking).
        query = f"?if_seq_no={stored.get('_seq_no')}&if_primary_term={stored.get('_primary_term')}"
    elif current.status != 404:
        return Step(name, FAILED, f"GET {path} answered {current.status}: {_reason(current)}")
    response = _send(transport, "PUT", path + query, _json(wanted))
    _raise_if_missing(response)
    if response.status not in (200, 201):
        return Step(name, FAILED, f"PUT {path} answered {response.status}: {_reason(response)}")
    verb = "updated" if query else "created"
    return Step(
        name,
        DONE,
        f"{verb}: ISM deletes {prefix}-* indices {retention_days} days after creation; it attaches "
        f"to indices created from now on (existing ones: POST _plugins/_ism/add/{prefix}-* "
        f'{{"policy_id":"{policy_name(prefix)}"}})',
    )


def _install_ilm(transport: HttpTransport, name: str, prefix: str, retention_days: int) -> Step:
    path = f"/_ilm/policy/{policy_name(prefix)}"
    wanted = ilm_policy(retention_days)
    current = _send(transport, "GET", path)
    _raise_if_missing(current)
    if current.status == 200:
        stored = (current.json() or {}).get(policy_name(prefix)) or {}
        if same_ilm_policy(stored.get("policy") or {}, wanted["policy"]):
            return Step(name, UNCHANGED, f"ILM deletes indices {retention_days} days after creation")
    elif current.status != 404:
        return Step(name, FAILED, f"GET {path} answered {current.status}: {_reason(current)}")
    response = _send(transport, "PUT", path, _json(wanted))
    _raise_if_missing(response)
    if response.status not in (200, 201):
        return Step(name, FAILED, f"PUT {path} answered {response.status}: {_reason(response)}")
    verb = "updated" if current.status == 200 else "created"
    return Step(
        name,
        DONE,
        f"{verb}: ILM deletes indices {retention_days} days after creation; the template names it "
        f"for indices created from now on (existing ones: PUT {prefix}-*/_settings "
        f'{{"index.lifecycle.name":"{policy_name(prefix)}"}})',
    )


def _raise_if_missing(response: HttpResponse) -> None:
    if missing_api(response):
        raise _MissingApiError(f"{response.status}: {_reason(response)}")
    if response.status in (401, 403):
        raise IndexSetupError(_auth_message(response))


def _install_template(
    transport: HttpTransport, cluster: Cluster, prefix: str, body: Mapping[str, Any], fields_key: str
) -> Step:
    name = f"index template {template_name(prefix)}"
    path = f"/_index_template/{template_name(prefix)}"
    if not cluster.opensearch and () < cluster.version < COMPOSABLE_TEMPLATES_SINCE_ES:
        raise IndexSetupError(f"{cluster.label} has no composable index templates (Elasticsearch 7.8+)")
    covers = f"{', '.join(body['index_patterns'])}"
    mapped = f"; {fields_key} mapped {fields_mapping(cluster)[1]}" if fields_key else ""
    current = _send(transport, "GET", path)
    _raise_if_auth(current)
    existing = _stored_template(current)
    if existing is not None and same_template(existing, body):
        return Step(name, UNCHANGED, f"covers {covers}{mapped}")
    response = _send(transport, "PUT", path, _json(body))
    _raise_if_auth(response)
    if response.status != 200:
        raise IndexSetupError(f"PUT {path} answered {response.status}: {_reason(response)}")
    verb = "replaced" if existing is not None else "created"
    return Step(name, DONE, f"{verb}: covers {covers}{mapped}; applies to indices created from now on")


def _stored_template(response: HttpResponse) -> dict[str, Any] | None:
    if response.status != 200:
        return None
    parsed = response.json()
    templates = parsed.get("index_templates") if isinstance(parsed, dict) else None
    if not templates or not isinstance(templates[0], dict):
        return None
    stored = templates[0].get("index_template")
    return stored if isinstance(stored, dict) else None


# -- status ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexInfo:
    """One index under the prefix, as ``_cat/indices`` reports it."""

    name: str
    docs: int
    size_bytes: int
    health: str = ""


@dataclass(frozen=True)
class IndexStatus:
    """The indices under a prefix, and whether its template and lifecycle policy are there."""

    cluster: Cluster
    indices: list[IndexInfo]
    template: bool
    policy: str  # "present", "absent", or why it cannot be known


def index_status(
    transport: HttpTransport, prefix: str, serverless: bool = False, rotation: str = "OneDay"
) -> IndexStatus:
    """Read the prefix's indices, template and lifecycle policy (nothing is changed)."""
    cluster = SERVERLESS if serverless else _cluster(transport)
    # A missing concrete index (NoRotation's one index, before any document) answers 404.
    targets = ",".join(index_patterns(prefix, rotation))
    response = _send(transport, "GET", f"/_cat/indices/{targets}?format=json&bytes=b")
    _raise_if_auth(response)
    if response.status not in (200, 404):
        raise IndexSetupError(f"_cat/indices answered {response.status}: {_reason(response)}")
    indices = parse_cat_indices(response.json() if response.status == 200 else [], prefix)
    template = _send(transport, "GET", f"/_index_template/{template_name(prefix)}")
    _raise_if_auth(template)
    return IndexStatus(
        cluster=cluster,
        indices=indices,
        template=_stored_template(template) is not None,
        policy=_policy_status(transport, cluster, prefix),
    )


def parse_cat_indices(rows: Any, prefix: str) -> list[IndexInfo]:
    """``_cat/indices?format=json&bytes=b`` rows of the prefix's indices, by name."""
    found = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, Mapping):
            continue
        name = str(row.get("index", ""))
        if name != prefix and not name.startswith(prefix + "-"):
            continue
        found.append(
            IndexInfo(
                name=name,
                docs=_int(row.get("docs.count")),
                size_bytes=_int(row.get("store.size")),
                health=str(row.get("health", "")),
            )
        )
    return sorted(found, key=lambda info: info.name)


def _int(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0  # a closed index reports no counts


def _policy_status(transport: HttpTransport, cluster: Cluster, prefix: str) -> str:
    if cluster.serverless:
        return "not applicable (Serverless: see the collection's data lifecycle policies)"
    path = (
        f"/_plugins/_ism/policies/{policy_name(prefix)}"
        if cluster.opensearch
        else f"/_ilm/policy/{policy_name(prefix)}"
    )
    response = _send(transport, "GET", path)
    if missing_api(response):
        return f"not available (the cluster has no {cluster.lifecycle_api} API)"
    _raise_if_auth(response)
    if response.status == 200:
        return "present"
    if response.status == 404:
        return "absent"
    return f"unknown ({response.status}: {_reason(response)})"


def format_status(status: IndexStatus, prefix: str, rotation: str = "OneDay") -> list[str]:
    """The lines ``logstep index status`` prints."""
    patterns = ",".join(index_patterns(prefix, rotation))
    lines = [f"cluster: {status.cluster.label}"]
    lines.append(f"index template {template_name(prefix)}: {'present' if status.template else 'absent'}")
    lines.append(f"lifecycle policy {policy_name(prefix)}: {status.policy}")
    if not status.indices:
        lines.append(f"indices {patterns}: none")
        return lines
    total_docs = sum(i.docs for i in status.indices)
    total_bytes = sum(i.size_bytes for i in status.indices)
    lines.append(f"indices {patterns}: {len(status.indices)}, {total_docs:,} documents, {_size(total_bytes)}")
    width = max(len(i.name) for i in status.indices)
    for info in status.indices:
        lines.append(
            f"  {info.name:<{width}}  {info.docs:>12,} docs  {_size(info.size_bytes):>10}  {info.health}"
        )
    return lines


def _size(size_bytes: int) -> str:
    value = float(size_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover (the loop returns)


# -- HTTP helpers ---------------------------------------------------------------------


def _send(transport: HttpTransport, method: str, path: str, body: bytes | None = None) -> HttpResponse:
    try:
        return transport.request(method, path, body)
    except TransportError as e:
        raise IndexSetupError(f"cannot reach {transport.endpoint}: {e}") from e


def _raise_if_auth(response: HttpResponse) -> None:
    if response.status in (401, 403):
        raise IndexSetupError(_auth_message(response))


def _auth_message(response: HttpResponse) -> str:
    return (
        f"the cluster answered {response.status} ({_reason(response)}): check --auth and the "
        "credentials, and that your identity may manage templates and policies (fine-grained "
        "access control: a role mapping; Serverless: a data access policy)"
    )


def _reason(response: HttpResponse) -> str:
    parsed = response.json()
    if isinstance(parsed, dict) and "error" in parsed:
        error = parsed["error"]
        if isinstance(error, dict):
            return str(error.get("reason") or error.get("type") or error)[:300]
        return str(error)[:300]
    return response.body[:300].decode(errors="replace")


def _json(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


# -- command line ---------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``logstep index setup|status`` options (the CLI's module protocol)."""
    sub = parser.add_subparsers(dest="index_command", required=True, metavar="ACTION")
    setup = sub.add_parser(
        "setup",
        help="install the index template and the lifecycle policy (idempotent)",
        description="install the index template and the lifecycle policy (idempotent)",
    )
    _target_arguments(setup)
    setup.add_argument(
        "--retention-days",
        type=int,
        default=DEFAULT_RETENTION_DAYS,
        metavar="N",
        help=f"delete indices N days after creation (default: {DEFAULT_RETENTION_DAYS}; 0: no policy)",
    )
    status = sub.add_parser(
        "status",
        help="the indices under the prefix with counts and sizes; template and policy present?",
        description="the indices under the prefix with counts and sizes; template and policy present?",
    )
    _target_arguments(status)


def _target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", default=None, help="read the cluster settings from this Chalice stage")
    parser.add_argument("--endpoint", default=None, metavar="URL", help="the cluster (https://...)")
    parser.add_argument(
        "--auth", default=None, choices=SEARCH_AUTHS, help="how to authenticate (default: from the endpoint)"
    )
    parser.add_argument(
        "--secret-arn", default=None, metavar="ARN", help="Secrets Manager secret for api-key / basic auth"
    )
    parser.add_argument("--index-prefix", default=None, metavar="P", help="index prefix (default: logstep)")
    parser.add_argument(
        "--index-rotation", default=None, choices=ROTATIONS, help="index rotation (default: OneDay)"
    )
    parser.add_argument(
        "--json-fields-key",
        default=None,
        metavar="KEY",
        help=f"the key JSON log fields go under (default: {SEARCH_JSON_FIELDS_KEY}; none: top level)",
    )
    parser.add_argument("--profile", default=None, help="AWS profile (default: the usual chain)")
    parser.add_argument("--region", default=None, help="AWS region (default: the profile's)")


def target_environment(args: argparse.Namespace, stage_env: Mapping[str, str]) -> dict[str, str]:
    """The stage's environment with the command line's options on top."""
    env = dict(stage_env)
    for option, variable in (
        ("endpoint", "LOGSTEP_SEARCH_ENDPOINT"),
        ("auth", "LOGSTEP_SEARCH_AUTH"),
        ("secret_arn", "LOGSTEP_SEARCH_SECRET_ARN"),
        ("index_prefix", "LOGSTEP_INDEX_PREFIX"),
        ("index_rotation", "LOGSTEP_INDEX_ROTATION"),
        ("json_fields_key", "LOGSTEP_JSON_FIELDS_KEY"),
    ):
        value = getattr(args, option, None)
        if value is not None:
            env[variable] = value
    return env


def json_fields_key(env: Mapping[str, str]) -> str:
    """The key the stage puts JSON fields under, as Settings.from_env reads it ("" = none)."""
    key = env.get("LOGSTEP_JSON_FIELDS_KEY", "") or SEARCH_JSON_FIELDS_KEY
    return "" if key == "none" else key


def run(args: argparse.Namespace) -> int:
    """``logstep index setup|status`` (the CLI's module protocol)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib.errors import LogstepError
    from logstep.deploy.deploy import DeployError

    try:
        transport, search, env = _connect(args)
        serverless = search.auth == "aws-aoss"
        if args.index_command == "setup":
            if args.retention_days < 0:
                raise IndexSetupError("--retention-days: 0 or more")
            print(f"logstep index setup: {search.endpoint}, prefix {search.index_prefix}")
            steps = setup_index(
                transport,
                search.index_prefix,
                args.retention_days,
                fields_key=json_fields_key(env),
                rotation=search.index_rotation,
                serverless=serverless,
            )
            failed = [s for s in steps if s.outcome == FAILED]
            if failed:
                print("index template installed, but " + "; ".join(s.line() for s in failed), file=sys.stderr)
                return 1
            return 0
        status = index_status(transport, search.index_prefix, serverless, search.index_rotation)
        for line in format_status(status, search.index_prefix, search.index_rotation):
            print(line)
        return 0
    except (IndexSetupError, LogstepError, DeployError, BotoCoreError, ClientError) as e:
        print(f"logstep index {args.index_command}: {e}", file=sys.stderr)
        return 1


def _connect(args: argparse.Namespace) -> tuple[HttpTransport, SearchSettings, dict[str, str]]:
    from logstep.deploy.deploy import stage_environment

    if not args.stage and not args.endpoint:
        raise IndexSetupError("say which cluster: --stage S (its LOGSTEP_SEARCH_*) or --endpoint URL")
    env = target_environment(args, stage_environment(args.stage) if args.stage else {})
    if not env.get("LOGSTEP_SEARCH_ENDPOINT"):
        raise IndexSetupError(
            f"stage {args.stage} has no LOGSTEP_SEARCH_ENDPOINT in .chalice/config.json: pass --endpoint URL"
        )
    session = _session(args)
    if session is not None and session.region_name:
        env.setdefault("AWS_REGION", session.region_name)
    search = SearchSettings.from_env(env, _integer(env))
    if "{" in search.secret_arn and session is not None:
        search = _fill_secret_arn(search, session)
    return transport_for(search, session), search, env


def transport_for(search: SearchSettings, session: Any) -> HttpTransport:
    """An HttpTransport for the settings: SigV4 with the session's credentials, or the secret's."""
    from chalicelib.delivery.search import signer_for

    def credentials() -> Any:
        found = session.get_credentials() if session is not None else None
        if found is None:
            raise IndexSetupError(f"{search.auth} signs with AWS credentials, and none were found")
        return found

    secretsmanager = (
        session.client("secretsmanager")
        if session is not None and search.auth in ("api-key", "basic")
        else None
    )
    return HttpTransport(
        search.endpoint, signer_for(search, credentials, secretsmanager), search.timeout_seconds
    )


def _session(args: argparse.Namespace) -> Any:
    import boto3

    return boto3.Session(profile_name=args.profile, region_name=args.region)


def _fill_secret_arn(search: SearchSettings, session: Any) -> SearchSettings:
    import dataclasses

    from logstep.deploy.deploy import fill

    identity = session.client("sts").get_caller_identity()
    partition = str(identity["Arn"]).split(":")[1]
    arn = fill(search.secret_arn, partition, session.region_name or "", str(identity["Account"]))
    return dataclasses.replace(search, secret_arn=arn)


def _integer(env: Mapping[str, str]) -> Callable[[str, int], int]:
    def integer(name: str, default: int) -> int:
        raw = env.get(name, "")
        try:
            return int(raw) if raw else default
        except ValueError as e:
            raise IndexSetupError(f"{name}={raw!r}: not an integer") from e

    return integer
