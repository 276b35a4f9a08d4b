"""tools/move_readme_section.py moves a README section into a page as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import move_readme_section as mrs

pytestmark = pytest.mark.docs

README = """# logstep

Intro.

## Running locally

Start it:

```sh
# 1. not a heading: a shell comment
logstep local
```

### With search

See [the template](infra/logstep.yaml) and [AWS](https://aws.amazon.com/).

## When something fails

Steps.
"""


def test_a_section_ends_at_the_next_heading_of_its_level_outside_code_fences() -> None:
    lines = README.split("\n")
    section = mrs.find(lines, "Running locally")
    assert lines[section.start] == "## Running locally"
    assert lines[section.end] == "## When something fails"
    with pytest.raises(SystemExit, match="0 headings are 'Nope'"):
        mrs.find(lines, "Nope")


def test_replacing_a_stub_makes_the_heading_the_page_title_and_leaves_a_pointer() -> None:
    readme, page, moved = mrs.move(
        README, "# Local\n\nstub\n", "Running locally", "docs/local.md", False, True
    )
    assert page.startswith("# Running locally\n\nStart it:")
    assert "# 1. not a heading: a shell comment" in page  # code untouched
    assert "\n## With search\n" in page
    assert page.endswith("[AWS](https://aws.amazon.com/).\n")
    assert (
        "## Running locally\n\nMoved to [Running locally](docs/local.md).\n\n## When something fails"
        in readme
    )
    assert mrs.LINK.findall(moved) == ["infra/logstep.yaml"]


def test_appending_keeps_the_page_and_puts_the_section_at_level_two(tmp_path: Path) -> None:
    readme_path, page_path = tmp_path / "README.md", tmp_path / "docs" / "ops.md"
    readme_path.write_text(README)
    page_path.parent.mkdir()
    page_path.write_text("# Operations\n\nstub\n")
    args = ["When something fails", str(page_path), "--append", "--readme", str(readme_path)]
    assert mrs.main(args) == 0
    assert page_path.read_text() == "# Operations\n\nstub\n\n## When something fails\n\nSteps.\n"
    assert readme_path.read_text().endswith(
        "## When something fails\n\nMoved to [When something fails](docs/ops.md#when-something-fails).\n"
    )


def test_slugs_match_mkdocs_anchors() -> None:
    assert mrs.slug("Search delivery (`LOGSTEP_DELIVERY=search`)") == "search-delivery-logstep_deliverysearch"
    assert mrs.slug("When something fails") == "when-something-fails"
