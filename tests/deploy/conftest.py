"""Fixtures for the deploy tests: the rendered template, the stage config, moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from logstep.deploy import infra

ROOT = infra.ROOT
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
STAGES = sorted(CONFIG["stages"])
REGION = "eu-west-1"


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """The deployable template (source template + the definition copied in)."""
    return infra.render()


@pytest.fixture(scope="session")
def source_template() -> dict[str, Any]:
    """infra/logstep.yaml as written."""
    return infra.load_template()


@pytest.fixture(scope="session")
def source_template_text() -> str:
    """infra/logstep.yaml as text (for the comments that cite AWS)."""
    return infra.TEMPLATE_PATH.read_text()


@pytest.fixture
def resources(template: dict[str, Any]) -> dict[str, Any]:
    """The rendered template's resources."""
    return dict(template["Resources"])


def drop_novalue_in_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto's CloudFormation remove ``!If [..., X, !Ref AWS::NoValue]`` list items.

    CloudFormation drops such an item from a list (PutBatchDeliveryPolicy's statements are
    each conditional); moto 5.2 leaves a null in its place, which IAM then rejects as a
    malformed policy. This is moto's gap, not the template's: the evaluated policies are
    checked in test_iam_policies.py.
    """
    from moto.cloudformation import parsing

    original = parsing.clean_json

    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        cleaned = original(resource_json, resources_map)
        if isinstance(resource_json, list) and isinstance(cleaned, list):
            return [item for item in cleaned if item is not None]
        return cleaned

    monkeypatch.setattr(parsing, "clean_json", clean_json)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A moto account in REGION with fake credentials (never a real one)."""
    from moto import mock_aws

    drop_novalue_in_lists(monkeypatch)

    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


def copy_project(dest: Path) -> Path:
    """What `chalice package`/`deploy` read, copied so they never write into the work tree."""
    import shutil

    for name in ("app.py", "requirements.txt"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "chalicelib", dest / "chalicelib", ignore=_ignore)
    # config.json and every policy file, but not Chalice's state of real deployments.
    shutil.copytree(ROOT / ".chalice", dest / ".chalice", ignore=_ignore)
    return dest


def _ignore(directory: str, names: list[str]) -> list[str]:
    skip = {"__pycache__", "deployed", "deployments"}
    return [n for n in names if n in skip or n.endswith(".pyc")]
