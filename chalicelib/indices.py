"""Index names of the search delivery: a prefix plus the event time's period (pure)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# The same periods, and the same index name suffixes, as Firehose's IndexRotationPeriod
# (https://docs.aws.amazon.com/firehose/latest/dev/es-index-rotation.html: myindex,
# myindex-2016-02-25-13, myindex-2016-02-25, myindex-2016-w08, myindex-2016-02), so one
# index template and one lifecycle policy serve both deliveries. Firehose takes the
# arrival time; logstep takes the event's own time, so a replayed document lands in the
# index that already holds its first copy.
ROTATIONS = ("NoRotation", "OneHour", "OneDay", "OneWeek", "OneMonth")
_SUFFIX_FORMATS = {
    "NoRotation": "",
    "OneHour": "-%Y-%m-%d-%H",
    "OneDay": "-%Y-%m-%d",
    # Week numbers as the Firehose page's example has them (2016-02-25 -> w08): weeks
    # start on Sunday, strftime's %U.
    "OneWeek": "-%Y-w%U",
    "OneMonth": "-%Y-%m",
}
# Index names: lowercase, no \ / * ? " < > | space , # :, not starting with - _ +, at most
# 255 bytes (https://opensearch.org/docs/latest/api-reference/index-apis/create-index/).
_INDEX_PREFIX = re.compile(r"^[a-z0-9][a-z0-9._-]{0,200}$")


def valid_index_prefix(prefix: str) -> bool:
    """Whether an index prefix makes valid index names whatever the rotation appends."""
    return bool(_INDEX_PREFIX.match(prefix))


def index_name(prefix: str, rotation: str, timestamp_ms: int) -> str:
    """The index a document goes to: prefix plus the Firehose-style suffix of its event time."""
    suffix = _SUFFIX_FORMATS[rotation]
    if not suffix:
        return prefix
    when = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
    return prefix + when.strftime(suffix)
