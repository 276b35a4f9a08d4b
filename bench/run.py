"""make bench: decode + transform + serialise, ours against the seed algorithm
(see docs/contributing.md, "Speed").

Prints events/s and MB/s (decompressed input) in-process, on one core; peak memory for a
6 MB Kinesis batch (measured in a fresh subprocess); and whole-process timings of
``logstep transform FILE`` against the seed script. The machine is shared, so each figure
is the best (and median) of several runs. A benchmark, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
sys.path[:0] = [str(ROOT), str(HERE)]

import corpus  # noqa: E402
import seed_transform  # noqa: E402

from chalicelib import native  # noqa: E402
from chalicelib.envelope import Envelope, decode_base64_record  # noqa: E402
from chalicelib.transform import TransformOptions, serialise_envelope  # noqa: E402
from chalicelib.transform.writers import PYTHON, Writers  # noqa: E402

# Lambda's invocation payload limit, which caps a Kinesis event source batch.
BATCH_BYTES = 6 * 1024 * 1024


def ours(datas: list[str], options: TransformOptions, writers: Writers = native.ACTIVE) -> int:
    """decode + transform + serialise every record the way the transform step does."""
    events = 0
    for data in datas:
        decoded = decode_base64_record(data)
        if isinstance(decoded, Envelope):
            serialised = serialise_envelope(decoded, options, writers).records
            events += len(serialised)
    return events


def seed(datas: list[str]) -> int:
    """The seed algorithm: decode, transform_log_event, one json.dumps per event."""
    events = 0
    for data in datas:
        serialised = [
            json.dumps(doc) for doc in seed_transform.process_input_record({"kinesis": {"data": data}})
        ]
        events += len(serialised)
    return events


def timed(runs: int, works: dict[str, Callable[[], int]]) -> dict[str, tuple[list[float], int]]:
    """CPU seconds of this process per run: the machine is shared, wall time is not ours alone.

    The works take turns, run after run, so a change in the machine's load during the
    benchmark falls on all of them alike rather than on whichever ran last.
    """
    out: dict[str, tuple[list[float], int]] = {name: ([], 0) for name in works}
    for _ in range(runs):
        for name, work in works.items():
            start = time.process_time()
            events = work()
            out[name][0].append(time.process_time() - start)
            out[name] = (out[name][0], events)
    return out


def corpus_file(records: int, events_per_record: int, seed_value: int) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"corpus-{records}x{events_per_record}-seed{seed_value}.json"
    if not path.exists():
        event = corpus.kinesis_event(records, events_per_record, seed_value)
        path.write_bytes(json.dumps(event).encode())
    return path


def batch_file(source: Path) -> tuple[Path, int]:
    """The first records of the corpus whose data adds up to at most 6 MB: one full batch."""
    event = json.loads(source.read_bytes())
    chosen, total = [], 0
    for record in event["Records"]:
        size = len(record["kinesis"]["data"])
        if total + size > BATCH_BYTES:
            break
        chosen.append(record)
        total += size
    path = OUT / "batch-6mb.json"
    path.write_bytes(json.dumps({"Records": chosen}).encode())
    return path, len(chosen)


MEMORY_PROBE = r"""
import json, resource, sys, tracemalloc
sys.path[:0] = [sys.argv[3], sys.argv[3] + "/bench"]
which, path = sys.argv[1], sys.argv[2]
datas = [r["kinesis"]["data"] for r in json.loads(open(path, "rb").read())["Records"]]
if which == "ours":
    from chalicelib.batching import Record, encode_records, pack_chunks, partition_key_for
    from chalicelib.envelope import Envelope, decode_base64_record
    from chalicelib.settings import DeliveryLimits
    from chalicelib import native
    from chalicelib.transform import TransformOptions, serialise_envelope
    options = TransformOptions()
    def records():
        for data in datas:
            decoded = decode_base64_record(data)
            if isinstance(decoded, Envelope):
                serialised = serialise_envelope(decoded, options, native.ACTIVE).records
                for event, data in zip(decoded.events, serialised):
                    yield Record(partition_key_for(event.id), data)
    def run():
        # as the transform step does: documents stream into delivery chunks, which are
        # encoded (and, in Lambda, written to S3) one at a time
        return [len(encode_records(chunk)) for chunk in pack_chunks(records(), DeliveryLimits())]
else:
    import seed_transform
    def run():
        kept = []
        for data in datas:
            docs = seed_transform.process_input_record({"kinesis": {"data": data}})
            kept.extend(json.dumps(d) for d in docs)
        return kept
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if len(sys.argv) > 4:
    tracemalloc.start()
    kept = run()
    peak = tracemalloc.get_traced_memory()[1]
    print(json.dumps({"tracemalloc_peak_mb": peak / 2**20}))
else:
    kept = run()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rss_before_mb": before / 1024, "peak_rss_mb": after / 1024}))
"""


def memory(which: str, path: Path, trace: bool) -> dict[str, float]:
    args = [sys.executable, "-c", MEMORY_PROBE, which, str(path), str(ROOT)]
    if trace:
        args.append("trace")
    result = subprocess.run(args, capture_output=True, text=True, check=True)
    return dict(json.loads(result.stdout))


def whole_process(commands: list[list[str]], runs: int) -> list[tuple[list[float], list[float]]]:
    """CPU seconds (user + sys of the child) and wall seconds of each run of each command.

    The commands take turns, run after run (see ``timed``).
    """
    out: list[tuple[list[float], list[float]]] = [([], []) for _ in commands]
    for _ in range(runs):
        for command, (cpu, wall) in zip(commands, out, strict=True):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, check=True, cwd=ROOT)
            wall.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return out


def import_check() -> tuple[float, list[str]]:
    """Import time of the ``logstep transform`` path and any heavy module it pulls in."""
    code = "import logstep.cli, logstep.transform_cmd, sys; print(','.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    )
    total_us = 0
    for line in result.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[2].startswith(" ") and not parts[2].startswith("  "):
            try:
                total_us += int(parts[1])
            except ValueError:
                continue
    modules = result.stdout.strip().split(",")
    heavy = [m for m in modules if m.split(".")[0] in ("boto3", "botocore", "moto", "chalice")]
    return total_us / 1000, heavy


def fmt(times: list[float]) -> str:
    return f"best {min(times):.3f}s  median {statistics.median(times):.3f}s  (n={len(times)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=400)
    parser.add_argument("--events-per-record", type=int, default=500)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--in-process-only", action="store_true", help="skip memory and whole-process runs")
    args = parser.parse_args()

    path = corpus_file(args.records, args.events_per_record, args.seed)
    event = json.loads(path.read_bytes())
    datas = [r["kinesis"]["data"] for r in event["Records"]]
    raw_bytes = sum(len(zlib.decompress(base64.b64decode(d), 31)) for d in datas)
    gz_bytes = sum(len(d) * 3 // 4 for d in datas)
    print(
        f"corpus: {path.name}: {len(datas)} Kinesis records, "
        f"{args.records * args.events_per_record:,} events, {gz_bytes / 1e6:.1f} MB gzip'd, "
        f"{raw_bytes / 1e6:.1f} MB decompressed; file {path.stat().st_size / 1e6:.1f} MB"
    )
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs "
        f"(shared; figures are best of {args.runs}, runs interleaved)"
    )
    print(f"line writers: {native.ACTIVE.name}: {native.ACTIVE.why}")

    options = TransformOptions()
    ecs = TransformOptions(output_format="ecs")
    ours(datas[:10], options)  # warm caches and regex compilation alike for both
    seed(datas[:10])
    results: dict[str, object] = {}
    print("\nin-process, decode + transform + serialise, one core:")
    rows = []
    measured = timed(
        args.runs,
        {
            "seed (stdlib)": lambda: seed(datas),
            "logstep": lambda: ours(datas, options),
            "logstep ecs": lambda: ours(datas, ecs),
            **(
                {"logstep python": lambda: ours(datas, options, PYTHON)}
                if native.ACTIVE.name != PYTHON.name
                else {}
            ),
        },
    )
    for name, (times, events) in measured.items():
        best = min(times)
        rows.append((name, events / best, raw_bytes / best / 1e6, times))
        mb_s = raw_bytes / best / 1e6
        print(f"  {name:14s} {events / best:>10,.0f} events/s  {mb_s:6.1f} MB/s  {fmt(times)}")
    seed_rate, ours_rate = rows[0][1], rows[1][1]
    others = ", ".join(f"{row[0].removeprefix('logstep ')}: {row[1] / seed_rate:.2f}x" for row in rows[2:])
    print(f"  ratio logstep/seed: {ours_rate / seed_rate:.2f}x ({others})")
    results["in_process"] = {r[0]: {"events_per_s": r[1], "mb_per_s": r[2], "times": r[3]} for r in rows}

    if args.in_process_only:
        return 0
    batch, batch_records = batch_file(path)
    print(
        f"\npeak memory, one 6 MB batch ({batch_records} records, {batch.stat().st_size / 1e6:.1f} MB "
        "event), fresh subprocess; logstep streams documents into delivery chunks as the transform "
        "step does; the seed keeps its serialised documents (its writer sends them all at the end):"
    )
    for which in ("seed", "ours"):
        rss = memory(which, batch, trace=False)
        traced = memory(which, batch, trace=True)
        name = "logstep" if which == "ours" else "seed (stdlib)"
        print(
            f"  {name:14s} peak RSS {rss['peak_rss_mb']:.0f} MB (interpreter + imports "
            f"{rss['rss_before_mb']:.0f} MB); tracemalloc peak {traced['tracemalloc_peak_mb']:.0f} MB"
        )
        results[f"memory_{which}"] = {**rss, **traced}

    import_ms, heavy = import_check()
    print(f"\nwhole process on {path.name}, stdout to /dev/null:")
    print(f"  logstep transform imports {import_ms:.0f} ms (-X importtime); heavy modules: {heavy or 'none'}")
    logstep_bin = str(Path(sys.executable).parent / "logstep")
    seed_cmd = [sys.executable, str(HERE / "seed_transform.py"), str(path)]
    ours_cmd = [logstep_bin, "transform", str(path)]
    commands = [seed_cmd, ours_cmd]
    if native.ACTIVE.name != PYTHON.name:  # and the Python writers, in a process told to use them
        commands.append(["env", f"{native.PURE_PYTHON_VARIABLE}=1", *ours_cmd])
    measured_processes = whole_process(commands, args.runs)
    (seed_cpu, seed_wall), (ours_cpu, ours_wall) = measured_processes[:2]
    events = args.records * args.events_per_record
    print(f"  seed script        {events / min(seed_cpu):>10,.0f} events/s  CPU {fmt(seed_cpu)}")
    print(f"  logstep transform  {events / min(ours_cpu):>10,.0f} events/s  CPU {fmt(ours_cpu)}")
    python_ratio = ""
    if len(measured_processes) > 2:
        python_cpu = measured_processes[2][0]
        print(f"  ... python writers {events / min(python_cpu):>10,.0f} events/s  CPU {fmt(python_cpu)}")
        python_ratio = f"; python writers: {min(seed_cpu) / min(python_cpu):.2f}x CPU"
        results["whole_process_python"] = {"logstep_cpu": python_cpu}
    print(
        f"  ratio: {min(seed_cpu) / min(ours_cpu):.2f}x CPU "
        f"(wall, best: {min(seed_wall) / min(ours_wall):.2f}x{python_ratio})"
    )
    results["whole_process"] = {
        "seed_cpu": seed_cpu,
        "seed_wall": seed_wall,
        "logstep_cpu": ours_cpu,
        "logstep_wall": ours_wall,
        "import_ms": import_ms,
    }
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
