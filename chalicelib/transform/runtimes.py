"""Application lines in the text formats of the Lambda runtimes and common log libraries.

Each parser takes the line (trailing newlines already removed), fills ``doc`` and
returns an ``Outcome``: False when the line is not in its format, else True, or the
user's shadowed values when a JSON body collided with the schema. The message is the text after the
recognised prefix, inner newlines and ``\\r`` kept (multi-line events stay one document).

Formats:
- Python ``[LEVEL]\\tts\\trequestId\\tmsg`` and ``[ERROR] Type: msg`` (init errors):
  https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html
- Node.js ``ts\\trequestId\\tLEVEL\\tmsg`` (older: no level column), ``Invoke Error``:
  https://docs.aws.amazon.com/lambda/latest/dg/nodejs-logging.html
- .NET ``ts\\trequestId\\tlevel\\tmsg`` (info/warn/fail/...):
  https://docs.aws.amazon.com/lambda/latest/dg/csharp-logging.html
- Java log4j2 with the AWS appender, ``%d{yyyy-MM-dd HH:mm:ss} %X{AWSRequestId} %-5p
  %c{1}:%L - %m%n`` (time optional): https://docs.aws.amazon.com/lambda/latest/dg/java-logging.html
- Ruby Logger ``I, [ts #pid]  INFO requestId -- : msg``:
  https://docs.aws.amazon.com/lambda/latest/dg/ruby-logging.html
- Go ``log`` ``YYYY/MM/DD HH:MM:SS msg``: https://docs.aws.amazon.com/lambda/latest/dg/golang-logging.html
- Lambda extensions ``[name] YYYY/MM/DD HH:MM:SS LEVEL msg``, and ``ts [LEVEL] msg`` lines.
- ``ts requestId Task timed out after N seconds`` (the platform's timeout line).
"""

from __future__ import annotations

import re
from typing import Final

from chalicelib import jsoncodec
from chalicelib.transform.json_records import merge_object
from chalicelib.transform.schema import (
    LAMBDA,
    LEVEL,
    MESSAGE,
    TIMESTAMP,
    Document,
    Outcome,
    checked_canonical_time,
    normalise_time,
)

# Level words the runtimes and common libraries write, upper-cased (.NET writes trce,
# dbug, info, warn, fail, crit).
LEVELS: Final = frozenset(
    (
        "TRACE",
        "DEBUG",
        "INFO",
        "NOTICE",
        "WARN",
        "WARNING",
        "ERROR",
        "FATAL",
        "CRITICAL",
        "TRCE",
        "DBUG",
        "FAIL",
        "CRIT",
    )
)
# Node.js writes the literal "undefined" in the request-id column outside a handler.
_NO_REQUEST_ID: Final = frozenset(("", "undefined", "null", "-"))
_UUIDISH = r"[0-9A-Za-z]{8}(?:-[0-9A-Za-z]{4}){3}-[0-9A-Za-z]{12}"

_CANONICAL_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
_PYTHON: Final = re.compile(r"\[([A-Za-z]+)\]\t(" + _CANONICAL_TIME + r")\t([^\t]*)\t(.*)", re.S)
# Documentation renders the tabs as runs of spaces; then the id must look like one.
_PYTHON_SPACED: Final = re.compile(
    r"\[([A-Za-z]+)\] +(\d{4}-\d\d-\d\dT[\d:.]+Z) +(" + _UUIDISH + r") +(.*)", re.S
)
_BRACKETED_LEVEL: Final = re.compile(r"\[([A-Za-z]+)\] (.*)", re.S)
_ERROR_TYPE: Final = re.compile(r"([A-Za-z_][\w.]*): ")
_EXTENSION: Final = re.compile(
    r"\[([^\]\t\n]{1,128})\] (\d{4}/\d\d/\d\d \d\d:\d\d:\d\d(?:\.\d{1,9})?) (.*)", re.S
)
_NODE: Final = re.compile(r"(" + _CANONICAL_TIME + r")([\t ])([^\t ]+)\2(.*)", re.S)
_TIMEOUT: Final = re.compile(r"Task timed out after (\d+(?:\.\d+)?) seconds")
_LOG4J: Final = re.compile(
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?: ?(?:Z|[+-]\d\d:?\d\d))?) +"
    r"(?:(" + _UUIDISH + r") +)?([A-Za-z]+) +([^\s:]+)(?::\d+)? +- (.*)",
    re.S,
)
_LOG4J_NO_TIME: Final = re.compile(
    r"(" + _UUIDISH + r") +([A-Za-z]+) +([^\s:]+)(?::\d+)? +- (.*)",
    re.S,
)
# Any other line that opens with an ISO-8601 time, optionally followed by a level.
_STAMPED: Final = re.compile(
    r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?)[ \t]+(.*)", re.S
)
_LEADING_LEVEL: Final = re.compile(r"\[?([A-Za-z]+)\]?:?[ \t]+(.*)", re.S)
_GO: Final = re.compile(r"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d(?:\.\d{1,9})?) (.*)", re.S)
_RUBY: Final = re.compile(
    r"[DIWEFAU], \[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?) #\d+\] +([A-Za-z]+)"
    r"(?: (\S+))? -- [^:\n]*: (.*)",
    re.S,
)


class LineContext:
    """What a parser needs to know about the line's envelope and the stage's options."""

    __slots__ = ("json_fields_key", "lambda_context")

    def __init__(self, lambda_context: bool, json_fields_key: str) -> None:
        self.lambda_context = lambda_context
        self.json_fields_key = json_fields_key


def _set_request_id(doc: Document, request_id: str | None) -> None:
    if request_id is not None and request_id not in _NO_REQUEST_ID:
        lam = doc.get(LAMBDA)
        if lam is None:
            doc[LAMBDA] = {"requestId": request_id}
        else:
            lam.setdefault("requestId", request_id)


def _set_time(doc: Document, written: str) -> None:
    stamp = normalise_time(written)
    if stamp is not None:
        doc[TIMESTAMP] = stamp


def _json_body(doc: Document, body: str, ctx: LineContext) -> Outcome:
    """A JSON object after a runtime prefix is read like a JSON message (the prefix wins)."""
    if body[-1:] != "}":
        return True
    try:
        value = jsoncodec.loads_lossless(body)
    except ValueError:
        return True
    if isinstance(value, dict):
        return merge_object(value, doc, True, ctx.json_fields_key) or True
    return True


def parse_bracketed(text: str, doc: Document, ctx: LineContext) -> Outcome:
    """Python runtime lines and ``[extension] time LEVEL msg`` lines."""
    match = _PYTHON.match(text) or _PYTHON_SPACED.match(text)
    if match is not None:
        level, written, request_id, body = match.groups()
        level = level.upper()
        if level in LEVELS:
            doc[LEVEL] = level
            stamp = checked_canonical_time(written) if len(written) == 24 else normalise_time(written)
            if stamp is not None:
                doc[TIMESTAMP] = stamp
            if request_id:
                doc[LAMBDA] = {"requestId": request_id}
            doc[MESSAGE] = body
            if body[:1] == "{":
                return _json_body(doc, body, ctx)
            return True
    match = _EXTENSION.match(text)
    if match is not None:
        doc[LAMBDA] = {"extensionName": match[1]}
        _set_time(doc, match[2])
        _set_leading_level(doc, match[3])
        return True
    match = _BRACKETED_LEVEL.match(text)
    if match is not None and match[1].upper() in LEVELS:
        level = match[1].upper()
        doc[LEVEL] = level
        body = match[2]
        doc[MESSAGE] = body
        # "[ERROR] Runtime.ImportModuleError: Unable to import module ...\rTraceback ..."
        if level in ("ERROR", "CRITICAL", "FATAL"):
            error = _ERROR_TYPE.match(body)
            if error is not None:
                doc[LAMBDA] = {"errorType": error[1]}
        return True
    return False


def _set_leading_level(doc: Document, rest: str) -> None:
    match = _LEADING_LEVEL.match(rest)
    if match is not None and match[1].upper() in LEVELS:
        doc[LEVEL] = match[1].upper()
        doc[MESSAGE] = match[2]
    else:
        doc[MESSAGE] = rest


def parse_timestamped(text: str, doc: Document, ctx: LineContext) -> Outcome:
    """Lines that open with a time: Node.js/.NET, log4j2, Go, and generic stamped lines."""
    if text[4:5] == "-":
        match = _NODE.match(text)
        if match is not None:
            return _node_line(match, doc, ctx)
        if text[10:11] == " ":
            match = _LOG4J.match(text)
            if match is not None and match[3].upper() in LEVELS:
                _set_time(doc, match[1])
                _set_request_id(doc, match[2])
                doc[LEVEL] = match[3].upper()
                doc["logger"] = match[4]
                doc[MESSAGE] = match[5]
                return True
        match = _STAMPED.match(text)
        if match is not None:
            stamp = normalise_time(match[1])
            if stamp is not None:
                doc[TIMESTAMP] = stamp
                # "ts [LEVEL] msg" is a format we know; any other stamped line (RDS
                # PostgreSQL's "ts UTC:host:user@db:[pid]:") keeps its whole text.
                level = _LEADING_LEVEL.match(match[2])
                if level is not None and level[1].upper() in LEVELS:
                    doc[LEVEL] = level[1].upper()
                    doc[MESSAGE] = level[2]
                return True
    elif text[4:5] == "/":
        match = _GO.match(text)
        if match is not None:
            stamp = normalise_time(match[1])
            if stamp is not None:
                doc[TIMESTAMP] = stamp
                doc[MESSAGE] = match[2]
                return True
    if text[8:9] == "-":
        return parse_log4j_without_time(text, doc, ctx)
    return False


def _node_line(match: re.Match[str], doc: Document, ctx: LineContext) -> Outcome:
    written, separator, request_id, rest = match.groups()
    stamp = checked_canonical_time(written)
    if stamp is not None:
        doc[TIMESTAMP] = stamp
    if request_id not in _NO_REQUEST_ID:
        doc[LAMBDA] = {"requestId": request_id}
    if separator == "\t":
        head, tab, tail = rest.partition("\t")
        if tab:
            level = head.upper()
            if level in LEVELS:
                doc[LEVEL] = level
                rest = tail
    else:  # space-separated: the platform's timeout line, V8's fatal errors, doc renderings
        timeout = _TIMEOUT.match(rest)
        if timeout is not None:
            lam = doc[LAMBDA] if LAMBDA in doc else doc.setdefault(LAMBDA, {})
            lam["timeoutSeconds"] = float(timeout[1])
            lam["status"] = "timeout"
            doc[MESSAGE] = rest
            return True
        head, space, tail = rest.partition(" ")
        if space and head.isupper() and head in LEVELS:
            doc[LEVEL] = head
            rest = tail
    doc[MESSAGE] = rest
    if rest[:1] == "{":
        return _json_body(doc, rest, ctx)
    if rest.startswith("Invoke Error"):
        _invoke_error(rest, doc)
    return True


def _invoke_error(rest: str, doc: Document) -> None:
    # "Invoke Error \t{"errorType":"TypeError","errorMessage":"...","stack":[...]}"
    _, _, payload = rest.partition("\t")
    try:
        error = jsoncodec.loads(payload)
    except ValueError:
        return
    if isinstance(error, dict):
        lam = doc.setdefault(LAMBDA, {})
        for key in ("errorType", "errorMessage"):
            if isinstance(error.get(key), str):
                lam[key] = error[key]


def parse_log4j_without_time(text: str, doc: Document, ctx: LineContext) -> Outcome:
    """log4j2 ``%X{AWSRequestId} %-5p %c{1}:%L - %m`` lines (no time in the pattern)."""
    match = _LOG4J_NO_TIME.match(text)
    if match is None or match[2].upper() not in LEVELS:
        return False
    _set_request_id(doc, match[1])
    doc[LEVEL] = match[2].upper()
    doc["logger"] = match[3]
    doc[MESSAGE] = match[4]
    return True


def parse_ruby(text: str, doc: Document, ctx: LineContext) -> Outcome:
    """Ruby Logger lines as the Lambda Ruby runtime writes them."""
    if text[1:4] != ", [":
        return False
    match = _RUBY.match(text)
    if match is None:
        return False
    _set_time(doc, match[1])
    doc[LEVEL] = match[2].upper()
    if match[3] is not None:
        _set_request_id(doc, match[3])
    doc[MESSAGE] = match[4]
    return True
