"""The sandbox's search cluster: osmem-server, behind a fault-injecting _bulk proxy.

``osmem-server`` (PyPI) is an in-memory OpenSearch-compatible server shipped as a static
binary in a wheel; it stands in for OpenSearch the way moto stands in for AWS. The
pipeline's put_batch does not talk to it directly but to a small HTTP proxy on
127.0.0.1, which forwards every request unchanged except ``_bulk``: there it can answer
a share of items with ``429`` or ``503`` (those items never reach the server), and a
share of whole requests with ``429``, as a busy cluster does. Every decision is a hash
of (seed, document ``_id``, attempt), so a run reproduces whatever order concurrent Map
iterations run in. The proxy also counts what the cluster answered, item by item.

Users search the server itself (``url``): the proxy is only the pipeline's way in.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import platform
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from logstep.cost.units import record_units


class SearchServerUnavailable(RuntimeError):
    """osmem-server cannot run here (no wheel for this platform) or did not start."""


@dataclass(frozen=True)
class SearchFaultPlan:
    """Shares of bulk items answered 429 / 503, and of whole _bulk requests answered 429."""

    seed: int = 0
    throttle_rate: float = 0.0
    error_rate: float = 0.0
    request_throttle_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("throttle_rate", "error_rate", "request_throttle_rate"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        if self.throttle_rate + self.error_rate >= 1.0:
            raise ValueError("throttle_rate + error_rate must stay below 1")

    @property
    def active(self) -> bool:
        """Whether any fault is injected."""
        return bool(self.throttle_rate or self.error_rate or self.request_throttle_rate)


@dataclass
class BulkCounters:
    """What the pipeline's _bulk requests met: requests, items, and item statuses."""

    bulk_requests: int = 0
    throttled_requests: int = 0
    items: int = 0
    item_bytes: int = 0
    # Every item answer that was not a 2xx, by status: injected 429/503, the server's own
    # 409 (already there) and 400-class rejections.
    item_errors: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    # Documents sent, rounded up per billing unit as for Kinesis records (logstep.cost.units).
    units: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The counters as the demo's summary reports them."""
        return {
            "bulk_requests": self.bulk_requests,
            "throttled_requests": self.throttled_requests,
            "items_sent": self.items,
            "item_bytes": self.item_bytes,
            "item_errors": dict(sorted(self.item_errors.items())),
            "injected": dict(sorted(self.injected.items())),
        }


def _unit(*parts: object) -> float:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


INJECTED_ERRORS = {
    429: {
        "type": "es_rejected_execution_exception",
        "reason": "rejected execution of coordinating operation (injected by the logstep sandbox)",
    },
    503: {
        "type": "unavailable_shards_exception",
        "reason": "primary shard is not active (injected by the logstep sandbox)",
    },
}


class BulkFaults:
    """Decides and applies the faults of one _bulk body; thread-safe."""

    def __init__(self, plan: SearchFaultPlan) -> None:
        self.plan = plan
        self.counters = BulkCounters()
        self._attempts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def split(self, body: bytes) -> tuple[list[tuple[bytes, bytes]], list[int | None], bool]:
        """Items of a bulk body, per item the injected status (None: forward it), and
        whether the whole request is refused with 429."""
        lines = body.split(b"\n")
        items = [(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2) if lines[i]]
        decisions: list[int | None] = []
        with self._lock:
            self.counters.bulk_requests += 1
            attempts = []
            for action, _ in items:
                doc_id = _item_id(action)
                self._attempts[doc_id] += 1
                attempts.append((doc_id, self._attempts[doc_id]))
            first = attempts[0] if attempts else ("", 0)
            if items and _unit(self.plan.seed, "request", *first) < self.plan.request_throttle_rate:
                self.counters.throttled_requests += 1
                self.counters.injected["request 429"] += 1
                return items, [], True
            for doc_id, attempt in attempts:
                u = _unit(self.plan.seed, doc_id, attempt)
                if u < self.plan.throttle_rate:
                    decisions.append(429)
                elif u < self.plan.throttle_rate + self.plan.error_rate:
                    decisions.append(503)
                else:
                    decisions.append(None)
        return items, decisions, False

    def record(self, items: list[tuple[bytes, bytes]], answers: list[dict[str, Any]]) -> None:
        """Count what the items met (after the server answered the forwarded ones)."""
        with self._lock:
            self.counters.items += len(items)
            self.counters.item_bytes += sum(len(doc) for _, doc in items)
            merged = record_units(len(doc) for _, doc in items)
            for key, value in merged.items():
                self.counters.units[key] = self.counters.units.get(key, 0) + value
            for answer in answers:
                outcome = next(iter(answer.values()))
                status = int(outcome.get("status", 0))
                if not 200 <= status < 300:
                    self.counters.item_errors[str(status)] += 1
                if outcome.get("error", {}).get("reason", "").endswith("(injected by the logstep sandbox)"):
                    self.counters.injected[str(status)] += 1


def _item_id(action: bytes) -> str:
    try:
        parsed = json.loads(action)
        return str(next(iter(parsed.values())).get("_id", ""))
    except (ValueError, AttributeError, StopIteration):
        return hashlib.blake2b(action, digest_size=8).hexdigest()


def _injected_item(action: bytes, status: int) -> dict[str, Any]:
    parsed = json.loads(action)
    op, meta = next(iter(parsed.items()))
    return {
        op: {
            "_index": meta.get("_index"),
            "_id": meta.get("_id"),
            "status": status,
            "error": INJECTED_ERRORS[status],
        }
    }


class _Proxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, faults: BulkFaults) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = upstream
        self.faults = faults


class _ProxyHandler(BaseHTTPRequestHandler):
    server: _Proxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the demo reports its own progress."""

    def _forward(self, method: str, body: bytes | None) -> tuple[int, bytes, str]:
        headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
        request = urllib.request.Request(
            self.server.upstream + self.path, data=body, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return (
                    response.status,
                    response.read(),
                    response.headers.get("Content-Type", "application/json"),
                )
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers.get("Content-Type", "application/json")
        except (urllib.error.URLError, OSError) as e:
            # The server itself is gone or stuck: a gateway's 502, retryable for the pipeline.
            answer = {"error": {"type": "bad_gateway", "reason": f"search server: {e}"}, "status": 502}
            return 502, json.dumps(answer).encode(), "application/json"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        path = self.path.split("?", 1)[0]
        if self.command == "POST" and path.endswith("/_bulk") and body:
            status, out, content_type = self._bulk(body)
        else:
            status, out, content_type = self._forward(self.command, body)
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its timeout): it resends, and create + _id answers 409.
            self.close_connection = True

    def _bulk(self, body: bytes) -> tuple[int, bytes, str]:
        faults = self.server.faults
        items, decisions, refused = faults.split(body)
        if refused:
            error = {"error": dict(INJECTED_ERRORS[429]), "status": 429}
            return 429, json.dumps(error).encode(), "application/json"
        forward = [item for item, d in zip(items, decisions, strict=True) if d is None]
        answers: list[dict[str, Any]] = []
        if forward:
            payload = b"".join(a + b"\n" + d + b"\n" for a, d in forward)
            status, out, content_type = self._forward("POST", payload)
            if status != 200:
                return status, out, content_type
            answers = list(json.loads(out).get("items", []))
        merged: list[dict[str, Any]] = []
        upstream = iter(answers)
        for (action, _), decision in zip(items, decisions, strict=True):
            merged.append(_injected_item(action, decision) if decision is not None else next(upstream))
        faults.record(items, merged)
        errors = any(not 200 <= int(next(iter(a.values())).get("status", 0)) < 300 for a in merged)
        return 200, json.dumps({"took": 1, "errors": errors, "items": merged}).encode(), "application/json"

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


def osmem_available() -> str:
    """ "" when osmem-server can run here, else why not."""
    try:
        from osmem_server import resolve_binary
    except ImportError:
        return (
            f"osmem-server is not installed: it has no wheel for {sys.platform}/{platform.machine()} "
            "(wheels exist for Linux x86-64, macOS arm64 and Windows)"
        )
    try:
        resolve_binary()
    except Exception as e:  # osmem's own error names the platform
        return str(e)
    return ""


class SearchSandbox:
    """osmem-server plus the fault proxy. Use as a context manager."""

    def __init__(self, plan: SearchFaultPlan | None = None, addr: str | None = None) -> None:
        self.plan = plan or SearchFaultPlan()
        self.addr = addr
        self.faults = BulkFaults(self.plan)
        self._server: Any = None
        self._proxy: _Proxy | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The search server itself (what users curl)."""
        return str(self._server.url)

    @property
    def proxy_url(self) -> str:
        """Where the pipeline sends its requests."""
        assert self._proxy is not None
        return f"http://127.0.0.1:{self._proxy.server_address[1]}"

    def environment(self, index_prefix: str = "logstep") -> dict[str, str]:
        """The stage environment of a search-delivery stage that writes here."""
        return {
            "LOGSTEP_DELIVERY": "search",
            "LOGSTEP_SEARCH_ENDPOINT": self.proxy_url,
            "LOGSTEP_SEARCH_AUTH": "none",
            "LOGSTEP_INDEX_PREFIX": index_prefix,
            # osmem indexes ~2,000 documents/s on a shared machine, far slower than a cluster:
            # a 5,000-document bulk can take longer than the 30 s default (the resend would
            # only meet 409s, but wastes the sandbox's time). 90 s stays deployable: below
            # put_batch's 110 s timeout less the 5 s margin.
            "LOGSTEP_BULK_TIMEOUT_SECONDS": "90",
        }

    def __enter__(self) -> SearchSandbox:
        reason = osmem_available()
        if reason:
            raise SearchServerUnavailable(reason)
        from osmem_server import OsmemServer

        try:
            self._server = OsmemServer.start(japanese=False, addr=self.addr)
        except Exception as e:
            raise SearchServerUnavailable(f"osmem-server did not start: {e}") from e
        self._proxy = _Proxy(self._server.url, self.faults)
        self._thread = threading.Thread(target=self._proxy.serve_forever, name="search-proxy", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proxy is not None:
            self._proxy.shutdown()
            self._proxy.server_close()
            self._proxy = None
        if self._server is not None:
            # SIGTERM first: osmem exits quietly on it, while the stdin close that
            # OsmemServer.close relies on prints "exiting: stdin closed" into the demo's output.
            # close() then waits, and kills a server that did not stop.
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                self._server.process.terminate()
                self._server.process.wait(timeout=5)
            self._server.close()
            self._server = None

    # ---- reading the index back ----------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """A JSON request to the server itself (not through the proxy)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: {e.code} {e.read()[:300]!r}") from e

    def refresh(self) -> None:
        """Make every write searchable."""
        self.request("POST", "/_refresh")

    def count(self, index: str = "logstep-*") -> int:
        """Documents the index holds, counted by the index."""
        try:
            return int(self.request("GET", f"/{index}/_count")["count"])
        except RuntimeError:
            return 0  # no index yet

    def documents(
        self, index: str = "logstep-*", source: list[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every document (``_id``, ``_index``, ``_source``), paged with search_after on ``_id``."""
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {"size": 5000, "sort": [{"_id": "asc"}]}
            if source is not None:
                body["_source"] = source
            if after is not None:
                body["search_after"] = after
            try:
                hits = self.request("POST", f"/{index}/_search", body)["hits"]["hits"]
            except RuntimeError:
                return
            if not hits:
                return
            yield from hits
            after = hits[-1]["sort"]


def install_index_template(search: SearchSandbox, prefix: str = "logstep") -> None:
    """What ``logstep index setup`` installs, put on the sandbox's server the same way (the
    template with the JSON fields key as flat_object; osmem has no ISM, which it skips)."""
    from chalicelib.delivery.search import HttpTransport, no_auth
    from logstep.deploy.index import setup_index

    setup_index(HttpTransport(search.url, no_auth, 30), prefix, emit=lambda _line: None)
