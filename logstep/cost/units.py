"""Per-record billing units: the rounding Kinesis and Firehose apply to each record.

Counted by the sandbox as records are written (a total of bytes cannot be rounded
afterwards) and priced by ``logstep cost``.

- Kinesis on-demand bills data in per record rounded up to 1 KB (1,024 bytes)
  (https://aws.amazon.com/kinesis/data-streams/pricing/, "Data-In").
- Kinesis provisioned bills a PUT payload unit per 25 KB of each record (same page).
- Firehose bills ingestion in 5 KB steps per record (https://aws.amazon.com/firehose/pricing/).
"""

from __future__ import annotations

from collections.abc import Iterable

KB = 1024
# unit name -> bytes per unit
UNITS = {"kb1": KB, "kb5": 5 * KB, "kb25": 25 * KB}


def record_units(sizes: Iterable[int]) -> dict[str, int]:
    """Sum of each record's size rounded up to every billing unit (a record is at least one)."""
    totals = dict.fromkeys(UNITS, 0)
    for size in sizes:
        for name, unit in UNITS.items():
            totals[name] += max(1, -(-size // unit))
    return totals


def add_units(total: dict[str, int], more: dict[str, int]) -> None:
    """Add ``more`` into ``total`` in place."""
    for name, value in more.items():
        total[name] = total.get(name, 0) + value
