"""Golden files: the documents of tests/events/transform_formats.json, one JSON per line.

A schema change shows up in review as a diff of tests/golden/. After an intended change:
``LOGSTEP_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_transform_golden.py`` and
read the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from chalicelib import jsoncodec
from chalicelib.envelope import Envelope, parse_envelope
from chalicelib.transform import TransformOptions, transform_envelope
from tests.helpers import load_event

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
VARIANTS = {
    "logstep": TransformOptions(),
    "ecs": TransformOptions(output_format="ecs"),
    "nested": TransformOptions(json_fields_key="json"),
}


def render(options: TransformOptions) -> str:
    lines = []
    for message in load_event("transform_formats.json"):
        envelope = parse_envelope(message)
        assert isinstance(envelope, Envelope)
        result = transform_envelope(envelope, options)
        assert result.parse_errors == 0
        for document in result.documents:  # as delivered: serialised, then shown readably
            lines.append(json.dumps(jsoncodec.loads(jsoncodec.dumps(document)), ensure_ascii=False))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_documents_match_the_golden_file(variant: str) -> None:
    path = GOLDEN / f"transform_formats.{variant}.jsonl"
    actual = render(VARIANTS[variant])
    if os.environ.get("LOGSTEP_UPDATE_GOLDEN"):
        path.write_text(actual)
    assert actual == path.read_text(), f"{path.name} differs; see the module docstring"
