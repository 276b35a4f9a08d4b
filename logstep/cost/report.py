"""How a bill is printed: text, markdown and JSON (``logstep cost`` and ``--deployed``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from logstep.cost.model import (
    BULK_WAIT,
    GIB,
    Assumptions,
    Line,
    Prices,
    Totals,
    Usage,
    bulk_wait_ms,
)


def _money(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.4f}" if abs(value) >= 0.0001 else f"{value:.2e}"


def _quantity(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.4g}"


def render_text(title: str, lines: Sequence[Line], t: Totals, usage: Usage, notes: Sequence[str]) -> str:
    """A bill as aligned text: its lines, totals per GB and per million events, and notes."""
    gb = usage.log_bytes / GIB
    out = [title, *(f"  {n}" for n in notes), ""]
    header = f"  {'service':<15}{'item':<42}{'quantity':>16} {'unit price':>11} {'$':>10} {'$/GB':>9}"
    out += [header, "  " + "-" * (len(header) - 2)]
    for line in lines:
        spread = f"  ({_money(line.low / gb)}-{_money(line.high / gb)})" if line.low != line.high else ""
        out.append(
            f"  {line.service:<15}{line.item:<42}{_quantity(line.quantity):>16} "
            f"{line.unit_price:>11.4g} {_money(line.cost):>10} {_money(line.cost / gb):>9}{spread}"
        )
    out += [
        "",
        f"  total ${_money(t.total)}: ${t.per_gb:.4f} per GB of logs (range {t.per_gb_low:.4f}-"
        f"{t.per_gb_high:.4f}), ${t.per_million_events:.4f} per million events",
    ]
    return "\n".join(out)


def describe(usage: Usage) -> str:
    """One line saying what a run measured."""
    if usage.delivery == "search":
        return (
            f"{usage.events:,.0f} events, {usage.log_bytes / GIB * 1024:,.1f} MB of log messages, "
            f"search delivery: {usage.bulk_requests:,.0f} _bulk requests of {usage.documents.records:,.0f} "
            f"documents ({usage.documents.bytes / GIB * 1024:,.1f} MB), no destination stream, no Firehose; "
            f"{usage.executions:,.0f} executions, {usage.chunks:,.0f} chunks, "
            f"{usage.transitions:,.0f} transitions"
        )
    return (
        f"{usage.events:,.0f} events, {usage.log_bytes / GIB * 1024:,.1f} MB of log messages, "
        f"{usage.output_records} records: {usage.destination.records:,.0f} destination records, "
        f"{usage.executions:,.0f} executions, {usage.chunks:,.0f} chunks, "
        f"{usage.transitions:,.0f} transitions"
    )


def search_assumption(prices: Prices, a: Assumptions) -> str:
    """What the search delivery's bill assumes about the cluster, and where that comes from."""
    if a.bulk_wait_ms is not None:
        return (
            f"search delivery: put_batch priced as its CPU time + {a.bulk_wait_ms:g} ms per _bulk request "
            "(--bulk-wait-ms; requests in flight together wait once), not its wall time against the "
            "sandbox's search emulator"
        )
    item = prices.assumptions.get(BULK_WAIT, {})
    return (
        f"search delivery: put_batch priced as its CPU time + {bulk_wait_ms(prices, a):g} ms per _bulk "
        f"request (range {prices.assumed(BULK_WAIT, 'low'):g}-{prices.assumed(BULK_WAIT, 'high'):g} ms), "
        f"an ASSUMED cluster latency (requests in flight together, LOGSTEP_BULK_CONCURRENCY, wait once), "
        f"not its wall time against the sandbox's search emulator "
        f"(prices.json assumptions.{BULK_WAIT}: {item.get('source', '')}, read {item.get('date', '')})"
    )


def price_table_lines(prices: Prices) -> list[str]:
    """Every price with its unit, source and date, one per line."""
    lines = []
    for name, value in sorted(prices.values.items()):
        source = prices.sources.get(name, {})
        lines.append(
            f"  {name:<40} {value:<12.6g} per {source.get('unit', '')}  {source.get('source', '')} "
            f"({source.get('date', '')})"
        )
    return lines


def as_json(r: dict[str, Any]) -> dict[str, Any]:
    """A priced run as JSON-serialisable data."""
    t: Totals = r["totals"]
    return {
        "path": r["path"],
        "notes": r["notes"],
        "lines": [{**line.__dict__, "cost": line.cost} for line in r["lines"]],
        "totals": t.__dict__,
    }


def render_markdown(results: Sequence[dict[str, Any]]) -> str:
    """One column per summary: $ per GB by line, then totals."""
    names = [Path(r["path"]).stem for r in results]
    keys: list[tuple[str, str]] = []
    for r in results:
        for line in r["lines"]:
            key = (line.service, line.item)
            if key not in keys:
                keys.append(key)
    out = ["| service | item | " + " | ".join(f"{n} $/GB" for n in names) + " |"]
    out.append("| --- | --- | " + " | ".join("---:" for _ in names) + " |")
    for service, item in keys:
        cells = []
        for r in results:
            gb = r["usage"].log_bytes / GIB
            match = [line for line in r["lines"] if (line.service, line.item) == (service, item)]
            cells.append(_money(sum(line.cost for line in match) / gb) if match else "")
        out.append(f"| {service} | {item} | " + " | ".join(cells) + " |")
    row = [
        f"**{r['totals'].per_gb:.4f}** ({r['totals'].per_gb_low:.4f}-{r['totals'].per_gb_high:.4f})"
        for r in results
    ]
    out.append("| **total** | per GB of logs (range) | " + " | ".join(row) + " |")
    out.append(
        "| | per million events | "
        + " | ".join(f"{r['totals'].per_million_events:.4f}" for r in results)
        + " |"
    )
    return "\n".join(out)
