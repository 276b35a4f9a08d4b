"""Structured logs: one JSON object per line, a short event name plus fields (shell).

Never whole payloads at INFO: counts, keys and names only. Lambda sends stdout to the
function's log group; logstep never subscribes its own log groups (the onboarding
API's loop guard), so these lines never feed back into the pipeline.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

LOGGER_NAME = "logstep"


class JsonFormatter(logging.Formatter):
    """Formats a record as {"time", "level", "event", ...fields}."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON line."""
        document: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            document.update(fields)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


def configure(level: str = "INFO") -> logging.Logger:
    """Send the logstep logger's records to stdout as JSON lines (idempotent)."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(getattr(h, "logstep_json", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        handler.logstep_json = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level)
    return logger


def log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log a short event name with fields."""
    logging.getLogger(LOGGER_NAME).log(level, event, extra={"fields": fields})


def execution_of(state: Any) -> str:
    """The execution name in a state input (from its run prefix), for log fields."""
    run = state.get("run") if isinstance(state, dict) else None
    return run.rstrip("/").rsplit("/", 1)[-1] if isinstance(run, str) else ""
