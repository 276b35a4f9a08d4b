"""The commonest line shapes written straight to ``ecs``-format JSON text (pure).

The ``ecs`` twin of ``templates``: the same shapes (START, END, REPORT, the Python and
Node.js runtime lines, JSON application records, other JSON objects, plain text), read
the same way, written in the layout ``ecs.to_ecs`` gives the general path's document::

    {"@timestamp", "message", "log"?, "faas"?, "cloud", "event",
     "aws": {"cloudwatch", "lambda"?}, "ecs", <a JSON message's own fields>...}

Every writer returns None for a line it is not sure of (JSON bodies of runtime lines,
records that name a field ECS reserves or ``logger``, any other shape), and that line
takes the general path. The tests hold the two paths to the same bytes on every fixture,
the corpus and generated lines of every shape.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import orjson

from chalicelib.envelope import LogEvent
from chalicelib.jsoncodec import has_long_digit_run
from chalicelib.transform.ecs import _FAAS, _SNAKE, ECS_RESERVED_FIELDS, ECS_VERSION
from chalicelib.transform.lambda_platform import _END, _REPORT, _START, apply_platform_record
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
from chalicelib.transform.templates import (
    _BIG_NUMBER,
    _BRACKETED_LEVELS,
    _LEVEL_WORDS,
    Writer,
    _decimal_json,
    _integer_json,
    quote,
)

_dumps: Final = orjson.dumps
_JSONDecodeError: Final = orjson.JSONDecodeError
# A JSON record's own fields go to the top level unless ECS owns the name: then to_ecs
# keeps them under aws.cloudwatch.shadowed. (A record's "message" is its own and read as
# such; "logger", which to_ecs reads into log.logger, takes the general path.)
_SHADOWED: Final = ECS_RESERVED_FIELDS - {MESSAGE}
# A record's own fields, as JSON members each led by a comma, and its shadowed ones.
Fields = tuple[str, str]
_NO_FIELDS: Final[Fields] = ("", "")
_START_DETAILS: Final = '"type":"START"'
_END_DETAILS: Final = '"type":"END"'
_LOG_LEVELS: Final = {level: f',"log":{{"level":"{level}"}}' for level in LEVELS}


class EcsDocumentWriter:
    """Writes the ``ecs`` records of one envelope's lines in the shapes above."""

    __slots__ = (
        "_aws",
        "_base",
        "_close",
        "_cloud_event",
        "_faas",
        "_faas_alone",
        "_faas_name",
        "_json_objects",
        "writers",
    )

    def __init__(
        self,
        cloudwatch: tuple[str, str, str],
        lambda_base: dict[str, str] | None,
        general: Iterable[str],
        json_objects: bool,
    ) -> None:
        """As ``templates.DocumentWriter``: log group, stream and owner; the stream's lambda
        fields; the first characters the general path has parsers for; whether JSON-object
        messages keep their fields at the top level."""
        log_group, log_stream, owner = cloudwatch
        # Around each event's id and time (ids are written unquoted, as in templates):
        #   {_cloud_event}{id}{_aws}{id}","timestamp":{ts}}  [,"lambda":{...}]  {_close}
        self._cloud_event = (
            f',"cloud":{{"provider":"aws","account":{{"id":{quote(owner)}}}}},"event":{{"id":"'
        )
        self._aws = (
            f'"}},"aws":{{"cloudwatch":{{"log_group":{quote(log_group)},'
            f'"log_stream":{quote(log_stream)},"event_id":"'
        )
        self._close = f'}},"ecs":{{"version":"{ECS_VERSION}"}}'
        self._base = lambda_base or {}
        self._json_objects = json_objects
        # faas of a line without lambda fields of its own: the stream's.
        self._faas_alone = self._faas_of({}) if lambda_base else ""
        # faas.name after a START line's execution and version (the line's version wins).
        name = self._base.get("functionName")
        self._faas_name = "" if name is None else f',"name":{quote(name)}'
        # faas of a line whose only lambda field is its request id, per request id.
        self._faas: dict[str, str] = {}
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

    @staticmethod
    def supports(lambda_base: dict[str, str] | None) -> bool:
        """Whether the writers apply to a stream with these lambda fields: they write the
        stream's fields as ``faas`` members only (functionName and version)."""
        return lambda_base is None or _FAAS.keys() >= lambda_base.keys()

    def _faas_of(self, lam: dict[str, str]) -> str:
        """``,"faas":{...}`` of a line's lambda text fields merged with the stream's."""
        merged = {**lam, **self._base, **lam}
        members = [f'"{_FAAS[key]}":{quote(value)}' for key, value in merged.items() if key in _FAAS]
        return f',"faas":{{{",".join(members)}}}' if members else ""

    def _faas_for(self, request_id: str) -> str:
        faas = self._faas[request_id] = self._faas_of({"requestId": request_id})
        return faas

    def _tail(self, event: LogEvent, details: str = "", fields: Fields = _NO_FIELDS) -> str:
        """cloud, event, aws (``details``: the aws.lambda members) and ecs, then the fields."""
        lam = f',"lambda":{{{details}}}' if details else ""
        top, shadowed = fields
        return (
            f"{self._cloud_event}{event.id}{self._aws}{event.id}"
            f'","timestamp":{event.timestamp}{shadowed}}}{lam}{self._close}{top}}}'
        )

    def plain(self, event: LogEvent) -> str | None:
        """A line no parser reads: its text, the event's time."""
        text = event.message.rstrip("\r\n")
        seconds, millis = divmod(event.timestamp, 1000)
        return (
            f'{{"@timestamp":"{_SECOND_PREFIXES.get(seconds) or second_prefix(seconds)}{_MILLIS[millis]}",'
            f'"message":{_dumps(text).decode()}{self._faas_alone}{self._tail(event)}'
        )

    def log4j_or_plain(self, event: LogEvent) -> str | None:
        """A line starting a-f: log4j2 without its time (the general path's) or plain text."""
        return None if event.message[8:9] == "-" else self.plain(event)

    def ruby_or_plain(self, event: LogEvent) -> str | None:
        """A line starting D, W, F, A or U: Ruby's Logger (the general path's) or plain text."""
        return None if event.message[1:4] == ", [" else self.plain(event)

    def _platform_head(self, event: LogEvent) -> str:
        # The message is the line's rstrip() (its regex read the line end as whitespace).
        seconds, millis = divmod(event.timestamp, 1000)
        return (
            f'{{"@timestamp":"{_SECOND_PREFIXES.get(seconds) or second_prefix(seconds)}{_MILLIS[millis]}",'
            f'"message":{_dumps(event.message.rstrip()).decode()}'
        )

    def start(self, event: LogEvent) -> str | None:
        """``START RequestId: <id> Version: <version>``."""
        match = _START.fullmatch(event.message)
        if match is None:
            return None
        # lambda = {type, requestId, version (the line's), functionName (the stream's)}
        return (
            f'{self._platform_head(event)},"faas":{{"execution":{_dumps(match[1]).decode()},'
            f'"version":{_dumps(match[2]).decode()}{self._faas_name}}}'
            f"{self._tail(event, _START_DETAILS)}"
        )

    def end(self, event: LogEvent) -> str | None:
        """``END RequestId: <id>``."""
        match = _END.fullmatch(event.message)
        if match is None:
            return None
        # lambda = {type, requestId, functionName, version}: faas as a runtime line's
        request_id = match[1]
        faas = self._faas.get(request_id) or self._faas_for(request_id)
        return f"{self._platform_head(event)}{faas}{self._tail(event, _END_DETAILS)}"

    def report(self, event: LogEvent) -> str | None:
        """``REPORT RequestId: ...`` in the shape nearly every invocation writes."""
        match = _REPORT.fullmatch(event.message)
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
            init_field = f',"init_duration_ms":{init_ms}'
        if trace is None:
            xray = ""
        else:
            xray = (
                f',"xray_trace_id":{_dumps(trace).decode()},"segment_id":{_dumps(segment).decode()},'
                f'"sampled":{"true" if sampled == "true" else "false"}'
            )
        details = (
            f'"type":"REPORT","duration_ms":{duration_ms},"billed_duration_ms":{billed_ms},'
            f'"memory_size_mb":{size_mb},"max_memory_used_mb":{used_mb}{init_field}{xray}'
        )
        faas = self._faas.get(request_id) or self._faas_for(request_id)
        return f"{self._platform_head(event)}{faas}{self._tail(event, details)}"

    def _runtime_line(
        self,
        event: LogEvent,
        written: str,
        request_id: str,
        level: str,
        body: str,
        fields: Fields = _NO_FIELDS,
    ) -> str:
        faas = (self._faas.get(request_id) or self._faas_for(request_id)) if request_id else self._faas_alone
        return (
            f'{{"@timestamp":"{written}","message":{_dumps(body).decode()}{_LOG_LEVELS[level]}'
            f"{faas}{self._tail(event, fields=fields)}"
        )

    def _json_body(self, body: str) -> Fields | None:
        """The fields of a runtime line's JSON-object message (prefix values win; see
        ``templates._with_json_body``), as JSON members; None for the general path."""
        if not self._json_objects:
            return None
        if body[-1:] != "}":
            return _NO_FIELDS  # not read as JSON
        try:
            value = orjson.loads(body)
        except _JSONDecodeError:
            return None
        if type(value) is not dict or not value:
            return _NO_FIELDS
        if not RESERVED_FIELDS.isdisjoint(value) or "logger" in value:
            return None
        return self._fields(value)

    def python(self, event: LogEvent) -> str | None:
        """``[LEVEL]\\t<time>\\t<request id>\\t<message>`` (the Python runtime)."""
        parts = event.message.split("\t", 3)
        if len(parts) != 4:
            return None
        head, written, request_id, body = parts
        level = _BRACKETED_LEVELS.get(head)
        if level is None or not (
            written[20:] in _MILLIS_Z and (_CANONICAL_SECONDS.get(written[:20]) or is_canonical_time(written))
        ):
            return None
        body = body.rstrip("\r\n")
        if body[:1] == "{":
            if not request_id:
                return None  # the body's own request id decides
            fields = self._json_body(body)
            if fields is None:
                return None
            return self._runtime_line(event, written, request_id, level, body, fields)
        return self._runtime_line(event, written, request_id, level, body)

    def timestamped(self, event: LogEvent) -> str | None:
        """Node.js/.NET lines, and text that opens with no time; other stamped lines: general path."""
        text = event.message
        separator = text[4:5]
        if separator == "/":
            return self._go(event)
        if separator != "-":
            return None if text[8:9] == "-" else self.plain(event)
        if text[10:11] == " ":
            return self._log4j(event)
        parts = text.split("\t", 3)
        if len(parts) != 4:
            return None
        written, request_id, word, body = parts
        level = _LEVEL_WORDS.get(word)
        if (
            level is None
            or written[20:] not in _MILLIS_Z
            or not (_CANONICAL_SECONDS.get(written[:20]) or is_canonical_time(written))
            or not request_id
            or " " in request_id
            or request_id in _NO_REQUEST_ID
        ):
            return None
        body = body.rstrip("\r\n")
        if body[:1] == "{":
            fields = self._json_body(body)
            if fields is None:
                return None
            return self._runtime_line(event, written, request_id, level, body, fields)
        if body.startswith("Invoke Error"):
            return self._invoke_error(event, written, request_id, level, body)
        return self._runtime_line(event, written, request_id, level, body)

    def _invoke_error(
        self, event: LogEvent, written: str, request_id: str, level: str, body: str
    ) -> str | None:
        # Node.js: "Invoke Error \t{"errorType": ..., "errorMessage": ..., "stack": [...]}"
        try:
            error = orjson.loads(body.partition("\t")[2])
        except _JSONDecodeError:
            return None  # perhaps JSON only the standard library reads
        details = ""
        if type(error) is dict:
            for key, name in (("errorType", "error_type"), ("errorMessage", "error_message")):
                item = error.get(key)
                if type(item) is str:
                    details += f',"{name}":{_dumps(item).decode()}'
        return (
            f'{{"@timestamp":"{written}","message":{_dumps(body).decode()}{_LOG_LEVELS[level]}'
            f"{self._faas.get(request_id) or self._faas_for(request_id)}{self._tail(event, details[1:])}"
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
            faas = self._faas.get(request_id) or self._faas_for(request_id)
        else:
            faas = self._faas_alone
        return (
            f'{{"@timestamp":"{timestamp}","message":{_dumps(body).decode()},'
            f'"log":{{"level":"{level}","logger":{_dumps(logger).decode()}}}{faas}{self._tail(event)}'
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
            f'{{"@timestamp":"{timestamp}","message":{_dumps(match[2]).decode()}'
            f"{self._faas_alone}{self._tail(event)}"
        )

    def json_object(self, event: LogEvent) -> str | None:
        """Lambda's ``platform.*`` records, its JSON application records, JSON without schema names."""
        text = event.message.rstrip("\r\n")
        try:
            value = orjson.loads(text)
        except _JSONDecodeError:
            return None
        if type(value) is not dict:
            return None
        kind = value.get("type")
        if type(kind) is str and kind.startswith("platform.") and "record" in value:
            return self._platform_record(value, text, event)
        if "type" in value or "lambda" in value or "cloudwatch" in value or "logger" in value:
            return None
        if TIMESTAMP in value or LEVEL in value or MESSAGE in value:
            return self._application_record(value, event)
        if "time" in value or "eventTime" in value:
            return None
        if self._base and ("requestId" in value or "AWSRequestId" in value):
            return None
        fields = self._fields(value)
        if fields is None:
            return None
        seconds, millis = divmod(event.timestamp, 1000)
        return (
            f'{{"@timestamp":"{_SECOND_PREFIXES.get(seconds) or second_prefix(seconds)}{_MILLIS[millis]}",'
            f'"message":{_dumps(text).decode()}{self._faas_alone}{self._tail(event, fields=fields)}'
        )

    def _platform_record(self, value: dict[str, Any], text: str, event: LogEvent) -> str | None:
        doc: dict[str, Any] = {TIMESTAMP: None}
        apply_platform_record(value, doc)
        info = doc["lambda"]
        merged = {**info, **self._base, **info}
        faas = {_FAAS[key]: item for key, item in merged.items() if key in _FAAS}
        details = {_SNAKE.get(key, key): item for key, item in merged.items() if key not in _FAAS}
        try:
            details_json = _dumps(details).decode()
            faas_member = f',"faas":{_dumps(faas).decode()}' if faas else ""
        except TypeError:  # orjson's error: an integer beyond 64 bits
            return None
        if _BIG_NUMBER in details_json or has_long_digit_run(details_json):
            return None  # perhaps read from an integer beyond 64 bits (see templates)
        timestamp = doc[TIMESTAMP]
        if timestamp is None:
            seconds, millis = divmod(event.timestamp, 1000)
            timestamp = f"{_SECOND_PREFIXES.get(seconds) or second_prefix(seconds)}{_MILLIS[millis]}"
        return (
            f'{{"@timestamp":"{timestamp}","message":{_dumps(text).decode()}'
            f"{faas_member}{self._tail(event, details_json[1:-1])}"
        )

    def _application_record(self, value: dict[str, Any], event: LogEvent) -> str | None:
        # {"timestamp": <canonical>, "level": <LEVEL>, "message": <str>, "requestId": <id>, ...}
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
            or timestamp[20:] not in _MILLIS_Z
            or not (_CANONICAL_SECONDS.get(timestamp[:20]) or is_canonical_time(timestamp))
        ):
            return None
        fields = self._fields(value)
        if fields is None:
            return None
        return (
            f'{{"@timestamp":"{timestamp}","message":{_dumps(message).decode()}{_LOG_LEVELS[level]}'
            f"{self._faas.get(request_id) or self._faas_for(request_id)}{self._tail(event, fields=fields)}"
        )

    @staticmethod
    def _fields(value: dict[str, Any]) -> Fields | None:
        """A record's own fields as JSON members, and those ECS owns as the members of
        ``shadowed``; None if orjson may not write them as the general path does."""
        if not value:
            return _NO_FIELDS
        shadowed = ""
        if not _SHADOWED.isdisjoint(value):
            own = {key: item for key, item in value.items() if key in _SHADOWED}
            value = {key: item for key, item in value.items() if key not in _SHADOWED}
            try:
                shadowed = f',"shadowed":{_dumps(own).decode()}'
            except TypeError:  # orjson's error: an integer beyond 64 bits
                return None
            if _BIG_NUMBER in shadowed:
                return None
            if not value:
                return "", shadowed
        try:
            rest = _dumps(value).decode()
        except TypeError:
            return None
        if _BIG_NUMBER in rest:
            return None
        return f",{rest[1:-1]}", shadowed
