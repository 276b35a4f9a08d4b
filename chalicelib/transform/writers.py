"""The line writers and record loop a serialiser runs: the Python modules, or compiled copies.

``tools/compile_writers.py`` (run by ``make``) compiles a copy of ``templates`` and of
``ecs_templates`` with mypyc, as ``_compiled_templates`` and ``_compiled_ecs_templates``:
C extensions next to them in this package, the same code with a digest of its source
compiled in. ``chalicelib.native`` decides, at run time, whether they are used;
``serialise_envelope`` takes what it decided (by default the Python modules).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from types import ModuleType
from typing import cast

from chalicelib.transform import ecs_templates, templates

# The module each compiled copy is compiled from -> the copy's module name (in this package).
COMPILED_MODULES = {"templates": "_compiled_templates", "ecs_templates": "_compiled_ecs_templates"}
# The name of the digest of its source that each compiled copy holds.
DIGEST_NAME = "SOURCE_DIGEST"


@dataclass(frozen=True)
class Writers:
    """The writer classes and record loop the serialiser uses, and where they come from."""

    name: str  # "compiled" or "python"
    document_writer: type[templates.DocumentWriter]
    ecs_document_writer: type[ecs_templates.EcsDocumentWriter]
    write_records: templates.RecordLoop
    why: str  # why these: for `make bench` and for anyone wondering


PYTHON = Writers(
    name="python",
    document_writer=templates.DocumentWriter,
    ecs_document_writer=ecs_templates.EcsDocumentWriter,
    write_records=templates.write_records,
    why="the Python modules",
)


def source_digest(source: bytes) -> str:
    """The digest of a module's source that its compiled copy holds."""
    return hashlib.sha256(source).hexdigest()


def compiled_writers(copies: dict[str, ModuleType]) -> Writers:
    """The writers of loaded compiled copies (``COMPILED_MODULES``'s modules -> the copies)."""
    return Writers(
        name="compiled",
        document_writer=cast("type[templates.DocumentWriter]", copies["templates"].DocumentWriter),
        ecs_document_writer=cast(
            "type[ecs_templates.EcsDocumentWriter]", copies["ecs_templates"].EcsDocumentWriter
        ),
        write_records=cast("templates.RecordLoop", copies["templates"].write_records),
        why="compiled copies of the Python modules (mypyc)",
    )
