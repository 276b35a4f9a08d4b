"""logstep cost for the search delivery: no destination stream, no Firehose, and put_batch
priced as its CPU time plus each _bulk request's wait at the price table's assumed latency."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import pytest

from logstep.cost import command
from logstep.cost import model as cost
from logstep.cost.model import (
    GIB,
    Assumptions,
    Workload,
    bill,
    fixed_lines,
    load_prices,
    project,
    totals,
    usage_from_summary,
)
from logstep.cost.units import record_units

PRICES = load_prices()
WALL_MS = 600_000  # put_batch's wall time against the sandbox's emulator: ten minutes
CPU_MS = 2_000
# put_batch's CPU time on Lambda at 1,024 MB, which is 1024/1769 of a vCPU (Lambda gives one
# vCPU at 1,769 MB); the sandbox measured CPU_MS on a whole core.
CPU_1024 = CPU_MS * 1769 / 1024
BULK_REQUESTS = 40
# 5 requests per put_batch invocation (40 over 8), 2 in flight at a time: 3 waits each.
WAITS = 24


def search_summary() -> dict[str, object]:
    """A search-mode demo summary: 200,000 events of 100 bytes, 1 execution, 8 chunks, 40 _bulk."""
    return {
        "events_in": 200_000,
        "log_bytes_in": 20_000_000,
        "batches": 1,
        "chunks": 8,
        "state_transitions": 14,
        "retries": 0,
        "lambda": {
            "ingest": {"invocations": 1, "billed_ms": 200, "cpu_ms": 100.0, "memory_mb": 512},
            "decode": {"invocations": 1, "billed_ms": 4000, "cpu_ms": 3000.0, "memory_mb": 1769},
            "transform": {"invocations": 1, "billed_ms": 9000, "cpu_ms": 8000.0, "memory_mb": 1769},
            "put_batch": {"invocations": 8, "billed_ms": WALL_MS, "cpu_ms": CPU_MS, "memory_mb": 1024},
            "summarize": {"invocations": 1, "billed_ms": 5, "cpu_ms": 2.0, "memory_mb": 256},
        },
        "s3_requests": {"PutObject": 19, "GetObject": 18, "DeleteObjects": 1},
        "claimcheck": {"objects": 1, "bytes": 200, "written_bytes": 150_000_200},
        "source": {"records": 3400, "bytes": 6_000_000, "units": record_units([1765] * 3400)},
        # The Kinesis delivery's counters stay at zero in search mode.
        "put_records": {"calls": 0, "records": 0, "bytes": 0, "units": {}},
        "destination_documents": {"records": 0, "bytes": 0, "units": {}},
        "output_records": "single",
        "settings": {"LOGSTEP_DELIVERY": "search"},
        "delivery": "search",
        "search": {
            "indexed": 200_000,
            "unique": 200_000,
            "duplicates": 0,
            "bulk_requests": BULK_REQUESTS,
            "throttled_requests": 0,
            "items_sent": 200_000,
            "item_bytes": 100_000_000,
            "item_errors": {},
            "units": record_units([500] * 200_000),
        },
    }


def put_batch_line(lines: list[cost.Line]) -> cost.Line:
    (line,) = [line for line in lines if line.item.startswith("put_batch duration")]
    return line


def test_search_usage_has_no_destination_stream() -> None:
    usage = usage_from_summary(search_summary())
    assert usage.delivery == "search"
    assert usage.bulk_requests == BULK_REQUESTS
    assert usage.destination.records == 0 and usage.destination.bytes == 0
    assert (usage.documents.records, usage.documents.bytes) == (200_000, 100_000_000)
    put_batch = {f.name: f for f in usage.functions}["put_batch"]
    assert (put_batch.cpu_ms, put_batch.billed_ms) == (CPU_MS, WALL_MS)


def test_search_bill_has_no_destination_stream_and_no_firehose() -> None:
    lines = bill(usage_from_summary(search_summary()), PRICES, Assumptions())
    services = {line.service for line in lines}
    assert "Firehose" not in services
    assert [line.item for line in lines if line.service == "Kinesis"] == ["source: PUT payload units"]
    assert not any("destination" in line.item for line in lines)
    # Everything else is billed as for the Kinesis delivery.
    items = {line.item for line in lines}
    assert {"state transitions", "requests", "PUT/LIST requests", "GET requests"} <= items
    assert {f"{name} duration" for name in ("decode", "ingest", "summarize", "transform")} <= {
        item.split(" (")[0] for item in items
    }


def test_put_batch_is_cpu_time_plus_bulk_requests_times_the_assumed_latency() -> None:
    usage = usage_from_summary(search_summary())
    wait = PRICES.assumed("search.bulk_request_ms")
    line = put_batch_line(bill(usage, PRICES, Assumptions()))
    # CPU (stretched to 1,024 MB's share of a vCPU) + every wave's wait +
    # Lambda's rounding (half a millisecond per invocation).
    billed_ms = CPU_1024 + WAITS * wait + 0.5 * 8
    assert line.quantity == pytest.approx(billed_ms / 1000 * 1024 / 1024)
    assert line.cost == pytest.approx(billed_ms / 1000 * PRICES["lambda.gb_second.x86_64"])
    assert "assumed" in line.note


def test_cpu_is_stretched_by_lambdas_cpu_share_up_to_one_vcpu() -> None:
    assert cost.cpu_stretch(1769) == cost.cpu_stretch(3008) == 1.0
    assert cost.cpu_stretch(512) == pytest.approx(1769 / 512)
    summary = search_summary()
    summary["lambda"]["put_batch"]["memory_mb"] = 3008  # type: ignore[index]
    line = put_batch_line(bill(usage_from_summary(summary), PRICES, Assumptions(bulk_wait_ms=0)))
    assert line.quantity == pytest.approx((CPU_MS + 0.5 * 8) / 1000 * 3008 / 1024)


def test_at_half_the_memory_the_waits_cost_half_and_the_cpu_the_same() -> None:
    """Lambda's CPU share follows memory: the CPU-bound part costs the same GB-seconds at
    any size below one vCPU, the wait on the cluster costs in proportion to memory."""
    summary = search_summary()
    summary["lambda"]["put_batch"]["memory_mb"] = 512  # type: ignore[index]
    half = put_batch_line(bill(usage_from_summary(summary), PRICES, Assumptions(bulk_wait_ms=1000)))
    full = put_batch_line(bill(usage_from_summary(search_summary()), PRICES, Assumptions(bulk_wait_ms=1000)))
    cpu_gb_s = CPU_MS * 1769 / 1000 / 1024
    assert full.quantity - half.quantity == pytest.approx((WAITS * 1000 + 0.5 * 8) / 1000 / 2)
    assert half.quantity == pytest.approx(cpu_gb_s + (WAITS * 1000 + 0.5 * 8) / 1000 / 2)
    assert "512 MB" in half.item


def test_put_batch_is_not_priced_from_the_wall_time_against_the_emulator() -> None:
    """Fails if the search bill used put_batch's measured wall time (its billed_ms)."""
    usage = usage_from_summary(search_summary())
    line = put_batch_line(bill(usage, PRICES, Assumptions()))
    wall_gb_s = WALL_MS / 1000
    assert line.quantity < wall_gb_s / 4
    # Doubling the wall time changes nothing; doubling the CPU time or the requests does.
    slower = search_summary()
    slower["lambda"]["put_batch"]["billed_ms"] = 2 * WALL_MS  # type: ignore[index]
    assert put_batch_line(bill(usage_from_summary(slower), PRICES, Assumptions())).cost == line.cost
    busier = search_summary()
    busier["search"]["bulk_requests"] = 2 * BULK_REQUESTS  # type: ignore[index]
    assert put_batch_line(bill(usage_from_summary(busier), PRICES, Assumptions())).cost > line.cost


def test_the_latency_is_a_stated_assumption_with_a_source_and_a_range() -> None:
    item = PRICES.assumptions["search.bulk_request_ms"]
    assert {"value", "low", "high", "unit", "source", "date", "derivation"} <= set(item)
    assert str(item["source"]).startswith("https://")
    assert "ASSUMPTION" in str(item["what"])
    assert float(item["low"]) <= float(item["value"]) <= float(item["high"])
    # The line's range spans the assumption's (and the CPU time's) range.
    usage = usage_from_summary(search_summary())
    a = Assumptions()
    line = put_batch_line(bill(usage, PRICES, a))
    per_ms = PRICES["lambda.gb_second.x86_64"] / 1000
    assert line.low == pytest.approx((CPU_1024 * a.duration_low + WAITS * item["low"] + 4) * per_ms)
    assert line.high == pytest.approx((CPU_1024 * a.duration_high + WAITS * item["high"] + 4) * per_ms)


def test_bulk_wait_can_be_given() -> None:
    usage = usage_from_summary(search_summary())
    a = Assumptions(bulk_wait_ms=50)
    line = put_batch_line(bill(usage, PRICES, a))
    per_ms = PRICES["lambda.gb_second.x86_64"] / 1000
    assert line.cost == pytest.approx((CPU_1024 + WAITS * 50 + 4) * per_ms)
    # A given wait has no range; the CPU time keeps the sandbox's.
    assert line.low == pytest.approx((CPU_1024 * a.duration_low + WAITS * 50 + 4) * per_ms)
    assert "50 ms" in line.note


def test_a_deployed_search_stage_keeps_lambdas_duration() -> None:
    """Without a CPU time (a deployed stage), put_batch is its measured Duration: real waits."""
    usage = usage_from_summary(search_summary())
    usage = replace(usage, functions=tuple(replace(f, cpu_ms=None) for f in usage.functions))
    line = put_batch_line(bill(usage, PRICES, Assumptions()))
    assert line.quantity == pytest.approx(WALL_MS / 1000)


def test_search_projection_has_one_stream_and_bulk_requests_per_chunk() -> None:
    usage = usage_from_summary(search_summary())
    month, notes, hours = project(usage, Workload(events_per_day=1e9, avg_event_bytes=100), Assumptions())
    assert month.delivery == "search" and month.destination.records == 0
    assert hours["destination_shards"] == 0 and hours["streams"] == 1
    # 500-byte documents: 5,000 per request fill 2.5 MB, under the 5 MiB cap.
    assert month.bulk_requests >= month.documents.records / 5_000
    assert month.bulk_requests >= month.chunks
    lines = bill(month, PRICES, Assumptions()) + fixed_lines(hours, PRICES, Assumptions())
    assert "Firehose" not in {line.service for line in lines}
    assert any(line.item == "shard-hours (source stream)" for line in lines)
    assert any("no destination stream" in n for n in notes)
    on_demand = fixed_lines(hours, PRICES, Assumptions(stream_mode="on-demand"))
    assert on_demand[0].quantity == 730  # one stream


def test_search_is_cheaper_than_the_same_run_through_kinesis_and_firehose() -> None:
    search = usage_from_summary(search_summary())
    kinesis_summary = {**search_summary(), "delivery": "kinesis", "search": None}
    kinesis_summary["put_records"] = {
        "records": 200_000,
        "bytes": 100_000_000,
        "units": record_units([500] * 200_000),
    }
    kinesis = usage_from_summary(kinesis_summary)
    a = Assumptions()
    assert totals(bill(search, PRICES, a), search).per_gb < totals(bill(kinesis, PRICES, a), kinesis).per_gb


def run_command(tmp_path: Path, *extra: str) -> argparse.Namespace:
    path = tmp_path / "search.json"
    path.write_text(json.dumps(search_summary()))
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args([str(path), *extra])


def test_command_states_the_assumption(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert command.run(run_command(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "search delivery" in out and "ASSUMED cluster latency" in out
    bill_lines = out.split("assumptions:")[0].splitlines()
    assert not any(line.strip().startswith(("Firehose", "Kinesis        destination")) for line in bill_lines)
    assert "paper model" not in out
    assert command.run(run_command(tmp_path, "--bulk-wait-ms", "250", "--format", "json")) == 0
    data = json.loads(capsys.readouterr().out)
    assert "250 ms per _bulk request (--bulk-wait-ms;" in data[-1]["assumptions"]
    assert data[0]["totals"]["per_gb"] * GIB > 0


def test_a_price_table_without_the_latency_asks_for_one(tmp_path: Path) -> None:
    table = json.loads(cost.PRICES_PATH.read_text())
    del table["assumptions"]
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps(table))
    with pytest.raises(SystemExit, match="--bulk-wait-ms"):
        command.run(run_command(tmp_path, "--prices", str(prices)))
    assert command.run(run_command(tmp_path, "--prices", str(prices), "--bulk-wait-ms", "300")) == 0


def test_requests_in_flight_together_wait_once() -> None:
    one_at_a_time = search_summary()
    one_at_a_time["settings"] = {"LOGSTEP_DELIVERY": "search", "LOGSTEP_BULK_CONCURRENCY": "1"}
    per_ms = PRICES["lambda.gb_second.x86_64"] / 1000
    a = Assumptions(bulk_wait_ms=100)
    serial = put_batch_line(bill(usage_from_summary(one_at_a_time), PRICES, a))
    assert serial.cost == pytest.approx((CPU_1024 + BULK_REQUESTS * 100 + 4) * per_ms)
    default = put_batch_line(bill(usage_from_summary(search_summary()), PRICES, a))
    assert default.cost == pytest.approx((CPU_1024 + WAITS * 100 + 4) * per_ms)
