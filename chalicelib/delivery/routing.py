"""Which delivery a chunk goes to: the one it was made for (shell).

A run remembers its delivery: Transform writes ``delivery`` (``kinesis`` | ``search``)
and ``target`` (stream or endpoint) into every chunk reference, so switching a stage's
``LOGSTEP_DELIVERY`` leaves running executions, pending sets and replays of older runs
on the delivery they started with. Chunks from before the field existed are Kinesis.

The target itself is advisory for put_batch: a Kinesis chunk goes to the stage's stream
when one is set (else to the one it names), a search chunk to the stage's current
endpoint, because the credentials live with the stage's settings. Moving a stage to
another cluster therefore sends in-flight runs there too; documents an earlier attempt
wrote to the old cluster are not deduplicated against the new one (``logstep replay``
uses the recorded endpoint unless told otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.delivery.kinesis import KinesisDelivery
from chalicelib.delivery.outcome import Delivery
from chalicelib.delivery.search import HttpTransport, SearchDelivery
from chalicelib.errors import ConfigurationError
from chalicelib.settings import SearchSettings, Settings


def delivery_for_chunk(
    settings: Settings,
    kinesis: Callable[[], Any],
    transport: Callable[[SearchSettings], HttpTransport],
    kind: str,
    target: str,
    time_left: Callable[[], float] = lambda: float("inf"),
) -> Delivery:
    """The delivery for a chunk made for ``kind`` (to ``target``), with the stage's settings."""
    if kind == "search":
        if settings.search is None:
            raise ConfigurationError(
                f"this run's documents were made for the search delivery to {target}; keep "
                "LOGSTEP_SEARCH_ENDPOINT (and its auth) set until runs made for it are delivered"
            )
        return SearchDelivery(transport(settings.search), settings.search, time_left)
    if kind != "kinesis":
        raise ConfigurationError(f"chunk made for an unknown delivery {kind!r}")
    stream = settings.destination_stream or target
    if not stream:
        raise ConfigurationError(
            "this run's records were made for the Kinesis delivery and name no stream; "
            "set LOGSTEP_DESTINATION_STREAM"
        )
    return KinesisDelivery(kinesis(), stream, settings.delivery)
