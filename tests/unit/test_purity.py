"""The pure core imports neither boto3 nor os: it is functions over bytes, dicts and dataclasses."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CHALICELIB = Path(__file__).resolve().parents[2] / "chalicelib"
PURE = [
    "envelope.py",
    "batching.py",
    "aggregation.py",
    "jsoncodec.py",
    "limits.py",
    "errors.py",
    "settings.py",
    "bulk.py",
    "indices.py",
    "delivery/outcome.py",
    "follow_rules.py",
]
FORBIDDEN = {"boto3", "botocore", "os"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    "path",
    [CHALICELIB / name for name in PURE] + sorted((CHALICELIB / "transform").rglob("*.py")),
    ids=str,
)
def test_core_module_is_pure(path: Path) -> None:
    assert not imported_modules(path) & FORBIDDEN
