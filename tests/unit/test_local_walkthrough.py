"""The walkthrough `logstep local` prints is the one docs/local-sandbox.md shows."""

from __future__ import annotations

import re

from logstep.sandbox.local import walkthrough
from tests.helpers import REPO_ROOT


def test_readme_shows_the_printed_walkthrough() -> None:
    section = (REPO_ROOT / "docs" / "local-sandbox.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    printed = walkthrough(
        "http://127.0.0.1:8000",
        "http://127.0.0.1:5000",
        "us-east-1",
        "logstep-local-destination",
        "http://127.0.0.1:9200",
    )
    assert printed in blocks
    # The Kinesis delivery's walkthrough reads the stream, then searches what Firehose indexed.
    assert "aws kinesis get-records" in printed
    assert printed.rstrip().endswith("curl -s 'http://127.0.0.1:9200/logstep-*/_search?q=level:ERROR'")


def test_without_a_search_server_the_walkthrough_ends_on_the_stream() -> None:
    printed = walkthrough(
        "http://127.0.0.1:8000", "http://127.0.0.1:5000", "us-east-1", "logstep-local-destination"
    )
    assert "9200" not in printed and "get-records" in printed
    assert printed.rstrip().endswith(
        "-X DELETE 'http://127.0.0.1:8000/subscriptions?logGroupName=/aws/lambda/orders'"
    )


def test_readme_shows_the_search_walkthrough() -> None:
    section = (REPO_ROOT / "docs" / "local-sandbox.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    printed = walkthrough(
        "http://127.0.0.1:8000",
        "http://127.0.0.1:5000",
        "us-east-1",
        "logstep-local-destination",
        "http://127.0.0.1:9200",
        "search",
    )
    assert printed in blocks
    assert "get-records" not in printed
    assert printed.rstrip().endswith("curl -s 'http://127.0.0.1:9200/logstep-*/_search?q=level:ERROR'")
