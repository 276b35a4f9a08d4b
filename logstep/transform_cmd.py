"""logstep transform [FILE|-]: print the documents the pipeline would deliver, one JSON per line.

Reads any of:
- a Lambda Kinesis event (``{"Records": [{"kinesis": {"data": ...}}]}``), or the
  ingest step's raw batch (``{"records": [{"data": ...}]}``);
- a CloudWatch Logs subscription event for Lambda (``{"awslogs": {"data": ...}}``);
- a decoded envelope (DATA_MESSAGE JSON), a JSON array of them, or JSON Lines of any of
  the above (the decode step's ``decoded.jsonl``);
- anything else: plain log lines, each one an event of ``--log-group``/``--log-stream``.

CONTROL_MESSAGEs yield nothing; records that are not envelopes are reported on stderr
(exit 1). Imports neither boto3 nor moto: this path is benchmarked as a whole process.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from chalicelib import jsoncodec, native
from chalicelib.envelope import (
    DATA_MESSAGE,
    Envelope,
    LogEvent,
    Malformed,
    decode_base64_record,
    parse_envelope,
)
from chalicelib.transform import OUTPUT_FORMATS, TransformOptions, serialise_envelope

Decoded = Envelope | Malformed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``logstep transform``."""
    parser.add_argument("file", nargs="?", default="-", help="input file, or - for stdin")
    parser.add_argument("--format", choices=OUTPUT_FORMATS, default="logstep", help="output format")
    parser.add_argument("--json-fields-key", default="", help="nest JSON message fields under this key")
    parser.add_argument(
        "--log-group", default="/aws/lambda/local", help="log group of plain-text input lines"
    )
    parser.add_argument(
        "--log-stream",
        default="1970/01/01/[$LATEST]00000000000000000000000000000000",
        help="log stream of plain-text input lines",
    )


def envelopes_of(document: Any) -> Iterator[Decoded]:
    """The envelopes in one JSON document of any supported shape."""
    if isinstance(document, list):
        for item in document:
            yield from envelopes_of(item)
        return
    if not isinstance(document, dict):
        yield Malformed(f"a JSON {type(document).__name__} is not an event or envelope")
        return
    if isinstance(document.get("Records"), list):
        for record in document["Records"]:
            kinesis = record.get("kinesis") if isinstance(record, dict) else None
            yield _decode(kinesis.get("data") if isinstance(kinesis, dict) else None)
        return
    if isinstance(document.get("records"), list):
        for record in document["records"]:
            yield _decode(record.get("data") if isinstance(record, dict) else None)
        return
    if isinstance(document.get("awslogs"), dict):
        yield _decode(document["awslogs"].get("data"))
        return
    decoded = parse_envelope(document)
    if isinstance(decoded, Envelope | Malformed):
        yield decoded


def _decode(data: Any) -> Decoded:
    if not isinstance(data, str):
        return Malformed("record has no base64 data")
    decoded = decode_base64_record(data)
    if isinstance(decoded, Envelope | Malformed):
        return decoded
    return Envelope("", "", "", (), ())  # a CONTROL_MESSAGE: nothing to print


def read_input(raw: bytes, args: argparse.Namespace) -> Iterator[Decoded]:
    """JSON, JSON Lines, or plain log lines."""
    try:
        yield from envelopes_of(jsoncodec.loads(raw))
        return
    except ValueError:
        pass
    lines = raw.splitlines()
    if lines and all(line.lstrip()[:1] in (b"{", b"[") for line in lines if line.strip()):
        try:
            parsed = [jsoncodec.loads(line) for line in lines if line.strip()]
        except ValueError:
            parsed = []
        if parsed and any(_is_input_document(item) for item in parsed):
            for item in parsed:
                yield from envelopes_of(item)
            return
    yield _plain_lines(raw, args)


def _is_input_document(item: Any) -> bool:
    if isinstance(item, list):
        return True
    return isinstance(item, dict) and (
        item.get("messageType") == DATA_MESSAGE or any(k in item for k in ("Records", "records", "awslogs"))
    )


def _plain_lines(raw: bytes, args: argparse.Namespace) -> Envelope:
    now_ms = int(time.time() * 1000)
    text = raw.decode("utf-8", errors="replace")
    events = tuple(
        LogEvent(id=str(number), timestamp=now_ms, message=line)
        for number, line in enumerate(text.splitlines(keepends=True), start=1)
    )
    return Envelope(
        owner="000000000000",
        log_group=args.log_group,
        log_stream=args.log_stream,
        subscription_filters=(),
        events=events,
    )


def run(args: argparse.Namespace) -> int:
    """Print one document per event; report malformed records on stderr (exit 1 if any)."""
    if args.file == "-":
        raw = sys.stdin.buffer.read()
    else:
        with open(args.file, "rb") as f:
            raw = f.read()
    try:
        options = TransformOptions(output_format=args.format, json_fields_key=args.json_fields_key)
    except ValueError as e:
        print(f"logstep transform: {e}", file=sys.stderr)
        return 2
    try:
        malformed = _write_documents(raw, args, options)
    except BrokenPipeError:  # `logstep transform FILE | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 1 if malformed else 0


def _write_documents(raw: bytes, args: argparse.Namespace, options: TransformOptions) -> int:
    out = sys.stdout.buffer
    malformed = 0
    for envelope in read_input(raw, args):
        if isinstance(envelope, Malformed):
            malformed += 1
            print(f"logstep transform: skipped a record: {envelope.reason}", file=sys.stderr)
            continue
        records = serialise_envelope(envelope, options, native.ACTIVE).records
        if records:
            records.append(b"")  # the last line's end, without copying the joined lines again
            out.write(b"\n".join(records))
    out.flush()
    return malformed
