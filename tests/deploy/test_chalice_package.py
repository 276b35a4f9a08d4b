"""`chalice package` for every stage: lint the output, check what ships and how big it is.

Packaging resolves requirements.txt for the Lambda runtime (manylinux wheels from the
package registry, the only network it uses). The deployment package must hold app.py,
chalicelib/ and the runtime dependencies, built for Lambda, and nothing else of the repo.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint
from cfnlint.config import ManualArgs

from tests.deploy.conftest import CONFIG, ROOT, STAGES, copy_project

pytestmark = pytest.mark.slow

# "Small": well under Lambda's 50 MB zipped upload limit, and fast to cold-start.
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
MAX_PACKAGE_BYTES = 5 * 1024 * 1024
# Chalice picks the Lambda runtime from the Python that packages (3.11 here).
RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
CPYTHON_TAG = f"cp{sys.version_info.major}{sys.version_info.minor}"
# What must never ship: deploy-time and developer-time code.
NEVER_SHIPPED = ("tests/", "logstep/", "statemachines/", "infra/", ".chalice/")


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """stage -> the directory `chalice package --stage <stage>` wrote."""
    project = copy_project(tmp_path_factory.mktemp("project"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_DEFAULT_REGION"] = "us-east-1"  # chalice package needs a region, uses no account
    out = {}
    for stage in STAGES:
        target = tmp_path_factory.mktemp(f"package-{stage}")
        result = subprocess.run(
            [str(Path(sys.executable).parent / "chalice"), "package", "--stage", stage, str(target)],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        out[stage] = target
    return out


def _template(packages: dict[str, Path], stage: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((packages[stage] / "sam.json").read_text())
    return loaded


@pytest.mark.parametrize("stage", STAGES)
def test_cfn_lint_passes_on_the_packaged_template(packages: dict[str, Path], stage: str) -> None:
    text = (packages[stage] / "sam.json").read_text()
    matches = lint(text, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert [str(m) for m in matches] == []


@pytest.mark.parametrize("stage", STAGES)
def test_package_is_small_and_holds_only_what_lambda_runs(
    packages: dict[str, Path], stage: str, record_property: Any
) -> None:
    zip_path = packages[stage] / "deployment.zip"
    size = zip_path.stat().st_size
    record_property("deployment_zip_bytes", size)
    print(f"\n{stage}: deployment.zip {size / 1024:.0f} KiB")
    assert size < MAX_PACKAGE_BYTES
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
    assert "app.py" in names
    assert {p.relative_to(ROOT).as_posix() for p in (ROOT / "chalicelib").rglob("*.py")} <= set(names)
    assert not [n for n in names if n.startswith(NEVER_SHIPPED)]


@pytest.mark.parametrize("stage", STAGES)
def test_runtime_dependencies_are_built_for_the_lambda_runtime(packages: dict[str, Path], stage: str) -> None:
    requirements = [
        re.split(r"[=<>~!\[ ]", line.strip())[0].lower().replace("-", "_")
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    with zipfile.ZipFile(packages[stage] / "deployment.zip") as archive:
        names = archive.namelist()
        wheels = {n.split("/")[0]: archive.read(n).decode() for n in names if n.endswith(".dist-info/WHEEL")}
    for requirement in requirements:
        dist = [d for d in wheels if d.lower().startswith(requirement + "-")]
        assert dist, f"{requirement} is not in the package"
        tags = re.findall(r"^Tag: (\S+)$", wheels[dist[0]], re.MULTILINE)
        assert any(
            t.endswith("-any") or (t.startswith((CPYTHON_TAG, "cp3")) and "linux" in t and "x86_64" in t)
            for t in tags
        ), (requirement, tags)
    for name in names:
        if name.endswith(".so"):
            assert f"cpython-{CPYTHON_TAG[2:]}-x86_64-linux-gnu" in name or ".abi3." in name, name


@pytest.mark.parametrize("stage", STAGES)
def test_functions_get_their_policy_files_sizes_and_the_stage_stream(
    packages: dict[str, Path], stage: str
) -> None:
    template = _template(packages, stage)
    resources = template["Resources"]
    configured = CONFIG["stages"][stage]["lambda_functions"]
    functions = {
        name: props for name, props in resources.items() if props["Type"] == "AWS::Serverless::Function"
    }
    assert functions
    for logical_id, function in functions.items():
        props = function["Properties"]
        assert props["Runtime"] == RUNTIME
        name = props["Handler"].split(".", 1)[1]
        config_name = "api_handler" if name == "app" else name
        settings = configured[config_name]
        assert props["MemorySize"] == settings.get("lambda_memory_size", props["MemorySize"])
        assert props["Timeout"] == settings.get("lambda_timeout", props["Timeout"])
        role = resources[props["Role"]["Fn::GetAtt"][0]]
        (policy,) = role["Properties"]["Policies"]
        expected = json.loads((ROOT / ".chalice" / settings["iam_policy_file"]).read_text())
        assert policy["PolicyDocument"] == expected, logical_id
        variables = props["Environment"]["Variables"]
        assert variables["LOGSTEP_STAGE"] == stage
        assert not re.search(r"\b\d{12}\b", json.dumps(variables))
    ingest = functions["Ingest"]["Properties"]
    (source,) = ingest["Events"].values()
    assert source["Type"] == "Kinesis"
    assert source["Properties"]["Stream"]["Fn::Sub"].endswith(f":stream/logstep-{stage}-source")
