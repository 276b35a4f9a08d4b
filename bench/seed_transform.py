"""The seed article's transform, reconstructed with the standard library only (the baseline).

The 2019 blog post "Streaming CloudWatch logs to Elasticsearch, Part 2" (shared/seed/)
decodes each Kinesis record with gzip + base64 + json, then for every log event: strips
the message, parses it as JSON when it looks like an object, else tries its regex for
Python runtime lines, else keeps it as text at level INFO; adds the log group and
stream, a timestamp (datetime.isoformat of the event time) unless the message had one,
and the Lambda START/END/REPORT fields; then one ``json.dumps`` per event. Written from
the article's description of the algorithm, not copied; the Kinesis writer is left out
(the benchmark measures decode + transform + serialise).

Run as a script, ``python bench/seed_transform.py FILE`` reads a Lambda Kinesis event
and prints one JSON document per line, like ``logstep transform FILE``.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import sys
from datetime import UTC, datetime
from typing import Any

PYTHON_LINE = re.compile(r"\[([A-Z]+)]\s+([0-9]{4}-.*Z)\s+([-0-9a-fA-F]{36})\s+(.*)")
START_LINE = re.compile(r"START RequestId:\s+([-0-9a-fA-F]{36})\s+Version:\s+(.+)")
END_LINE = re.compile(r"END RequestId:\s+([-0-9a-fA-F]{36})")
REPORT_LINE = re.compile(
    r"REPORT RequestId:\s+([-0-9a-fA-F]{36})\s+Duration:\s+([0-9.]+)\s+ms\s+"
    r"Billed Duration:\s+([0-9]+)\s+ms\s+Memory Size:\s+([0-9]+)\s+MB\s+"
    r"Max Memory Used:\s+([0-9]+)\s+MB"
)


def process_input_record(record: dict[str, Any]) -> list[dict[str, Any]]:
    """One Kinesis record -> the transformed events of its DATA_MESSAGE (none otherwise)."""
    try:
        data = json.loads(gzip.decompress(base64.b64decode(record["kinesis"]["data"])))
        if data.get("messageType") == "DATA_MESSAGE":
            group, stream = data["logGroup"], data["logStream"]
            return [transform_log_event(group, stream, e) for e in data.get("logEvents", [])]
    except Exception:
        pass
    return []


def transform_log_event(group: str, stream: str, event: dict[str, Any]) -> dict[str, Any]:
    message = event.get("message", "").strip()
    result = _as_json(message) or _as_python_line(message) or {"level": "INFO", "message": message}
    result["cloudwatch"] = {"logGroup": group, "logStream": stream}
    if not result.get("timestamp"):
        moment = datetime.fromtimestamp(event["timestamp"] / 1000.0, tz=UTC)
        result["timestamp"] = moment.isoformat()
    _add_lambda_status(result, message)
    return result


def _as_json(message: str) -> dict[str, Any] | None:
    if message.startswith("{") and message.endswith("}"):
        try:
            parsed = json.loads(message)
        except Exception:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def _as_python_line(message: str) -> dict[str, Any] | None:
    match = PYTHON_LINE.match(message)
    if match is None:
        return None
    return {
        "level": match[1],
        "timestamp": match[2],
        "lambda": {"requestId": match[3]},
        "message": match[4],
    }


def _add_lambda_status(result: dict[str, Any], message: str) -> None:
    if message.startswith("START RequestId:"):
        match = START_LINE.match(message)
        if match:
            result["lambda"] = {"requestId": match[1], "version": match[2]}
    elif message.startswith("END RequestId:"):
        match = END_LINE.match(message)
        if match:
            result["lambda"] = {"requestId": match[1]}
    elif message.startswith("REPORT RequestId:"):
        match = REPORT_LINE.match(message)
        if match:
            result["lambda"] = {
                "requestId": match[1],
                "durationMs": float(match[2]),
                "billedMs": float(match[3]),
                "maxMemoryMb": int(match[4]),
                "usedMemoryMb": int(match[5]),
            }


def main(path: str) -> int:
    with open(path, "rb") as f:
        event = json.load(f)
    out = sys.stdout
    for record in event["Records"]:
        for document in process_input_record(record):
            out.write(json.dumps(document) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
