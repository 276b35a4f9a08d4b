"""The line writers and record loop a serialiser runs: the Python modules, or compiled copies.

``tools/compile_writers.py`` (run by ``make``) compiles with mypyc a copy of ``templates``,
``ecs_templates`` and the modules they use, as ``_compiled_templates``, ...: C extensions
next to them in this package, the same code (importing each other's copies) with a digest
of its source compiled in. ``chalicelib.native`` decides, at run time, whether they are used;
``serialise_envelope`` takes what it decided (by default the Python modules).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from types import ModuleType
from typing import cast

from chalicelib.transform import ecs_templates, templates

# The modules compiled copies are made of (the writers and what they import from this
# package) -> each copy's module name (in this package).
COMPILED_MODULES = {
    module: f"_compiled_{module}"
    for module in (
        "templates",
        "ecs_templates",
        "schema",
        "runtimes",
        "lambda_platform",
        "ecs",
        "json_records",
    )
}
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
    """The digest of a module's source that its compiled copy holds: its length and CRC-32.

    It tells a copy compiled from another version of the source (a forgotten rebuild),
    not a forgery; zlib is loaded anyway, where hashlib would cost ~4 ms of start-up.
    """
    return f"{len(source)}:{zlib.crc32(source):08x}"


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
