"""The walkthrough `logstep local` prints is the one README "Running locally" shows."""

from __future__ import annotations

import re

from logstep.local import walkthrough
from tests.helpers import REPO_ROOT


def test_readme_shows_the_printed_walkthrough() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Running locally", 1)[1]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    printed = walkthrough(
        "http://127.0.0.1:8000", "http://127.0.0.1:5000", "us-east-1", "logstep-local-destination"
    )
    assert printed in blocks


def test_readme_shows_the_search_walkthrough() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Running locally", 1)[1]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    printed = walkthrough(
        "http://127.0.0.1:8000",
        "http://127.0.0.1:5000",
        "us-east-1",
        "logstep-local-destination",
        "http://127.0.0.1:9200",
    )
    assert printed in blocks
    assert printed.rstrip().endswith("curl -s 'http://127.0.0.1:9200/logstep-*/_search?q=level:ERROR'")
