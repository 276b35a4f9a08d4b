"""tools/render_cost_chart.py turns `logstep cost --format json` output into a bar chart of $/GB
by service (tests/events/cost_kinesis.json is a made-up fixture, not a measurement)."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tools import render_cost_chart as rcc

pytestmark = pytest.mark.docs

FIXTURE = Path(__file__).resolve().parents[1] / "events" / "cost_kinesis.json"
SVG = "{http://www.w3.org/2000/svg}"


def _bars(svg: str) -> dict[str, float]:
    """Bar widths by their tooltip ("run, service: $x per GB")."""
    root = ET.fromstring(svg)
    return {
        rect.find(f"{SVG}title").text: float(rect.get("width"))  # type: ignore[union-attr]
        for rect in root.iter(f"{SVG}rect")
        if rect.find(f"{SVG}title") is not None
    }


def test_services_are_summed_and_divided_by_the_runs_gb() -> None:
    series, assumptions = rcc.load([FIXTURE])
    single, aggregated = series
    assert single.name == "single" and aggregated.name == "aggregated"
    assert single.per_gb["Lambda"] == pytest.approx((0.03, 0.02, 0.07))  # two lines, 1 GB
    assert aggregated.per_gb["Firehose"] == pytest.approx((0.116, 0.116, 0.116))  # 0.5 GB
    assert "Lambda" not in aggregated.per_gb
    assert assumptions == "assumptions: made up for the test"


def test_bars_are_proportional_and_every_service_is_labelled() -> None:
    series, assumptions = rcc.load([FIXTURE])
    svg = rcc.render(series, "kinesis", assumptions)
    assert svg == rcc.render(series, "kinesis", assumptions)
    bars = _bars(svg)
    firehose = bars["single, Firehose: $1.45 per GB"]
    assert bars["single, Kinesis: $0.1400 per GB"] == pytest.approx(firehose * 0.14 / 1.45, abs=0.1)
    assert bars["aggregated, Lambda: $0 per GB"] == 0
    texts = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]
    for service in ("Step Functions", "Lambda", "Kinesis", "Firehose"):
        assert service in texts
    assert "logstep: cost per GB of logs by service, kinesis delivery" in texts


def test_writes_cost_delivery_svg_and_checks_the_delivery_against_the_summaries(tmp_path: Path) -> None:
    cost = tmp_path / "cost.json"
    shutil.copy(FIXTURE, cost)
    out = tmp_path / "images" / "cost-kinesis.svg"
    with pytest.raises(SystemExit, match="pass --delivery"):  # no summaries beside it
        rcc.main([str(cost), "-o", str(out)])
    for name in ("single", "aggregated"):
        (tmp_path / f"{name}.json").write_text(json.dumps({"delivery": "kinesis"}))
    assert rcc.main([str(cost), "-o", str(out)]) == 0
    assert "kinesis delivery" in out.read_text()
    with pytest.raises(SystemExit, match="summaries say kinesis"):
        rcc.main([str(cost), "--delivery", "search", "-o", str(out)])


def test_axis_maximum_is_a_round_number() -> None:
    assert [rcc._nice_max(v) for v in (1.67, 0.07, 3.0, 0.0)] == [2.0, 0.1, 5.0, 1.0]


def test_a_retried_run_says_so_under_the_chart(tmp_path: Path) -> None:
    cost = tmp_path / "cost.json"
    shutil.copy(FIXTURE, cost)
    (tmp_path / "single.json").write_text(json.dumps({"delivery": "kinesis", "retries": 17}))
    (tmp_path / "aggregated.json").write_text(json.dumps({"delivery": "kinesis", "retries": 0}))
    single, aggregated = rcc.load([cost])[0]
    assert single.note.endswith("; 17 Step Functions retries (faults or a loaded machine)")
    assert "retries" not in aggregated.note
