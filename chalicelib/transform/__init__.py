"""Log event -> one JSON document (pure). The schema is documented in docs/schema.md.

The contract the pipeline relies on (the transform issue extends the formats, not this):
- ``transform_envelope(envelope, options)`` never raises and returns one document per
  event, in event order, plus a count of parse failures;
- ``serialise_envelope(envelope, options)`` is the same, serialised: exactly the bytes
  ``jsoncodec.dumps`` writes for each of those documents (what the transform step and
  ``logstep transform`` deliver), written faster (``templates``);
- every document has ``timestamp`` (ISO-8601 UTC, milliseconds, ``Z``), ``message`` (str)
  and ``cloudwatch`` {logGroup, logStream, id, owner, timestamp}; ``cloudwatch.id`` is
  the dedup key. (The ``ecs`` output format says ``@timestamp``, ``message`` and
  ``event.id`` instead; see docs/schema.md, "Output formats".)

How a line is read: its first character picks the few parsers that can apply (a ``{``
is JSON, a digit a time prefix, ``S``/``E``/``R``/``I``/``T`` Lambda's own keywords, ``[``
the Python runtime, ...), so most lines meet one regular expression. Modules:
``schema`` (names, timestamps), ``lambda_platform`` (START/REPORT/... and ``platform.*``),
``runtimes`` (application text formats), ``json_records`` (JSON messages), ``ecs``,
``templates`` and ``ecs_templates`` (the commonest shapes written straight to JSON text,
in either format).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from chalicelib import jsoncodec
from chalicelib.envelope import (
    MAX_EVENT_TIME_MS,
    MIN_EVENT_TIME_MS,
    DecodedEvents,
    Envelope,
    LogEvent,
)
from chalicelib.transform import writers
from chalicelib.transform.ecs import to_ecs
from chalicelib.transform.json_records import parse_json_message
from chalicelib.transform.lambda_platform import (
    lambda_stream_context,
    parse_platform_text,
    parse_runtime_error,
)
from chalicelib.transform.runtimes import (
    LineContext,
    parse_bracketed,
    parse_log4j_without_time,
    parse_ruby,
    parse_timestamped,
)
from chalicelib.transform.schema import (
    CLOUDWATCH,
    LAMBDA,
    MESSAGE,
    RESERVED_FIELDS,
    SHADOWED,
    TIMESTAMP,
    Document,
    Outcome,
    format_timestamp,
)

OUTPUT_FORMATS = ("logstep", "ecs")
_LINE_ENDS = ("\n", "\r")

__all__ = [
    "OUTPUT_FORMATS",
    "Document",
    "SerialisedEnvelope",
    "TransformOptions",
    "TransformedEnvelope",
    "document_for",
    "format_timestamp",
    "serialise_envelope",
    "transform_envelope",
    "transform_event",
]


@dataclass(frozen=True)
class TransformOptions:
    """Per-stage output options."""

    output_format: str = "logstep"
    # When set, a JSON-object message's fields go under this key instead of the top level.
    json_fields_key: str = ""

    def __post_init__(self) -> None:
        if self.output_format not in OUTPUT_FORMATS:
            raise ValueError(f"output_format {self.output_format!r}: use one of {OUTPUT_FORMATS}")
        if self.json_fields_key in RESERVED_FIELDS or self.json_fields_key.startswith("@"):
            raise ValueError(f"json_fields_key {self.json_fields_key!r} is a schema field")


@dataclass(frozen=True)
class TransformedEnvelope:
    """The documents of one envelope, in event order, and how many lines hit a parser bug."""

    documents: list[Document] = field(default_factory=list)
    parse_errors: int = 0


@dataclass(frozen=True)
class SerialisedEnvelope:
    """The documents of one envelope as JSON (``jsoncodec.dumps``'s bytes), in event order."""

    records: list[bytes] = field(default_factory=list)
    parse_errors: int = 0


Parser = Callable[[str, Document, LineContext], Outcome]


def _platform(text: str, doc: Document, ctx: LineContext) -> Outcome:
    return parse_platform_text(text, doc)


def _platform_or_ruby(text: str, doc: Document, ctx: LineContext) -> Outcome:
    return parse_platform_text(text, doc) or parse_ruby(text, doc, ctx)


def _platform_or_runtime_error(text: str, doc: Document, ctx: LineContext) -> Outcome:
    return parse_platform_text(text, doc) or parse_runtime_error(text, doc)


def _json(text: str, doc: Document, ctx: LineContext) -> Outcome:
    return parse_json_message(text, doc, ctx.lambda_context, ctx.json_fields_key) or True


def _indented(text: str, doc: Document, ctx: LineContext) -> Outcome:
    stripped = text.lstrip()
    if stripped[:1] == "{":
        return _json(stripped, doc, ctx)
    return False


# First character of a line -> the parser for the formats that can start with it.
_PARSERS: dict[str, Parser] = {
    "{": _json,
    "[": parse_bracketed,
    "S": _platform,
    "T": _platform,
    "E": _platform_or_ruby,
    "I": _platform_or_ruby,
    "R": _platform_or_runtime_error,
    " ": _indented,
    "\t": _indented,
    **{letter: parse_ruby for letter in "DWFAU"},
    **{digit: parse_timestamped for digit in "0123456789"},
    **{letter: parse_log4j_without_time for letter in "abcdef"},
}


class _EnvelopeContext:
    """What every document of one envelope shares, computed once."""

    __slots__ = ("ecs", "lambda_base", "line", "log_group", "log_stream", "owner")

    def __init__(self, envelope: Envelope, options: TransformOptions) -> None:
        self.owner = envelope.owner
        self.log_group = envelope.log_group
        self.log_stream = envelope.log_stream
        self.lambda_base = lambda_stream_context(envelope.log_group, envelope.log_stream)
        self.line = LineContext(
            lambda_context=self.lambda_base is not None, json_fields_key=options.json_fields_key
        )
        self.ecs = options.output_format == "ecs"

    def cloudwatch(self, event: LogEvent) -> dict[str, Any]:
        return {
            "logGroup": self.log_group,
            "logStream": self.log_stream,
            "id": event.id,
            "owner": self.owner,
            "timestamp": event.timestamp,
        }

    def document(self, event: LogEvent) -> Document:
        """The hot path: one event -> one document (kept flat on purpose: it runs per event)."""
        text = event.message
        if text[-1:] in _LINE_ENDS:
            text = text.rstrip("\r\n")
        doc: Document = {TIMESTAMP: None, MESSAGE: text}
        parse = _PARSERS.get(text[:1])
        outcome = False if parse is None else parse(text, doc, self.line)
        if doc[TIMESTAMP] is None:
            doc[TIMESTAMP] = format_timestamp(event.timestamp)
        base = self.lambda_base
        if base is not None:
            lam = doc.get(LAMBDA)
            doc[LAMBDA] = base.copy() if lam is None else {**lam, **base, **lam}
        cloudwatch = {
            "logGroup": self.log_group,
            "logStream": self.log_stream,
            "id": event.id,
            "owner": self.owner,
            "timestamp": event.timestamp,
        }
        if outcome is not True and outcome is not False:
            cloudwatch[SHADOWED] = outcome
        doc[CLOUDWATCH] = cloudwatch
        return to_ecs(doc) if self.ecs else doc

    def plain_document(self, event: LogEvent) -> Document:
        """The document of a line that hit a parser bug: its text, time and origin only."""
        doc: Document = {
            TIMESTAMP: format_timestamp(event.timestamp),
            MESSAGE: event.message.rstrip("\r\n"),
            CLOUDWATCH: self.cloudwatch(event),
        }
        return to_ecs(doc) if self.ecs else doc


def transform_event(event: LogEvent, envelope: Envelope, options: TransformOptions) -> Document:
    """One log event -> one document. Raises only on a parser bug (see transform_envelope)."""
    return _EnvelopeContext(envelope, options).document(event)


def document_for(event: LogEvent, envelope: Envelope, options: TransformOptions) -> Document:
    """One event's document exactly as ``transform_envelope`` makes it; never raises."""
    context = _EnvelopeContext(envelope, options)
    try:
        return context.document(event)
    except Exception:  # a parser bug: the plain-text document, as in transform_envelope
        return context.plain_document(event)


def transform_envelope(envelope: Envelope, options: TransformOptions) -> TransformedEnvelope:
    """Every event of an envelope -> documents, in order. Never raises."""
    context = _EnvelopeContext(envelope, options)
    documents: list[Document] = []
    append = documents.append
    errors = 0
    for event in envelope.events:
        try:
            append(context.document(event))
        except Exception:  # a parser bug must not lose the event: keep it as plain text
            errors += 1
            append(context.plain_document(event))
    return TransformedEnvelope(documents=documents, parse_errors=errors)


_EVENT_TIME = attrgetter("timestamp")


def serialise_envelope(
    envelope: Envelope, options: TransformOptions, implementation: writers.Writers = writers.PYTHON
) -> SerialisedEnvelope:
    """Every event of an envelope -> its document serialised, in order. Never raises.

    The same bytes as ``jsoncodec.dumps`` of each of ``transform_envelope``'s documents,
    and the same parse-error count, written faster: lines in the commonest shapes go
    straight to JSON text (``templates``, ``ecs_templates``), the rest through the
    document dict. ``implementation``: those modules, or their compiled copies (the same
    bytes; ``chalicelib.native.ACTIVE`` says which to use here).
    """
    context = _EnvelopeContext(envelope, options)
    errors = 0
    dumps = jsoncodec.dumps

    def general(event: LogEvent) -> bytes:
        nonlocal errors
        try:
            document = context.document(event)
        except Exception:  # a parser bug must not lose the event: keep it as plain text
            errors += 1
            document = context.plain_document(event)
        return dumps(document)

    line_writers: dict[str, Any] = {}
    plain = None
    if _templates_apply(envelope, options) and (
        not context.ecs or implementation.ecs_document_writer.supports(context.lambda_base)
    ):
        writer = (implementation.ecs_document_writer if context.ecs else implementation.document_writer)(
            (envelope.log_group, envelope.log_stream, envelope.owner),
            context.lambda_base,
            _PARSERS,
            json_objects=not options.json_fields_key,
        )
        line_writers, plain = writer.writers, writer.plain
    records = implementation.write_records(envelope.events, line_writers, plain, general)
    return SerialisedEnvelope(records=records, parse_errors=errors)


def _templates_apply(envelope: Envelope, options: TransformOptions) -> bool:
    """The templates write event ids JSON needs no escapes for (CloudWatch's are digits) and
    event times of years 1..9999 (they format times without ``format_timestamp``'s
    out-of-range check; orjson writes such integers as they are)."""
    events = envelope.events
    if not events:
        return False
    try:
        ids = "".join([event.id for event in events])  # a list: join makes one anyway
    except TypeError:  # not an envelope decode_record or parse_envelope made
        return False
    if type(events) is not DecodedEvents:  # else decode_record checked the times
        timestamps = list(map(_EVENT_TIME, events))
        if (
            set(map(type, timestamps)) != {int}
            or min(timestamps) < MIN_EVENT_TIME_MS
            or max(timestamps) > MAX_EVENT_TIME_MS
        ):
            return False
    # isascii is O(1) on a str; bytes.isalnum runs ~10x faster than str.isalnum
    return ids.isascii() and ids.encode().isalnum()
