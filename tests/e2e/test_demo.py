"""The sandbox as a newcomer meets it: `logstep demo` and `logstep transform` as processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, envelope, gzip_json, kinesis_event, load_event, zlib_json

LOGSTEP = [sys.executable, "-m", "logstep"]


def logstep(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*LOGSTEP, *args], cwd=REPO_ROOT, input=stdin, capture_output=True, timeout=300, check=False
    )


@pytest.mark.slow
def test_demo_with_faults_delivers_every_event_and_writes_its_counters(tmp_path: Path) -> None:
    summary_path, out_path = tmp_path / "summary.json", tmp_path / "docs.jsonl"
    result = logstep(
        "demo",
        "--events", "1500",
        "--throttle-rate", "0.3",
        "--internal-failure-rate", "0.05",
        "--call-throttle-rate", "0.1",
        "--seed", "11",
        "--summary-json", str(summary_path),
        "--out", str(out_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert b"every event accounted for" in result.stdout
    assert b"executions:" in result.stderr  # progress while it runs
    summary = json.loads(summary_path.read_text())
    assert summary["events_in"] == 1500
    assert summary["unique_events_delivered"] == 1500
    assert summary["missing_events"] == 0
    assert summary["accounted"] is True
    assert summary["executions"] == {"SUCCEEDED": summary["batches"]}
    assert summary["retries"] > 0
    # Whole-call throttles are a handful of calls at 10% here: tests/statemachine asserts them.
    assert summary["put_records"]["record_errors"]["ProvisionedThroughputExceededException"] > 0
    assert summary["state_transitions"] >= summary["batches"] * 6
    assert set(summary["lambda"]) == {"ingest", "decode", "transform", "put_batch", "summarize"}
    assert summary["lambda"]["put_batch"]["memory_mb"] == 1024
    assert summary["s3_requests"]["PutObject"] > 0
    documents = [json.loads(line) for line in out_path.read_text().splitlines()]
    assert len(documents) == summary["documents_delivered"]
    kinds = {d.get("lambda", {}).get("type") for d in documents}
    assert {"START", "END", "REPORT"} <= kinds
    # The Firehose stand-in took the stream to the search server: every event indexed.
    from logstep.sandbox.search import osmem_available

    if osmem_available():
        assert summary["search"] is None and summary["firehose"] is None
        return
    search, firehose = summary["search"], summary["firehose"]
    assert summary["delivery"] == "kinesis"
    assert search["unique"] == summary["events_in"] == 1500
    assert search["indexed"] == search["unique"] + search["duplicates"]
    assert search["duplicates"] == summary["duplicates"]  # the stream's copies, no more
    assert firehose["not_indexed_events"] == 0 and firehose["backed_up"] == 0
    assert firehose["documents_read"] == summary["put_records"]["records"] == firehose["indexed"]
    assert firehose["flushes"]["interval"] >= 1
    assert "Firehose (stand-in)" in result.stdout.decode() and "errors by log group" in result.stdout.decode()


@pytest.mark.slow
def test_demo_default_delivery_aggregated_with_a_crash_reports_the_duplicates_it_indexed(
    tmp_path: Path,
) -> None:
    from logstep.sandbox.search import osmem_available

    if osmem_available():
        pytest.skip(osmem_available())
    summary_path = tmp_path / "summary.json"
    result = logstep(
        "demo",
        "--events", "1000",
        "--output-records", "aggregated",
        "--crash-after-write", "1",
        "--search-throttle-rate", "0.2",
        "--seed", "5",
        "--summary-json", str(summary_path),
        "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout.decode()[-2000:] + result.stderr.decode()[-2000:]
    summary = json.loads(summary_path.read_text())
    search, firehose = summary["search"], summary["firehose"]
    # Done when: every event indexed; the resent chunk's copies are reported, not hidden.
    assert search["unique"] == summary["events_in"] == 1000
    assert search["duplicates"] > 0 and search["indexed"] == 1000 + search["duplicates"]
    assert summary["duplicates"] == search["duplicates"]
    assert summary["lambda"]["put_batch"]["errors"] == 1
    assert firehose["aggregated_records"] > 0 and firehose["documents_read"] == search["indexed"]
    assert firehose["item_retries"] > 0 and search["injected"]["429"] > 0
    assert firehose["not_indexed_events"] == 0 and summary["accounted"] is True
    out = result.stdout.decode()
    assert f"{search['indexed']} documents in logstep-* (counted by the index), 1000 unique, " in out
    assert f"{search['duplicates']} duplicate _ids" in out


@pytest.mark.slow
def test_demo_with_an_input_event_quarantines_what_is_not_an_envelope(tmp_path: Path) -> None:
    good = load_event("kinesis_cwl_envelope.json")
    event = kinesis_event(
        [
            gzip_json(good),
            b"\x00not an envelope",
            zlib_json(envelope([{"id": "9", "timestamp": 1, "message": "z\n"}])),
        ]
    )
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    summary_path = tmp_path / "summary.json"
    result = logstep("demo", "--input", str(path), "--summary-json", str(summary_path), "--quiet")
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()[-2000:]
    summary = json.loads(summary_path.read_text())
    assert (summary["events_in"], summary["unique_events_delivered"]) == (6, 6)
    assert summary["quarantined_records"] == 1


def test_transform_prints_one_document_per_event_in_order() -> None:
    good = load_event("kinesis_cwl_envelope.json")
    control = {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logEvents": []}
    event = kinesis_event([gzip_json(control), gzip_json(good)])
    result = logstep("transform", "-", stdin=json.dumps(event).encode())
    assert result.returncode == 0, result.stderr.decode()
    documents = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["cloudwatch"]["id"] for d in documents] == [e["id"] for e in good["logEvents"]]


def test_transform_reads_a_decoded_envelope_file() -> None:
    result = logstep("transform", str(REPO_ROOT / "tests" / "events" / "kinesis_cwl_envelope.json"))
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 5


@pytest.mark.slow
def test_demo_search_delivery_with_faults_puts_every_event_in_the_index_once(tmp_path: Path) -> None:
    from logstep.sandbox.search import osmem_available

    if osmem_available():
        pytest.skip(osmem_available())
    summary_path = tmp_path / "summary.json"
    result = logstep(
        "demo",
        "--delivery", "search",
        "--events", "1500",
        "--search-throttle-rate", "0.3",
        "--search-error-rate", "0.05",
        "--search-request-throttle-rate", "0.1",
        "--seed", "11",
        "--summary-json", str(summary_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    out = result.stdout.decode()
    assert "every event accounted for" in out
    assert "1500 documents in logstep-* (counted by the index), 1500 unique, 0 duplicate _ids" in out
    assert "errors by log group" in out and "slowest Lambda REPORTs" in out
    # The search server stops quietly (osmem prints "exiting: stdin closed" when stopped
    # by closing its stdin; the sandbox stops it with SIGTERM).
    assert b"osmem-server" not in result.stderr
    summary = json.loads(summary_path.read_text())
    search = summary["search"]
    assert summary["delivery"] == "search"
    assert (search["indexed"], search["unique"], search["duplicates"]) == (1500, 1500, 0)
    assert summary["documents_delivered"] == summary["unique_events_delivered"] == 1500
    assert search["injected"]["429"] > 0 and search["injected"]["503"] > 0
    assert search["item_errors"]["429"] >= search["injected"]["429"]
    assert search["bulk_requests"] > summary["batches"] and summary["retries"] > 0
    assert summary["put_records"]["calls"] == 0  # nothing went to a stream
    assert search["searches"]["slowest_reports"]
    # Priced at the memory `logstep deploy` gives put_batch for this delivery.
    assert summary["lambda"]["put_batch"]["memory_mb"] == 512
    assert summary["executions"] == {"SUCCEEDED": summary["batches"]}


def test_demo_falls_back_to_kinesis_where_no_search_server_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse
    import contextlib

    from logstep.sandbox import demo
    from logstep.sandbox import search as search_sandbox

    monkeypatch.setattr(search_sandbox, "osmem_available", lambda: "no wheel for linux/aarch64")
    args = argparse.Namespace(
        delivery="search", seed=1, search_throttle_rate=0.0, search_error_rate=0.0,
        search_request_throttle_rate=0.0, stream_only=False,
    )  # fmt: skip
    with contextlib.ExitStack() as stack:
        assert demo._start_search(args, stack) is None
    assert args.delivery == "kinesis"
    said = capsys.readouterr().err
    assert "cannot start a search server on this platform (no wheel for linux/aarch64)" in said
    assert "falling back to the Kinesis delivery" in said
    # The default delivery keeps today's stream-only account, and says why.
    args.delivery = "kinesis"
    with contextlib.ExitStack() as stack:
        assert demo._start_search(args, stack) is None
    said = capsys.readouterr().err
    assert "cannot start a search server on this platform (no wheel for linux/aarch64)" in said
    assert "the documents stay on the destination stream (no Firehose stand-in)" in said
    args.stream_only = True  # asked for: no search server at all, and nothing to say
    with contextlib.ExitStack() as stack:
        assert demo._start_search(args, stack) is None
    assert capsys.readouterr().err == ""
