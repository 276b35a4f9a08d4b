"""Placeholder until `logstep index setup` lands: puts the index template on a cluster."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent / "infra" / "index-template.json"


def setup_index(url: str, prefix: str = "logstep") -> None:
    """PUT _index_template/<prefix> with the JSON fields key mapped flat_object."""
    body = json.loads(TEMPLATE.read_text())
    body.pop("_comment", None)
    body["index_patterns"] = [f"{prefix}-*"]
    body["template"]["mappings"]["properties"]["fields"] = {"type": "flat_object"}
    request = urllib.request.Request(
        f"{url}/_index_template/{prefix}",
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
