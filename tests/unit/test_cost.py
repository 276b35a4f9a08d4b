"""logstep cost: the arithmetic against a hand-computed case, projections, and the command."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from logstep.cost import command
from logstep.cost import model as cost
from logstep.cost.model import (
    DAYS_PER_MONTH,
    GIB,
    Assumptions,
    FunctionUsage,
    StreamUsage,
    Usage,
    Workload,
    bill,
    load_prices,
    paper_model,
    project,
    totals,
    usage_from_summary,
)
from logstep.cost.units import record_units

PRICES = load_prices()


def hand_usage(output_records: str = "single") -> Usage:
    """A month of 1 GiB of logs in 1,000,000 events, with round numbers."""
    return Usage(
        events=1_000_000,
        log_bytes=GIB,
        executions=100,
        chunks=400,
        transitions=1000,
        retries=0,
        functions=(FunctionUsage("transform", invocations=10, billed_ms=100_000, memory_mb=2048),),
        s3_put=1000,
        s3_get=1000,
        claimcheck_bytes=GIB,
        # 730 GiB stored for an hour each: one GB-month.
        claimcheck_transient_bytes=730 * GIB,
        source=StreamUsage(records=100, bytes=50_000_000, units={"kb1": 50_000, "kb5": 10_000, "kb25": 100}),
        destination=StreamUsage(
            records=1_000_000,
            bytes=600_000_000,
            units={"kb1": 1_000_000, "kb5": 1_000_000, "kb25": 1_000_000},
        ),
        documents=StreamUsage(
            records=1_000_000,
            bytes=600_000_000,
            units={"kb1": 1_000_000, "kb5": 1_000_000, "kb25": 1_000_000},
        ),
        output_records=output_records,
    )


def test_bill_matches_a_hand_computed_case() -> None:
    a = Assumptions(claimcheck_days=DAYS_PER_MONTH)  # one month of storage
    lines = bill(hand_usage(), PRICES, a)
    expected = {
        "state transitions": 1000 * 0.025 / 1000,
        "requests": 10 * 0.20 / 1e6,
        "transform duration (2048 MB)": 100 * 2 * 0.0000166667,  # 100 s at 2 GB
        "PUT/LIST requests": 1000 * 0.005 / 1000,
        "GET requests": 1000 * 0.0004 / 1000,
        "claim-check storage (30.4167 days)": 1 * 0.023,  # 1 GB for a month
        "claim-check storage while runs deliver": 1 * 0.023,  # 730 GB for an hour
        "source: PUT payload units": 100 * 0.014 / 1e6,
        "destination: PUT payload units": 1_000_000 * 0.014 / 1e6,
        "ingestion (5 KB steps)": 1_000_000 * 5 * 1024 / GIB * 0.029,  # every record billed as 5 KB
    }
    assert {line.item: line.cost for line in lines} == pytest.approx(expected)
    t = totals(lines, hand_usage())
    assert t.total == pytest.approx(sum(expected.values()))
    assert t.per_gb == pytest.approx(t.total)  # exactly 1 GiB of logs
    assert t.per_million_events == pytest.approx(t.total)  # exactly 1,000,000 events
    assert t.total == pytest.approx(0.2320, abs=1e-4)
    duration = next(line for line in lines if "duration" in line.item)
    assert (duration.low, duration.high) == pytest.approx((duration.cost * 0.5, duration.cost * 3))


def test_on_demand_streams_bill_rounded_bytes_in_and_bytes_read() -> None:
    lines = bill(hand_usage(), PRICES, Assumptions(stream_mode="on-demand"))
    costs = {line.item: line.cost for line in lines}
    assert costs["destination: data in (1 KB steps)"] == pytest.approx(1_000_000 * 1024 / GIB * 0.08)
    assert costs["destination: data read once"] == pytest.approx(600_000_000 / GIB * 0.04)
    assert costs["source: data in (1 KB steps)"] == pytest.approx(50_000 * 1024 / GIB * 0.08)


def test_aggregated_firehose_is_a_range_from_records_to_documents() -> None:
    usage = hand_usage("aggregated")
    usage = Usage(
        **{
            **usage.__dict__,
            "destination": StreamUsage(
                records=24_000, bytes=600_000_000, units={"kb1": 600_000, "kb5": 120_000, "kb25": 24_000}
            ),
        }
    )
    (firehose,) = [line for line in bill(usage, PRICES, Assumptions()) if line.service == "Firehose"]
    assert firehose.cost == pytest.approx(120_000 * 5 * 1024 / GIB * 0.029)
    assert firehose.low == firehose.cost
    assert firehose.high == pytest.approx(1_000_000 * 5 * 1024 / GIB * 0.029)


def test_region_overrides_apply() -> None:
    assert load_prices(region="sa-east-1")["stepfunctions.transition"] == pytest.approx(0.0000375)
    assert load_prices(region="eu-west-1")["stepfunctions.transition"] == pytest.approx(0.000025)


def test_every_price_names_its_source_and_date() -> None:
    data = json.loads(cost.PRICES_PATH.read_text())
    for name, item in data["prices"].items():
        assert item["source"].startswith("https://aws.amazon.com/"), name
        assert item["date"] and item["unit"] and item["seen"], name


def test_paper_model_reproduces_the_issue() -> None:
    assert 0.5 < paper_model(300, aggregated=False, prices=PRICES) < 0.75  # "roughly $0.7 per GB"
    assert 0.025 < paper_model(300, aggregated=True, prices=PRICES) < 0.045  # "near $0.04"


def summary(output_records: str = "single") -> dict[str, object]:
    """A demo summary of one full batch: 200,000 events of 100 bytes in 1 execution, 8 chunks."""
    aggregated = output_records == "aggregated"
    dest_records = 4000 if aggregated else 200_000
    dest_units = record_units([25_000] * 4000) if aggregated else record_units([500] * 200_000)
    return {
        "events_in": 200_000,
        "log_bytes_in": 20_000_000,
        "batches": 1,
        "chunks": 8,
        "state_transitions": 14,
        "retries": 0,
        "lambda": {
            "ingest": {"invocations": 1, "billed_ms": 200, "memory_mb": 512},
            "decode": {"invocations": 1, "billed_ms": 4000, "memory_mb": 1769},
            "transform": {"invocations": 1, "billed_ms": 9000, "memory_mb": 1769},
            "put_batch": {"invocations": 8, "billed_ms": 12000, "memory_mb": 1024},
            "summarize": {"invocations": 1, "billed_ms": 5, "memory_mb": 256},
        },
        "s3_requests": {"PutObject": 19, "GetObject": 18, "DeleteObjects": 1},
        # The run delivered: summarize deleted all but its summary.
        "claimcheck": {"objects": 1, "bytes": 200, "written_bytes": 150_000_200},
        "source": {"records": 3400, "bytes": 6_000_000, "units": record_units([1765] * 3400)},
        "put_records": {"records": dest_records, "bytes": 100_000_000, "units": dest_units},
        "destination_documents": {
            "records": 200_000,
            "bytes": 100_000_000,
            "units": record_units([500] * 200_000),
        },
        "output_records": output_records,
        "settings": {"LOGSTEP_OUTPUT_RECORDS": output_records},
    }


def test_usage_from_summary_reads_the_demo_keys() -> None:
    usage = usage_from_summary(summary("aggregated"))
    assert (usage.events, usage.executions, usage.chunks, usage.transitions) == (200_000, 1, 8, 14)
    assert (usage.s3_put, usage.s3_get) == (19, 18)  # DELETE requests are free
    assert (usage.claimcheck_bytes, usage.claimcheck_transient_bytes) == (200, 150_000_000)
    assert usage.destination.units["kb25"] == 4000
    assert usage.documents.records == 200_000
    assert [f.name for f in usage.functions] == ["decode", "ingest", "put_batch", "summarize", "transform"]


def test_a_summary_from_before_deletion_counts_every_object_as_kept() -> None:
    old = {**summary(), "claimcheck": {"objects": 19, "bytes": 150_000_000}}
    usage = usage_from_summary(old)
    assert (usage.claimcheck_bytes, usage.claimcheck_transient_bytes) == (150_000_000, 0)


def test_projection_keeps_a_summary_per_execution_and_deletes_the_rest() -> None:
    usage = usage_from_summary(summary("aggregated"))
    month, _, _ = project(usage, Workload(events_per_day=1e9, avg_event_bytes=100), Assumptions())
    assert month.claimcheck_bytes == pytest.approx(200 * month.executions)
    # Written per log byte as in the run (the same event size): 7.5 bytes per byte of logs.
    assert month.claimcheck_transient_bytes == pytest.approx(month.log_bytes * 7.5, rel=0.01)


def test_projection_at_high_volume_with_a_long_window_uses_full_batches() -> None:
    usage = usage_from_summary(summary("aggregated"))
    workload = Workload(events_per_day=1e9, avg_event_bytes=100, batching_window_seconds=300)
    month, notes, hours = project(usage, workload, Assumptions())
    events = 1e9 * DAYS_PER_MONTH
    assert month.events == pytest.approx(events)
    # 6 MB source batches fill before the 300 s window: executions follow the bytes.
    source_bytes = events * 100 * 6_000_000 / 20_000_000
    assert month.executions == pytest.approx(source_bytes / 6_000_000)
    assert month.transitions == pytest.approx(month.executions * 6 + month.chunks)
    assert hours["destination_shards"] >= 2
    assert any("executions" in n for n in notes)


@pytest.mark.parametrize("window", [5, 60])
def test_projection_starts_an_execution_per_window_and_shard(window: float) -> None:
    usage = usage_from_summary(summary("aggregated"))
    workload = Workload(events_per_day=1e8, avg_event_bytes=100, batching_window_seconds=window)
    month, _, hours = project(usage, workload, Assumptions())
    # A shard takes at most 1 MiB/s: a 5 s window never gathers 6 MB, so every window is an execution.
    assert month.executions == pytest.approx(hours["source_shards"] * 86_400 / window * DAYS_PER_MONTH)


def test_projection_at_low_volume_pays_for_the_batching_window() -> None:
    usage = usage_from_summary(summary("aggregated"))
    workload = Workload(events_per_day=1e6, avg_event_bytes=100, batching_window_seconds=5)
    month, _, hours = project(usage, workload, Assumptions())
    # 3 GB a month trickles in: about one execution per source record, each window has one.
    assert hours["source_shards"] == 1
    source_records = 1e6 * DAYS_PER_MONTH / (200_000 / 3400)
    assert source_records < 86_400 / 5 * DAYS_PER_MONTH
    assert month.executions == pytest.approx(source_records)
    assert month.chunks == month.executions
    a = Assumptions()
    per_gb = totals(bill(month, PRICES, a), month).per_gb
    assert per_gb > 1  # transitions for every window dominate a trickle


def run_command(tmp_path: Path, *extra: str, output: str = "single") -> argparse.Namespace:
    path = tmp_path / f"{output}.json"
    path.write_text(json.dumps(summary(output)))
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args([str(path), *extra])


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_command_prints_a_bill(tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    assert command.run(run_command(tmp_path, "--format", fmt)) == 0
    out = capsys.readouterr().out
    assert "state transitions" in out
    if fmt == "text":
        assert "per GB of logs" in out and "price table" in out and "https://aws.amazon.com/" in out
    if fmt == "json":
        assert json.loads(out)[0]["totals"]["per_gb"] > 0


def test_command_projects_a_month(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = run_command(
        tmp_path, "--events-per-day", "50000000", "--avg-event-bytes", "200", output="aggregated"
    )
    assert command.run(args) == 0
    out = capsys.readouterr().out
    assert "shard-hours" in out and "projected from" in out


def test_command_wants_both_workload_options(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        command.run(run_command(tmp_path, "--events-per-day", "5"))


def test_projection_window_is_the_apps() -> None:
    import app

    assert app.INGEST_BATCHING_WINDOW_SECONDS == cost.BATCHING_WINDOW_SECONDS
