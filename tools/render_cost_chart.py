"""Chart ``logstep cost --format json`` output: dollars per GB of logs by AWS service, as SVG.

    logstep demo --delivery kinesis --summary-json build/cost/kinesis.json
    logstep cost --format json build/cost/kinesis.json > build/cost/kinesis-cost.json
    python tools/render_cost_chart.py build/cost/kinesis-cost.json   # -> docs/images/cost-kinesis.svg

(``make cost-charts`` runs exactly that for every delivery.) Each priced run in the input
is one series; its bill's lines are summed per service and divided by the run's GB of log
messages, with the low-high range ``logstep cost`` gives as a whisker. The delivery is read
from the run's summary when that file is still there (``--delivery`` must agree with it),
so a search run that fell back to Kinesis cannot be charted as search. Pure Python, and
deterministic: the same input gives the same bytes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"

FONT = 12
CHAR = 0.62  # monospace advance per px of font size
WIDTH = 760
LABEL_W = 130  # service names
VALUE_W = 150  # room right of the longest bar for its value
BAR_H = 16
GROUP_GAP = 14
SERIES_COLOURS = ("#1e88e5", "#8e24aa", "#43a047", "#f4511e", "#00897b", "#6d4c41")


@dataclass(frozen=True)
class Series:
    """One priced run: $/GB by service (with the range), its totals and what it measured."""

    name: str
    per_gb: dict[str, tuple[float, float, float]]  # service -> (cost, low, high) per GB
    total: tuple[float, float, float]  # per GB: total, low, high
    note: str
    delivery: str | None


def dollars(value: float) -> str:
    """A dollar figure with as many digits as a per-GB price needs."""
    if value == 0:
        return "0"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    if abs(value) >= 0.0001:
        return f"{value:.4f}"
    return f"{value:.1e}"


def series_from(run: Mapping[str, Any], base: Path) -> Series:
    """Sum one run's bill per service and divide it by the run's GB of logs."""
    totals = run["totals"]
    # per_gb = total / GB, so a line's $/GB is its cost scaled by the same factor.
    scale = totals["per_gb"] / totals["total"] if totals["total"] else 0.0
    per_gb: dict[str, tuple[float, float, float]] = {}
    for line in run["lines"]:
        cost, low, high = per_gb.get(line["service"], (0.0, 0.0, 0.0))
        per_gb[line["service"]] = (
            cost + line["cost"] * scale,
            low + line["low"] * scale,
            high + line["high"] * scale,
        )
    summary = Path(run["path"])
    if not summary.is_absolute() and not summary.exists():
        summary = base / summary
    delivery, note = None, run["notes"][0] if run.get("notes") else ""
    if summary.exists():
        counters = json.loads(summary.read_text())
        delivery = counters.get("delivery")
        if counters.get("retries"):  # say so: a retried run is not the clean run it may look like
            note += f"; {counters['retries']} Step Functions retries (faults or a loaded machine)"
    return Series(
        name=Path(run["path"]).stem,
        per_gb=per_gb,
        total=(totals["per_gb"], totals["per_gb_low"], totals["per_gb_high"]),
        note=note,
        delivery=delivery,
    )


def load(paths: Sequence[Path]) -> tuple[list[Series], str]:
    """Every priced run in the files, and the assumptions line ``logstep cost`` printed."""
    series, assumptions = [], ""
    for path in paths:
        for item in json.loads(path.read_text()):
            if "assumptions" in item:
                assumptions = item["assumptions"]
            else:
                series.append(series_from(item, path.parent))
    if not series:
        raise SystemExit(
            f"no priced runs in {', '.join(map(str, paths))}: give logstep cost --format json output"
        )
    return series, assumptions


def _nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above value."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value * (1 - 1e-12))


def _text(x: float, y: float, text: str, size: int = FONT, anchor: str = "start", extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{extra}>'
        f"{escape(text)}</text>"
    )


def render(series: Sequence[Series], delivery: str, assumptions: str = "") -> str:
    """A horizontal bar chart: one group per service, one bar per run, whiskers for the range."""
    services: list[str] = []
    for s in series:
        services += [name for name in s.per_gb if name not in services]
    top = _nice_max(max(high for s in series for _, _, high in s.per_gb.values()))
    plot_x, plot_w = LABEL_W, WIDTH - LABEL_W - VALUE_W
    out: list[str] = []
    y = 28
    out.append(
        _text(
            16,
            y,
            f"logstep: cost per GB of logs by service, {delivery} delivery",
            15,
            extra=' font-weight="bold"',
        )
    )
    y += 8
    for i, s in enumerate(series):
        y += 18
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        out.append(f'<rect x="16" y="{y - 10}" width="12" height="12" fill="{colour}"/>')
        total, low, high = s.total
        out.append(_text(34, y, f"{s.name}: ${dollars(total)} per GB (range {dollars(low)}-{dollars(high)})"))
    y += 24
    chart_top = y
    rows_h = len(services) * (len(series) * BAR_H + GROUP_GAP)
    # Grid and axis ticks, in five steps of the rounded maximum.
    for k in range(6):
        x = plot_x + plot_w * k / 5
        out.append(
            f'<line x1="{x:.1f}" y1="{chart_top - 4}" x2="{x:.1f}" y2="{chart_top + rows_h}" '
            'stroke="#e0e0e0"/>'
        )
        out.append(_text(x, chart_top + rows_h + 16, f"{top * k / 5:.4g}", 11, "middle", ' fill="#546e7a"'))
    out.append(_text(plot_x + plot_w / 2, chart_top + rows_h + 34, "$ per GB of log messages", 11, "middle"))
    for service in services:
        group_h = len(series) * BAR_H
        out.append(_text(plot_x - 8, y + group_h / 2 + 4, service, anchor="end"))
        for i, s in enumerate(series):
            cost, low, high = s.per_gb.get(service, (0.0, 0.0, 0.0))
            colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
            width = plot_w * cost / top
            out.append(
                f'<rect x="{plot_x}" y="{y + 2}" width="{width:.1f}" height="{BAR_H - 4}" fill="{colour}">'
                f"<title>{escape(f'{s.name}, {service}: ${dollars(cost)} per GB')}</title></rect>"
            )
            mid = y + BAR_H / 2
            if high > low:
                x1, x2 = plot_x + plot_w * low / top, plot_x + plot_w * high / top
                out.append(
                    f'<path d="M{x1:.1f},{mid - 4:.1f} v8 M{x1:.1f},{mid:.1f} H{x2:.1f} '
                    f'M{x2:.1f},{mid - 4:.1f} v8" stroke="#263238" fill="none"/>'
                )
            right = plot_x + plot_w * max(cost, high) / top
            out.append(_text(right + 6, mid + 4, dollars(cost), 11))
            y += BAR_H
        y += GROUP_GAP
    y = chart_top + rows_h + 56
    lines = [f"{s.name}: {s.note}" for s in series if s.note]
    if assumptions:
        lines.append(assumptions)
    for line in lines:
        for part in textwrap.wrap(line, int((WIDTH - 32) / (10 * CHAR))):
            out.append(_text(16, y, part, 10, extra=' fill="#546e7a"'))
            y += 14
    height = y + 8
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, '
            'monospace" role="img">',
            f"<title>logstep cost per GB by service, {escape(delivery)} delivery</title>",
            "<!-- Generated by tools/render_cost_chart.py from the JSON output of logstep cost;"
            " see docs/contributing.md -->",
            f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
            *out,
            "</svg>",
            "",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Read the cost JSON, check the delivery, write the chart."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("costs", nargs="+", type=Path, help="logstep cost --format json output files")
    parser.add_argument("--delivery", help="the runs' delivery (default: read from their summaries)")
    parser.add_argument("-o", "--output", type=Path, help="default docs/images/cost-<delivery>.svg")
    args = parser.parse_args(argv)
    series, assumptions = load(args.costs)
    measured = {s.delivery for s in series if s.delivery}
    if len(measured) > 1:
        raise SystemExit(
            f"the runs used different deliveries ({', '.join(sorted(measured))}): chart them apart"
        )
    delivery = args.delivery or next(iter(measured), None)
    if delivery is None:
        raise SystemExit("the runs' summaries are not there to say their delivery: pass --delivery")
    if measured and delivery not in measured:
        raise SystemExit(f"--delivery {delivery}, but the runs' summaries say {measured.pop()}")
    output = args.output or IMAGES / f"cost-{delivery}.svg"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render(series, delivery, assumptions))
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
