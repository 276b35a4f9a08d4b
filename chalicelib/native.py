"""Whether the compiled line writers run here (``chalicelib.transform.writers``).

The compiled copies are an option, never a requirement: about 20% less CPU for the
transform (docs/contributing.md, "Speed"). The Python modules run instead when:

- no compiled copy is there (not built, or no C compiler where ``make`` ran);
- a copy does not load here: built for another platform, Python version or CPU
  architecture (its file name then does not even match), or against a newer C library
  than this machine's. Chalice packages everything under ``chalicelib/``, so a Lambda
  function gets the copies built where ``chalice package`` or ``chalice deploy`` ran, and
  uses them only if they load there;
- a copy was compiled from another version of its module's source: a stale build never runs;
- ``LOGSTEP_PURE_PYTHON`` is set to a non-empty value.

``ACTIVE`` is the choice, made once per process.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
from dataclasses import replace
from pathlib import Path
from types import ModuleType

from chalicelib.transform.writers import (
    COMPILED_MODULES,
    DIGEST_NAME,
    PYTHON,
    Writers,
    compiled_writers,
    source_digest,
)

PURE_PYTHON_VARIABLE = "LOGSTEP_PURE_PYTHON"
_TRANSFORM = Path(__file__).resolve().parent / "transform"
_EXTENSIONS = tuple(importlib.machinery.EXTENSION_SUFFIXES)


def load_compiled() -> Writers | str:
    """The compiled copies, or why they are not used."""
    if os.environ.get(PURE_PYTHON_VARIABLE):
        return f"{PURE_PYTHON_VARIABLE} is set"
    copies: dict[str, ModuleType] = {}
    for module, copy in COMPILED_MODULES.items():
        try:
            copies[module] = importlib.import_module(f"chalicelib.transform.{copy}")
        except ImportError as e:  # absent, or built for another platform or C library
            return f"no compiled {copy} here ({e})"
        except Exception as e:  # e.g. a module and a library from different builds
            return f"compiled {copy} does not load ({type(e).__name__}: {e})"
        if not str(getattr(copies[module], "__file__", "")).endswith(_EXTENSIONS):
            # the generated source of an interrupted build, say: not what was compiled
            return f"{copy} here is not a compiled extension"
        try:
            fresh = getattr(copies[module], DIGEST_NAME, None) == source_digest(
                (_TRANSFORM / f"{module}.py").read_bytes()
            )
        except OSError as e:  # its source is not next to it: it cannot be shown current
            return f"cannot check {copy} against {module}.py ({e})"
        if not fresh:
            return f"{copy} was compiled from another version of {module}.py (run make)"
    return compiled_writers(copies)


def _choose() -> Writers:
    compiled = load_compiled()
    return compiled if isinstance(compiled, Writers) else replace(PYTHON, why=compiled)


ACTIVE = _choose()
