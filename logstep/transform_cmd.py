"""logstep transform [FILE|-]: print the documents the pipeline would deliver, one JSON per line.

Reads a Lambda Kinesis event ({"Records": [...]}) or one decoded CloudWatch Logs
envelope (DATA_MESSAGE JSON). CONTROL_MESSAGEs yield nothing. Imports neither boto3 nor
moto: this path is benchmarked as a whole process.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any

from chalicelib import jsoncodec
from chalicelib.envelope import Envelope, Malformed, decode_base64_record, parse_envelope
from chalicelib.transform import TransformOptions, transform_envelope


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``logstep transform``."""
    parser.add_argument("file", nargs="?", default="-", help="input JSON file, or - for stdin")
    parser.add_argument("--format", choices=["logstep", "ecs"], default="logstep")
    parser.add_argument("--json-fields-key", default="", help="nest JSON message fields under this key")


def envelopes_of(document: Any) -> Iterator[Envelope | Malformed]:
    """The envelopes in a Lambda Kinesis event or a single decoded envelope."""
    if isinstance(document, dict) and isinstance(document.get("Records"), list):
        for record in document["Records"]:
            data = record.get("kinesis", {}).get("data") if isinstance(record, dict) else None
            decoded = (
                decode_base64_record(data)
                if isinstance(data, str)
                else Malformed("record has no kinesis.data")
            )
            if isinstance(decoded, Envelope | Malformed):
                yield decoded
        return
    decoded = parse_envelope(document)
    if isinstance(decoded, Envelope | Malformed):
        yield decoded


def run(args: argparse.Namespace) -> int:
    """Print one document per event; report malformed records on stderr (exit 1 if any)."""
    if args.file == "-":
        raw = sys.stdin.buffer.read()
    else:
        with open(args.file, "rb") as handle:
            raw = handle.read()
    try:
        document = jsoncodec.loads(raw)
    except ValueError as e:
        print(f"logstep transform: input is not JSON: {e}", file=sys.stderr)
        return 2
    options = TransformOptions(output_format=args.format, json_fields_key=args.json_fields_key)
    out = sys.stdout.buffer
    malformed = 0
    for envelope in envelopes_of(document):
        if isinstance(envelope, Malformed):
            malformed += 1
            print(f"logstep transform: skipped a record: {envelope.reason}", file=sys.stderr)
            continue
        for doc in transform_envelope(envelope, options).documents:
            out.write(jsoncodec.dumps(doc) + b"\n")
    out.flush()
    return 1 if malformed else 0
