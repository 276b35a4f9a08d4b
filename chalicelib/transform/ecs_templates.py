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
from typing import Any

import orjson

from chalicelib.envelope import LogEvent
from chalicelib.transform.ecs import _FAAS, _SNAKE, ECS_RESERVED_FIELDS, ECS_VERSION
from chalicelib.transform.lambda_platform import _END, _REPORT, _START
from chalicelib.transform.runtimes import _NO_REQUEST_ID, LEVELS
from chalicelib.transform.schema import (
    _CANONICAL_SECONDS,
    _MILLIS,
    _MILLIS_Z,
    _SECOND_PREFIXES,
    LEVEL,
    MESSAGE,
    TIMESTAMP,
    is_canonical_time,
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

_dumps = orjson.dumps
_JSONDecodeError = orjson.JSONDecodeError
# A JSON record's own fields go to the top level unless ECS owns the name (then the
# general path shadows it) or it is "logger" (which to_ecs reads into log.logger).
# (A record's "message" is its own and read as such.)
_NOT_PLAIN_FIELDS = (ECS_RESERVED_FIELDS - {MESSAGE}) | {"logger"}
_LOG_LEVELS = {level: f',"log":{{"level":"{level}"}}' for level in LEVELS}


class EcsDocumentWriter:
    """Writes the ``ecs`` records of one envelope's lines in the shapes above."""

    __slots__ = (
        "_aws",
        "_base",
        "_base_json",
        "_close",
        "_cloud_event",
        "_faas",
        "_faas_alone",
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
        self._base_json = {key: quote(value) for key, value in self._base.items()}
        self._json_objects = json_objects
        # faas of a line without lambda fields of its own: the stream's.
        self._faas_alone = self._faas_of({}) if lambda_base else ""
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

    def _faas_of(self, lam: dict[str, str]) -> str:
        """``,"faas":{...}`` of a line's lambda text fields merged with the stream's."""
        merged = {**lam, **self._base, **lam}
        members = [f'"{_FAAS[key]}":{quote(value)}' for key, value in merged.items() if key in _FAAS]
        return f',"faas":{{{",".join(members)}}}' if members else ""

    def _faas_for(self, request_id: str) -> str:
        faas = self._faas[request_id] = self._faas_of({"requestId": request_id})
        return faas

    def _tail(self, event: LogEvent, details: str = "", fields: str = "") -> str:
        """cloud, event, aws (``details``: the aws.lambda members) and ecs, then ``fields``."""
        lam = f',"lambda":{{{details}}}' if details else ""
        return (
            f"{self._cloud_event}{event.id}{self._aws}{event.id}"
            f'","timestamp":{event.timestamp}}}{lam}{self._close}{fields}}}'
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

    def _platform_line(self, event: LogEvent, lam: dict[str, Any]) -> str:
        # ``lam``: the line's lambda fields as JSON text. lambda = {**lam, **stream, **lam};
        # faas gets the names ECS has for them, aws.lambda the rest.
        merged = {**lam, **self._base_json, **lam}
        faas = ",".join(f'"{_FAAS[key]}":{value}' for key, value in merged.items() if key in _FAAS)
        faas_member = f',"faas":{{{faas}}}' if faas else ""
        details = ",".join(
            f'"{_SNAKE.get(key, key)}":{value}' for key, value in merged.items() if key not in _FAAS
        )
        seconds, millis = divmod(event.timestamp, 1000)
        return (
            f'{{"@timestamp":"{_SECOND_PREFIXES.get(seconds) or second_prefix(seconds)}{_MILLIS[millis]}",'
            f'"message":{_dumps(event.message.rstrip()).decode()}'
            f"{faas_member}{self._tail(event, details)}"
        )

    def start(self, event: LogEvent) -> str | None:
        """``START RequestId: <id> Version: <version>``."""
        match = _START.fullmatch(event.message)
        if match is None:
            return None
        # Values as JSON text: the platform-line helper writes them as they are.
        lam = {
            "type": '"START"',
            "requestId": _dumps(match[1]).decode(),
            "version": _dumps(match[2]).decode(),
        }
        return self._platform_line(event, lam)

    def end(self, event: LogEvent) -> str | None:
        """``END RequestId: <id>``."""
        match = _END.fullmatch(event.message)
        if match is None:
            return None
        return self._platform_line(event, {"type": '"END"', "requestId": _dumps(match[1]).decode()})

    def report(self, event: LogEvent) -> str | None:
        """``REPORT RequestId: ...`` in the shape nearly every invocation writes."""
        match = _REPORT.fullmatch(event.message)
        if match is None:
            return None
        request_id, duration, billed, size, used, init, trace, segment, sampled = match.groups()
        lam: dict[str, Any] = {
            "type": '"REPORT"',
            "requestId": _dumps(request_id).decode(),
            "durationMs": _decimal_json(duration),
            "billedDurationMs": _integer_json(billed),
            "memorySizeMb": _integer_json(size),
            "maxMemoryUsedMb": _integer_json(used),
        }
        if init is not None:
            lam["initDurationMs"] = _decimal_json(init)
        if trace is not None:
            lam["xrayTraceId"] = _dumps(trace).decode()
            lam["segmentId"] = _dumps(segment).decode()
            lam["sampled"] = "true" if sampled == "true" else "false"
        if None in lam.values():
            return None
        return self._platform_line(event, lam)

    def _runtime_line(self, event: LogEvent, written: str, request_id: str, level: str, body: str) -> str:
        faas = (self._faas.get(request_id) or self._faas_for(request_id)) if request_id else self._faas_alone
        return (
            f'{{"@timestamp":"{written}","message":{_dumps(body).decode()}{_LOG_LEVELS[level]}'
            f"{faas}{self._tail(event)}"
        )

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
            return None  # a JSON body: the general path merges it
        return self._runtime_line(event, written, request_id, level, body)

    def timestamped(self, event: LogEvent) -> str | None:
        """Node.js/.NET lines, and text that opens with no time; other stamped lines: general path."""
        text = event.message
        separator = text[4:5]
        if separator != "-":
            return None if separator == "/" or text[8:9] == "-" else self.plain(event)
        if text[10:11] == " ":
            return None  # log4j2 and other stamped lines
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
        if body[:1] == "{" or body.startswith("Invoke Error"):
            return None
        return self._runtime_line(event, written, request_id, level, body)

    def json_object(self, event: LogEvent) -> str | None:
        """Lambda's JSON application records and JSON without schema names (not platform.*)."""
        text = event.message.rstrip("\r\n")
        try:
            value = orjson.loads(text)
        except _JSONDecodeError:
            return None
        if (
            type(value) is not dict
            or "type" in value
            or "lambda" in value
            or "cloudwatch" in value
            or not _NOT_PLAIN_FIELDS.isdisjoint(value)
        ):
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
    def _fields(value: dict[str, Any]) -> str | None:
        """A record's own fields as JSON members, each led by a comma; None if orjson may not
        write them as the general path does (an integer beyond 64 bits)."""
        if not value:
            return ""
        try:
            rest = _dumps(value).decode()
        except TypeError:  # orjson's error: an integer beyond 64 bits
            return None
        if _BIG_NUMBER in rest:
            return None
        return f",{rest[1:-1]}"
