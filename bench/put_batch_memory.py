"""put_batch's peak memory in the search delivery, for one full chunk (a measurement, not a test).

The search delivery's chunks are larger than the Kinesis delivery's (100,000 items /
64 MiB against 25,000 / 32 MiB), and put_batch's memory size is chosen from what one
chunk needs. Each scenario runs ``steps.put_batch`` in a fresh subprocess with the real
``SearchDelivery`` and ``HttpTransport`` against a local HTTP server (another process, so
its memory does not count) that answers every ``_bulk`` item the way the scenario says:

- ``delivered``: every item 201;
- ``items-429``: every item 429, so the whole chunk is written back as its pending set;
- ``whole-429``: every request 429 (the rest of the chunk waits for the Retry).

The chunk store is an in-memory dict standing in for S3 (moto would keep its own copies
of the objects in the same process), so the figures leave out boto3 (about 20-30 MB more
imported), the S3 read's buffers and the Lambda runtime. Prints, for each: the peak RSS
(VmHWM), the Python heap's peak during put_batch (tracemalloc, a second run), and the CPU
time of all threads against the handler's thread alone (the sandbox's ``cpu_ms`` counts
the handler's thread; the ``_bulk`` requests run on worker threads).
Run: ``python bench/put_batch_memory.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.batching import encode_records  # noqa: E402
from chalicelib.bulk import bulk_record  # noqa: E402

CHILD = r"""
import json, sys, time, tracemalloc
from chalicelib import steps
from chalicelib.delivery.search import HttpTransport, SearchDelivery, no_auth
from chalicelib.errors import LogstepError
from chalicelib.metrics import MetricsRecorder
from chalicelib.settings import SearchSettings


class Store:
    def __init__(self, chunk):
        self.objects = {"chunk": chunk}

    def remaining(self, run, index, key):
        # Handed over, not kept: S3's copy is not in the Lambda's memory.
        pending = self.objects.pop(f"{run}pending/{index:05d}.bin", None)
        return (pending, True) if pending is not None else (self.objects.pop(key), False)

    def put(self, key, body, metadata=None):
        self.objects[key] = body

    def uri(self, key):
        return "memory://" + key


def high_water_mb():
    # VmHWM, the peak RSS of this process image (ru_maxrss would carry the parent's
    # peak across fork and exec).
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


path, endpoint, traced = sys.argv[1], sys.argv[2], sys.argv[3] == "traced"
with open(path, "rb") as f:
    store = Store(f.read())  # as the chunk put_batch reads from S3
chunk_mb = len(store.objects["chunk"]) / 2**20
settings = SearchSettings(endpoint=endpoint, auth="none")
delivery = SearchDelivery(HttpTransport(settings.endpoint, no_auth, 60), settings)
state = {
    "bucket": "b", "run": "runs/r/", "execution": "e", "index": 0,
    "chunk": {"key": "chunk", "delivery": "search"},
}
before = high_water_mb()
if traced:
    tracemalloc.start()
thread_cpu, process_cpu = time.thread_time(), time.process_time()
try:
    steps.put_batch(state, store, lambda kind, target: delivery, MetricsRecorder("bench", "put_batch", print))
    outcome = "delivered"
except LogstepError as e:
    outcome = type(e).__name__
thread_cpu, process_cpu = time.thread_time() - thread_cpu, time.process_time() - process_cpu
peak = tracemalloc.get_traced_memory()[1] if traced else 0
print(json.dumps({
    "chunk_mb": chunk_mb,
    "pending_mb": len(store.objects.get("runs/r/pending/00000.bin", b"")) / 2**20,
    "rss_before_mb": before,
    "rss_peak_mb": high_water_mb(),
    "traced_peak_mb": peak / 2**20,
    "outcome": outcome,
    "thread_cpu_ms": thread_cpu * 1000,
    "process_cpu_ms": process_cpu * 1000,
}))
"""


def document(i: int) -> bytes:
    """~560 bytes (a 230-byte message): 100,000 of them fill a chunk to near its 64 MiB."""
    message = f"GET /api/orders/{i:08d} 200 " + "x" * 200
    return json.dumps(
        {
            "@timestamp": "2026-12-04T10:00:00.000Z",
            "message": message,
            "level": "INFO",
            "cloudwatch": {
                "id": f"{i:056d}",
                "log_group": "/aws/lambda/orders",
                "log_stream": "2026/12/04/[$LATEST]0123456789abcdef0123456789abcdef",
                "owner": "123456789012",
            },
            "lambda": {"function_name": "orders", "request_id": f"6f1b5e0a-93d2-4a8f-9bde-{i:012d}"},
        }
    ).encode()


def serve(scenario: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if scenario == "whole-429":
                status, answer = 429, b'{"error":{"type":"es_rejected_execution_exception"}}'
            else:
                item_status = 201 if scenario == "delivered" else 429
                items = []
                for line in body.split(b"\n")[0:-1:2]:
                    create = json.loads(line)["create"]
                    item = {"_index": create["_index"], "_id": create["_id"], "status": item_status}
                    if item_status != 201:
                        item["error"] = {"type": "es_rejected_execution_exception", "reason": "busy"}
                    items.append({"create": item})
                status = 200
                answer = json.dumps({"took": 1, "errors": item_status != 201, "items": items}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000, help="chunk items (default: the search cap)")
    args = parser.parse_args()
    records = [bulk_record("logstep-2026-12-04", f"{i:020d}", document(i)) for i in range(args.items)]
    with tempfile.TemporaryDirectory() as tmp:
        chunk = Path(tmp) / "chunk.bin"
        chunk.write_bytes(encode_records(records))
        del records
        for scenario in ("delivered", "items-429", "whole-429"):
            print(measure(scenario, chunk, args.items))


def measure(scenario: str, chunk: Path, items: int) -> str:
    """One scenario's figures, as a line."""
    server = serve(scenario)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    figures = {}
    for mode in ("rss", "traced"):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(chunk), endpoint, mode],
            capture_output=True,
            text=True,
            env=environment,
        )
        if out.returncode != 0:
            raise SystemExit(f"{scenario} ({mode}) failed:\n{out.stderr}")
        figures[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    server.shutdown()
    rss, traced = figures["rss"], figures["traced"]
    return (
        f"{scenario:>10}: chunk {rss['chunk_mb']:.1f} MiB ({items:,} items), pending set "
        f"{rss['pending_mb']:.1f} MiB, {rss['outcome']}; peak RSS {rss['rss_peak_mb']:.0f} MB "
        f"(before put_batch, the chunk read: {rss['rss_before_mb']:.0f} MB); Python heap peak "
        f"during put_batch {traced['traced_peak_mb']:.0f} MB (the chunk not counted); CPU "
        f"{rss['process_cpu_ms']:.0f} ms in all threads, {rss['thread_cpu_ms']:.0f} ms on the "
        "handler's thread"
    )


if __name__ == "__main__":
    main()
