"""``logstep cost``: price demo summaries, or with ``--deployed`` a deployed stage."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from logstep.cost.model import (
    BATCHING_WINDOW_SECONDS,
    BULK_WAIT,
    CLAIMCHECK_DAYS,
    PRICES_PATH,
    Assumptions,
    Workload,
    bill,
    fixed_lines,
    load_prices,
    paper_model,
    project,
    totals,
    usage_from_summary,
)
from logstep.cost.report import (
    as_json,
    describe,
    price_table_lines,
    render_markdown,
    render_text,
    search_assumption,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``logstep cost``."""
    parser.add_argument(
        "summaries", nargs="*", help="logstep demo --summary-json files (compared if several)"
    )
    parser.add_argument("--prices", type=Path, help=f"price table (default {PRICES_PATH.name})")
    parser.add_argument("--region", help="apply this region's overrides from the price table")
    parser.add_argument("--stream-mode", choices=("provisioned", "on-demand"), default="provisioned")
    parser.add_argument("--architecture", choices=("x86_64", "arm64"), default="x86_64")
    parser.add_argument(
        "--claimcheck-days",
        type=float,
        default=CLAIMCHECK_DAYS,
        help="days claim-check objects are kept (the deploy template's ClaimCheckExpirationDays)",
    )
    parser.add_argument("--events-per-day", type=float, help="project a month of this many events a day")
    parser.add_argument(
        "--avg-event-bytes", type=float, help="average log message bytes (with --events-per-day)"
    )
    parser.add_argument(
        "--batching-window",
        type=float,
        default=BATCHING_WINDOW_SECONDS,
        help="event source mapping batching window in seconds (app.py's)",
    )
    parser.add_argument(
        "--bulk-wait-ms",
        type=float,
        help="search delivery: ms one _bulk request waits on the cluster (default: the price table's "
        "assumption search.bulk_request_ms)",
    )
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    from logstep.cost import deployed as cost_deployed  # --deployed: read a stage instead

    cost_deployed.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Price each summary (or its projected month) and print the bills."""
    if args.deployed:
        from logstep.cost import deployed as cost_deployed

        return cost_deployed.run(args)
    if not args.summaries:
        raise SystemExit("logstep cost: give summary files, or --deployed --stage STAGE")
    prices = load_prices(args.prices, args.region)
    a = Assumptions(
        stream_mode=args.stream_mode,
        architecture=args.architecture,
        claimcheck_days=args.claimcheck_days,
        bulk_wait_ms=args.bulk_wait_ms,
    )
    if (args.events_per_day is None) != (args.avg_event_bytes is None):
        raise SystemExit("--events-per-day and --avg-event-bytes go together")
    results: list[dict[str, Any]] = []
    for path in args.summaries:
        usage = usage_from_summary(json.loads(Path(path).read_text()))
        if usage.delivery == "search" and a.bulk_wait_ms is None and BULK_WAIT not in prices.assumptions:
            raise SystemExit(
                f"logstep cost: {path} is a search-delivery run and the price table has no "
                f'"assumptions": {{"{BULK_WAIT}": ...}}: add it, or pass --bulk-wait-ms'
            )
        notes = [describe(usage)]
        lines = bill(usage, prices, a)
        if args.events_per_day is not None:
            workload = Workload(args.events_per_day, args.avg_event_bytes, args.batching_window)
            usage, more, hours = project(usage, workload, a)
            notes = [f"projected from {path}: {notes[0]}", *more]
            lines = bill(usage, prices, a) + fixed_lines(hours, prices, a)
        t = totals(lines, usage)
        if usage.delivery != "search":  # the paper model is Kinesis + Firehose arithmetic
            paper = paper_model(usage.log_bytes / usage.events, usage.output_records == "aggregated", prices)
            notes.append(f"paper model (issue 6) for events of this size: ${paper:.4f} per GB")
        results.append({"path": path, "usage": usage, "lines": lines, "totals": t, "notes": notes})
    assumptions = (
        f"assumptions: {a.stream_mode} Kinesis streams, Lambda on {a.architecture}, claim-check objects kept "
        f"{a.claimcheck_days:g} days, Lambda durations as measured in-process (range x{a.duration_low:g}-"
        f"x{a.duration_high:g}), prices for {prices.region}; excluded: CloudWatch Logs ingestion and "
        "storage, the search cluster, Firehose backup, data transfer, KMS, free tiers"
    )
    if any(r["usage"].delivery == "search" for r in results):
        assumptions += "; " + search_assumption(prices, a)
    if args.format == "json":
        print(json.dumps([as_json(r) for r in results] + [{"assumptions": assumptions}], indent=2))
        return 0
    if args.format == "markdown":
        print(render_markdown(results))
        print(f"\n{assumptions}")
        return 0
    for r in results:
        print(render_text(f"logstep cost: {r['path']}", r["lines"], r["totals"], r["usage"], r["notes"]))
        print()
    print(assumptions)
    print("\nprice table:")
    print("\n".join(price_table_lines(prices)))
    return 0
