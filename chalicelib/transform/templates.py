"""The commonest line shapes written straight to JSON text (pure).

Building a document dict per event and serialising it costs more than parsing the line.
For the shapes that make up most of a Lambda log (START, END, REPORT, the Python and
Node.js runtime lines, log4j2 lines, Lambda's JSON records, other JSON objects, Go and
plain text), this module writes each event's record (its document as JSON, ``cloudwatch``
last) from fragments computed once per envelope and the line's own values, escaped by
orjson.

The general path (``chalicelib.transform``) stays the reference: every writer returns
None for any line that is not exactly in its shape, and that line takes the general
path. What a writer returns is, character for character, what ``jsoncodec.dumps`` writes
for the general path's document of the same line, keys in the same order; the tests
compare the two paths on every fixture, the corpus and generated lines of every shape.

A writer returns ``str``; the caller encodes it, and a lone surrogate (which only
``jsoncodec.dumps``'s fallback can write) fails that encode and sends the line to the
general path too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from json.encoder import encode_basestring
from typing import Any, Final

import orjson

from chalicelib.envelope import LogEvent
from chalicelib.jsoncodec import has_long_digit_run
from chalicelib.transform.lambda_platform import _REPORT, apply_platform_record
from chalicelib.transform.runtimes import _GO, _LOG4J, _NO_REQUEST_ID, LEVELS
from chalicelib.transform.schema import (
    _CANONICAL_SECONDS,
    _MILLIS,
    _MILLIS_Z,
    _SECOND_PREFIXES,
    LEVEL,
    MESSAGE,
    RESERVED_FIELDS,
    TIMESTAMP,
    is_canonical_time,
    normalise_time,
    second_prefix,
)

# A JSON string literal, quotes included, as ``str``: the standard library's C encoder
# escapes exactly the characters orjson escapes, the same way (a unit test holds them to
# it over every code point). In the per-line code, ``_dumps(text).decode()`` does the
# same faster for all but the shortest strings.
quote: Callable[[str], str] = encode_basestring
_dumps: Final = orjson.dumps
_JSONDecodeError: Final = orjson.JSONDecodeError

Writer = Callable[[LogEvent], "str | None"]
# The general path for one event: its record, however the writers fared.
General = Callable[[LogEvent], bytes]
RecordLoop = Callable[[Iterable[LogEvent], "dict[str, Writer | None]", "Writer | None", General], list[bytes]]

# Level words as the runtimes write them -> the document's level (upper case); any
# other spelling takes the general path.
_LEVEL_WORDS: Final = {
    spelling: level for level in LEVELS for spelling in (level, level.lower(), level.title())
}
_BRACKETED_LEVELS: Final = {f"[{spelling}]": level for spelling, level in _LEVEL_WORDS.items()}
# orjson writes a float of 1e16 or more with an exponent ("1e+16"), and so an integer
# beyond 64 bits, which it reads as a float where the general path keeps every digit.
_BIG_NUMBER: Final = "e+"
# Python's repr of a float is orjson's in this range (tested); durations are well inside.
_MIN_PLAIN_FLOAT: Final = 1e-4
_MAX_PLAIN_FLOAT: Final = 1e16
# Integers of at most 18 digits fit the 64 bits orjson writes.
_MAX_INT_DIGITS: Final = 18
# A decimal of at most 15 significant digits prints back from its double as written.
_MAX_PLAIN_DECIMAL_CHARS: Final = 16


class DocumentWriter:
    """Writes the records of one envelope's lines in the shapes above (logstep format)."""

    __slots__ = (
        "_cloudwatch",
        "_json_objects",
        "_lambda_alone",
        "_lambda_base",
        "_lambda_rest",
        "_lambda_rest_unversioned",
        "_lambdas",
        "_owner",
        "_quoted",
        "writers",
    )

    def __init__(
        self,
        cloudwatch: tuple[str, str, str],
        lambda_base: dict[str, str] | None,
        general: Iterable[str],
        json_objects: bool,
    ) -> None:
        """``cloudwatch``: log group, log stream and owner; ``general``: first characters the
        general path has parsers for; ``json_objects``: whether JSON-object messages keep
        their fields at the top level (else they take the general path)."""
        log_group, log_stream, owner = cloudwatch
        # The cloudwatch object around each event's id and time. Event ids are written
        # unquoted: the caller uses these templates only when every id needs no escape.
        self._cloudwatch = (
            f',"cloudwatch":{{"logGroup":{quote(log_group)},"logStream":{quote(log_stream)},"id":"'
        )
        self._owner = f'","owner":{quote(owner)},"timestamp":'
        self._lambda_base = lambda_base
        self._json_objects = json_objects
        base = lambda_base or {}
        # The stream's lambda fields after a line's own ({**line, **stream, **line}).
        self._lambda_rest = "".join(f',"{key}":{quote(value)}' for key, value in base.items())
        self._lambda_rest_unversioned = "".join(
            f',"{key}":{quote(value)}' for key, value in base.items() if key != "version"
        )
        # A line without lambda fields gets the stream's as the document's last key.
        self._lambda_alone = f',"lambda":{{{self._lambda_rest[1:]}}}' if base else ""
        # Every line of an invocation states its request id: each is quoted once, and its
        # "lambda" member (request id and the stream's fields) written once.
        self._quoted: dict[str, str] = {}
        self._lambdas: dict[str, str] = {}
        # First character -> writer. None: only the general path reads such lines; a
        # character missing here starts a line no parser reads (``plain``).
        self.writers: dict[str, Writer | None] = dict.fromkeys(general)
        self.writers.update(
            {
                "S": self.start,
                "E": self.end,
                "R": self.report,
                "[": self.python,
                **dict.fromkeys("0123456789", self.timestamped),
                **dict.fromkeys("abcdef", self.log4j_or_plain),
                **dict.fromkeys("DWFAU", self.ruby_or_plain),
            }
        )
        if json_objects:
            self.writers["{"] = self.json_object

    def _quote(self, text: str) -> str:
        quoted = self._quoted[text] = _dumps(text).decode()
        return quoted

    def _lambda(self, request_id: str) -> str:
        quoted = self._quoted.get(request_id) or self._quote(request_id)
        fields = self._lambdas[request_id] = f'"lambda":{{"requestId":{quoted}{self._lambda_rest}}}'
        return fields

    # Each writer's result ends with the same cloudwatch object:
    #   {self._cloudwatch}{event.id}{self._owner}{event.timestamp}}}}}
    # written inline (one string per record, not two).

    def plain(self, event: LogEvent) -> str | None:
        """A line no parser reads: its text, the event's time."""
        text = event.message.rstrip("\r\n")
        ts = event.timestamp
        seconds, millis = divmod(ts, 1000)  # format_timestamp, inlined (see second_prefix)
        return (
            f'{{"timestamp":"{_SECOND_PREFIXES.get(seconds) or second_prefix(seconds)}{_MILLIS[millis]}",'
            f'"message":{_dumps(text).decode()}'
            f"{self._lambda_alone}{self._cloudwatch}{event.id}{self._owner}{ts}}}}}"
        )

    def log4j_or_plain(self, event: LogEvent) -> str | None:
        """A line starting a-f: log4j2 without its time (the general path's) or plain text."""
        # log4j2's request id is 8 letters or digits, then "-": anything else is plain text.
        return None if event.message[8:9] == "-" else self.plain(event)

    def ruby_or_plain(self, event: LogEvent) -> str | None:
        """A line starting D, W, F, A or U: Ruby's Logger (the general path's) or plain text."""
        return None if event.message[1:4] == ", [" else self.plain(event)

    def start(self, event: LogEvent) -> str | None:
        """``START RequestId: <id> Version: <version>``."""
        # _START.fullmatch(text), without the regex (its [^\s]+ costs ~40 instructions a
        # character): the line's words, then the id and version, neither empty nor holding
        # whitespace (str.split and rstrip use the regex's \s), then whitespace.
        text = event.message
        if text[:17] != "START RequestId: ":
            return None
        request_id, separator, version = text[17:].rstrip().partition(" Version: ")
        if not separator or [request_id] != request_id.split() or [version] != version.split():
            return None
        version = _dumps(version).decode()
        quoted = self._quoted.get(request_id) or self._quote(request_id)
        ts = event.timestamp
        seconds, millis = divmod(ts, 1000)
        # The message is text.rstrip(): "START RequestId: <id> Version: <version>", whose
        # JSON is the quoted id and version with the line's own words around them.
        return (
            f'{{"timestamp":"{_SECOND_PREFIXES.get(seconds) or second_prefix(seconds)}{_MILLIS[millis]}",'
            f'"message":"START RequestId: {quoted[1:-1]} Version: {version[1:]},'
            f'"lambda":{{"type":"START","requestId":{quoted},"version":{version}'
            f"{self._lambda_rest_unversioned}}}"
            f"{self._cloudwatch}{event.id}{self._owner}{ts}}}}}"
        )

    def end(self, event: LogEvent) -> str | None:
        """``END RequestId: <id>``."""
        # _END.fullmatch(text), without the regex (see start)
        text = event.message
        if text[:15] != "END RequestId: ":
            return None
        request_id = text[15:].rstrip()
        if [request_id] != request_id.split():
            return None
        quoted = self._quoted.get(request_id) or self._quote(request_id)
        ts = event.timestamp
        seconds, millis = divmod(ts, 1000)
        # The message is text.rstrip(): "END RequestId: <id>".
        return (
            f'{{"timestamp":"{_SECOND_PREFIXES.get(seconds) or second_prefix(seconds)}{_MILLIS[millis]}",'
            f'"message":"END RequestId: {quoted[1:]},'
            f'"lambda":{{"type":"END","requestId":{quoted}{self._lambda_rest}}}'
            f"{self._cloudwatch}{event.id}{self._owner}{ts}}}}}"
        )

    def report(self, event: LogEvent) -> str | None:
        """``REPORT RequestId: ...`` in the shape nearly every invocation writes."""
        text = event.message
        match = _REPORT.fullmatch(text)
        if match is None:
            return None
        request_id, duration, billed, size, used, init, trace, segment, sampled = match.groups()
        duration_ms, billed_ms, size_mb, used_mb = (
            _decimal_json(duration),
            _integer_json(billed),
            _integer_json(size),
            _integer_json(used),
        )
        if duration_ms is None or billed_ms is None or size_mb is None or used_mb is None:
            return None
        if init is None:
            init_field = ""
        else:
            init_ms = _decimal_json(init)
            if init_ms is None:
                return None
            init_field = f',"initDurationMs":{init_ms}'
        if trace is None:
            xray = ""
        else:
            xray = (
                f',"xrayTraceId":{_dumps(trace).decode()},"segmentId":{_dumps(segment).decode()},'
                f'"sampled":{"true" if sampled == "true" else "false"}'
            )
        quoted = self._quoted.get(request_id) or self._quote(request_id)
        ts = event.timestamp
        seconds, millis = divmod(ts, 1000)
        return (
            f'{{"timestamp":"{_SECOND_PREFIXES.get(seconds) or second_prefix(seconds)}{_MILLIS[millis]}",'
            f'"message":{_dumps(text.rstrip()).decode()},'
            f'"lambda":{{"type":"REPORT","requestId":{quoted},'
            f'"durationMs":{duration_ms},"billedDurationMs":{billed_ms},'
            f'"memorySizeMb":{size_mb},"maxMemoryUsedMb":{used_mb}'
            f"{init_field}{xray}{self._lambda_rest}}}"
            f"{self._cloudwatch}{event.id}{self._owner}{ts}}}}}"
        )

    def python(self, event: LogEvent) -> str | None:
        """``[LEVEL]\\t<time>\\t<request id>\\t<message>`` (the Python runtime)."""
        # The line end is all in the message part: splitting first, then stripping it, is
        # what the general path's strip-then-split gives.
        parts = event.message.split("\t", 3)
        if len(parts) != 4:
            return None
        head, written, request_id, body = parts
        level = _BRACKETED_LEVELS.get(head)
        if level is None or not (
            # is_canonical_time(written), inlined: its per-second memo, then the function
            written[20:] in _MILLIS_Z and (_CANONICAL_SECONDS.get(written[:20]) or is_canonical_time(written))
        ):
            return None
        body = body.rstrip("\r\n")
        if body[:1] == "{":
            if not request_id or not self._json_objects:
                return None  # the body's own request id, or the nesting key, decides
            return _with_json_body(
                f'{{"timestamp":"{written}","message":{_dumps(body).decode()},"level":"{level}",'
                f"{self._lambdas.get(request_id) or self._lambda(request_id)}",
                body,
                f"{self._cloudwatch}{event.id}{self._owner}{event.timestamp}}}}}",
            )
        if request_id:
            return (
                f'{{"timestamp":"{written}","message":{_dumps(body).decode()},"level":"{level}",'
                f"{self._lambdas.get(request_id) or self._lambda(request_id)}"
                f"{self._cloudwatch}{event.id}{self._owner}{event.timestamp}}}}}"
            )
        return (
            f'{{"timestamp":"{written}","message":{_dumps(body).decode()},"level":"{level}"'
            f"{self._lambda_alone}{self._cloudwatch}{event.id}{self._owner}{event.timestamp}}}}}"
        )

    def timestamped(self, event: LogEvent) -> str | None:
        """A line starting with a digit: Node.js/.NET, log4j2, Go, or (VPC flow logs...) none."""
        text = event.message
        separator = text[4:5]
        if separator == "/":
            return self._go(event)
        if separator != "-":
            return None if text[8:9] == "-" else self.plain(event)  # "-": perhaps log4j2
        if text[10:11] == " ":
            return self._log4j(event)
        # Node.js and .NET: <time>\t<request id>\t<LEVEL>\t<message>
        parts = text.split("\t", 3)
        if len(parts) != 4:
            return None
        written, request_id, word, body = parts
        level = _LEVEL_WORDS.get(word)
        if (
            level is None
            or written[20:] not in _MILLIS_Z  # is_canonical_time(written), inlined as in python()
            or not (_CANONICAL_SECONDS.get(written[:20]) or is_canonical_time(written))
            or not request_id
            or " " in request_id
            or request_id in _NO_REQUEST_ID
        ):
            return None
        body = body.rstrip("\r\n")
        if body[:1] == "{":
            if not self._json_objects:
                return None
            return _with_json_body(
                f'{{"timestamp":"{written}","message":{_dumps(body).decode()},'
                f'{self._lambdas.get(request_id) or self._lambda(request_id)},"level":"{level}"',
                body,
                f"{self._cloudwatch}{event.id}{self._owner}{event.timestamp}}}}}",
            )
        if body.startswith("Invoke Error"):
            return self._invoke_error(event, written, request_id, level, body)
        return (
            f'{{"timestamp":"{written}","message":{_dumps(body).decode()},'
            f'{self._lambdas.get(request_id) or self._lambda(request_id)},"level":"{level}"'
            f"{self._cloudwatch}{event.id}{self._owner}{event.timestamp}}}}}"
        )

    def _invoke_error(
        self, event: LogEvent, written: str, request_id: str, level: str, body: str
    ) -> str | None:
        # Node.js: "Invoke Error \t{"errorType": ..., "errorMessage": ..., "stack": [...]}"
        try:
            error = orjson.loads(body.partition("\t")[2])
        except _JSONDecodeError:
            return None  # perhaps JSON only the standard library reads
        fields = ""
        if type(error) is dict:
            for key in ("errorType", "errorMessage"):
                item = error.get(key)
                if type(item) is str:
                    fields += f',"{key}":{_dumps(item).decode()}'
        quoted = self._quoted.get(request_id) or self._quote(request_id)
        return (
            f'{{"timestamp":"{written}","message":{_dumps(body).decode()},'
            f'"lambda":{{"requestId":{quoted}{fields}{self._lambda_rest}}},"level":"{level}"'
            f"{self._cloudwatch}{event.id}{self._owner}{event.timestamp}}}}}"
        )

    def _log4j(self, event: LogEvent) -> str | None:
        # Java, log4j2 with the AWS pattern: <time> <request id> <LEVEL> <logger>[:<line>] - <message>
        match = _LOG4J.match(event.message.rstrip("\r\n"))
        if match is None:
            return None
        written, request_id, word, logger, body = match.groups()
        level = word.upper()
        timestamp = normalise_time(written)
        if level not in LEVELS or timestamp is None:
            return None
        if request_id is not None and request_id not in _NO_REQUEST_ID:
            return (
                f'{{"timestamp":"{timestamp}","message":{_dumps(body).decode()},'
                f"{self._lambdas.get(request_id) or self._lambda(request_id)},"
                f'"level":"{level}","logger":{_dumps(logger).decode()}'
                f"{self._cloudwatch}{event.id}{self._owner}{event.timestamp}}}}}"
            )
        return (
            f'{{"timestamp":"{timestamp}","message":{_dumps(body).decode()},'
            f'"level":"{level}","logger":{_dumps(logger).decode()}{self._lambda_alone}'
            f"{self._cloudwatch}{event.id}{self._owner}{event.timestamp}}}}}"
        )

    def _go(self, event: LogEvent) -> str | None:
        # YYYY/MM/DD HH:MM:SS[.ffffff] <message>
        match = _GO.match(event.message.rstrip("\r\n"))
        if match is None:
            return None
        timestamp = normalise_time(match[1])
        if timestamp is None:
            return None
        return (
            f'{{"timestamp":"{timestamp}","message":{_dumps(match[2]).decode()}{self._lambda_alone}'
            f"{self._cloudwatch}{event.id}{self._owner}{event.timestamp}}}}}"
        )

    def json_object(self, event: LogEvent) -> str | None:
        """Lambda's ``platform.*`` records, its JSON application records, JSON without schema names."""
        text = event.message.rstrip("\r\n")
        try:
            value = orjson.loads(text)
        except _JSONDecodeError:
            return None  # perhaps JSON only the standard library reads
        if type(value) is not dict:
            return None
        kind = value.get("type")
        if type(kind) is str and kind.startswith("platform.") and "record" in value:
            return self._platform_record(value, text, event)
        if "lambda" in value or "cloudwatch" in value:
            return None
        if TIMESTAMP in value or LEVEL in value or MESSAGE in value:
            return self._application_record(value, event)
        if "time" in value or "eventTime" in value:
            return None
        return self._object(value, text, event)

    def _platform_record(self, value: dict[str, Any], text: str, event: LogEvent) -> str | None:
        doc: dict[str, Any] = {TIMESTAMP: None}
        apply_platform_record(value, doc)
        timestamp = doc[TIMESTAMP]
        info = doc["lambda"]
        base = self._lambda_base
        try:
            fields = _dumps(info if base is None else {**info, **base, **info}).decode()
        except TypeError:  # orjson's error: an integer beyond 64 bits
            return None
        if _BIG_NUMBER in fields or has_long_digit_run(fields):
            # perhaps read from an integer beyond 64 bits (see _BIG_NUMBER), or one just
            # beyond, that orjson read as a float and int() brought back within 64 bits
            return None
        ts = event.timestamp
        if timestamp is None:
            seconds, millis = divmod(ts, 1000)
            timestamp = f"{_SECOND_PREFIXES.get(seconds) or second_prefix(seconds)}{_MILLIS[millis]}"
        return (
            f'{{"timestamp":"{timestamp}","message":{_dumps(text).decode()},"lambda":{fields}'
            f"{self._cloudwatch}{event.id}{self._owner}{ts}}}}}"
        )

    def _application_record(self, value: dict[str, Any], event: LogEvent) -> str | None:
        # {"timestamp": <canonical>, "level": <LEVEL>, "message": <str>, "requestId": <id>, ...}:
        # the record's own values are the document's, so none is shadowed.
        timestamp = value.pop(TIMESTAMP, None)
        level = value.pop(LEVEL, None)
        message = value.pop(MESSAGE, None)
        request_id = value.get("requestId")
        if (
            type(timestamp) is not str
            or type(level) is not str
            or type(message) is not str
            or type(request_id) is not str
            or level not in LEVELS
            or not request_id
            or timestamp[20:] not in _MILLIS_Z  # is_canonical_time(timestamp), inlined
            or not (_CANONICAL_SECONDS.get(timestamp[:20]) or is_canonical_time(timestamp))
        ):
            return None
        try:
            rest = _dumps(value).decode()
        except TypeError:  # orjson's error: an integer beyond 64 bits
            return None
        if _BIG_NUMBER in rest:
            return None
        return (
            f'{{"timestamp":"{timestamp}","message":{_dumps(message).decode()},"level":"{level}",'
            f"{self._lambdas.get(request_id) or self._lambda(request_id)}"
            f"{',' if value else ''}{rest[1:-1]}"
            f"{self._cloudwatch}{event.id}{self._owner}{event.timestamp}}}}}"
        )

    def _object(self, value: dict[str, Any], text: str, event: LogEvent) -> str | None:
        # A JSON object with no schema name and no time: its fields after the message.
        if self._lambda_base is not None and ("requestId" in value or "AWSRequestId" in value):
            return None
        try:
            rest = _dumps(value).decode()
        except TypeError:  # orjson's error: an integer beyond 64 bits
            return None
        if _BIG_NUMBER in rest:
            return None
        ts = event.timestamp
        seconds, millis = divmod(ts, 1000)
        return (
            f'{{"timestamp":"{_SECOND_PREFIXES.get(seconds) or second_prefix(seconds)}{_MILLIS[millis]}",'
            f'"message":{_dumps(text).decode()}{"," if value else ""}{rest[1:-1]}{self._lambda_alone}'
            f"{self._cloudwatch}{event.id}{self._owner}{ts}}}}}"
        )


def write_records(
    events: Iterable[LogEvent], writers: dict[str, Writer | None], plain: Writer | None, general: General
) -> list[bytes]:
    """Every event's record, in order: its writer's when the line is in that writer's shape,
    else ``general``'s (``writers`` and ``plain`` as a ``DocumentWriter``'s, or an
    ``EcsDocumentWriter``'s; empty and None for the general path alone).

    The per-event loop of ``chalicelib.transform.serialise_envelope``, here so that it is
    compiled with the writers (see ``chalicelib.transform.writers``).
    """
    records: list[bytes] = []
    append = records.append
    get = writers.get
    for event in events:
        # The first character of the line picks its writer (as it picks the general path's
        # parser: stripping the line end changes it only for a line of only line ends).
        write = get(event.message[:1], plain)
        if write is not None:
            try:
                record = write(event)
                if record is not None:
                    append(record.encode())
                    continue
            except Exception:  # a writer's bug or a lone surrogate: the general path decides
                pass
        append(general(event))
    return records


def _decimal_json(text: str) -> str | None:
    """Digits "." digits -> what orjson writes for ``float(text)``; None beyond plain floats.

    Most durations are already that text: ASCII, no leading zero, no trailing zero in the
    fraction, at most 15 significant digits and not below 1e-4, so the double nearest to
    them prints back as them (15 digits survive a round trip through a double, and a
    shorter decimal printing the same double would be a second such decimal).
    """
    if (
        text.isascii()
        and len(text) <= _MAX_PLAIN_DECIMAL_CHARS
        and (text[0] != "0" or text[1] == ".")
        and (text[-1] != "0" or text[-2] == ".")
        and not text.startswith("0.0000")
    ):
        return text
    value = float(text)
    if value != 0 and not _MIN_PLAIN_FLOAT <= value < _MAX_PLAIN_FLOAT:
        return None
    return repr(value)


def _integer_json(text: str) -> str | None:
    """Digits -> what orjson writes for ``int(text)``; None beyond 18 digits (64 bits)."""
    if len(text) > _MAX_INT_DIGITS:
        return None
    if text.isascii() and (text[0] != "0" or len(text) == 1):
        return text
    return str(int(text))


def _with_json_body(document: str, body: str, cloudwatch: str) -> str | None:
    """A runtime line whose message is a JSON object: its fields after the prefix's (which win)."""
    if body[-1:] != "}":
        return document + cloudwatch  # not read as JSON
    try:
        value = orjson.loads(body)
    except _JSONDecodeError:
        return None
    if type(value) is not dict or not value:
        return document + cloudwatch
    if not RESERVED_FIELDS.isdisjoint(value):
        return None
    try:
        rest = _dumps(value).decode()
    except TypeError:  # orjson's error: an integer beyond 64 bits
        return None
    if _BIG_NUMBER in rest:
        return None
    return f"{document},{rest[1:-1]}{cloudwatch}"
