"""chalicelib.native: the compiled line writers run only when they load and are current."""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from chalicelib import native
from chalicelib.transform import ecs_templates, templates
from chalicelib.transform.writers import COMPILED_MODULES, DIGEST_NAME, Writers, source_digest

REPO = Path(__file__).resolve().parents[2]
TRANSFORM = REPO / "chalicelib" / "transform"


def fake_copies(monkeypatch: pytest.MonkeyPatch, digests: dict[str, str]) -> None:
    """Stand-ins for the compiled copies: the Python modules' classes under the copies' names."""
    for module, copy in COMPILED_MODULES.items():
        fake = ModuleType(f"chalicelib.transform.{copy}")
        fake.__file__ = str(TRANSFORM / f"{copy}{importlib.machinery.EXTENSION_SUFFIXES[0]}")
        fake.DocumentWriter = templates.DocumentWriter  # type: ignore[attr-defined]
        fake.EcsDocumentWriter = ecs_templates.EcsDocumentWriter  # type: ignore[attr-defined]
        fake.write_records = templates.write_records  # type: ignore[attr-defined]
        setattr(fake, DIGEST_NAME, digests[module])
        monkeypatch.setitem(sys.modules, fake.__name__, fake)


def active_in_a_new_process(pure_python: bool) -> tuple[str, str]:
    """``native.ACTIVE``'s name and reason in a fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if k != native.PURE_PYTHON_VARIABLE}
    if pure_python:
        env[native.PURE_PYTHON_VARIABLE] = "1"
    code = "from chalicelib import native; print(native.ACTIVE.name); print(native.ACTIVE.why)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, check=True
    )
    name, why = result.stdout.splitlines()
    return name, why


def current_digests() -> dict[str, str]:
    return {module: source_digest((TRANSFORM / f"{module}.py").read_bytes()) for module in COMPILED_MODULES}


def test_current_copies_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(native.PURE_PYTHON_VARIABLE, raising=False)
    fake_copies(monkeypatch, current_digests())
    loaded = native.load_compiled()
    assert isinstance(loaded, Writers)
    assert loaded.name == "compiled"
    assert loaded.write_records is templates.write_records


def test_a_copy_of_another_source_is_never_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(native.PURE_PYTHON_VARIABLE, raising=False)
    fake_copies(monkeypatch, {**current_digests(), "ecs_templates": source_digest(b"older source")})
    reason = native.load_compiled()
    assert (
        reason == "_compiled_ecs_templates was compiled from another version of ecs_templates.py (run make)"
    )


def test_a_copy_without_a_digest_is_never_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(native.PURE_PYTHON_VARIABLE, raising=False)
    fake_copies(monkeypatch, current_digests())
    monkeypatch.delattr(sys.modules["chalicelib.transform._compiled_templates"], DIGEST_NAME)
    assert "another version of templates.py" in str(native.load_compiled())


def test_generated_source_left_by_an_interrupted_build_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(native.PURE_PYTHON_VARIABLE, raising=False)
    fake_copies(monkeypatch, current_digests())
    sys.modules["chalicelib.transform._compiled_schema"].__file__ = str(TRANSFORM / "_compiled_schema.py")
    assert native.load_compiled() == "_compiled_schema here is not a compiled extension"


def test_a_copy_that_fails_to_load_otherwise_means_the_python_modules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(native.PURE_PYTHON_VARIABLE, raising=False)

    def mismatched(name: str) -> ModuleType:
        raise AttributeError("mismatched builds")

    monkeypatch.setattr(native.importlib, "import_module", mismatched)
    reason = native.load_compiled()
    assert reason == ("compiled _compiled_templates does not load (AttributeError: mismatched builds)")


def test_missing_copies_mean_the_python_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(native.PURE_PYTHON_VARIABLE, raising=False)
    # None in sys.modules makes the import fail as a missing (or unloadable) module does
    monkeypatch.setitem(sys.modules, "chalicelib.transform._compiled_templates", None)
    reason = native.load_compiled()
    assert isinstance(reason, str)
    assert reason.startswith("no compiled _compiled_templates here")


def test_the_variable_forces_the_python_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_copies(monkeypatch, current_digests())
    monkeypatch.setenv(native.PURE_PYTHON_VARIABLE, "1")
    assert native.load_compiled() == "LOGSTEP_PURE_PYTHON is set"
    code = "from chalicelib import native; print(native.ACTIVE.name, native.ACTIVE.why)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert result.stdout.strip() == "python LOGSTEP_PURE_PYTHON is set"


def test_built_copies_are_current_and_used() -> None:
    """Where tools/compile_writers.py built copies (make does), they load and are current."""
    built = [path for copy in COMPILED_MODULES.values() for path in TRANSFORM.glob(f"{copy}.*.so")]
    if not built:
        pytest.skip("the line writers are not compiled here (no C compiler when make ran?)")
    name, why = active_in_a_new_process(pure_python=False)
    assert name == "compiled", f"built but not used: {why}"
